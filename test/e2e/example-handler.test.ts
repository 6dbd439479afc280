import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import request from 'supertest';
import type { RunningService } from '../../src/service';
import type { TestDatabase } from '../support/harness';
import { basicAuth, bootService, createTestDatabase, eventually, readExample } from '../support/harness';
import type { WebhookReceiver } from '../support/webhook-receiver';
import { header, startWebhookReceiver, until } from '../support/webhook-receiver';

/**
 * The documented example (examples/handlers/): its config file, with the URLs pointed at a
 * local receiver, loads the custom port-in alert module into the real service; a port-in FOC
 * raises one alert, other notifications none.
 */
const EXAMPLES = path.resolve(__dirname, '..', '..', 'examples', 'handlers');

interface ConfigEntry {
  name: string;
  module?: string;
  url?: string;
  webhookUrl?: string;
}

describe('example custom handler: port-in alert', () => {
  let db: TestDatabase;
  let receiver: WebhookReceiver;
  let service: RunningService;

  beforeAll(async () => {
    db = await createTestDatabase();
    receiver = await startWebhookReceiver();
    const example = JSON.parse(readFileSync(path.join(EXAMPLES, 'handlers.json'), 'utf8')) as {
      handlers: ConfigEntry[];
    };
    // Same file, but pointed at the test receiver; the module path stays relative to the file.
    const handlers = example.handlers.map((h) => ({
      ...h,
      ...(h.webhookUrl !== undefined ? { webhookUrl: `${receiver.url}/alerts` } : {}),
      ...(h.url !== undefined ? { url: `${receiver.url}/provisioning` } : {}),
      ...(h.module !== undefined ? { module: path.join(EXAMPLES, h.module) } : {}),
    }));
    const dir = mkdtempSync(path.join(tmpdir(), 'example-handler-'));
    const file = path.join(dir, 'handlers.json');
    writeFileSync(file, JSON.stringify({ handlers }));
    service = await bootService({ databaseUrl: db.url, queue: 'redis', env: { HANDLERS_CONFIG: file } });
  });

  afterAll(async () => {
    await service?.stop();
    await receiver?.close();
    await db?.drop();
  });

  it('alerts on a port-in FOC and stays quiet otherwise', async () => {
    for (const example of ['orders-complete.xml', 'portins-foc.xml', 'disconnects-complete.xml']) {
      const res = await request(service.app)
        .post('/callbacks/bandwidth')
        .set('Authorization', basicAuth())
        .set('Content-Type', 'application/xml')
        .send(readExample(example));
      expect(res.status).toBe(200);
    }
    // The forwarding handler of the same file sees all three: when it has, all are dispatched.
    await until(() => (receiver.on('/provisioning').length === 3 ? true : undefined));
    await eventually(async () => {
      const rows = await service.db.$queryRaw<{ n: bigint }[]>`
        SELECT count(*)::bigint AS n FROM handler_deliveries WHERE status IN ('pending', 'failed')`;
      return Number(rows[0]?.n) === 0 ? true : undefined;
    });
    const alerts = receiver.on('/alerts');
    expect(alerts.map((a) => JSON.parse(a.body) as unknown)).toEqual([
      {
        text: ':white_check_mark: port-in ee456cfb-d237-4adc-b3f8-9db03d2e62a2 (port-acme-hq) has its FOC date: 2023-09-14 for no numbers',
      },
    ]);
    const delivery = await service.db.$queryRaw<{ id: string; status: string }[]>`
      SELECT id::text, status FROM handler_deliveries WHERE handler = 'port-in-alert'`;
    expect(delivery).toEqual([{ id: header(alerts[0]!, 'idempotency-key'), status: 'succeeded' }]);
  });
});
