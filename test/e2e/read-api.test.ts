import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import request from 'supertest';
import type { Response } from 'supertest';
import { planTraffic, sendTraffic } from '../../src/cli/simulator';
import type { TrafficPlan } from '../../src/cli/simulator';
import { isTerminalState } from '../../src/domain/order-types';
import type { RunningService } from '../../src/service';
import {
  ORDER_DETAIL_BATCH_MAX,
  findOrderDetail,
  findOrderDetailJson,
  findOrderDetailsJson,
} from '../../src/store/order-read-store';
import { quarantine } from '../../src/store/quarantine-store';
import { createResponseValidator } from '../support/openapi-validator';
import type { TestDatabase } from '../support/harness';
import {
  ADMIN_KEY,
  CALLBACK_PASSWORD,
  CALLBACK_USER,
  READ_KEY,
  bootService,
  createTestDatabase,
  eventually,
} from '../support/harness';

/**
 * Issue #6 acceptance: the simulator plays 1,000 order life cycles against the real service
 * (HTTP -> BullMQ on Redis -> worker -> PostgreSQL); then every read-API filter must return
 * exactly what plain SQL returns, paging must yield each order once, and every response must
 * match the OpenAPI document.
 */
const ORDERS = 1000;
const validate = createResponseValidator();

let db: TestDatabase;
let service: RunningService;
let sql: Client;
let plan: TrafficPlan;

beforeAll(async () => {
  db = await createTestDatabase();
  service = await bootService({ databaseUrl: db.url, queue: 'redis' });
  sql = new Client({ connectionString: db.url });
  await sql.connect();
  plan = planTraffic({ orders: ORDERS, seed: 6, runId: 'acc' });
  const report = await sendTraffic(plan, {
    baseUrl: `http://127.0.0.1:${service.port}`,
    credentials: { username: CALLBACK_USER, password: CALLBACK_PASSWORD },
    rate: 0,
    concurrency: 8,
    challenge: true,
  });
  expect(report.byStatus).toEqual({ '200': plan.deliveries.length });
  await eventually(async () => {
    const { rows } = await sql.query<{ n: string }>('SELECT count(*) AS n FROM notifications');
    return Number(rows[0]?.n) === plan.deliveries.length ? true : undefined;
  }, 240_000);
}, 300_000);

afterAll(async () => {
  await sql?.end();
  await service?.stop();
  await db?.drop();
});

type Query = Record<string, string | number>;

/** GET through the real app, checked against the OpenAPI document. */
async function get(template: string, params: Record<string, string> = {}, query: Query = {}, key = READ_KEY) {
  const path = template.replace(/\{(\w+)\}/g, (_m, name: string) => encodeURIComponent(params[name] ?? ''));
  const res = await request(service.app).get(path).query(query).set('Authorization', `Bearer ${key}`);
  validate('get', template, res);
  return res;
}

async function allOrderIds(query: Query, limit = 500): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const res: Response = await get('/api/v1/orders', {}, { ...query, limit, ...(cursor ? { cursor } : {}) });
    expect(res.status).toBe(200);
    const body = res.body as { data: { orderId: string }[]; nextCursor: string | null };
    ids.push(...body.data.map((o) => o.orderId));
    cursor = body.nextCursor;
  } while (cursor !== null);
  return ids;
}

async function sqlIds(text: string, values: unknown[] = []): Promise<string[]> {
  const { rows } = await sql.query<{ order_id: string }>(text, values);
  return rows.map((r) => r.order_id).sort();
}

const sorted = (ids: string[]): string[] => [...ids].sort();

describe('orders list', () => {
  it('holds exactly the simulated orders, each in its expected final status', async () => {
    const { rows } = await sql.query<{ order_id: string; status: string | null; order_type: string }>(
      'SELECT order_id, status, order_type FROM orders',
    );
    expect(rows).toHaveLength(ORDERS);
    const byId = new Map(rows.map((r) => [r.order_id, r]));
    for (const order of plan.orders) {
      expect({ id: order.orderId, status: byId.get(order.orderId)?.status }).toEqual({
        id: order.orderId,
        status: order.finalStatus,
      });
    }
  });

  it('pages through 1,000 orders with limit=7, each exactly once, while new orders arrive', async () => {
    const before = await sqlIds('SELECT order_id FROM orders');
    // Concurrent inserts during paging: a second simulator run with other order ids.
    // New ids sort both after and before the cursor ('zzz-' / 'aaa-').
    const late = ['zzz-late', 'aaa-late'].map((runId, i) =>
      sendTraffic(planTraffic({ orders: 40, seed: 7 + i, runId, duplicateRate: 0, extrasPer100: 0 }), {
        baseUrl: `http://127.0.0.1:${service.port}`,
        credentials: { username: CALLBACK_USER, password: CALLBACK_PASSWORD },
        rate: 0,
        concurrency: 2,
        challenge: false,
      }),
    );
    const paged = await allOrderIds({}, 7);
    await Promise.all(late);

    expect(new Set(paged).size).toBe(paged.length); // nothing repeated
    const seen = new Set(paged);
    expect(before.filter((id) => !seen.has(id))).toEqual([]); // nothing that existed was skipped
    expect(paged.filter((id) => !id.startsWith('zzz-late') && !id.startsWith('aaa-late'))).toHaveLength(ORDERS);
    // Wait for the late orders to land, then drop them so the other filters see only the 1,000.
    await eventually(async () => {
      const { rows } = await sql.query<{ n: string }>(
        "SELECT count(*) AS n FROM orders WHERE order_id LIKE 'zzz-late%' OR order_id LIKE 'aaa-late%'",
      );
      return Number(rows[0]?.n) === 80 ? true : undefined;
    }, 60_000);
    await eventually(async () => {
      const res = await get('/api/v1/stats');
      const queue = (res.body as { queue: Record<string, number> | null }).queue ?? {};
      return (queue['waiting'] ?? 0) + (queue['active'] ?? 0) + (queue['delayed'] ?? 0) === 0 ? true : undefined;
    }, 60_000);
    // Their handler deliveries must finish first: a delivery whose notification vanished is
    // (rightly) dead-lettered, which would pollute the dead-letter views checked below.
    await eventually(async () => {
      const { rows } = await sql.query<{ n: string }>(
        "SELECT count(*) AS n FROM handler_deliveries WHERE status NOT IN ('succeeded', 'dead')",
      );
      return Number(rows[0]?.n) === 0 ? true : undefined;
    }, 60_000);
    await sql.query(
      `DELETE FROM handler_deliveries WHERE notification_id IN (SELECT id FROM notifications
        WHERE order_id LIKE 'zzz-late%' OR order_id LIKE 'aaa-late%')`,
    );
    await sql.query("DELETE FROM notifications WHERE order_id LIKE 'zzz-late%' OR order_id LIKE 'aaa-late%'");
    await sql.query("DELETE FROM orders WHERE order_id LIKE 'zzz-late%' OR order_id LIKE 'aaa-late%'");
  });

  it('returns for every filter exactly the orders a direct SQL query returns', async () => {
    const types = (await sql.query<{ v: string }>('SELECT DISTINCT order_type AS v FROM orders')).rows.map((r) => r.v);
    expect(types.length).toBeGreaterThanOrEqual(15);
    for (const orderType of types) {
      expect({ orderType, ids: sorted(await allOrderIds({ orderType })) }).toEqual({
        orderType,
        ids: await sqlIds('SELECT order_id FROM orders WHERE order_type = $1', [orderType]),
      });
    }
    const statuses = (
      await sql.query<{ v: string }>('SELECT DISTINCT status AS v FROM orders WHERE status IS NOT NULL')
    ).rows.map((r) => r.v);
    expect(statuses.length).toBeGreaterThanOrEqual(8);
    for (const status of statuses) {
      expect({ status, ids: sorted(await allOrderIds({ status })) }).toEqual({
        status,
        ids: await sqlIds('SELECT order_id FROM orders WHERE status = $1', [status]),
      });
    }
    for (const terminal of [true, false]) {
      const ids = await sqlIds('SELECT order_id FROM orders WHERE is_terminal = $1', [terminal]);
      expect(ids.length).toBeGreaterThan(0);
      expect(sorted(await allOrderIds({ terminal: String(terminal) }))).toEqual(ids);
    }
    const customerIds = (
      await sql.query<{ v: string }>(
        'SELECT DISTINCT customer_order_id AS v FROM orders WHERE customer_order_id IS NOT NULL ORDER BY 1 LIMIT 8',
      )
    ).rows.map((r) => r.v);
    for (const customerOrderId of customerIds) {
      expect(sorted(await allOrderIds({ customerOrderId }))).toEqual(
        await sqlIds('SELECT order_id FROM orders WHERE customer_order_id = $1', [customerOrderId]),
      );
    }
    const numbers = (
      await sql.query<{ v: string }>(
        'SELECT DISTINCT telephone_number AS v FROM order_telephone_numbers ORDER BY 1 LIMIT 8',
      )
    ).rows.map((r) => r.v);
    expect(numbers.length).toBe(8);
    for (const tn of numbers) {
      const expected = await sqlIds('SELECT order_id FROM order_telephone_numbers WHERE telephone_number = $1', [tn]);
      expect(sorted(await allOrderIds({ tn }))).toEqual(expected);
      expect(sorted(await allOrderIds({ tn: tn.slice(2) }))).toEqual(expected); // 10-digit form
    }
    const { rows: mid } = await sql.query<{ t: Date }>(
      'SELECT updated_at AS t FROM orders ORDER BY updated_at OFFSET 500 LIMIT 1',
    );
    const since = (mid[0]?.t ?? new Date()).toISOString();
    expect(sorted(await allOrderIds({ updatedSince: since }))).toEqual(
      await sqlIds('SELECT order_id FROM orders WHERE updated_at >= $1', [since]),
    );
    // Filters combine with AND.
    const first = types[0] ?? 'orders';
    expect(sorted(await allOrderIds({ orderType: first, terminal: 'true', updatedSince: since }))).toEqual(
      await sqlIds('SELECT order_id FROM orders WHERE order_type = $1 AND is_terminal AND updated_at >= $2', [
        first,
        since,
      ]),
    );
  });

  it('answers 400 naming the bad parameter', async () => {
    const cases: [Query, string][] = [
      [{ limit: 0 }, 'limit'],
      [{ limit: 501 }, 'limit'],
      [{ limit: 'ten' }, 'limit'],
      [{ terminal: 'maybe' }, 'terminal'],
      [{ updatedSince: 'yesterday' }, 'updatedSince'],
      [{ cursor: 'not-a-cursor' }, 'cursor'],
      [{ tn: '12' }, 'tn'],
      [{ colour: 'blue' }, 'colour'],
    ];
    for (const [query, parameter] of cases) {
      const res = await get('/api/v1/orders', {}, query);
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
      expect(res.body).toMatchObject({ error: { code: 'invalid_parameter', parameter } });
      expect((res.body as { error: { message: string } }).error.message).toContain(`"${parameter}"`);
    }
    const badSince = await get('/api/v1/notifications', {}, { since: '2024-13-45' });
    expect(badSince.body).toMatchObject({ error: { parameter: 'since' } });
    const badId = await get('/api/v1/notifications/{id}', { id: 'nope' });
    expect(badId.status).toBe(400);
    expect(badId.body).toMatchObject({ error: { parameter: 'id' } });
  });
});

describe('order detail, history and telephone numbers', () => {
  it('serves an order with its history oldest first, and the history route alone', async () => {
    const { rows } = await sql.query<{ order_id: string }>(
      'SELECT order_id FROM orders WHERE event_count >= 3 ORDER BY order_id LIMIT 1',
    );
    const orderId = rows[0]?.order_id ?? '';
    const detail = await get('/api/v1/orders/{orderId}', { orderId });
    expect(detail.status).toBe(200);
    const body = detail.body as {
      history: { receivedAt: string; lastModifiedAt: string | null }[];
      eventCount: number;
    };
    expect(body.history).toHaveLength(body.eventCount);
    const times = body.history.map((e) => e.lastModifiedAt ?? e.receivedAt);
    expect(times).toEqual([...times].sort());
    const history = await get('/api/v1/orders/{orderId}/history', { orderId });
    expect((history.body as { data: unknown[] }).data).toEqual(body.history);
    expect((await get('/api/v1/orders/{orderId}/history', { orderId: 'nope' })).status).toBe(404);
    expect((await get('/api/v1/orders/{orderId}', { orderId: 'nope' })).status).toBe(404);
  });

  it('serves every order byte for byte as assembled from its rows, on the pg pool and on Prisma', async () => {
    // The oracle: each table read on its own and the answer assembled in JavaScript, with the
    // history rule (LastModifiedDate, else arrival, then id) as a comparator. The route builds
    // the same JSON in one SQL statement; the worker's handler delivery runs it on Prisma.
    const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());
    const expected = async (orderId: string): Promise<string> => {
      // One after the other: a pg Client runs one query at a time (concurrent calls are deprecated).
      const o = await sql.query<Record<string, unknown>>('SELECT * FROM orders WHERE order_id = $1', [orderId]);
      const tns = await sql.query<{ telephone_number: string }>(
        'SELECT telephone_number FROM order_telephone_numbers WHERE order_id = $1 ORDER BY telephone_number',
        [orderId],
      );
      const events = await sql.query<Record<string, unknown>>('SELECT * FROM order_events WHERE order_id = $1', [
        orderId,
      ]);
      const notes = await sql.query<Record<string, unknown>>(
        'SELECT * FROM order_notes WHERE order_id = $1 ORDER BY id',
        [orderId],
      );
      const r = o.rows[0] ?? {};
      const at = (row: Record<string, unknown>, column: string): Date | null => row[column] as Date | null;
      const history = [...events.rows].sort(
        (a, b) =>
          ((at(a, 'last_modified_at') ?? at(a, 'received_at'))?.getTime() ?? 0) -
            ((at(b, 'last_modified_at') ?? at(b, 'received_at'))?.getTime() ?? 0) ||
          Number(BigInt(a['id'] as string) - BigInt(b['id'] as string)),
      );
      return JSON.stringify({
        orderId: r['order_id'],
        orderType: r['order_type'],
        customerOrderId: r['customer_order_id'],
        status: r['status'],
        isTerminal: r['is_terminal'],
        known: r['known'],
        lastModifiedAt: iso(at(r, 'last_modified_at')),
        actualFocDate: iso(at(r, 'actual_foc_date')),
        firstSeenAt: iso(at(r, 'first_seen_at')),
        lastEventAt: iso(at(r, 'last_event_at')),
        eventCount: r['event_count'],
        telephoneNumbers: tns.rows.map((t) => t.telephone_number),
        accountId: r['account_id'],
        history: history.map((e) => ({
          id: e['id'] as string,
          status: e['status'],
          previousStatus: e['previous_status'],
          message: e['message'],
          errorCode: e['error_code'],
          note: e['note'],
          subscriptionId: e['subscription_id'],
          telephoneNumbers: e['telephone_numbers'] ?? [],
          lastModifiedAt: iso(at(e, 'last_modified_at')),
          receivedAt: iso(at(e, 'received_at')),
          applied: e['applied'],
          source: e['source'],
          notificationId: e['notification_id'],
        })),
        notes: notes.rows.map((n) => ({
          id: n['id'] as string,
          note: n['note'],
          lastModifiedAt: iso(at(n, 'last_modified_at')),
          receivedAt: iso(at(n, 'received_at')),
          eventId: n['event_id'] === null ? null : (n['event_id'] as string),
        })),
      });
    };
    // Text that JSON must escape (quotes, backslash, control characters) or must not (non-ASCII,
    // astral, U+2028): PostgreSQL's JSON text has to match JSON.stringify's on all of them.
    const awkward = 'say "FOC" \\ back\nslash\ttab \u0001\u001f\u007f é 𝄞 \u2028 </script>';
    const awkwardOrder = 'awkward-json-order';
    await sql.query(
      `INSERT INTO orders (order_id, order_type, customer_order_id, status, is_terminal, known, account_id,
                           first_seen_at, last_event_at, status_changed_at, event_count, updated_at)
       VALUES ($1, 'portins', $2, $2, false, true, NULL, now(), now(), now(), 1, now())`,
      [awkwardOrder, awkward],
    );
    await sql.query(
      `INSERT INTO order_events (order_id, status, message, note, telephone_numbers, received_at, applied, source)
       VALUES ($1, $2, $2, $2, ARRAY[$2], now(), true, 'callback')`,
      [awkwardOrder, awkward],
    );
    await sql.query(`INSERT INTO order_notes (order_id, note, received_at) VALUES ($1, $2, now())`, [
      awkwardOrder,
      awkward,
    ]);
    expect(await findOrderDetailJson(service.sql, awkwardOrder)).toBe(await expected(awkwardOrder));
    // Out again: the tests below count the simulated orders.
    for (const table of ['order_notes', 'order_events', 'orders']) {
      await sql.query(`DELETE FROM ${table} WHERE order_id = $1`, [awkwardOrder]);
    }
    const { rows } = await sql.query<{ order_id: string }>(
      // Every order with notes or out-of-order history, and a spread of the others.
      `SELECT order_id FROM orders o
        WHERE EXISTS (SELECT 1 FROM order_notes n WHERE n.order_id = o.order_id)
           OR EXISTS (SELECT 1 FROM order_events e WHERE e.order_id = o.order_id AND NOT e.applied)
           OR hashtext(order_id) % 5 = 0`,
    );
    expect(rows.length).toBeGreaterThan(100);
    for (const { order_id: orderId } of rows) {
      const want = await expected(orderId);
      // The text PostgreSQL writes is sent as it is: byte for byte JSON.stringify of the rows.
      expect(await findOrderDetailJson(service.sql, orderId)).toBe(want);
      expect(JSON.stringify(await findOrderDetail(service.db, orderId))).toBe(want);
    }
    const first = rows[0]?.order_id ?? '';
    const res = await get('/api/v1/orders/{orderId}', { orderId: first });
    expect(res.text).toBe(await expected(first));

    // Several orders per statement, as the API batches concurrent details: each answer is its own
    // order's, at every padded width, with an unknown id and a repeated one in the batch.
    const wants = new Map<string, string>();
    for (const { order_id: orderId } of rows) wants.set(orderId, await expected(orderId));
    const ids = [...wants.keys()];
    const unknown = 'no-such-order';
    for (let k = 1; k < ORDER_DETAIL_BATCH_MAX; k++) {
      const batch = [...ids.slice(k, 2 * k), unknown, ids[k] ?? ''];
      expect(await findOrderDetailsJson(service.sql, batch)).toEqual(batch.map((id) => wants.get(id) ?? null));
    }
    // At once through the app (a few dozen: the suite stays under its key's rate limit).
    const asked = [...ids.slice(0, 40), unknown];
    const answers = await Promise.all(asked.map((orderId) => get('/api/v1/orders/{orderId}', { orderId })));
    answers.forEach((answer, i) => {
      const want = wants.get(asked[i] ?? unknown);
      expect([answer.status, answer.status === 200 ? answer.text : null]).toEqual(want ? [200, want] : [404, null]);
    });

    // The list builds its JSON in Node from plain columns: each entry must be the same bytes as
    // the order's part of the oracle (detail without history and notes).
    const orderPart = async (orderId: string): Promise<string> => {
      const order = JSON.parse(await expected(orderId)) as Record<string, unknown>;
      delete order['history'];
      delete order['notes'];
      return JSON.stringify(order);
    };
    const listed = new Map<string, string>();
    let cursor: string | null = null;
    do {
      const page: Response = await get('/api/v1/orders', {}, { limit: 500, ...(cursor ? { cursor } : {}) });
      const body = JSON.parse(page.text) as { data: { orderId: string }[]; nextCursor: string | null };
      for (const order of body.data) listed.set(order.orderId, JSON.stringify(order));
      cursor = body.nextCursor;
    } while (cursor !== null);
    expect(listed.size).toBe(ORDERS);
    for (const { order_id: orderId } of rows) expect(listed.get(orderId)).toBe(await orderPart(orderId));
  });

  it('writes list timestamps as toISOString does, whatever their milliseconds', async () => {
    // 0, 1, 2 and 3 fraction digits in PostgreSQL's text; no time zone offset to carry.
    const times = [
      '2026-03-04 05:06:07+00',
      '2026-03-04 05:06:07.1+00',
      '2026-03-04 05:06:07.12+00',
      '2026-12-31 23:59:59.999-05',
    ];
    const orderId = 'list-times-order';
    await sql.query(
      `INSERT INTO orders (order_id, order_type, status, is_terminal, known, last_modified_at, actual_foc_date,
                           first_seen_at, last_event_at, status_changed_at, event_count, updated_at)
       VALUES ($1, 'portins', 'FOC', false, true, $2, $3, $4, $5, now(), 0, now())`,
      [orderId, ...times],
    );
    await sql.query(
      `INSERT INTO order_telephone_numbers (order_id, telephone_number, first_seen_at)
       VALUES ($1, '+19195551234', now()), ($1, '+19195550000', now())`,
      [orderId],
    );
    try {
      const want = {
        lastModifiedAt: '2026-03-04T05:06:07.000Z',
        actualFocDate: '2026-03-04T05:06:07.100Z',
        firstSeenAt: '2026-03-04T05:06:07.120Z',
        lastEventAt: '2027-01-01T04:59:59.999Z',
        telephoneNumbers: ['+19195550000', '+19195551234'],
      };
      const listed = await get('/api/v1/orders', {}, { tn: '+19195551234' });
      expect((listed.body as { data: unknown[] }).data).toEqual([expect.objectContaining({ orderId, ...want })]);
      const byNumber = await get('/api/v1/telephone-numbers/{tn}/orders', { tn: '+19195550000' });
      expect((byNumber.body as { data: unknown[] }).data).toEqual([expect.objectContaining({ orderId, ...want })]);
    } finally {
      await sql.query('DELETE FROM orders WHERE order_id = $1', [orderId]);
    }
  });

  it('finds orders by number in E.164 and 10-digit form, and account events by number', async () => {
    const { rows } = await sql.query<{ tn: string }>(
      "SELECT telephone_numbers[1] AS tn FROM notifications WHERE event_type = 'MESSAGING_LOST' LIMIT 1",
    );
    const eventNumber = rows[0]?.tn ?? '';
    expect(eventNumber).toMatch(/^\+1\d{10}$/);
    const byEvent = await get('/api/v1/telephone-numbers/{tn}/orders', { tn: eventNumber.slice(2) });
    expect(byEvent.status).toBe(200);
    const events = (byEvent.body as { events: { eventType: string; telephoneNumbers: string[] }[] }).events;
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((e) => e.eventType === 'MESSAGING_LOST' && e.telephoneNumbers.includes(eventNumber))).toBe(
      true,
    );

    const planned = plan.orders.find((o) => o.telephoneNumbers.length > 0);
    const tn = planned?.telephoneNumbers[0] ?? '';
    const expected = await sqlIds('SELECT order_id FROM order_telephone_numbers WHERE telephone_number = $1', [tn]);
    for (const form of [tn, tn.slice(2), encodeURIComponent(tn)]) {
      const res = await get('/api/v1/telephone-numbers/{tn}/orders', { tn: decodeURIComponent(form) });
      expect(res.status).toBe(200);
      expect(sorted((res.body as { data: { orderId: string }[] }).data.map((o) => o.orderId))).toEqual(expected);
    }
    expect((await get('/api/v1/telephone-numbers/{tn}/orders', { tn: 'abc' })).status).toBe(400);
  });
});

describe('notifications', () => {
  it('filters by orderId, status and since exactly as SQL does, paging each receipt once', async () => {
    const orderId = plan.orders[3]?.orderId ?? '';
    const pageAll = async (query: Query): Promise<string[]> => {
      const ids: string[] = [];
      let cursor: string | null = null;
      do {
        const res: Response = await get('/api/v1/notifications', {}, { ...query, ...(cursor ? { cursor } : {}) });
        expect(res.status).toBe(200);
        const body = res.body as { data: { id: string }[]; nextCursor: string | null };
        ids.push(...body.data.map((n) => n.id));
        cursor = body.nextCursor;
      } while (cursor !== null);
      return ids;
    };
    const idsOf = async (text: string, values: unknown[]) =>
      (await sql.query<{ id: string }>(text, values)).rows.map((r) => r.id).sort();

    expect(sorted(await pageAll({ orderId, limit: 1 }))).toEqual(
      await idsOf('SELECT id::text FROM notifications WHERE order_id = $1', [orderId]),
    );
    const all = await pageAll({ limit: 500 });
    expect(new Set(all).size).toBe(all.length);
    expect(all).toHaveLength(plan.deliveries.length);
    expect(sorted(await pageAll({ status: 'FOC', limit: 100 }))).toEqual(
      await idsOf("SELECT id::text FROM notifications WHERE status = 'FOC'", []),
    );
    const { rows } = await sql.query<{ t: Date }>(
      'SELECT received_at AS t FROM notifications ORDER BY 1 OFFSET 1000 LIMIT 1',
    );
    const since = (rows[0]?.t ?? new Date()).toISOString();
    expect(sorted(await pageAll({ since, limit: 500 }))).toEqual(
      await idsOf('SELECT id::text FROM notifications WHERE received_at >= $1', [since]),
    );
  });

  it('serves one receipt with its raw XML, and 404 for an unknown id', async () => {
    const { rows } = await sql.query<{ id: string; body: string }>(
      "SELECT id::text, body FROM notifications WHERE outcome = 'duplicate' LIMIT 1",
    );
    const row = rows[0];
    expect(row).toBeDefined();
    const res = await get('/api/v1/notifications/{id}', { id: row?.id ?? '' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ outcome: 'duplicate', body: row?.body });
    expect(plan.deliveries.some((d) => d.xml === (res.body as { body: string }).body)).toBe(true);
    expect((await get('/api/v1/notifications/{id}', { id: randomUUID() })).status).toBe(404);
  });
});

describe('stats', () => {
  it('counts orders by type and status and receipts by outcome like SQL', async () => {
    const res = await get('/api/v1/stats');
    expect(res.status).toBe(200);
    const body = res.body as {
      orders: { total: number; byTypeAndStatus: { orderType: string; status: string | null; count: number }[] };
      notifications: { byOutcome: Record<string, number> };
      queue: Record<string, number> | null;
    };
    expect(body.orders.total).toBe(ORDERS);
    const { rows } = await sql.query<{ order_type: string; status: string | null; n: string }>(
      'SELECT order_type, status, count(*) AS n FROM orders GROUP BY 1, 2',
    );
    expect(body.orders.byTypeAndStatus.map((r) => `${r.orderType}/${r.status}=${r.count}`).sort()).toEqual(
      rows.map((r) => `${r.order_type}/${r.status}=${r.n}`).sort(),
    );
    const duplicates = plan.deliveries.filter((d) => d.kind === 'duplicate').length;
    expect(body.notifications.byOutcome['duplicate']).toBe(duplicates);
    expect(body.queue).toEqual(expect.objectContaining({ waiting: 0 }));
  });
});

describe('admin quarantine and queue UI', () => {
  it('lists, shows and releases quarantined payloads, admin scope only', async () => {
    const bad = await request(service.app)
      .post('/callbacks/bandwidth')
      .set('Authorization', `Basic ${Buffer.from(`${CALLBACK_USER}:${CALLBACK_PASSWORD}`).toString('base64')}`)
      .send('<Notification><Status>COMPLETE');
    expect(bad.status).toBe(400);
    // A payload an older parser refused but that parses today (the reason release exists).
    const fixable = randomUUID();
    await quarantine(service.db, {
      id: fixable,
      receivedAt: new Date(),
      accountId: '9900001',
      remoteAddress: '203.0.113.9',
      headers: { 'content-type': 'application/xml' },
      body: Buffer.from(
        '<Notification><OrderType>orders</OrderType><OrderId>released-1</OrderId><Status>COMPLETE</Status></Notification>',
      ),
      reason: 'unsupported encoding (old parser)',
    });

    expect((await get('/api/v1/admin/quarantine', {}, {}, READ_KEY)).status).toBe(403);
    const list = await get('/api/v1/admin/quarantine', {}, { released: 'false' }, ADMIN_KEY);
    expect(list.status).toBe(200);
    const items = (list.body as { data: { id: string; reason: string }[] }).data;
    expect(items).toHaveLength(2);
    const malformed = items.find((i) => i.id !== fixable);
    const detail = await get('/api/v1/admin/quarantine/{id}', { id: malformed?.id ?? '' }, {}, ADMIN_KEY);
    expect(detail.body).toMatchObject({ body: '<Notification><Status>COMPLETE' });

    const release = async (id: string) => {
      const res = await request(service.app)
        .post(`/api/v1/admin/quarantine/${id}/release`)
        .set('Authorization', `Bearer ${ADMIN_KEY}`);
      validate('post', '/api/v1/admin/quarantine/{id}/release', res);
      return res;
    };
    expect((await release(malformed?.id ?? '')).status).toBe(422);
    const released = await release(fixable);
    expect(released.status).toBe(202);
    expect((await release(fixable)).status).toBe(409);
    expect((await release(randomUUID())).status).toBe(404);
    const order = await eventually(async () => {
      const res = await get('/api/v1/orders/{orderId}', { orderId: 'released-1' });
      return res.status === 200 ? (res.body as { status: string; accountId: string }) : undefined;
    });
    expect(order).toMatchObject({ status: 'COMPLETE', accountId: '9900001' });
    const pending = await get('/api/v1/admin/quarantine', {}, { released: 'false' }, ADMIN_KEY);
    expect((pending.body as { data: unknown[] }).data).toHaveLength(1);
    await sql.query("DELETE FROM orders WHERE order_id = 'released-1'");
  });

  it('serves @bull-board at /admin/queues to admin keys only', async () => {
    const anonymous = await request(service.app).get('/admin/queues');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['www-authenticate']).toMatch(/^Basic /);
    validate('get', '/admin/queues', anonymous);
    expect((await request(service.app).get('/admin/queues').set('Authorization', `Bearer ${READ_KEY}`)).status).toBe(
      403,
    );
    const page = await request(service.app).get('/admin/queues').set('Authorization', `Bearer ${ADMIN_KEY}`);
    expect(page.status).toBe(200);
    expect(page.text).toMatch(/<html/i);
    const basic = `Basic ${Buffer.from(`ops:${ADMIN_KEY}`).toString('base64')}`;
    const queues = await request(service.app).get('/admin/queues/api/queues').set('Authorization', basic);
    expect(queues.status).toBe(200);
    const names = (queues.body as { queues: { name: string }[] }).queues.map((q) => q.name);
    expect(names).toContain('notifications');
  });
});

describe('OpenAPI document and docs', () => {
  it('documents every route the app serves', async () => {
    const served: string[] = [];
    interface Layer {
      rawPath?: unknown;
      route?: { path: string | string[]; methods: Record<string, boolean> };
      handle?: { stack?: Layer[] };
    }
    const walk = (stack: Layer[], prefix: string): void => {
      for (const layer of stack) {
        if (layer.route) {
          const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
          for (const p of paths) {
            for (const method of Object.keys(layer.route.methods)) served.push(`${method} ${prefix}${p}`);
          }
        } else if (layer.handle?.stack && typeof layer.rawPath === 'string') {
          walk(layer.handle.stack, `${prefix}${layer.rawPath === '/' ? '' : layer.rawPath}`);
        } else if (layer.handle?.stack) {
          walk(layer.handle.stack, prefix);
        }
      }
    };
    walk((service.app as unknown as { router: { stack: Layer[] } }).router.stack, '');
    const document = (await request(service.app).get('/api/v1/openapi.json')).body as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    };
    expect(document.openapi).toBe('3.1.0');
    const documented = new Set(
      Object.entries(document.paths).flatMap(([p, ops]) =>
        Object.keys(ops).map((m) => `${m} ${p.replace(/\{(\w+)\}/g, ':$1')}`),
      ),
    );
    // bull-board's own UI and JSON routes sit under /admin/queues, documented as one entry.
    const undocumented = served.filter((r) => !documented.has(r) && !r.includes('/admin/queues'));
    expect(served.length).toBeGreaterThan(10);
    expect(undocumented).toEqual([]);
  });

  it('serves a human-readable docs page and ops routes that match the document', async () => {
    const docs = await request(service.app).get('/api/v1/docs');
    expect(docs.status).toBe(200);
    expect(docs.text).toContain('/api/v1/telephone-numbers/{tn}/orders');
    validate('get', '/api/v1/docs', docs);
    for (const path of ['/healthz', '/readyz', '/metrics']) {
      validate('get', path, await request(service.app).get(path));
    }
    validate('get', '/api/v1/openapi.json', await request(service.app).get('/api/v1/openapi.json'));
    const anonymous = await request(service.app).get('/api/v1/orders');
    validate('get', '/api/v1/orders', anonymous);
    expect(anonymous.status).toBe(401);
  });
});

describe('metrics', () => {
  it('exposes callback, queue, worker, API and database gauges without ids in labels', async () => {
    const res = await request(service.app).get('/metrics');
    expect(res.status).toBe(200);
    const text = res.text;
    for (const outcome of ['accepted', 'duplicate', 'unauthorized', 'malformed', 'too_large', 'unavailable']) {
      expect(text).toContain(`bw_callback_notifications_total{outcome="${outcome}"}`);
    }
    // The simulator played the 401 challenge before every delivery.
    const unauthorized = /bw_callback_notifications_total\{outcome="unauthorized"\} (\d+)/.exec(text);
    expect(Number(unauthorized?.[1])).toBeGreaterThanOrEqual(plan.deliveries.length);
    for (const name of [
      'bw_callback_duration_seconds_bucket',
      'bw_queue_jobs{queue="notifications",state="waiting"}',
      'bw_queue_oldest_waiting_job_age_seconds{queue="notifications"}',
      'bw_worker_persist_duration_seconds_bucket',
      'bw_notifications_persisted_total{kind="order",order_type="portins"',
      'bw_unknown_notifications_total',
      'bw_api_request_duration_seconds_bucket{le="0.0025",route="/api/v1/orders",method="GET",status="200"}',
      'bw_quarantined_pending',
      'process_cpu_user_seconds_total',
    ]) {
      expect({ name, present: text.includes(name) }).toEqual({ name, present: true });
    }
    const labelValues = [...text.matchAll(/="([^"]*)"/g)].map((m) => m[1] ?? '');
    const ids = new Set(plan.orders.map((o) => o.orderId));
    expect(
      labelValues.filter((v) => ids.has(v) || /^[0-9a-f]{8}-[0-9a-f]{4}-/.test(v) || v.startsWith('acc-')),
    ).toEqual([]);
  });
});

describe('dashboard views', () => {
  it('v_order_current_status has one row per order with its state and numbers', async () => {
    const { rows } = await sql.query<{ n: string; mismatched: string }>(`
      SELECT count(*) AS n,
             count(*) FILTER (WHERE v.status IS DISTINCT FROM o.status OR v.is_terminal <> o.is_terminal
                              OR v.telephone_number_count <> (SELECT count(*) FROM order_telephone_numbers t
                                                              WHERE t.order_id = o.order_id)) AS mismatched
      FROM v_order_current_status v JOIN orders o USING (order_id)`);
    expect(rows[0]).toEqual({ n: String(ORDERS), mismatched: '0' });
    const failed = plan.orders.find((o) => o.finalStatus === 'FAILED');
    const { rows: one } = await sql.query<{ last_error_code: string | null; status: string }>(
      'SELECT status, last_error_code FROM v_order_current_status WHERE order_id = $1',
      [failed?.orderId],
    );
    expect(one[0]?.status).toBe('FAILED');
    expect(one[0]?.last_error_code).toMatch(/^\d+$/);
  });

  it('v_orders_stuck lists non-terminal orders idle past bw.stuck_after (default 24 h)', async () => {
    const { rows: fresh } = await sql.query('SELECT order_id FROM v_orders_stuck');
    expect(fresh).toEqual([]); // everything was just received
    await sql.query('BEGIN');
    await sql.query("SET LOCAL bw.stuck_after = '0 seconds'");
    const stuck = await sqlIds('SELECT order_id FROM v_orders_stuck');
    await sql.query('COMMIT');
    const nonTerminal = plan.orders.filter((o) => !isTerminalState(o.orderType, o.finalStatus));
    expect(stuck.length).toBeGreaterThan(0);
    expect(stuck).toEqual(await sqlIds('SELECT order_id FROM orders WHERE NOT is_terminal'));
    expect(stuck).toEqual(nonTerminal.map((o) => o.orderId).sort());
  });

  it('v_daily_status_counts adds up to the history', async () => {
    const { rows } = await sql.query<{ a: string; b: string; c: string }>(`
      SELECT (SELECT sum(events) FROM v_daily_status_counts) AS a,
             (SELECT count(*) FROM order_events) AS b,
             (SELECT sum(applied_events) FROM v_daily_status_counts) AS c`);
    expect(rows[0]?.a).toBe(rows[0]?.b);
    const { rows: applied } = await sql.query<{ n: string }>('SELECT count(*) AS n FROM order_events WHERE applied');
    expect(rows[0]?.c).toBe(applied[0]?.n);
    const { rows: portinsFoc } = await sql.query<{ v: string; e: string }>(`
      SELECT (SELECT sum(events) FROM v_daily_status_counts WHERE order_type = 'portins' AND status = 'FOC') AS v,
             (SELECT count(*) FROM order_events e JOIN orders o USING (order_id)
               WHERE o.order_type = 'portins' AND e.status = 'FOC') AS e`);
    expect(portinsFoc[0]?.v).toBe(portinsFoc[0]?.e);
    expect(Number(portinsFoc[0]?.e)).toBeGreaterThan(0);
  });

  it('v_handler_failures shows failed and dead-lettered deliveries with their order', async () => {
    const { rows } = await sql.query<{ id: string; order_id: string }>(
      'SELECT id::text, order_id FROM notifications WHERE order_id IS NOT NULL LIMIT 3',
    );
    const [ok, failing, dead] = rows;
    await sql.query(
      `INSERT INTO handler_deliveries (id, notification_id, handler, status, attempts, last_error) VALUES
        ($1, $2, 'http-forward', 'succeeded', 1, NULL),
        ($3, $4, 'http-forward', 'failed', 2, 'connect ECONNREFUSED'),
        ($5, $6, 'log', 'dead', 5, 'HTTP 500')`,
      [randomUUID(), ok?.id, randomUUID(), failing?.id, randomUUID(), dead?.id],
    );
    const { rows: failures } = await sql.query<{ order_id: string; handler: string; dead_lettered: boolean }>(
      'SELECT order_id, handler, dead_lettered FROM v_handler_failures ORDER BY dead_lettered',
    );
    expect(failures).toEqual([
      { order_id: failing?.order_id, handler: 'http-forward', dead_lettered: false },
      { order_id: dead?.order_id, handler: 'log', dead_lettered: true },
    ]);
    const stats = await get('/api/v1/stats');
    expect((stats.body as { deadLetters: number }).deadLetters).toBe(1);
    const metrics = await request(service.app).get('/metrics');
    expect(metrics.text).toContain('bw_dead_lettered_deliveries{handler="log"} 1');
  });
});
