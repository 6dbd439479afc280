import request from 'supertest';
import type { RunningService } from '../../src/service';
import type { TestDatabase } from '../support/harness';
import { basicAuth, bootService, createTestDatabase, eventually } from '../support/harness';

/**
 * A burst of concurrent callbacks goes to the queue in a few jobs (one per event-loop turn,
 * carrying every receipt of that turn) instead of one job each. What a user must still see: every callback of
 * the burst is answered 200 only once its receipt is in the queue, and every one of them is
 * persisted. ROLE=api first (no worker), so the queue is observed holding the whole burst.
 */
const BURST = 120;

function body(i: number): string {
  return (
    '<?xml version="1.0"?><Notification><SubscriptionId>sub-burst</SubscriptionId>' +
    `<OrderType>orders</OrderType><OrderId>burst-order-${i}</OrderId><Status>COMPLETE</Status>` +
    `<LastModifiedDate>2026-01-01T00:00:${String(i % 60).padStart(2, '0')}.000Z</LastModifiedDate>` +
    `<CompletedTelephoneNumbers><TelephoneNumber>${9190000000 + i}</TelephoneNumber></CompletedTelephoneNumbers>` +
    '</Notification>'
  );
}

function metric(metricsText: string, pattern: RegExp): number {
  const match = pattern.exec(metricsText);
  return match?.[1] === undefined ? Number.NaN : Number(match[1]);
}

describe.each(['redis', 'postgres'] as const)('burst of callbacks with BullMQ on %s', (queue) => {
  let db: TestDatabase;
  let api: RunningService | undefined;
  let worker: RunningService | undefined;
  const prefix = `burst_${queue}_${process.pid}`;

  beforeAll(async () => {
    db = await createTestDatabase();
    // This test is about batching, not the spool: an enqueue slower than the spool's 200 ms
    // budget (a loaded CI host, the PostgreSQL backend) would spool a receipt and count it twice
    // in the metrics once the drainer re-queues it (seen once: 179 receipts for 120).
    api = await bootService({
      databaseUrl: db.url,
      queue,
      env: { ROLE: 'api', QUEUE_PREFIX: prefix, SPOOL_ENQUEUE_TIMEOUT_MS: '30000' },
    });
  });

  afterAll(async () => {
    await worker?.stop();
    await api?.stop();
    await db?.drop();
  });

  it('answers every callback of a concurrent burst 200 only once it is queued', async () => {
    const service = api!;
    // All in flight at once, like a bulk port-in burst.
    const answers = await Promise.all(
      Array.from({ length: BURST }, (_, i) =>
        request(service.app)
          .post('/callbacks/bandwidth')
          .set('Content-Type', 'application/xml')
          .set('Authorization', basicAuth())
          .send(body(i)),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(Array.from({ length: BURST }, () => 200));
    // Every 200 was sent after its receipt was written: the queue already holds all of them,
    // in fewer jobs than receipts.
    const metrics = await request(service.app).get('/metrics');
    const jobs = metric(metrics.text, /^bw_queue_batch_receipts_count (\d+)$/m);
    expect(metric(metrics.text, /^bw_queue_batch_receipts_sum (\d+)$/m)).toBe(BURST);
    expect(metric(metrics.text, /^bw_queue_jobs\{queue="notifications",state="waiting"\} (\d+)$/m)).toBe(jobs);
    expect(jobs).toBeLessThan(BURST);
  });

  it('persists every notification of the burst once a worker runs', async () => {
    worker = await bootService({ databaseUrl: db.url, queue, env: { ROLE: 'worker', QUEUE_PREFIX: prefix } });
    const stored = await eventually(async () => {
      const rows = await worker!.db.$queryRaw<{ n: bigint }[]>`
        SELECT count(*)::bigint AS n FROM orders WHERE order_id LIKE 'burst-order-%' AND status = 'COMPLETE'`;
      const n = Number(rows[0]?.n);
      return n === BURST ? n : undefined;
    }, 30_000);
    expect(stored).toBe(BURST);
  });
});
