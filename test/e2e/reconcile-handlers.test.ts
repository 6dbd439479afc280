import request from 'supertest';
import type { RunningService } from '../../src/service';
import type { BandwidthStub } from '../support/bandwidth-stub';
import { startBandwidthStub } from '../support/bandwidth-stub';
import { stubEnv } from '../support/bandwidth';
import type { TestDatabase } from '../support/harness';
import { basicAuth, bootService, createTestDatabase, eventually, readExample } from '../support/harness';

/** Issue #9 acceptance 2 with the real handlers of issue #5: a reconciled status reaches them. */
const PORTIN = 'ee456cfb-d237-4adc-b3f8-9db03d2e62a2';

describe('reconciled notifications reach the real handlers', () => {
  let db: TestDatabase;
  let stub: BandwidthStub;
  let service: RunningService;

  beforeAll(async () => {
    stub = await startBandwidthStub();
    db = await createTestDatabase();
    stub.setOrder('portins', PORTIN, { status: 'COMPLETE', lastModifiedDate: '2023-09-14T16:00:00.000Z' });
    service = await bootService({
      databaseUrl: db.url,
      queue: 'redis',
      env: stubEnv(stub, { RECONCILE_INTERVAL_MS: '300', RECONCILE_IDLE_SECONDS: '1' }),
    });
  });

  afterAll(async () => {
    await service?.stop();
    await db?.drop();
    await stub?.close();
  });

  it('delivers the source=reconcile notification to the built-in log handler', async () => {
    await request(service.app)
      .post('/callbacks/bandwidth')
      .set('Authorization', basicAuth())
      .send(readExample('portins-foc.xml'))
      .expect(200);
    const delivery = await eventually(async () => {
      const rows = await service.db.$queryRaw<{ handler: string; status: string; source: string }[]>`
        SELECT d.handler, d.status, d.source FROM handler_deliveries d
        JOIN notifications n ON n.id = d.notification_id
        WHERE n.source = 'reconcile' AND n.order_id = ${PORTIN} AND d.status = 'succeeded'`;
      return rows[0];
    }, 20_000);
    expect(delivery).toMatchObject({ handler: 'log', source: 'reconcile' });
  });
});
