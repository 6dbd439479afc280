import { PersistBacklog } from '../../src/worker/persist-first';

/**
 * Persistence first: delivery jobs wait while the worker's persist batcher holds a backlog,
 * until it has stayed under the threshold for `settleMs`, at most `maxWaitMs`.
 */
describe('PersistBacklog', () => {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('does not hold a delivery while the batcher is under the threshold', async () => {
    const backlog = new PersistBacklog(10, 5_000, 20);
    backlog.report(9);
    expect(backlog.backlogged).toBe(false);
    expect(await backlog.yieldTo()).toBe(0);
  });

  it('holds deliveries until the backlog has stayed under the threshold for settleMs', async () => {
    const backlog = new PersistBacklog(10, 5_000, 40);
    backlog.report(25);
    let released = false;
    const waiting = backlog.yieldTo().then((ms) => {
      released = true;
      return ms;
    });
    // A dip between two batches, then the next jobs' receipts: still a backlog.
    backlog.report(3);
    await sleep(10);
    backlog.report(30);
    await sleep(60);
    expect(released).toBe(false);
    expect(backlog.backlogged).toBe(true);
    // Drained: under the threshold, and it stays there.
    backlog.report(2);
    backlog.report(0);
    expect(backlog.backlogged).toBe(true);
    const waited = await waiting;
    expect(released).toBe(true);
    expect(waited).toBeGreaterThanOrEqual(90);
    expect(backlog.backlogged).toBe(false);
  });

  it('holds a delivery at most maxWaitMs when the backlog never clears', async () => {
    const backlog = new PersistBacklog(10, 80, 20);
    backlog.report(500);
    const waited = await backlog.yieldTo();
    expect(waited).toBeGreaterThanOrEqual(75);
    expect(waited).toBeLessThan(1_000);
    expect(backlog.backlogged).toBe(true);
  });

  it('never holds deliveries with maxWaitMs 0', async () => {
    const backlog = new PersistBacklog(10, 0);
    backlog.report(500);
    expect(backlog.backlogged).toBe(false);
    expect(await backlog.yieldTo()).toBe(0);
  });

  it('lets every waiting delivery go when the worker shuts down, and holds none after', async () => {
    const backlog = new PersistBacklog(10, 60_000, 20);
    backlog.report(500);
    const waiting = [backlog.yieldTo(), backlog.yieldTo()];
    await sleep(5);
    backlog.close();
    const waited = await Promise.all(waiting);
    expect(waited.every((ms) => ms < 1_000)).toBe(true);
    backlog.report(900);
    expect(await backlog.yieldTo()).toBe(0);
  });

  it("lets a delivery go when its job's signal aborts", async () => {
    const backlog = new PersistBacklog(10, 60_000, 20);
    backlog.report(500);
    const controller = new AbortController();
    const waiting = backlog.yieldTo(controller.signal);
    await sleep(5);
    controller.abort();
    expect(await waiting).toBeLessThan(1_000);
    expect(await backlog.yieldTo(controller.signal)).toBe(0);
    backlog.close();
  });
});
