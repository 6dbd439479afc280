import request from 'supertest';
import type { RunningService } from '../../src/service';
import type { TestDatabase } from '../support/harness';
import {
  READ_KEY,
  basicAuth,
  bootService,
  createTestDatabase,
  eventually,
  exampleFiles,
  readExample,
} from '../support/harness';

/**
 * The whole path, on both queue backends: HTTP -> XML -> BullMQ -> worker -> PostgreSQL ->
 * read API, with every example body Bandwidth documents.
 */
describe.each(['redis', 'postgres'] as const)('callback flow with BullMQ on %s', (queue) => {
  let db: TestDatabase;
  let service: RunningService;

  beforeAll(async () => {
    db = await createTestDatabase();
    service = await bootService({ databaseUrl: db.url, queue });
  });

  afterAll(async () => {
    await service?.stop();
    await db?.drop();
  });

  const post = (body: string | Buffer, auth: string | null = basicAuth()) => {
    const req = request(service.app).post('/callbacks/bandwidth').set('Content-Type', 'application/xml');
    if (auth !== null) req.set('Authorization', auth);
    return req.send(body);
  };

  const getOrder = (orderId: string) =>
    request(service.app).get(`/api/v1/orders/${orderId}`).set('Authorization', `Bearer ${READ_KEY}`);

  it('challenges an unauthenticated POST and writes nothing', async () => {
    const res = await post(readExample('orders-complete.xml'), null);
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Basic realm="bandwidth-callbacks"/);
    const rows = await service.db.$queryRaw<{ n: bigint }[]>`SELECT count(*)::bigint AS n FROM notifications`;
    expect(Number(rows[0]?.n)).toBe(0);
    expect((await post(readExample('orders-complete.xml'), basicAuth('bandwidth', 'wrong'))).status).toBe(401);
  });

  it('accepts every example and persists it', async () => {
    for (const file of exampleFiles()) {
      const res = await post(readExample(file));
      expect({ file, status: res.status }).toEqual({ file, status: 200 });
    }
    // Each example is a distinct notification: one receipt each, none a duplicate.
    const count = await eventually(async () => {
      const rows = await service.db.$queryRaw<{ n: bigint }[]>`
        SELECT count(*)::bigint AS n FROM notifications WHERE outcome = 'accepted'`;
      const n = Number(rows[0]?.n);
      return n === exampleFiles().length ? n : undefined;
    });
    expect(count).toBe(exampleFiles().length);
  });

  it('shows the new-number order as COMPLETE with E.164 numbers', async () => {
    const order = await eventually(async () => {
      const res = await getOrder('a8ef295b-fcf4-44a7-945c-0520c8f49123');
      return res.status === 200 ? (res.body as Record<string, unknown>) : undefined;
    });
    expect(order).toMatchObject({
      orderId: 'a8ef295b-fcf4-44a7-945c-0520c8f49123',
      orderType: 'orders',
      status: 'COMPLETE',
      isTerminal: true,
      telephoneNumbers: ['+15402278098'],
      eventCount: 1,
    });
    expect(order['history']).toEqual([
      expect.objectContaining({ status: 'COMPLETE', previousStatus: null, applied: true, source: 'callback' }),
    ]);
  });

  it('keeps error codes, notes, FOC dates and many numbers', async () => {
    const failed = (await getOrder('4a58b348-892c-4426-8900-97fc4555c42c')).body as {
      status: string;
      isTerminal: boolean;
      history: { errorCode: string | null }[];
    };
    expect(failed.status).toBe('FAILED');
    expect(failed.isTerminal).toBe(true);
    expect(failed.history[0]?.errorCode).toBe('5005');

    const note = (await getOrder('b05de7e6-0cab-4c83-81bb-9379cba8efd0')).body as {
      customerOrderId: string;
      notes: { note: string }[];
    };
    expect(note.customerOrderId).toBe('import-2024-07');
    expect(note.notes.map((n) => n.note)).toEqual(['Letter of authorization received and attached.']);

    const portin = (await getOrder('ee456cfb-d237-4adc-b3f8-9db03d2e62a2')).body as Record<string, unknown>;
    expect(portin).toMatchObject({
      status: 'FOC',
      isTerminal: false,
      lastModifiedAt: '2023-09-12T15:11:31.705Z',
      actualFocDate: '2023-09-14T00:00:00.000Z',
    });

    const disconnect = (await getOrder('e1d9a6f2-1b7c-4d0e-8f3a-2c4b6d8e0f12')).body as Record<string, unknown>;
    expect(disconnect['telephoneNumbers']).toEqual(['+19195551234', '+19195551235']);
  });

  it('stores notifications without an order (events, bulk drafts) without inventing one', async () => {
    const rows = await service.db.$queryRaw<
      { event_type: string | null; order_type: string | null; telephone_numbers: string[] }[]
    >`
      SELECT event_type, order_type, telephone_numbers FROM notifications WHERE order_id IS NULL ORDER BY event_type NULLS LAST`;
    expect(rows).toEqual([
      { event_type: 'MESSAGING_LOST', order_type: null, telephone_numbers: ['+19192345678'] },
      { event_type: null, order_type: 'bulkPortins', telephone_numbers: [] },
    ]);
    const orders = await service.db.$queryRaw<{ n: bigint }[]>`SELECT count(*)::bigint AS n FROM orders`;
    expect(Number(orders[0]?.n)).toBe(7);
  });

  it('records a second delivery as a duplicate, without a second history row', async () => {
    const body = readExample('orders-failed.xml');
    expect((await post(body)).status).toBe(200);
    const duplicates = await eventually(async () => {
      const rows = await service.db.$queryRaw<{ n: bigint }[]>`
        SELECT count(*)::bigint AS n FROM notifications WHERE outcome = 'duplicate'`;
      return Number(rows[0]?.n) === 1 ? 1 : undefined;
    });
    expect(duplicates).toBe(1);
    const order = (await getOrder('4a58b348-892c-4426-8900-97fc4555c42c')).body as {
      history: unknown[];
      eventCount: number;
    };
    expect(order.history).toHaveLength(1);
    expect(order.eventCount).toBe(1);
  });

  it('answers 400 to malformed XML and keeps the body in quarantine', async () => {
    const res = await post('<Notification><Status>COMPLETE</Status>');
    expect(res.status).toBe(400);
    expect(res.text).toMatch(/malformed/i);
    const wrongRoot = await post('<Order><Status>COMPLETE</Status></Order>');
    expect(wrongRoot.status).toBe(400);
    const rows = await service.db.$queryRaw<{ body: Buffer; reason: string }[]>`
      SELECT body, reason FROM quarantined_notifications ORDER BY received_at`;
    expect(rows.map((r) => Buffer.from(r.body).toString('utf8'))).toEqual([
      '<Notification><Status>COMPLETE</Status>',
      '<Order><Status>COMPLETE</Status></Order>',
    ]);
  });

  it('accepts the body whatever the Content-Type says', async () => {
    const body = readExample('orders-complete-oneline.xml').replace('8338760878', '8338760879');
    for (const type of ['text/xml', 'application/octet-stream']) {
      const res = await request(service.app)
        .post('/callbacks/bandwidth/acct-9')
        .set('Authorization', basicAuth())
        .set('Content-Type', type)
        .send(body);
      expect(res.status).toBe(200);
    }
  });

  it('answers 413 above the body limit', async () => {
    const res = await post(`<Notification><Note>${'x'.repeat(1024 * 1024 + 10)}</Note></Notification>`);
    expect(res.status).toBe(413);
  });

  it('answers 404 JSON for an unknown order and 401 without an API key', async () => {
    const missing = await getOrder('no-such-order');
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ error: { code: 'order_not_found', requestId: expect.any(String) } });
    const anonymous = await request(service.app).get('/api/v1/orders/x');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).toMatchObject({ error: { code: 'unauthorized' } });
  });

  it('reports liveness and readiness', async () => {
    expect((await request(service.app).get('/healthz')).status).toBe(200);
    const ready = await request(service.app).get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ status: 'ready', checks: { database: 'ok', queue: 'ok' } });
  });
});
