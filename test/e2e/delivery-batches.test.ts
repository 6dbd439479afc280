import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import request from 'supertest';
import type { RunningService } from '../../src/service';
import type { TestDatabase } from '../support/harness';
import { ADMIN_KEY, basicAuth, bootService, createTestDatabase, eventually, uniqueName } from '../support/harness';
import type { ReceivedRequest, WebhookReceiver } from '../support/webhook-receiver';
import { startWebhookReceiver } from '../support/webhook-receiver';

/**
 * Batch delivery jobs (issue #8): the deliveries of one handler fanned out together run as ONE
 * job. What must not change against one job per delivery: per-(handler, order) persistence
 * order, the handler's attempt budget and backoff, dead letters. A replay of an order queues
 * its deliveries together, which makes a batch job deterministic to produce.
 */

interface ForwardBody {
  deliveryId: string;
  attempt: number;
  notification: { orderId: string | null; status: string | null; source: string };
}
const bodyOf = (r: ReceivedRequest): ForwardBody => JSON.parse(r.body) as ForwardBody;

const STATUSES = ['SUBMITTED', 'FOC', 'COMPLETE'] as const;

function portIn(orderId: string, status: string, minute: number): string {
  return `<?xml version="1.0"?><Notification><SubscriptionId>sub-batches</SubscriptionId>
    <OrderType>portins</OrderType><OrderId>${orderId}</OrderId><Status>${status}</Status>
    <LastModifiedDate>2024-02-01T10:${String(minute).padStart(2, '0')}:00.000Z</LastModifiedDate>
    </Notification>`;
}

describe.each(['redis', 'postgres'] as const)('batch delivery jobs with BullMQ on %s', (queue) => {
  let db: TestDatabase;
  let service: RunningService;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    db = await createTestDatabase();
    receiver = await startWebhookReceiver();
    const forward = (name: string) => ({
      name,
      type: 'http-forward',
      url: `${receiver.url}/${name}`,
      secret: `${name}-secret-0123456789abcdef`,
      retry: { attempts: 3, backoffMs: 100 },
    });
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'batches-')), 'handlers.json');
    writeFileSync(file, JSON.stringify({ handlers: [forward('batched'), forward('down')] }));
    receiver.answer('/down', 500);
    service = await bootService({
      databaseUrl: db.url,
      queue,
      env: { HANDLERS_CONFIG: file, HANDLER_ORDER_WAIT_MS: '100', QUEUE_PREFIX: uniqueName('q') },
    });
  });

  afterAll(async () => {
    await service?.stop();
    await receiver?.close();
    await db?.drop();
  });

  const postOrder = async (orderId: string) => {
    for (const [i, status] of STATUSES.entries()) {
      const res = await request(service.app)
        .post('/callbacks/bandwidth')
        .set('Authorization', basicAuth())
        .set('Content-Type', 'application/xml')
        .send(portIn(orderId, status, i + 1));
      expect(res.status).toBe(200);
    }
  };

  const rowsOf = (handler: string, orderId: string, source: string) =>
    service.db.$queryRaw<{ id: string; status: string; attempts: number }[]>`
      SELECT id::text, status, attempts FROM handler_deliveries
       WHERE handler = ${handler} AND order_id = ${orderId} AND source = ${source} ORDER BY position`;

  /**
   * Waits for the callback deliveries of an order to end (they may have waited for each other
   * themselves: the split-off counts are read after this), then replays it to `handler`.
   */
  const callbacksDone = (orderId: string, handler: string) =>
    eventually(async () => {
      const rows = await rowsOf(handler, orderId, 'callback');
      return rows.length === STATUSES.length && rows.every((r) => r.status === 'succeeded' || r.status === 'dead')
        ? rows
        : undefined;
    }, 20_000);
  const replay = async (orderId: string, handler: string) => {
    const res = await request(service.app)
      .post(`/api/v1/admin/orders/${orderId}/replay?handler=${handler}`)
      .set('Authorization', `Bearer ${ADMIN_KEY}`);
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ notifications: STATUSES.length, deliveries: STATUSES.length });
  };

  /**
   * The order's statuses in persistence order (history ids), which is the order a handler gets
   * them in. The callbacks are posted one after another, but the worker may persist them in
   * another order (seen on the PostgreSQL queue backend: COMPLETE before FOC).
   */
  const persistenceOrder = async (orderId: string) => {
    const rows = await service.db.$queryRaw<{ status: string }[]>`
      SELECT status FROM order_events WHERE order_id = ${orderId} ORDER BY id`;
    expect(rows.map((r) => r.status).sort()).toEqual([...STATUSES].sort());
    return rows.map((r) => r.status);
  };

  const replayedTo = (handler: string, orderId: string) =>
    receiver
      .on(`/${handler}`)
      .map(bodyOf)
      .filter((b) => b.notification.orderId === orderId && b.notification.source === 'replay');

  const splitOff = async (reason: string) => {
    const text = (await request(service.app).get('/metrics')).text;
    const line = text
      .split('\n')
      .find((l) => l.startsWith(`bw_handler_batch_split_off_total{handler="batched",reason="${reason}"}`));
    return line === undefined ? 0 : Number(line.split(' ').at(-1));
  };

  it('runs one order of a batch in persistence order, one after the other, each on its first try', async () => {
    const orderId = 'b0000000-0000-4000-8000-00000000000a';
    await postOrder(orderId);
    await callbacksDone(orderId, 'batched');
    const waitsBefore = await splitOff('wait');
    await replay(orderId, 'batched');

    const done = await eventually(async () => {
      const rows = await rowsOf('batched', orderId, 'replay');
      return rows.length === 3 && rows.every((r) => r.status === 'succeeded') ? rows : undefined;
    });
    expect(done.map((r) => r.attempts)).toEqual([1, 1, 1]);
    expect(replayedTo('batched', orderId).map((b) => b.notification.status)).toEqual(await persistenceOrder(orderId));
    // The lane opened the gate for each in turn: none had to leave the batch to wait.
    expect(await splitOff('wait')).toBe(waitsBefore);
  });

  it('splits a failed first attempt off with the rest of its order behind it; order and attempts hold', async () => {
    const orderId = 'b0000000-0000-4000-8000-00000000000b';
    await postOrder(orderId);
    // The receiver refuses the order's first replayed delivery (its first in persistence order) once.
    let refused = false;
    receiver.answer('/batched', (r) => {
      const b = bodyOf(r);
      if (refused || b.notification.orderId !== orderId || b.notification.source !== 'replay') return 200;
      refused = true;
      return 503;
    });
    await callbacksDone(orderId, 'batched');
    const before = { retry: await splitOff('retry'), wait: await splitOff('wait') };
    await replay(orderId, 'batched');

    const done = await eventually(async () => {
      const rows = await rowsOf('batched', orderId, 'replay');
      return rows.length === 3 && rows.every((r) => r.status === 'succeeded') ? rows : undefined;
    });
    // The first: attempt 1 in the batch (503), attempt 2 in its own job; the others once each.
    expect(done.map((r) => r.attempts)).toEqual([2, 1, 1]);
    const seen = replayedTo('batched', orderId);
    const [first, second, third] = await persistenceOrder(orderId);
    expect(seen.map((b) => [b.notification.status, b.attempt])).toEqual([
      [first, 1],
      [first, 2],
      [second, 1],
      [third, 1],
    ]);
    expect(await splitOff('retry')).toBe(before.retry + 1);
    expect(await splitOff('wait')).toBe(before.wait + 2);
  });

  it("keeps the handler's attempt budget: a delivery that always fails is dead after its 3 attempts", async () => {
    const orderId = 'b0000000-0000-4000-8000-00000000000c';
    await postOrder(orderId);
    await callbacksDone(orderId, 'down');
    await replay(orderId, 'down');

    const dead = await eventually(async () => {
      const rows = await rowsOf('down', orderId, 'replay');
      return rows.length === 3 && rows.every((r) => r.status === 'dead') ? rows : undefined;
    }, 20_000);
    // One attempt in the batch plus two in its own job: the handler's 3, not 4.
    expect(dead.map((r) => r.attempts)).toEqual([3, 3, 3]);
    const attempts = receiver
      .on('/down')
      .map(bodyOf)
      .filter((b) => b.notification.orderId === orderId && b.notification.source === 'replay');
    expect(attempts.map((b) => [b.notification.status, b.attempt])).toEqual(
      (await persistenceOrder(orderId)).flatMap((s) => [1, 2, 3].map((a) => [s, a])),
    );
  });
});
