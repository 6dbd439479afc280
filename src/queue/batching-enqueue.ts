/**
 * Group commit for the callback route's queue writes. Every enqueue issued in the same turn of
 * the event loop (all the requests Node read in one poll phase) goes to the queue in a single
 * write (the producer makes it ONE job carrying every receipt of the turn: one Redis round
 * trip and one BullMQ job, or one SQL statement and one commit on BullMQ's PostgreSQL
 * backend), instead of one round trip, one job (and one commit) per notification.
 *
 * The durability contract is unchanged: each caller's promise settles only when the write
 * carrying its receipt has settled, so a 200 is still sent only once the receipt is in the queue.
 * Fails closed: when a bulk fails, every caller in it gets the error (their callbacks answer
 * 503 or are spooled, never a false 200). Job ids are deterministic, so a job that did reach
 * the queue before the error is not duplicated when it is added again.
 */

interface Waiting<T> {
  readonly item: T;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * @param write     writes the items of a batch atomically (one BullMQ job, or `Queue.addBulk`)
 * @param maxBatch  most items per write; a larger turn is split into several writes
 */
export function createBatchingEnqueue<T>(
  write: (items: T[]) => Promise<unknown>,
  maxBatch: number,
): (item: T) => Promise<void> {
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
        written = write(batch.map((w) => w.item));
      } catch (error: unknown) {
        written = Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
      void written.then(
        () => batch.forEach((w) => w.resolve()),
        (error: unknown) => batch.forEach((w) => w.reject(error)),
      );
    }
  };

  return (item) =>
    new Promise<void>((resolve, reject) => {
      waiting.push({ item, resolve, reject });
      if (!scheduled) {
        scheduled = true;
        // setImmediate, not a microtask: it runs after the poll phase, so every request read
        // in this turn has had the chance to join the batch.
        setImmediate(flush);
      }
    });
}
