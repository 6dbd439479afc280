import request from 'supertest';
import type { RunningService } from '../../src/service';
import type { TestDatabase } from '../support/harness';
import { READ_KEY, basicAuth, bootService, createTestDatabase, eventually, uniqueName } from '../support/harness';

/**
 * Notification semantics end to end (HTTP -> queue -> concurrent workers -> PostgreSQL -> API):
 * out-of-order and duplicated port-in notifications, and unknown types and states.
 */
describe('notification semantics through the real service', () => {
  let db: TestDatabase;
  let service: RunningService;

  beforeAll(async () => {
    db = await createTestDatabase();
    // Several workers at once: processing order is not arrival order.
    service = await bootService({ databaseUrl: db.url, queue: 'redis', env: { WORKER_CONCURRENCY: '8' } });
  });

  afterAll(async () => {
    await service?.stop();
    await db?.drop();
  });

  const post = async (body: string) => {
    const res = await request(service.app)
      .post('/callbacks/bandwidth')
      .set('Authorization', basicAuth())
      .set('Content-Type', 'application/xml; charset=utf-8')
      .send(body);
    expect(res.status).toBe(200);
    // Arrival order is the receive time (millisecond clock): keep each delivery distinct.
    await new Promise((resolve) => setTimeout(resolve, 3));
  };

  const getOrder = async (orderId: string) => {
    const res = await request(service.app).get(`/api/v1/orders/${orderId}`).set('Authorization', `Bearer ${READ_KEY}`);
    expect(res.status).toBe(200);
    return res.body as {
      status: string;
      known: boolean;
      isTerminal: boolean;
      lastModifiedAt: string | null;
      actualFocDate: string | null;
      eventCount: number;
      history: { status: string; applied: boolean; previousStatus: string | null }[];
    };
  };

  const processed = (n: number) =>
    eventually(async () => {
      const rows = await service.db.$queryRaw<{ n: bigint }[]>`SELECT count(*)::bigint AS n FROM notifications`;
      return Number(rows[0]?.n) >= n ? true : undefined;
    }, 30_000);

  const STEPS = [
    { status: 'SUBMITTED', lastModified: '2024-03-01T10:00:00.000Z' },
    { status: 'FOC', lastModified: '2024-03-02T10:00:00.000Z' },
    { status: 'COMPLETE', lastModified: '2024-03-05T10:00:00.000Z' },
  ] as const;
  type Step = (typeof STEPS)[number];
  const PERMUTATIONS: Step[][] = [
    [STEPS[0], STEPS[1], STEPS[2]],
    [STEPS[0], STEPS[2], STEPS[1]],
    [STEPS[1], STEPS[0], STEPS[2]],
    [STEPS[1], STEPS[2], STEPS[0]],
    [STEPS[2], STEPS[0], STEPS[1]],
    [STEPS[2], STEPS[1], STEPS[0]],
  ];

  const portIn = (orderId: string, step: Step) =>
    `<?xml version="1.0"?><Notification><SubscriptionId>sub-portins</SubscriptionId><OrderType>portins</OrderType>` +
    `<OrderId>${orderId}</OrderId><Status>${step.status}</Status>` +
    (step.status === 'FOC' ? '<ActualFocDate>2024-03-05T00:00:00Z</ActualFocDate>' : '') +
    `<LastModifiedDate>${step.lastModified}</LastModifiedDate></Notification>`;

  it('ends COMPLETE with 3 history entries for every arrival order of SUBMITTED, FOC, COMPLETE sent twice', async () => {
    const orders = PERMUTATIONS.map((perm) => ({ orderId: uniqueName('portin'), perm }));
    // Each notification twice (the whole sequence, then again), all orders interleaved, not
    // waiting for the workers: they store the receipts concurrently and in any order.
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 3; i++) {
        for (const { orderId, perm } of orders) await post(portIn(orderId, perm[i] as Step));
      }
    }
    await processed(orders.length * 6);

    for (const { orderId, perm } of orders) {
      const order = await getOrder(orderId);
      // Expected by the rule itself: an event is late when a newer one arrived before it.
      let current: Step | null = null;
      const expected = perm.map((step) => {
        const late = current !== null && current.lastModified > step.lastModified;
        const entry = { status: step.status, applied: !late, previousStatus: current?.status ?? null };
        if (!late) current = step;
        return entry;
      });
      const label = perm.map((s) => s.status).join(',');
      expect({ label, status: order.status, isTerminal: order.isTerminal, eventCount: order.eventCount }).toEqual({
        label,
        status: 'COMPLETE',
        isTerminal: true,
        eventCount: 3,
      });
      expect(order.history).toHaveLength(3);
      // History is listed by LastModifiedDate; compare as sets keyed by status.
      const byStatus = (a: { status: string }, b: { status: string }) => a.status.localeCompare(b.status);
      expect({
        label,
        history: order.history
          .map((h) => ({ status: h.status, applied: h.applied, previousStatus: h.previousStatus }))
          .sort(byStatus),
      }).toEqual({
        label,
        history: expected.sort(byStatus),
      });
      expect(order.lastModifiedAt).toBe('2024-03-05T10:00:00.000Z');
      expect(order.actualFocDate).toBe('2024-03-05T00:00:00.000Z');
    }

    const duplicates = await service.db.$queryRaw<{ n: bigint; counted: bigint }[]>`
      SELECT count(*) FILTER (WHERE outcome = 'duplicate')::bigint AS n,
             COALESCE(sum(duplicate_count), 0)::bigint AS counted
      FROM notifications`;
    expect(duplicates[0]).toEqual({ n: BigInt(orders.length * 3), counted: BigInt(orders.length * 3) });
  });

  it('stores unknown order types, states and event types, shows them in the API and counts them', async () => {
    const typoId = uniqueName('typo');
    const holdId = uniqueName('hold');
    await post(
      `<Notification><OrderType>OrderId</OrderType><OrderId>${typoId}</OrderId><Status>COMPLETE</Status></Notification>`,
    );
    await post(
      `<Notification><OrderType>orders</OrderType><OrderId>${holdId}</OrderId><Status>ON_HOLD</Status></Notification>`,
    );
    await post(
      '<Notification><EventType>NUMBER_RECYCLED</EventType><ImpactedTelephoneNumbers><TelephoneNumber>9195550188</TelephoneNumber></ImpactedTelephoneNumbers></Notification>',
    );
    const typo = await eventually(async () => {
      const res = await request(service.app).get(`/api/v1/orders/${typoId}`).set('Authorization', `Bearer ${READ_KEY}`);
      return res.status === 200 ? (res.body as Record<string, unknown>) : undefined;
    });
    expect(typo).toMatchObject({ orderType: 'OrderId', status: 'COMPLETE', known: false });
    const hold = await eventually(async () => {
      const res = await request(service.app).get(`/api/v1/orders/${holdId}`).set('Authorization', `Bearer ${READ_KEY}`);
      return res.status === 200 ? (res.body as Record<string, unknown>) : undefined;
    });
    expect(hold).toMatchObject({ orderType: 'orders', status: 'ON_HOLD', known: false, isTerminal: false });

    const event = await eventually(async () => {
      const rows = await service.db.$queryRaw<{ event_type: string; known: boolean; telephone_numbers: string[] }[]>`
        SELECT event_type, known, telephone_numbers FROM notifications
        WHERE telephone_numbers @> ARRAY['+19195550188']::text[]`;
      return rows[0];
    });
    expect(event).toEqual({ event_type: 'NUMBER_RECYCLED', known: false, telephone_numbers: ['+19195550188'] });

    const metrics = (await request(service.app).get('/metrics')).text;
    for (const field of ['order_type', 'status', 'event_type']) {
      expect(metrics).toMatch(new RegExp(`^bw_unknown_notifications_total\\{field="${field}"\\} 1$`, 'm'));
    }
  });
});
