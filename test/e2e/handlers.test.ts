import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { runHandlersCommand } from '../../src/cli/handlers';
import { loadConfig } from '../../src/config';
import { verifySignature } from '../../src/handlers/http-forward';
import type { RunningService } from '../../src/service';
import type { TestDatabase } from '../support/harness';
import {
  ADMIN_KEY,
  READ_KEY,
  basicAuth,
  bootService,
  createTestDatabase,
  eventually,
  readExample,
  redisUrl,
  silentLogger,
  uniqueName,
} from '../support/harness';
import type { ReceivedRequest, WebhookReceiver } from '../support/webhook-receiver';
import { header, startWebhookReceiver, until } from '../support/webhook-receiver';

/**
 * Handler fan-out end to end, on both queue backends: callbacks -> persistence -> one delivery
 * per (notification, handler) -> a real local HTTP receiver; retries, dead letters, admin
 * retry, match filters, per-order ordering and replay.
 */

const SECRETS = {
  healthy: 'healthy-secret-0123456789',
  failing: 'failing-secret-0123456789',
  foc: 'foc-secret-0123456789abcd',
  ordered: 'ordered-secret-0123456789',
} as const;
type HandlerName = keyof typeof SECRETS;

interface ForwardBody {
  deliveryId: string;
  attempt: number;
  notification: { id: string; orderId: string | null; orderType: string | null; status: string | null; source: string };
  order: { orderId: string; status: string | null } | null;
}

const bodyOf = (r: ReceivedRequest): ForwardBody => JSON.parse(r.body) as ForwardBody;

function portIn(orderId: string, status: string, minute: number): string {
  return `<?xml version="1.0"?><Notification><SubscriptionId>sub-ordering</SubscriptionId>
    <OrderType>portins</OrderType><OrderId>${orderId}</OrderId><Status>${status}</Status>
    <LastModifiedDate>2024-01-01T10:${String(minute).padStart(2, '0')}:00.000Z</LastModifiedDate>
    <TelephoneNumbers><TelephoneNumber>9195550${String(minute).padStart(3, '0')}</TelephoneNumber></TelephoneNumbers>
    </Notification>`;
}

describe.each(['redis', 'postgres'] as const)('handlers with BullMQ on %s', (queue) => {
  let db: TestDatabase;
  let service: RunningService;
  let receiver: WebhookReceiver;
  let configFile: string;
  const prefix = uniqueName('q');

  beforeAll(async () => {
    db = await createTestDatabase();
    receiver = await startWebhookReceiver();
    const forward = (name: HandlerName, extra: object = {}) => ({
      name,
      type: 'http-forward',
      url: `${receiver.url}/${name}`,
      secret: SECRETS[name],
      retry: { attempts: 3, backoffMs: 100 },
      ...extra,
    });
    const dir = mkdtempSync(path.join(tmpdir(), 'handlers-'));
    const file = path.join(dir, 'handlers.json');
    configFile = file;
    writeFileSync(
      file,
      JSON.stringify({
        handlers: [
          forward('healthy'),
          forward('failing'),
          forward('foc', { match: { orderTypes: ['portins'], statuses: ['FOC'] } }),
          forward('ordered', { match: { orderTypes: ['portins'] }, retry: { attempts: 5, backoffMs: 200 } }),
        ],
      }),
    );
    receiver.answer('/failing', 500);
    service = await bootService({
      databaseUrl: db.url,
      queue,
      env: { HANDLERS_CONFIG: file, HANDLER_ORDER_WAIT_MS: '100', QUEUE_PREFIX: prefix },
    });
  });

  afterAll(async () => {
    await service?.stop();
    await receiver?.close();
    await db?.drop();
  });

  const post = (body: string) =>
    request(service.app)
      .post('/callbacks/bandwidth')
      .set('Authorization', basicAuth())
      .set('Content-Type', 'application/xml')
      .send(body);

  const admin = (method: 'get' | 'post', url: string, key = ADMIN_KEY) =>
    request(service.app)[method](url).set('Authorization', `Bearer ${key}`);

  const deliveries = (handler: string) =>
    service.db.$queryRaw<{ id: string; status: string; attempts: number; source: string; notification_id: string }[]>`
      SELECT id::text, status, attempts, source, notification_id::text FROM handler_deliveries
       WHERE handler = ${handler} ORDER BY created_at, id`;

  const expectSigned = (requests: readonly ReceivedRequest[], secret: string) => {
    for (const r of requests) {
      const ok = verifySignature(secret, header(r, 'x-webhook-timestamp'), r.body, header(r, 'x-webhook-signature'));
      expect({ path: r.path, signatureVerifies: ok }).toEqual({ path: r.path, signatureVerifies: true });
      expect(bodyOf(r).deliveryId).toBe(header(r, 'x-webhook-id'));
      expect(
        verifySignature(
          'some-other-secret-value',
          header(r, 'x-webhook-timestamp'),
          r.body,
          header(r, 'x-webhook-signature'),
        ),
      ).toBe(false);
    }
  };

  it('delivers to the healthy handler, dead-letters the failing one, and an admin retry delivers it', async () => {
    expect((await post(readExample('orders-complete.xml'))).status).toBe(200);

    const healthy = await until(() => (receiver.on('/healthy').length === 1 ? receiver.on('/healthy') : undefined));
    expect(bodyOf(healthy[0]!)).toMatchObject({
      attempt: 1,
      notification: { orderId: 'a8ef295b-fcf4-44a7-945c-0520c8f49123', status: 'COMPLETE', source: 'callback' },
      order: { orderId: 'a8ef295b-fcf4-44a7-945c-0520c8f49123', status: 'COMPLETE' },
    });

    // The failing handler: 3 attempts (its retry.attempts), then dead.
    const [dead] = await eventually(async () => {
      const rows = await deliveries('failing');
      return rows[0]?.status === 'dead' ? rows : undefined;
    });
    expect(dead).toMatchObject({ status: 'dead', attempts: 3 });
    const failedAttempts = receiver.on('/failing');
    expect(failedAttempts.map((r) => bodyOf(r).attempt)).toEqual([1, 2, 3]);
    expect(new Set(failedAttempts.map((r) => header(r, 'x-webhook-id')))).toEqual(new Set([dead!.id]));

    // Persistence and the healthy handler were unaffected.
    expect(await deliveries('healthy')).toEqual([expect.objectContaining({ status: 'succeeded', attempts: 1 })]);
    const order = await request(service.app)
      .get('/api/v1/orders/a8ef295b-fcf4-44a7-945c-0520c8f49123')
      .set('Authorization', `Bearer ${READ_KEY}`);
    expect(order.body).toMatchObject({ status: 'COMPLETE', eventCount: 1 });

    // Visible as a dead letter, to admin keys only.
    expect((await admin('get', '/api/v1/admin/dead-letters', READ_KEY)).status).toBe(403);
    const list = await admin('get', '/api/v1/admin/dead-letters?handler=failing');
    expect(list.status).toBe(200);
    expect(list.body).toEqual({
      data: [expect.objectContaining({ id: dead!.id, handler: 'failing', attempts: 3, lastError: 'HTTP 500' })],
      nextCursor: null,
    });

    // Receiver fixed: the admin retry delivers it with the same delivery id.
    receiver.answer('/failing', 200);
    const retry = await admin('post', `/api/v1/admin/dead-letters/${dead!.id}/retry`);
    expect(retry.status).toBe(202);
    expect(retry.body).toEqual({ id: dead!.id, handler: 'failing', status: 'pending' });
    const [done] = await eventually(async () => {
      const rows = await deliveries('failing');
      return rows[0]?.status === 'succeeded' ? rows : undefined;
    });
    expect(done).toMatchObject({ attempts: 4 });
    const last = receiver.on('/failing').at(-1)!;
    expect(header(last, 'x-webhook-id')).toBe(dead!.id);
    expect(bodyOf(last).attempt).toBe(4);
    expect((await admin('get', '/api/v1/admin/dead-letters')).body).toEqual({ data: [], nextCursor: null });

    // Retrying something that is not dead is refused.
    expect((await admin('post', `/api/v1/admin/dead-letters/${dead!.id}/retry`)).status).toBe(409);
    expect((await admin('post', '/api/v1/admin/dead-letters/00000000-0000-4000-8000-000000000000/retry')).status).toBe(
      404,
    );

    expectSigned(receiver.on('/healthy'), SECRETS.healthy);
    expectSigned(receiver.on('/failing'), SECRETS.failing);
  });

  it('sends a portins+FOC handler exactly the port-in FOC notifications', async () => {
    const focOrder = 'ee456cfb-d237-4adc-b3f8-9db03d2e62a2';
    for (const body of [
      readExample('portins-foc.xml'),
      readExample('orders-failed.xml'),
      readExample('event-messaging-lost.xml'),
      portIn('c0ffee00-0000-4000-8000-00000000f0c0', 'SUBMITTED', 1),
    ]) {
      expect((await post(body)).status).toBe(200);
    }
    // Wait until every handler has finished with everything, so a wrong delivery would show.
    await eventually(async () => {
      const rows = await service.db.$queryRaw<{ n: bigint }[]>`
        SELECT count(*)::bigint AS n FROM handler_deliveries WHERE status IN ('pending', 'failed')`;
      const stored = await service.db.$queryRaw<{ n: bigint }[]>`SELECT count(*)::bigint AS n FROM notifications`;
      return Number(rows[0]?.n) === 0 && Number(stored[0]?.n) === 5 ? true : undefined;
    });
    const foc = receiver.on('/foc').map(bodyOf);
    expect(foc.map((b) => [b.notification.orderType, b.notification.status, b.notification.orderId])).toEqual([
      ['portins', 'FOC', focOrder],
    ]);
    expect((await deliveries('foc')).map((d) => d.status)).toEqual(['succeeded']);
    // Everything-handlers got all five, the event without an order included.
    expect(receiver.on('/healthy')).toHaveLength(5);
    expectSigned(receiver.on('/foc'), SECRETS.foc);
  });

  it('keeps one order in persistence order for a handler while an earlier delivery is retried', async () => {
    const orderId = 'c0ffee00-0000-4000-8000-0000000000de';
    // The first two requests about this order fail (503, retried): whichever notification the
    // handler gets first must then be retried until delivered before any other is sent.
    let firstFailures = 0;
    receiver.answer('/ordered', (r) => {
      if (bodyOf(r).notification.orderId === orderId && firstFailures < 2) {
        firstFailures += 1;
        return 503;
      }
      return 200;
    });
    const statuses = ['SUBMITTED', 'FOC', 'REQUESTED_SUPP', 'FOC', 'COMPLETE'];
    for (const [i, status] of statuses.entries()) {
      expect((await post(portIn(orderId, status, 10 + i))).status).toBe(200);
    }
    const seen = await until(() => {
      const got = receiver.on('/ordered').filter((r) => bodyOf(r).notification.orderId === orderId);
      return got.length === statuses.length + 2 ? got : undefined;
    }, 30_000);

    // Persistence order: the order's history rows, by id.
    const persisted = await service.db.$queryRaw<{ notification_id: string }[]>`
      SELECT notification_id::text FROM order_events WHERE order_id = ${orderId} ORDER BY id`;
    const arrival = seen.map((r) => bodyOf(r).notification.id);
    // Every attempt of the first notification comes before anything else of the order...
    expect(arrival.slice(0, 3)).toEqual(Array(3).fill(persisted[0]!.notification_id));
    // ...and then each notification once, in persistence order.
    expect(arrival.slice(3)).toEqual(persisted.slice(1).map((p) => p.notification_id));
    expect(firstFailures).toBe(2);
    expectSigned(seen, SECRETS.ordered);
  });

  it('replays one order to one handler as new deliveries, history unchanged', async () => {
    const orderId = 'ee456cfb-d237-4adc-b3f8-9db03d2e62a2';
    const before = receiver.on('/healthy').length;
    const res = await admin('post', '/api/v1/admin/replay').send({ orderId, handler: 'healthy' });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ notifications: 1, deliveries: 1 });
    const replayed = await until(() => {
      const got = receiver.on('/healthy').slice(before);
      return got.length === 1 ? got : undefined;
    });
    expect(bodyOf(replayed[0]!).notification).toMatchObject({ orderId, status: 'FOC', source: 'replay' });
    expect((await deliveries('healthy')).filter((d) => d.source === 'replay')).toHaveLength(1);
    const order = await request(service.app)
      .get(`/api/v1/orders/${orderId}`)
      .set('Authorization', `Bearer ${READ_KEY}`);
    expect(order.body).toMatchObject({ eventCount: 1 });

    const bad = await admin('post', '/api/v1/admin/replay').send({ orderId, handler: 'nope' });
    expect(bad.status).toBe(404);
    expect((await admin('post', '/api/v1/admin/replay').send({ from: 'yesterday' })).status).toBe(400);
  });

  it('lists and retries dead letters and replays from the command line', async () => {
    const config = loadConfig({
      DATABASE_URL: db.url,
      ...(queue === 'redis' ? { REDIS_URL: redisUrl() } : {}),
      QUEUE_PREFIX: prefix,
      HANDLERS_CONFIG: configFile,
    });
    const cli = (...args: string[]) => runHandlersCommand(args, config, db.url, silentLogger());
    const orderId = 'c0ffee00-0000-4000-8000-0000000000c1';
    receiver.answer('/failing', 500);
    expect((await post(portIn(orderId, 'SUBMITTED', 30))).status).toBe(200);
    const dead = await eventually(async () => {
      const rows = (await deliveries('failing')).filter((d) => d.status === 'dead');
      return rows.length === 1 ? rows[0] : undefined;
    });

    const listed = await cli('dead-letters', 'list', '--handler', 'failing');
    expect(listed).toEqual({
      exitCode: 0,
      output: { data: [expect.objectContaining({ id: dead.id, orderId })], more: false },
    });

    receiver.answer('/failing', 200);
    expect(await cli('dead-letters', 'retry', dead.id)).toEqual({
      exitCode: 0,
      output: { kind: 'requeued', deliveryId: dead.id, handler: 'failing' },
    });
    await eventually(async () =>
      (await deliveries('failing')).every((d) => d.status === 'succeeded') ? true : undefined,
    );
    expect((await cli('dead-letters', 'retry', dead.id)).exitCode).toBe(1);

    const before = receiver.on('/ordered').length;
    expect(await cli('replay', '--order', orderId, '--handler', 'ordered')).toEqual({
      exitCode: 0,
      output: { kind: 'replayed', notifications: 1, deliveries: 1 },
    });
    await until(() => (receiver.on('/ordered').length === before + 1 ? true : undefined));
    expect(bodyOf(receiver.on('/ordered').at(-1)!).notification).toMatchObject({ orderId, source: 'replay' });
    await expect(cli('replay', '--from', 'yesterday', '--to', 'today')).rejects.toThrow(/--from must be an ISO 8601/);
  });
});
