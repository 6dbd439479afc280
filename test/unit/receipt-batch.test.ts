import type { Job } from 'bullmq';
import winston from 'winston';
import type { NotificationsJob, PersistNotificationJob } from '../../src/queue/catalog';
import { QUEUES } from '../../src/queue/catalog';
import { createNotificationsProcessor } from '../../src/worker/receipt-batch';

/**
 * A batch job must never lose a receipt: whatever was not persisted is added back as a job of
 * its own (where the per-receipt fault policy applies), and the batch job fails (is retried
 * whole) when even that is impossible. The persist and split-off functions are the ports the
 * worker wires to PostgreSQL and BullMQ; here they are plain functions that record calls.
 */

const logger = winston.createLogger({ silent: true });
const receipt = (id: string): PersistNotificationJob => ({
  receiptId: id,
  receivedAt: '2026-11-22T00:00:00.000Z',
  accountId: null,
  remoteAddress: null,
  headers: {},
  body: `<Notification><OrderId>${id}</OrderId></Notification>`,
});
const jobOf = (data: NotificationsJob) => ({ data, attemptsMade: 0, opts: {} }) as unknown as Job<NotificationsJob>;

function harness(options: { failing?: Set<string>; splitOffFails?: boolean } = {}) {
  const persisted: string[] = [];
  const splitOff: string[][] = [];
  const singles: string[] = [];
  const processor = createNotificationsProcessor({
    logger,
    single: (job) => Promise.resolve(void singles.push(job.data.receiptId)),
    persistReceipt: (r) => {
      if (options.failing?.has(r.receiptId)) return Promise.reject(new Error(`cannot persist ${r.receiptId}`));
      persisted.push(r.receiptId);
      return Promise.resolve();
    },
    splitOff: (rs) => {
      if (options.splitOffFails) return Promise.reject(new Error('queue down'));
      splitOff.push(rs.map((r) => r.receiptId));
      return Promise.resolve();
    },
  });
  return { processor, persisted, splitOff, singles };
}

describe('notifications processor (receipt batches)', () => {
  it('hands a single-receipt job to the per-receipt path (fault policy) unchanged', async () => {
    const h = harness();
    await h.processor(jobOf(receipt('a')));
    expect(h.singles).toEqual(['a']);
    expect(h.persisted).toEqual([]);
  });

  it('persists every receipt of a batch, concurrently, and splits nothing off when all succeed', async () => {
    const h = harness();
    const outcome = await h.processor(jobOf({ receipts: [receipt('a'), receipt('b'), receipt('c')] }));
    expect(h.persisted).toEqual(['a', 'b', 'c']);
    expect(h.splitOff).toEqual([]);
    expect(outcome).toEqual({ kind: 'batch', receipts: 3, splitOff: 0 });
  });

  it('splits off exactly the receipts that failed, and completes the batch', async () => {
    const h = harness({ failing: new Set(['b', 'd']) });
    const outcome = await h.processor(jobOf({ receipts: [receipt('a'), receipt('b'), receipt('c'), receipt('d')] }));
    expect(h.persisted).toEqual(['a', 'c']);
    expect(h.splitOff).toEqual([['b', 'd']]);
    expect(outcome).toEqual({ kind: 'batch', receipts: 4, splitOff: 2 });
  });

  it('fails the batch job (BullMQ retries it whole) when the split-off cannot be queued', async () => {
    const h = harness({ failing: new Set(['b']), splitOffFails: true });
    await expect(h.processor(jobOf({ receipts: [receipt('a'), receipt('b')] }))).rejects.toThrow('queue down');
  });

  it('names a batch job after its first receipt and a receipt job after its receipt', () => {
    expect(QUEUES.notifications.jobId(receipt('r1'))).toBe('receipt-r1');
    expect(QUEUES.notifications.jobId({ receipts: [receipt('r1'), receipt('r2')] })).toBe('receipts-r1-2');
  });
});
