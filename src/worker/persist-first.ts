/**
 * Persistence first (issue #8). A burst is drained by one worker process that both persists
 * receipts and runs their handler deliveries, and the deliveries (claim, handler, result, on
 * PostgreSQL as well as in the worker) cost about as much CPU as the persistence itself. While
 * the persist batcher has a backlog, delivery jobs wait for it to clear, so the burst's history
 * is stored and readable first; its deliveries, durable since their fan-out committed with the
 * history, run right after. A job waits at most `maxWaitMs`: under load that never clears,
 * deliveries run as before, only that much later.
 */
export class PersistBacklog {
  private over = false;
  /** Set while the batcher is under the threshold but not yet for `settleMs`. */
  private settling: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly waiters = new Set<() => void>();

  /**
   * @param threshold receipts in the persist batcher (waiting for a batch or being written)
   *   from which persistence counts as backlogged (`PERSIST_FIRST_BACKLOG`, default 200: at
   *   1,000 notifications/s a worker that keeps up holds some tens, one draining a burst
   *   thousands).
   * @param maxWaitMs longest a delivery job waits for the backlog to clear; 0 = never waits.
   * @param settleMs how long the batcher must stay under the threshold for the backlog to count
   *   as cleared: between two batches of a burst it dips while its jobs complete and the queue
   *   hands the worker the next ones.
   */
  constructor(
    readonly threshold: number,
    readonly maxWaitMs: number,
    readonly settleMs = 50,
  ) {}

  /** The persist batcher reports how many receipts it holds (waiting or being written), on every change. */
  report(receipts: number): void {
    if (receipts >= this.threshold) {
      this.over = true;
      if (this.settling !== undefined) clearTimeout(this.settling);
      this.settling = undefined;
    } else if (this.over && this.settling === undefined) {
      this.settling = setTimeout(() => {
        this.settling = undefined;
        this.over = false;
        this.releaseAll();
      }, this.settleMs);
      this.settling.unref();
    }
  }

  get backlogged(): boolean {
    return !this.closed && this.maxWaitMs > 0 && this.over;
  }

  /**
   * Resolves once persistence is not backlogged, after `maxWaitMs`, when `signal` aborts or
   * when the worker shuts down; with the milliseconds waited (0: did not wait).
   */
  async yieldTo(signal?: AbortSignal): Promise<number> {
    if (!this.backlogged || signal?.aborted === true) return 0;
    const started = Date.now();
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, this.maxWaitMs);
      signal?.addEventListener('abort', done, { once: true });
      this.waiters.add(done);
    });
    return Date.now() - started;
  }

  /** Shutdown: nothing waits any more (a closing worker finishes its active jobs promptly). */
  close(): void {
    this.closed = true;
    if (this.settling !== undefined) clearTimeout(this.settling);
    this.releaseAll();
  }

  private releaseAll(): void {
    for (const release of [...this.waiters]) release();
  }
}
