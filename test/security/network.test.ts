import request from 'supertest';
import { READ_KEY, basicAuth, eventually, readExample } from '../support/harness';
import { countRows, metricValue, useService } from './support';

/** Source allowlist, explicit trust proxy and per-address rate limits on the real app. */
describe('source allowlist without a trusted proxy', () => {
  const service = useService({
    queue: 'redis',
    env: { CALLBACK_ALLOWED_CIDRS: '10.0.0.0/8, 2001:db8::/32' },
  });

  it('refuses a source outside the list with 403, before authentication, and ignores X-Forwarded-For', async () => {
    const res = await request(service().app)
      .post('/callbacks/bandwidth')
      .set('X-Forwarded-For', '10.1.2.3')
      .set('Authorization', basicAuth())
      .send(readExample('orders-complete.xml'));
    expect(res.status).toBe(403);
    expect(res.headers['www-authenticate']).toBeUndefined();
    expect(await countRows(service(), 'notifications')).toBe(0);
    const metrics = (await request(service().app).get('/metrics')).text;
    expect(metricValue(metrics, 'bw_requests_refused_total', { route: 'callback', reason: 'source_not_allowed' })).toBe(
      1,
    );
  });

  it('leaves the API and ops routes to their own controls', async () => {
    expect((await request(service().app).get('/healthz')).status).toBe(200);
    expect(
      (await request(service().app).get('/api/v1/orders/x').set('Authorization', `Bearer ${READ_KEY}`)).status,
    ).toBe(404);
  });
});

describe('source allowlist and rate limits behind a trusted proxy', () => {
  const service = useService({
    queue: 'redis',
    env: {
      CALLBACK_ALLOWED_CIDRS: '10.0.0.0/8',
      TRUST_PROXY: 'loopback',
      CALLBACK_RATE_LIMIT: '3',
      API_RATE_LIMIT: '2',
      RATE_LIMIT_WINDOW_MS: '60000',
    },
  });

  const callback = (from: string, body: string, auth = basicAuth()) =>
    request(service().app)
      .post('/callbacks/bandwidth')
      .set('X-Forwarded-For', from)
      .set('Authorization', auth)
      .send(body);

  it('honours X-Forwarded-For from the configured proxy and records the client address', async () => {
    expect((await callback('192.0.2.7', readExample('orders-complete.xml'))).status).toBe(403);
    expect((await callback('10.9.9.9', readExample('orders-complete.xml'))).status).toBe(200);
    const stored = await eventually(async () => {
      const rows = await service().db.$queryRaw<{ remote_address: string | null }[]>`
        SELECT remote_address FROM notifications`;
      return rows[0];
    });
    expect(stored.remote_address).toBe('10.9.9.9');
  });

  it('answers 429 with Retry-After once a source address spends its callback budget', async () => {
    const from = '10.0.0.1';
    const statuses: number[] = [];
    for (let i = 0; i < 3; i += 1) statuses.push((await callback(from, '<Notification/>', 'Basic bad')).status);
    expect(statuses).toEqual([401, 401, 401]);
    const limited = await callback(from, readExample('orders-failed.xml'));
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // Another address still has its own budget.
    expect((await callback('10.0.0.2', readExample('orders-failed.xml'))).status).toBe(200);
  });

  it('answers 429 JSON with Retry-After on the API', async () => {
    const api = () =>
      request(service().app)
        .get('/api/v1/orders/x')
        .set('X-Forwarded-For', '198.51.100.4')
        .set('Authorization', `Bearer ${READ_KEY}`);
    expect((await api()).status).toBe(404);
    expect((await api()).status).toBe(404);
    const limited = await api();
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.body).toMatchObject({ error: { code: 'rate_limited', requestId: expect.any(String) } });
    const metrics = (await request(service().app).get('/metrics')).text;
    expect(metricValue(metrics, 'bw_requests_refused_total', { route: 'api', reason: 'rate_limited' })).toBe(1);
    expect(metricValue(metrics, 'bw_requests_refused_total', { route: 'callback', reason: 'rate_limited' })).toBe(1);
  });
});
