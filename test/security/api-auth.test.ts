import express from 'express';
import request from 'supertest';
import { requireApiKey } from '../../src/http/api-auth';
import { ADMIN_KEY, READ_KEY } from '../support/harness';
import { capturingLogger, metricValue, useService } from './support';

const WRONG_KEY = 'wrong-key-0123456789abcdef';

describe('read/admin API keys and headers', () => {
  const { logger, lines } = capturingLogger();

  const service = useService({ queue: 'redis', logger });

  const get = (path: string, key?: string) => {
    const req = request(service().app).get(path);
    if (key !== undefined) req.set('Authorization', `Bearer ${key}`);
    return req;
  };

  it('answers 401 JSON without a key or with an unknown one', async () => {
    for (const key of [undefined, WRONG_KEY]) {
      const res = await get('/api/v1/orders/some-order', key);
      expect(res.status).toBe(401);
      expect(res.headers['content-type']).toMatch(/application\/json/);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer realm=/);
      expect(res.body).toEqual({
        error: { code: 'unauthorized', message: expect.any(String), requestId: res.headers['x-request-id'] },
      });
    }
  });

  it('answers 403 to a read key on an admin route, 200 to an admin key', async () => {
    const forbidden = await get('/api/v1/admin/security', READ_KEY);
    expect(forbidden.status).toBe(403);
    expect(forbidden.body).toMatchObject({ error: { code: 'forbidden', requestId: expect.any(String) } });

    const allowed = await get('/api/v1/admin/security', ADMIN_KEY);
    expect(allowed.status).toBe(200);
    expect(allowed.body).toMatchObject({
      callbackAuth: { enabled: true, credentialPairs: 1 },
      trustProxy: false,
      apiKeys: [
        { name: 'reader', scope: 'read' },
        { name: 'ops', scope: 'admin' },
      ],
    });
    // The report names keys; it never shows them.
    expect(allowed.text).not.toContain(READ_KEY);
    expect(allowed.text).not.toContain(ADMIN_KEY);
  });

  it('lets a read key read', async () => {
    const res = await get('/api/v1/orders/unknown-order', READ_KEY);
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ error: { code: 'order_not_found' } });
  });

  it('sends security headers on the API', async () => {
    const res = await get('/api/v1/orders/x', READ_KEY);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toMatch(/default-src 'none'/);
    expect(res.headers['strict-transport-security']).toMatch(/max-age=/);
    expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(res.headers['x-powered-by']).toBeUndefined();
  });

  it('counts refused keys and never logs a key', async () => {
    const metrics = (await request(service().app).get('/metrics')).text;
    expect(metricValue(metrics, 'bw_auth_failures_total', { route: 'api', reason: 'missing' })).toBe(1);
    expect(metricValue(metrics, 'bw_auth_failures_total', { route: 'api', reason: 'invalid' })).toBe(1);
    expect(metricValue(metrics, 'bw_auth_failures_total', { route: 'admin', reason: 'forbidden' })).toBe(1);
    const everything = lines.join('\n');
    expect(everything).toContain('"keyName":"reader"');
    for (const key of [READ_KEY, ADMIN_KEY, WRONG_KEY]) expect(everything.includes(key)).toBe(false);
  });
});

/** The same guard protects admin paths outside /api/v1 (issue #6 mounts the queue UI with it). */
describe('requireApiKey on a non-API path with browser login', () => {
  const keys = [
    { name: 'reader', key: READ_KEY, scope: 'read' as const },
    { name: 'ops', key: ADMIN_KEY, scope: 'admin' as const },
  ];
  const app = express();
  app.use('/admin/queues', requireApiKey(keys, 'admin', { browserLogin: true }), (_req, res) => {
    res.send('queue UI');
  });
  const basic = (password: string) => `Basic ${Buffer.from(`anyone:${password}`).toString('base64')}`;

  it('challenges a browser with Basic and accepts the admin key as the password', async () => {
    const anonymous = await request(app).get('/admin/queues');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['www-authenticate']).toMatch(/^Basic realm="admin"/);
    expect((await request(app).get('/admin/queues').set('Authorization', basic(ADMIN_KEY))).status).toBe(200);
    expect((await request(app).get('/admin/queues').set('Authorization', `Bearer ${ADMIN_KEY}`)).status).toBe(200);
    expect((await request(app).get('/admin/queues').set('Authorization', basic(READ_KEY))).status).toBe(403);
    expect((await request(app).get('/admin/queues').set('Authorization', basic(WRONG_KEY))).status).toBe(401);
  });
});
