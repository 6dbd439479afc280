/**
 * Group commit for the callback route's queue writes. Every enqueue issued in the same turn of
 * the event loop (all the requests Node read in one poll phase) goes to the queue in a single
 * `addBulk`: one Redis MULTI/EXEC round trip, or one SQL statement and one commit on BullMQ's
 * PostgreSQL backend, instead of one round trip (and one commit) per notification.
 *
 * The durability contract is unchanged: each caller's promise settles only when the `addBulk`
 * carrying its job has settled, so a 200 is still sent only once the receipt is in the queue.
 * Fails closed: when a bulk fails, every caller in it gets the error (their callbacks answer
 * 503 or are spooled, never a false 200). Job ids are deterministic, so a job that did reach
 * the queue before the error is not duplicated when it is added again.
 */

export interface BulkJob<T> {
  readonly name: string;
  readonly data: T;
  readonly opts: object;
}

interface Waiting<T> {
  readonly job: BulkJob<T>;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * @param addBulk   writes the jobs atomically (BullMQ `Queue.addBulk`)
 * @param maxBatch  most jobs per `addBulk`; a larger turn is split into several bulks
 */
export function createBatchingEnqueue<T>(
  addBulk: (jobs: BulkJob<T>[]) => Promise<unknown>,
  maxBatch: number,
): (job: BulkJob<T>) => Promise<void> {
  let waiting: Waiting<T>[] = [];
  let scheduled = false;

  const flush = (): void => {
    scheduled = false;
    const turn = waiting;
    waiting = [];
    for (let start = 0; start < turn.length; start += maxBatch) {
      const batch = turn.slice(start, start + maxBatch);
      let written: Promise<unknown>;
      try {
        written = addBulk(batch.map((w) => w.job));
      } catch (error: unknown) {
        written = Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
      void written.then(
        () => batch.forEach((w) => w.resolve()),
        (error: unknown) => batch.forEach((w) => w.reject(error)),
      );
    }
  };

  return (job) =>
    new Promise<void>((resolve, reject) => {
      waiting.push({ job, resolve, reject });
      if (!scheduled) {
        scheduled = true;
        // setImmediate, not a microtask: it runs after the poll phase, so every request read
        // in this turn has had the chance to join the batch.
        setImmediate(flush);
      }
    });
}
