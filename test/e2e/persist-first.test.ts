import request from 'supertest';
import type { RunningService } from '../../src/service';
import type { TestDatabase } from '../support/harness';
import { basicAuth, bootService, createTestDatabase, eventually, uniqueName } from '../support/harness';

/**
 * Persistence first (issue #8): while the worker holds a backlog of receipts to persist, its
 * delivery jobs wait for it to clear (at most PERSIST_FIRST_MAX_WAIT_MS). What must hold: the
 * jobs do wait in a burst, and every notification is still stored and delivered once.
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

  beforeAll(async () => {
    db = await createTestDatabase();
    service = await bootService({
      databaseUrl: db.url,
      queue: 'redis',
      // A small burst: four receipts held already count as a backlog.
      env: {
        WORKER_CONCURRENCY: '4',
        PERSIST_FIRST_BACKLOG: '4',
        PERSIST_FIRST_MAX_WAIT_MS: maxWaitMs,
        QUEUE_PREFIX: uniqueName('q'),
      },
    });
  });

  afterAll(async () => {
    await service?.stop();
    await db?.drop();
  });

  const waits = async (): Promise<number> => {
    const text = (await request(service.app).get('/metrics')).text;
    const line = text.split('\n').find((l) => l.startsWith('bw_handler_persist_first_wait_seconds_count'));
    return Number(line?.split(' ')[1] ?? 0);
  };

  it('stores and delivers every notification of a burst exactly once', async () => {
    const orderId = uniqueName('burst');
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

    const like = `${orderId}-%`;
    const rows = await eventually(async () => {
      const found = await service.db.$queryRaw<{ status: string; attempts: number }[]>`
        SELECT d.status, d.attempts FROM handler_deliveries d JOIN notifications n ON n.id = d.notification_id
         WHERE n.order_id LIKE ${like}`;
      return found.length === BURST && found.every((r) => r.status === 'succeeded') ? found : undefined;
    }, 30_000);
    expect(rows.every((r) => r.attempts === 1)).toBe(true);
    expect(await service.db.orderEvent.count({ where: { orderId: { startsWith: `${orderId}-` } } })).toBe(BURST);

    if (maxWaitMs === '0') expect(await waits()).toBe(0);
    else expect(await waits()).toBeGreaterThan(0);
  });
});
