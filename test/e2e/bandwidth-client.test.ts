import { BandwidthApiError } from '../../src/bandwidth/client';
import type { CallbackSubscriptionSpec } from '../../src/bandwidth/client';
import type { BandwidthStub } from '../support/bandwidth-stub';
import { startBandwidthStub } from '../support/bandwidth-stub';
import { capturingLogger, stubClient } from '../support/bandwidth';

/** The Numbers API client against the stub Bandwidth server (real HTTP). */
describe('Bandwidth API client', () => {
  let stub: BandwidthStub;
  const { logger, lines } = capturingLogger();

  beforeAll(async () => {
    stub = await startBandwidthStub();
  });
  afterAll(async () => {
    await stub?.close();
  });

  const spec: CallbackSubscriptionSpec = {
    target: { orderType: 'portins' },
    url: 'https://receiver.example.com/callbacks/bandwidth',
    expirySeconds: 3600,
    numberFormat: 'E164',
    credentials: { username: 'bandwidth', password: 'callback-Pa55word' },
  };

  const rejection = async (promise: Promise<unknown>): Promise<BandwidthApiError> => {
    try {
      await promise;
    } catch (error: unknown) {
      if (error instanceof BandwidthApiError) return error;
      throw error;
    }
    throw new Error('expected a BandwidthApiError');
  };

  it('creates a subscription with the documented XML and returns the id from Location', async () => {
    const client = stubClient(stub, logger);
    const id = await client.createSubscription(spec);
    expect(stub.subscriptions.has(id)).toBe(true);
    const [sent] = stub.requestsTo('POST', /^\/subscriptions$/);
    expect(sent?.authorization).toBe(`Basic ${Buffer.from(`${stub.username}:${stub.password}`).toString('base64')}`);
    expect(sent?.body).toContain(
      '<Subscription><OrderType>portins</OrderType><CallbackSubscription>' +
        '<URL>https://receiver.example.com/callbacks/bandwidth</URL><Expiry>3600</Expiry><NumberFormat>E164</NumberFormat>' +
        '<CallbackCredentials><BasicAuthentication><Username>bandwidth</Username><Password>callback-Pa55word</Password>' +
        '</BasicAuthentication></CallbackCredentials></CallbackSubscription></Subscription>',
    );

    const listed = await client.listSubscriptions();
    expect(listed).toEqual([
      expect.objectContaining({
        id,
        orderType: 'portins',
        callbackUrl: spec.url,
        expirySecondsRemaining: expect.any(Number),
      }),
    ]);
    expect(listed[0]?.expirySecondsRemaining).toBeGreaterThan(3500);
    expect(await client.getSubscription(id)).toMatchObject({ id, orderType: 'portins' });
  });

  it('reports 409 on an existing target as a conflict, without retrying', async () => {
    const client = stubClient(stub, logger);
    const before = stub.requestsTo('POST', /^\/subscriptions$/).length;
    const error = await rejection(client.createSubscription(spec));
    expect(error.kind).toBe('conflict');
    expect(error.status).toBe(409);
    expect(error.message).toMatch(/subscriptions\.create failed: conflict \(HTTP 409\) \[12009\].*already exists/);
    expect(stub.requestsTo('POST', /^\/subscriptions$/).length).toBe(before + 1);
  });

  it('updates and deletes; 404 on a missing one is a value, not an error', async () => {
    const client = stubClient(stub, logger);
    const id = [...stub.subscriptions.keys()][0] ?? '';
    await client.updateSubscription(id, { ...spec, expirySeconds: 7200 });
    expect(stub.subscriptions.get(id)?.expirySeconds).toBe(7200);
    expect(await client.deleteSubscription(id)).toBe('deleted');
    expect(await client.deleteSubscription(id)).toBe('not_found');
    expect(await client.getSubscription(id)).toBeNull();
  });

  it('reads the current status of each order type from its documented shape', async () => {
    const client = stubClient(stub, logger);
    stub.setOrder('portins', 'p-1', {
      status: 'FOC',
      customerOrderId: 'acme',
      lastModifiedDate: '2024-02-22T20:40:47.539Z',
    });
    stub.setOrder('orders', 'o-1', { status: 'COMPLETE' });
    stub.setOrder('csrs', 'c-1', { status: 'ACTION_REQUIRED' });
    stub.setOrder('importTnOrders', 'i-1', { status: 'PROCESSING' });
    stub.setOrder('portouts', 'po-1', { status: 'COMPLETE' });
    expect(await client.getOrderStatus('portins', 'p-1')).toMatchObject({
      status: 'FOC',
      customerOrderId: 'acme',
      lastModifiedAt: new Date('2024-02-22T20:40:47.539Z'),
    });
    expect((await client.getOrderStatus('orders', 'o-1'))?.status).toBe('COMPLETE');
    expect((await client.getOrderStatus('csrs', 'c-1'))?.status).toBe('ACTION_REQUIRED');
    expect((await client.getOrderStatus('importtnorders', 'i-1'))?.status).toBe('PROCESSING');
    expect((await client.getOrderStatus('portouts', 'po-1'))?.status).toBe('COMPLETE');
    expect(await client.getOrderStatus('portins', 'unknown-order')).toBeNull();
    expect((await rejection(client.getOrderStatus('tollfreePortingValidations', 'x'))).kind).toBe('unsupported');
  });

  it('reads notes (204 = none) and history', async () => {
    const client = stubClient(stub, logger);
    stub.setOrder('portins', 'p-2', {
      status: 'SUBMITTED',
      notes: [{ id: '1', userId: 'ops', description: 'LOA attached', lastDateModifier: '2024-01-01T00:00:00.000Z' }],
      history: [{ orderDate: '2024-01-01T00:00:00.000Z', note: 'Order submitted', author: 'api', status: 'SUBMITTED' }],
    });
    expect(await client.getOrderNotes('portins', 'p-2')).toEqual([
      { id: '1', userId: 'ops', description: 'LOA attached', lastModifiedAt: new Date('2024-01-01T00:00:00.000Z') },
    ]);
    expect(await client.getOrderNotes('portins', 'p-1')).toEqual([]);
    expect(await client.getOrderHistory('portins', 'p-2')).toEqual([
      { orderDate: new Date('2024-01-01T00:00:00.000Z'), status: 'SUBMITTED', note: 'Order submitted', author: 'api' },
    ]);
  });

  it('survives 429 (honouring Retry-After) and 500 with retries', async () => {
    const client = stubClient(stub, logger);
    stub.fail({ method: 'GET', path: /^\/portins\/p-1$/, status: 429, retryAfter: '0', times: 1 });
    stub.fail({ method: 'GET', path: /^\/portins\/p-1$/, status: 500, times: 1 });
    const before = stub.requestsTo('GET', /^\/portins\/p-1$/).length;
    expect((await client.getOrderStatus('portins', 'p-1'))?.status).toBe('FOC');
    expect(stub.requestsTo('GET', /^\/portins\/p-1$/).length).toBe(before + 3);
  });

  it('survives a slow answer by timing out and retrying', async () => {
    const client = stubClient(stub, logger, { timeoutMs: 200 });
    stub.fail({ method: 'GET', path: /^\/orders\/o-1$/, delayMs: 600, times: 1 });
    expect((await client.getOrderStatus('orders', 'o-1'))?.status).toBe('COMPLETE');
  });

  it('gives up with a clear error when 500 persists, and when every answer is too slow', async () => {
    const client = stubClient(stub, logger, { timeoutMs: 200, maxAttempts: 2 });
    stub.fail({ method: 'GET', path: /^\/orders\/o-1$/, status: 500, times: 2 });
    const server = await rejection(client.getOrderStatus('orders', 'o-1'));
    expect(server).toMatchObject({ kind: 'server_error', status: 500, attempts: 2, retryable: true });
    expect(server.message).toBe(
      'Bandwidth API orders.status failed: server_error (HTTP 500) [500] after 2 attempts: stub fault 500',
    );

    stub.fail({ method: 'GET', path: /^\/orders\/o-1$/, delayMs: 500, times: 2 });
    const slow = await rejection(client.getOrderStatus('orders', 'o-1'));
    expect(slow).toMatchObject({ kind: 'timeout', status: null, attempts: 2 });
    expect(slow.message).toMatch(/no answer within 200 ms/);
  });

  it('does not retry 401 and says so clearly', async () => {
    const client = stubClient(stub, logger, { password: 'wrong-password-XYZ' });
    const before = stub.requests.length;
    const error = await rejection(client.listSubscriptions());
    expect(error).toMatchObject({ kind: 'unauthorized', status: 401, attempts: 1, retryable: false });
    expect(error.message).toMatch(/Authentication failed/);
    expect(stub.requests.length).toBe(before + 1);
  });

  it('never logs credentials', () => {
    const all = lines.join('\n');
    expect(lines.some((l) => l.includes('retrying'))).toBe(true);
    for (const secret of [
      stub.password,
      'wrong-password-XYZ',
      'callback-Pa55word',
      Buffer.from(`${stub.username}:${stub.password}`).toString('base64'),
    ]) {
      expect(all).not.toContain(secret);
    }
  });
});
