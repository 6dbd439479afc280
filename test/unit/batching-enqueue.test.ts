import { createBatchingEnqueue } from '../../src/queue/batching-enqueue';

/**
 * The group-commit producer must keep the callback's contract: a caller (an HTTP request
 * waiting to answer 200) is released only when the bulk holding its job has been written,
 * and a failed bulk fails every caller in it. The fake below stands in for the queue write.
 */
const job = (n: number): number => n;

function controllableAddBulk() {
  const calls: { jobs: number[]; resolve: () => void; reject: (e: Error) => void }[] = [];
  const addBulk = (jobs: number[]): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      calls.push({ jobs, resolve, reject });
    });
  return { calls, addBulk };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('batching enqueue (addBulk per event-loop turn)', () => {
  it('writes every job of one turn in a single addBulk, in arrival order', async () => {
    const { calls, addBulk } = controllableAddBulk();
    const enqueue = createBatchingEnqueue(addBulk, 100);
    const pending = [1, 2, 3, 4, 5].map((n) => enqueue(job(n)));
    await turn();
    expect(calls.map((c) => c.jobs)).toEqual([[1, 2, 3, 4, 5]]);
    calls[0]?.resolve();
    await expect(Promise.all(pending)).resolves.toHaveLength(5);
  });

  it('releases no caller before its bulk is written', async () => {
    const { calls, addBulk } = controllableAddBulk();
    const enqueue = createBatchingEnqueue(addBulk, 100);
    let released = 0;
    const pending = [1, 2, 3].map((n) => enqueue(job(n)).then(() => void released++));
    await turn();
    await turn();
    expect(released).toBe(0);
    calls[0]?.resolve();
    await Promise.all(pending);
    expect(released).toBe(3);
  });

  it('fails every caller of a failed bulk, and only them', async () => {
    const { calls, addBulk } = controllableAddBulk();
    const enqueue = createBatchingEnqueue(addBulk, 100);
    const first = [1, 2].map((n) => enqueue(job(n)));
    await turn();
    const second = [3].map((n) => enqueue(job(n)));
    await turn();
    expect(calls.map((c) => c.jobs)).toEqual([[1, 2], [3]]);
    calls[0]?.reject(new Error('queue down'));
    calls[1]?.resolve();
    const outcomes = await Promise.allSettled([...first, ...second]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'fulfilled']);
  });

  it('fails the callers when addBulk throws synchronously', async () => {
    const enqueue = createBatchingEnqueue<number>(() => {
      throw new Error('not connected');
    }, 100);
    await expect(enqueue(job(1))).rejects.toThrow('not connected');
  });

  it('splits a large turn into bulks of at most maxBatch jobs', async () => {
    const { calls, addBulk } = controllableAddBulk();
    const enqueue = createBatchingEnqueue(addBulk, 2);
    const pending = [1, 2, 3, 4, 5].map((n) => enqueue(job(n)));
    await turn();
    expect(calls.map((c) => c.jobs)).toEqual([[1, 2], [3, 4], [5]]);
    calls.forEach((c) => c.resolve());
    await Promise.all(pending);
  });
});
