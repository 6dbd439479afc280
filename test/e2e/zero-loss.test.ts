import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { Writable } from 'node:stream';
import winston from 'winston';
import { RedisProcess, freePort } from '../../chaos/processes';
import { createQueueBackend } from '../../src/queue/backend';
import { checkRedisSafety } from '../../src/queue/redis-safety';
import type { RunningService } from '../../src/service';
import { purgeRawReceipts } from '../../src/store/retention';
import type { TestDatabase } from '../support/harness';
import { basicAuth, bootService, createTestDatabase, eventually, redisUrl, uniqueName } from '../support/harness';

/**
 * Zero loss under faults, against a Redis this file owns (so it can kill it): every callback
 * answered 200 ends as exactly one stored notification, whatever happens to the queue.
 */

const notification = (orderId: string, status: string, minute: number): string =>
  `<Notification><SubscriptionId>sub-chaos</SubscriptionId><OrderType>portins</OrderType>` +
  `<OrderId>${orderId}</OrderId><Status>${status}</Status>` +
  `<LastModifiedDate>2026-01-01T10:${String(minute).padStart(2, '0')}:00.000Z</LastModifiedDate></Notification>`;

const postCallback = (service: RunningService, body: string) =>
  request(service.app)
    .post('/callbacks/bandwidth')
    .set('Authorization', basicAuth())
    .type('application/xml')
    .send(body);

async function count(service: RunningService, outcome: string): Promise<number> {
  const rows = await service.db.$queryRaw<{ n: bigint }[]>`
    SELECT count(*)::bigint AS n FROM notifications WHERE outcome = ${outcome}`;
  return Number(rows[0]?.n);
}

/**
 * A CustomerOrderId far larger than a btree index entry may be (about 2.7 kB) passes the XML
 * limits and parses, but PostgreSQL refuses it in orders_customer_order_id_idx: every attempt
 * to persist it fails the same way. (Random hex so that compression cannot save it.)
 */
function poisonNotification(orderId: string, minute: number): string {
  const huge = randomBytes(4000).toString('hex');
  return notification(orderId, 'SUBMITTED', minute).replace(
    '</Notification>',
    `<CustomerOrderId>${huge}</CustomerOrderId></Notification>`,
  );
}

/** Waits for `accepted` stored notifications and `poison` as the only quarantined body, after 2 attempts. */
async function expectQuarantinedAlone(service: RunningService, poison: string, accepted: number): Promise<void> {
  await eventually(async () => ((await count(service, 'accepted')) === accepted ? true : undefined), 20_000);
  const quarantined = await eventually(async () => {
    const rows = await service.db.$queryRaw<{ body: Buffer; reason: string }[]>`
      SELECT body, reason FROM quarantined_notifications`;
    return rows.length === 1 ? rows[0] : undefined;
  }, 20_000);
  expect(Buffer.from(quarantined.body).toString('utf8')).toBe(poison);
  expect(quarantined.reason).toMatch(/attempt 2/);
}

describe('zero loss when Redis dies', () => {
  let db: TestDatabase;
  let service: RunningService;
  let redis: RedisProcess;
  let redisDir: string;

  beforeAll(async () => {
    redisDir = await mkdtemp(path.join(tmpdir(), 'bw-zero-loss-redis-'));
    redis = new RedisProcess(await freePort(), redisDir);
    await redis.start();
    db = await createTestDatabase();
    service = await bootService({
      databaseUrl: db.url,
      queue: 'redis',
      env: { REDIS_URL: redis.url, SPOOL_DRAIN_INTERVAL_MS: '100' },
    });
  });

  afterAll(async () => {
    await service?.stop();
    await redis?.kill();
    await db?.drop();
    await rm(redisDir, { recursive: true, force: true });
  });

  const post = (body: string) => postCallback(service, body);

  it('answers 200 while Redis is down, reports degraded, then drains the spool exactly once', async () => {
    for (let i = 0; i < 10; i += 1) expect((await post(notification(`before-${i}`, 'SUBMITTED', 1))).status).toBe(200);
    await eventually(async () => ((await count(service, 'accepted')) === 10 ? true : undefined));

    await redis.kill();
    const during: number[] = [];
    for (let i = 0; i < 30; i += 1) during.push((await post(notification(`during-${i}`, 'FOC', 2))).status);
    // The same notification twice while spooled: still one stored notification.
    during.push((await post(notification('during-0', 'FOC', 2))).status);
    expect(during.every((s) => s === 200)).toBe(true);

    const ready = await request(service.app).get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ status: 'degraded', details: { queue: { spoolPending: 31 } } });
    const metrics = await request(service.app).get('/metrics');
    expect(metrics.text).toMatch(/^bw_spool_pending_notifications 31$/m);
    expect(metrics.text).toMatch(/^bw_spool_appended_total 31$/m);

    await redis.start();
    await eventually(async () => ((await count(service, 'accepted')) === 40 ? true : undefined), 30_000);
    await eventually(async () => ((await count(service, 'duplicate')) === 1 ? true : undefined), 30_000);
    const after = await request(service.app).get('/metrics');
    expect(after.text).toMatch(/^bw_spool_pending_notifications 0$/m);
    const distinct = await service.db.$queryRaw<{ n: bigint }[]>`
      SELECT count(DISTINCT order_id)::bigint AS n FROM order_events WHERE order_id LIKE 'during-%'`;
    expect(Number(distinct[0]?.n)).toBe(30);
    const events = await service.db.$queryRaw<{ n: bigint }[]>`
      SELECT count(*)::bigint AS n FROM order_events WHERE order_id LIKE 'during-%'`;
    expect(Number(events[0]?.n)).toBe(30);
    expect((await request(service.app).get('/readyz')).body).toMatchObject({ status: 'ready' });
  });
});

describe('worker faults and retention', () => {
  let db: TestDatabase;
  let service: RunningService;

  beforeAll(async () => {
    db = await createTestDatabase();
    service = await bootService({
      databaseUrl: db.url,
      queue: 'redis',
      env: { WORKER_POISON_ATTEMPTS: '2', WORKER_RETRY_BASE_DELAY_MS: '50', WORKER_RETRY_MAX_DELAY_MS: '200' },
    });
  });

  afterAll(async () => {
    await service?.stop();
    await db?.drop();
  });

  const post = (body: string) => postCallback(service, body);

  it('quarantines a poison notification after its attempts without blocking the others', async () => {
    const poison = poisonNotification('poison-1', 3);
    expect((await post(poison)).status).toBe(200);
    for (let i = 0; i < 5; i += 1) expect((await post(notification(`healthy-${i}`, 'SUBMITTED', 3))).status).toBe(200);

    await expectQuarantinedAlone(service, poison, 5);
    const metrics = await request(service.app).get('/metrics');
    expect(metrics.text).toMatch(/^bw_worker_poison_quarantined_total 1$/m);
  });

  it('purges raw receipts past retention and keeps the order history', async () => {
    expect((await post(notification('old-order', 'COMPLETE', 4))).status).toBe(200);
    await eventually(async () => ((await count(service, 'accepted')) === 6 ? true : undefined), 20_000);
    await service.db.$executeRaw`
      UPDATE notifications SET received_at = now() - interval '100 days' WHERE order_id = 'old-order'`;

    expect(await purgeRawReceipts(service.db, { olderThanDays: 90 })).toBe(1);
    expect(await count(service, 'accepted')).toBe(5);
    const history = await service.db.$queryRaw<{ status: string; notification_id: string | null }[]>`
      SELECT status, notification_id FROM order_events WHERE order_id = 'old-order'`;
    expect(history).toEqual([{ status: 'COMPLETE', notification_id: null }]);
    const order = await service.db.$queryRaw<
      { status: string }[]
    >`SELECT status FROM orders WHERE order_id = 'old-order'`;
    expect(order).toEqual([{ status: 'COMPLETE' }]);
  });
});

describe('a poison receipt inside a batch job', () => {
  let db: TestDatabase;
  let service: RunningService;
  const prefix = uniqueName('q');

  beforeAll(async () => {
    db = await createTestDatabase();
    service = await bootService({
      databaseUrl: db.url,
      queue: 'redis',
      env: {
        QUEUE_PREFIX: prefix,
        WORKER_POISON_ATTEMPTS: '2',
        WORKER_RETRY_BASE_DELAY_MS: '50',
        WORKER_RETRY_MAX_DELAY_MS: '200',
      },
    });
  });

  afterAll(async () => {
    await service?.stop();
    await db?.drop();
  });

  it('is split off and quarantined on its own; the healthy receipts of its batch are persisted', async () => {
    const poison = poisonNotification('batch-poison', 5);
    const bodies = [poison, ...Array.from({ length: 24 }, (_, i) => notification(`batch-${i}`, 'SUBMITTED', 5))];
    // The callback route's producer, on the service's queue: receipts enqueued in one
    // event-loop turn become one batch job (how many requests share a turn depends on load,
    // so the route itself cannot be made to batch deterministically here).
    const producer = createQueueBackend({
      redisUrl: redisUrl(),
      databaseUrl: db.url,
      prefix,
      logger: winston.createLogger({ silent: true }),
      enqueueBatchMax: 100,
    }).createProducer();
    try {
      await Promise.all(
        bodies.map((body) =>
          producer.enqueue({
            receiptId: randomUUID(),
            receivedAt: new Date().toISOString(),
            accountId: null,
            remoteAddress: '127.0.0.1',
            headers: {},
            body,
          }),
        ),
      );
      const jobs = await producer.counts();
      expect(Object.values(jobs).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(1);
    } finally {
      await producer.close();
    }
    // Split off into its own job, then quarantined by the per-receipt fault policy.
    await expectQuarantinedAlone(service, poison, 24);
    const metrics = await request(service.app).get('/metrics');
    expect(metrics.text).toMatch(/^bw_worker_batch_split_off_total 1$/m);
  });
});

describe('graceful shutdown', () => {
  it('turns readiness false before it stops listening', async () => {
    const db = await createTestDatabase();
    const service = await bootService({
      databaseUrl: db.url,
      queue: 'redis',
      env: { SHUTDOWN_READINESS_DELAY_MS: '1500' },
    });
    try {
      const base = `http://127.0.0.1:${service.port}`;
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      const stopping = service.stop();
      const during = await fetch(`${base}/readyz`);
      expect(during.status).toBe(503);
      expect(await during.json()).toMatchObject({ shuttingDown: true });
      await stopping;
      await expect(fetch(`${base}/readyz`)).rejects.toThrow();
    } finally {
      await db.drop();
    }
  });
});

describe('Redis safety check', () => {
  it('warns loudly about a Redis without AOF', async () => {
    const messages: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, next) {
        messages.push(chunk.toString('utf8'));
        next();
      },
    });
    const logger = winston.createLogger({ level: 'info', transports: [new winston.transports.Stream({ stream })] });
    await checkRedisSafety(redisUrl(), logger);
    expect(messages.join('\n')).toMatch(/not safe.*AOF persistence is off/);
    expect(messages.join('\n')).not.toMatch(/maxmemory-policy is/);
  });
});
