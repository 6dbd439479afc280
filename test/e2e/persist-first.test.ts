import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import request from 'supertest';
import type { RunningService } from '../../src/service';
import type { TestDatabase } from '../support/harness';
import { basicAuth, bootService, createTestDatabase, eventually, uniqueName } from '../support/harness';
import type { WebhookReceiver } from '../support/webhook-receiver';
import { header, startWebhookReceiver } from '../support/webhook-receiver';

/**
 * Persistence first (issue #8): while the worker holds a backlog of receipts to persist, its
 * delivery jobs wait for it to clear (at most PERSIST_FIRST_MAX_WAIT_MS). What must hold: the
 * jobs do wait in a burst, every notification is stored and delivered, and a delivery queued
 * twice meanwhile (what a redelivered receipt does: its unfinished deliveries get jobs of their
 * own beside the batch job that has them) still reaches its handler once when both jobs are
 * released together.
 */

const BURST = 150;

function notification(orderId: string, i: number): string {
  return `<?xml version="1.0"?><Notification><SubscriptionId>sub-first</SubscriptionId>
    <OrderType>portins</OrderType><OrderId>${orderId}-${i}</OrderId><Status>SUBMITTED</Status>
    <LastModifiedDate>2024-03-01T10:00:00.000Z</LastModifiedDate></Notification>`;
}

describe.each([
  ['waits', '10000'],
  ['off', '0'],
] as const)('persistence first (%s)', (_, maxWaitMs) => {
  let db: TestDatabase;
  let service: RunningService;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    db = await createTestDatabase();
    receiver = await startWebhookReceiver();
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'persist-first-')), 'handlers.json');
    const forward = { name: 'forward', type: 'http-forward', url: `${receiver.url}/forward`, secret: 'f'.repeat(32) };
    writeFileSync(file, JSON.stringify({ handlers: [forward] }));
    service = await bootService({
      databaseUrl: db.url,
      queue: 'redis',
      // A small burst: four receipts held already count as a backlog, and batches of ten make
      // it last many batches, so delivery jobs start while it is held (however the callback
      // route happened to pack the burst into queue jobs).
      env: {
        PERSIST_BATCH_MAX: '10',
        HANDLERS_CONFIG: file,
        HANDLER_ORDER_WAIT_MS: '100',
        WORKER_CONCURRENCY: '4',
        PERSIST_FIRST_BACKLOG: '4',
        PERSIST_FIRST_MAX_WAIT_MS: maxWaitMs,
        QUEUE_PREFIX: uniqueName('q'),
      },
    });
  });

  afterAll(async () => {
    await service?.stop();
    await receiver?.close();
    await db?.drop();
  });

  const waits = async (): Promise<number> => {
    const text = (await request(service.app).get('/metrics')).text;
    const line = text.split('\n').find((l) => l.startsWith('bw_handler_persist_first_wait_seconds_count'));
    return Number(line?.split(' ')[1] ?? 0);
  };

  it('stores and delivers every notification of a burst once, also when its deliveries are queued twice', async () => {
    const orderId = uniqueName('burst');
    const like = `${orderId}-%`;
    const answers = await Promise.all(
      Array.from({ length: BURST }, (_, i) =>
        request(service.app)
          .post('/callbacks/bandwidth')
          .set('Authorization', basicAuth())
          .set('Content-Type', 'application/xml')
          .send(notification(orderId, i)),
      ),
    );
    expect(answers.every((r) => r.status === 200)).toBe(true);

    // Queue the unfinished deliveries of what is stored so far a second time, as a redelivered
    // receipt does (`dispatchNotification`: single jobs beside the burst's batch jobs). Before
    // the worker ran one attempt per delivery at a time, some of them reached the handler
    // twice here, with persistence first and without.
    const stored = await eventually(async () => {
      const found = await service.db.$queryRaw<{ id: string }[]>`
        SELECT id::text FROM notifications WHERE order_id LIKE ${like}`;
      return found.length >= 40 ? found : undefined;
    }, 10_000);
    await Promise.all(stored.map((n) => service.dispatchNotification(n.id, 'callback')));

    const rows = await eventually(async () => {
      const found = await service.db.$queryRaw<{ id: string; status: string; attempts: number }[]>`
        SELECT d.id::text, d.status, d.attempts FROM handler_deliveries d JOIN notifications n ON n.id = d.notification_id
         WHERE n.order_id LIKE ${like}`;
      return found.length === BURST && found.every((r) => r.status === 'succeeded') ? found : undefined;
    }, 30_000);
    expect(rows.filter((r) => r.attempts !== 1)).toEqual([]);
    const forwarded = new Map<string, number>();
    for (const r of receiver.on('/forward')) {
      const id = header(r, 'X-Webhook-Id');
      forwarded.set(id, (forwarded.get(id) ?? 0) + 1);
    }
    const ids = new Set(rows.map((r) => r.id));
    expect([...forwarded].filter(([id, n]) => ids.has(id) && n !== 1)).toEqual([]);
    expect([...ids].filter((id) => !forwarded.has(id))).toEqual([]);
    expect(await service.db.orderEvent.count({ where: { orderId: { startsWith: `${orderId}-` } } })).toBe(BURST);

    if (maxWaitMs === '0') expect(await waits()).toBe(0);
    else expect(await waits()).toBeGreaterThan(0);
  });
});
