import request from 'supertest';
import { COMMANDS } from '../../src/cli/commands';
import { runCli } from '../../src/cli/run';
import type { RunningService } from '../../src/service';
import type { BandwidthStub } from '../support/bandwidth-stub';
import { startBandwidthStub } from '../support/bandwidth-stub';
import { capturingLogger, stubEnv } from '../support/bandwidth';
import type { TestDatabase } from '../support/harness';
import {
  CALLBACK_PASSWORD,
  CALLBACK_USER,
  READ_KEY,
  bootService,
  createTestDatabase,
  eventually,
  redisUrl,
  uniqueName,
} from '../support/harness';

/**
 * Acceptance 1 of issue #9: `npm run cli -- subscriptions ...` against the stub Bandwidth, and
 * the service's keep-alive renewing a subscription before it expires, with nobody acting.
 */
describe('subscriptions CLI and keep-alive', () => {
  let db: TestDatabase;
  let stub: BandwidthStub;
  let service: RunningService;
  let env: Record<string, string>;
  const { logger, lines: logLines } = capturingLogger();

  beforeAll(async () => {
    stub = await startBandwidthStub();
    db = await createTestDatabase();
    env = {
      DATABASE_URL: db.url,
      REDIS_URL: redisUrl(),
      QUEUE_PREFIX: uniqueName('q'),
      CALLBACK_BASIC_AUTH: `old-user:old-password,${CALLBACK_USER}:${CALLBACK_PASSWORD}`,
      ...stubEnv(stub, {
        SUBSCRIPTION_KEEPALIVE_INTERVAL_MS: '300',
        SUBSCRIPTION_RENEW_BEFORE_SECONDS: '3000',
        RECONCILE_INTERVAL_MS: '3600000',
      }),
    };
    service = await bootService({ databaseUrl: db.url, queue: 'redis', env });
  });

  afterAll(async () => {
    await service?.stop();
    await db?.drop();
    await stub?.close();
  });

  const cli = async (...argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(COMMANDS, argv, env, {
      print: (line) => out.push(line),
      printError: (line) => err.push(line),
      logger,
    });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };

  const stored = (id: string) => service.db.subscription.findUnique({ where: { id } }).then((row) => row ?? undefined);

  let typeSubscription = '';

  it('creates a subscription with the documented XML, credentials included, and stores the id from Location', async () => {
    const result = await cli('subscriptions', 'create', '--order-type', 'portins');
    expect(result).toMatchObject({ code: 0, err: '' });
    typeSubscription = /created subscription (\S+)/.exec(result.out)?.[1] ?? '';
    expect(stub.subscriptions.has(typeSubscription)).toBe(true);

    const [sent] = stub.requestsTo('POST', /^\/subscriptions$/);
    expect(sent?.body).toContain(
      '<Subscription><OrderType>portins</OrderType><CallbackSubscription>' +
        '<URL>https://receiver.example.com/callbacks/bandwidth</URL><Expiry>86400</Expiry><NumberFormat>E164</NumberFormat>' +
        `<CallbackCredentials><BasicAuthentication><Username>${CALLBACK_USER}</Username><Password>${CALLBACK_PASSWORD}</Password>` +
        '</BasicAuthentication></CallbackCredentials></CallbackSubscription></Subscription>',
    );
    expect(await stored(typeSubscription)).toMatchObject({
      accountId: stub.accountId,
      orderType: 'portins',
      orderId: null,
      callbackUrl: 'https://receiver.example.com/callbacks/bandwidth',
      expirySeconds: 86400,
      numberFormat: 'E164',
    });
  });

  it('refuses a second subscription for the same target with a clear message (409)', async () => {
    const result = await cli('subscriptions', 'create', '--order-type', 'portins');
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/conflict \(HTTP 409\).*already exists/);
  });

  it('renews a subscription before it expires, without manual action', async () => {
    const remote = stub.subscriptions.get(typeSubscription);
    if (!remote) throw new Error('stub lost the subscription');
    // 1000 s left, under the 3000 s renew window.
    remote.setAt = Date.now() - (86_400 - 1000) * 1000;
    const renewed = await eventually(async () => {
      const row = await stored(typeSubscription);
      return row?.renewedAt ? row : undefined;
    });
    expect(stub.requestsTo('PUT', new RegExp(`^/subscriptions/${typeSubscription}$`)).length).toBeGreaterThanOrEqual(1);
    const put = stub.requestsTo('PUT', new RegExp(`^/subscriptions/${typeSubscription}$`))[0];
    // PUT overwrites everything: the whole subscription, credentials included, is sent again.
    expect(put?.body).toContain('<OrderType>portins</OrderType>');
    expect(put?.body).toContain(`<Password>${CALLBACK_PASSWORD}</Password>`);
    expect(put?.body).toContain('<Expiry>86400</Expiry>');
    expect((renewed.expiresAt?.getTime() ?? 0) - Date.now()).toBeGreaterThan(80_000 * 1000);
  });

  it('records Bandwidth’s last callback status and alerts on failures', async () => {
    const remote = stub.subscriptions.get(typeSubscription);
    if (!remote) throw new Error('stub lost the subscription');
    remote.status = '401 Unauthorized';
    const row = await eventually(async () => {
      const r = await stored(typeSubscription);
      return r?.lastStatusOk === false ? r : undefined;
    });
    expect(row.lastStatus).toBe('401 Unauthorized');
    const metrics = (await request(service.app).get('/metrics')).text;
    expect(metrics).toMatch(/bw_subscription_callback_failures_total\{order_type="portins"\} [1-9]/);
    expect(metrics).toMatch(/bw_subscriptions_failing 1/);
  });

  it('lists subscriptions with remaining expiry and last status', async () => {
    const result = await cli('subscriptions', 'list');
    expect(result.code).toBe(0);
    const [header, ...rows] = result.out.split('\n');
    expect(header).toMatch(/^ID\s+TARGET\s+EXPIRES IN\s+LAST STATUS\s+NOTE$/);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatch(
      new RegExp(`^${typeSubscription}\\s+type portins\\s+23h 5\\dm\\s+401 Unauthorized\\s+FAILING$`),
    );
  });

  it('updates a subscription (PUT with every field) and deletes it', async () => {
    expect((await cli('subscriptions', 'update', typeSubscription, '--expiry', '7200')).code).toBe(0);
    expect(stub.subscriptions.get(typeSubscription)).toMatchObject({
      expirySeconds: 7200,
      orderType: 'portins',
      url: 'https://receiver.example.com/callbacks/bandwidth',
      username: CALLBACK_USER,
      password: CALLBACK_PASSWORD,
    });
    expect((await stored(typeSubscription))?.expirySeconds).toBe(7200);

    const deleted = await cli('subscriptions', 'delete', typeSubscription);
    expect(deleted).toMatchObject({ code: 0, out: `deleted subscription ${typeSubscription}` });
    expect(stub.subscriptions.has(typeSubscription)).toBe(false);
    expect(await stored(typeSubscription)).toBeUndefined();
    expect((await cli('subscriptions', 'delete', typeSubscription)).code).toBe(1);
  });

  it('checks an order right after subscribing to it, recording what Bandwidth says', async () => {
    stub.setOrder('portins', 'early-order', { status: 'SUBMITTED', customerOrderId: 'acme-early' });
    const result = await cli('subscriptions', 'create', '--order-type', 'portins', '--order-id', 'early-order');
    expect(result.code).toBe(0);
    expect(result.out).toContain('queued a status check of portins/early-order');
    const order = await eventually(async () => {
      const res = await request(service.app)
        .get('/api/v1/orders/early-order')
        .set('Authorization', `Bearer ${READ_KEY}`);
      return res.status === 200 ? (res.body as Record<string, unknown>) : undefined;
    });
    expect(order).toMatchObject({ status: 'SUBMITTED', customerOrderId: 'acme-early' });
    expect(order['history']).toEqual([expect.objectContaining({ status: 'SUBMITTED', source: 'reconcile' })]);
  });

  it('creates again a subscription that vanished at Bandwidth, and forgets a per-order one that ended', async () => {
    const created = await cli('subscriptions', 'create', '--event-type', 'MESSAGING_LOST');
    const lost = /created subscription (\S+)/.exec(created.out)?.[1] ?? '';
    const perOrder = [...stub.subscriptions.values()].find((s) => s.orderId === 'early-order')?.id ?? '';
    expect(await stored(perOrder)).toBeDefined();
    // Both disappear at Bandwidth: one expired while we were down, the other's order ended.
    stub.subscriptions.delete(lost);
    stub.subscriptions.delete(perOrder);

    const replacement = await eventually(async () => {
      const rows = await service.db.subscription.findMany({ where: { eventType: 'MESSAGING_LOST' } });
      return rows.length === 1 && rows[0]?.id !== lost ? rows[0] : undefined;
    });
    expect(stub.subscriptions.get(replacement.id)).toMatchObject({
      eventType: 'MESSAGING_LOST',
      password: CALLBACK_PASSWORD,
    });
    await eventually(async () => ((await stored(perOrder)) === undefined ? true : undefined));
  });

  it('serves the handler commands as a group of the same CLI', async () => {
    const list = await cli('handlers', 'dead-letters', 'list');
    expect(list.code).toBe(0);
    expect(JSON.parse(list.out)).toEqual({ data: [], more: false });
    const bad = await cli('handlers', 'dead-letters', 'retry');
    expect(bad.code).toBe(64);
    expect(bad.err).toMatch(/needs a delivery id/);
  });

  it('explains usage errors and never logs credentials', async () => {
    const usage = await cli('subscriptions', 'create');
    expect(usage.code).toBe(64);
    expect(usage.err).toMatch(/give --order-type/);
    expect((await cli('no-such-command')).code).toBe(64);
    const logs = logLines.join('\n');
    expect(logs).not.toContain(stub.password);
    expect(logs).not.toContain(CALLBACK_PASSWORD);
  });
});
