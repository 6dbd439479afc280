import request from 'supertest';
import { noDispatch, reconcileStuckOrders } from '../../src/bandwidth/reconcile';
import { parseNotificationXml } from '../../src/ingest/parse';
import type { RunningService } from '../../src/service';
import type { BandwidthStub } from '../support/bandwidth-stub';
import { startBandwidthStub } from '../support/bandwidth-stub';
import { capturingLogger, stubClient, stubEnv } from '../support/bandwidth';
import type { TestDatabase } from '../support/harness';
import { READ_KEY, basicAuth, bootService, createTestDatabase, eventually, readExample } from '../support/harness';

/**
 * Acceptance 2 of issue #9, on both queue backends: a port-in's COMPLETE callback is lost on
 * purpose; the scheduled reconciler finds the order stuck, asks the stub Bandwidth, records
 * COMPLETE with source=reconcile, and hands it to the handlers.
 */
const PORTIN = 'ee456cfb-d237-4adc-b3f8-9db03d2e62a2';
const NEWER_LOCALLY = '0b6f1f7e-5a55-4c8e-9d1b-2f0e7c6a9d11';

interface HistoryEntry {
  status: string | null;
  previousStatus: string | null;
  applied: boolean;
  source: string;
  notificationId: string | null;
}

describe.each(['redis', 'postgres'] as const)('reconciliation with BullMQ on %s', (queue) => {
  let db: TestDatabase;
  let stub: BandwidthStub;
  let service: RunningService;
  const dispatched: { notificationId: string; source: string }[] = [];

  beforeAll(async () => {
    stub = await startBandwidthStub();
    db = await createTestDatabase();
    // Bandwidth knows the port-in completed; the COMPLETE callback never reached us.
    stub.setOrder('portins', PORTIN, { status: 'COMPLETE', lastModifiedDate: '2023-09-14T16:00:00.000Z' });
    // Bandwidth's answer is older than what we already have: must not regress FOC.
    stub.setOrder('portins', NEWER_LOCALLY, { status: 'SUBMITTED', lastModifiedDate: '2023-09-01T00:00:00.000Z' });
    service = await bootService({
      databaseUrl: db.url,
      queue,
      env: stubEnv(stub, {
        RECONCILE_INTERVAL_MS: '300',
        RECONCILE_IDLE_SECONDS: '1',
        RECONCILE_RECHECK_SECONDS: '3600',
        SUBSCRIPTION_KEEPALIVE_INTERVAL_MS: '3600000',
      }),
      extras: {
        dispatchReconciled: (notificationId, source) => {
          dispatched.push({ notificationId, source });
          return Promise.resolve();
        },
      },
    });
  });

  afterAll(async () => {
    await service?.stop();
    await db?.drop();
    await stub?.close();
  });

  const getOrder = async (orderId: string) =>
    (await request(service.app).get(`/api/v1/orders/${orderId}`).set('Authorization', `Bearer ${READ_KEY}`)).body as {
      status: string;
      isTerminal: boolean;
      history: HistoryEntry[];
    };

  it('records the missed COMPLETE with source=reconcile and dispatches it to the handlers', async () => {
    const foc = readExample('portins-foc.xml');
    for (const body of [foc, foc.replace(PORTIN, NEWER_LOCALLY)]) {
      const res = await request(service.app)
        .post('/callbacks/bandwidth')
        .set('Authorization', basicAuth())
        .set('Content-Type', 'application/xml')
        .send(body);
      expect(res.status).toBe(200);
    }

    const order = await eventually(async () => {
      const o = await getOrder(PORTIN);
      return o.status === 'COMPLETE' ? o : undefined;
    }, 20_000);
    expect(order.isTerminal).toBe(true);
    expect(order.history).toHaveLength(2);
    expect(order.history).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ status: 'FOC', source: 'callback', applied: true }),
        expect.objectContaining({ status: 'COMPLETE', previousStatus: 'FOC', applied: true, source: 'reconcile' }),
      ]),
    );
    expect(stub.requestsTo('GET', new RegExp(`^/portins/${PORTIN}$`)).length).toBeGreaterThanOrEqual(1);

    const notificationId = order.history.find((h) => h.source === 'reconcile')?.notificationId ?? '';
    await eventually(async () =>
      Promise.resolve(dispatched.some((d) => d.notificationId === notificationId) ? true : undefined),
    );
    expect(dispatched.filter((d) => d.notificationId === notificationId)).toEqual([
      { notificationId, source: 'reconcile' },
    ]);

    // The stored notification is a <Notification> handlers can parse like a callback.
    const rows = await service.db.$queryRaw<{ body: string; source: string }[]>`
      SELECT body, source FROM notifications WHERE id = ${notificationId}::uuid`;
    expect(rows[0]?.source).toBe('reconcile');
    const parsed = await parseNotificationXml(rows[0]?.body ?? '');
    expect(parsed.ok && parsed.notification).toMatchObject({
      orderType: 'portins',
      orderId: PORTIN,
      status: 'COMPLETE',
      lastModifiedAt: new Date('2023-09-14T16:00:00.000Z'),
    });
  });

  it('never regresses a status: an older answer is kept in history as not applied', async () => {
    const order = await eventually(async () => {
      const o = await getOrder(NEWER_LOCALLY);
      return o.history.length === 2 ? o : undefined;
    }, 20_000);
    expect(order.status).toBe('FOC');
    expect(order.history.find((h) => h.source === 'reconcile')).toMatchObject({
      status: 'SUBMITTED',
      previousStatus: 'FOC',
      applied: false,
    });
  });

  it('looks an order up once per recheck interval, and leaves orders idle less than the threshold alone', async () => {
    // The scheduler keeps running; the not-applied order stays non-terminal but is not asked again.
    const before = stub.requestsTo('GET', new RegExp(`^/portins/${NEWER_LOCALLY}$`)).length;
    expect(before).toBe(1);
    const { logger } = capturingLogger();
    const runOnce = (idleSeconds: number, recheckSeconds: number) =>
      reconcileStuckOrders(
        { db: service.db, client: stubClient(stub, logger), logger, metrics: undefined, dispatch: noDispatch },
        { idleSeconds, recheckSeconds, limit: 10, minRequestIntervalMs: 0 },
      );
    const summary = await runOnce(0, 3600);
    expect(summary).toEqual({ checked: 0 });

    const fresh = readExample('portins-foc.xml').replace(PORTIN, 'fresh-order-1');
    await request(service.app).post('/callbacks/bandwidth').set('Authorization', basicAuth()).send(fresh).expect(200);
    await eventually(async () => ((await getOrder('fresh-order-1')).status === 'FOC' ? true : undefined));
    const idle = await runOnce(3600, 0);
    // Only the idle threshold keeps it out (recheck 0): it had an event moments ago.
    expect(idle).toEqual({ checked: 0 });
  });

  it('counts reconciled orders in /metrics', async () => {
    const text = (await request(service.app).get('/metrics')).text;
    expect(text).toMatch(/bw_reconcile_orders_total\{result="recorded"\} [1-9]/);
    expect(text).toMatch(/bw_bandwidth_api_requests_total\{operation="orders.status",outcome="ok"\} [1-9]/);
  });
});
