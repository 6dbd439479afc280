import http from 'node:http';
import request from 'supertest';
import { basicAuth, eventually, readExample } from '../support/harness';
import { capturingLogger, countRows, metricValue, postRaw, useService } from './support';

const OLD_PASSWORD = 'old-secret-pass';
const NEW_PASSWORD = 'new-secret-pass';

/** Bandwidth's challenge/response Basic auth against the real app, with two pairs for rotation. */
describe('callback authentication', () => {
  const { logger, lines } = capturingLogger();

  const service = useService({
    queue: 'redis',
    logger,
    env: { CALLBACK_BASIC_AUTH: `bandwidth:${OLD_PASSWORD},bandwidth:${NEW_PASSWORD}` },
  });

  const post = (body: string, auth?: string) => {
    const req = request(service().app).post('/callbacks/bandwidth').set('Content-Type', 'application/xml');
    if (auth !== undefined) req.set('Authorization', auth);
    return req.send(body);
  };

  it('runs the challenge sequence: 401 with the header and nothing written, then 200', async () => {
    const body = readExample('orders-complete.xml');
    const challenge = await post(body);
    expect(challenge.status).toBe(401);
    expect(challenge.headers['www-authenticate']).toMatch(/^Basic realm="bandwidth-callbacks"/);
    expect(await countRows(service(), 'notifications')).toBe(0);
    expect(await countRows(service(), 'quarantined_notifications')).toBe(0);

    const answer = await post(body, basicAuth('bandwidth', OLD_PASSWORD));
    expect(answer.status).toBe(200);
    await eventually(async () => ((await countRows(service(), 'notifications')) === 1 ? true : undefined));
  });

  it('accepts both pairs during a rotation and refuses anything else', async () => {
    const body = readExample('orders-failed.xml');
    expect((await post(body, basicAuth('bandwidth', NEW_PASSWORD))).status).toBe(200);
    for (const auth of [
      basicAuth('bandwidth', 'wrong-password'),
      basicAuth('someone', OLD_PASSWORD),
      basicAuth('bandwidth', `${OLD_PASSWORD}x`),
      'Basic !!!not-base64!!!',
      'Bearer some-token',
      `Basic ${Buffer.from('no-colon').toString('base64')}`,
    ]) {
      const res = await post(body, auth);
      expect({ auth, status: res.status }).toEqual({ auth, status: 401 });
      expect(res.headers['www-authenticate']).toMatch(/^Basic realm="bandwidth-callbacks"/);
    }
  });

  it('never reads the body of an unauthenticated request: bad XML is not quarantined', async () => {
    const before = await countRows(service(), 'quarantined_notifications');
    for (const body of ['<Notification><Status>', '<!DOCTYPE x [<!ENTITY a "b">]><Notification>&a;</Notification>']) {
      expect((await post(body)).status).toBe(401);
      expect((await post(body, basicAuth('bandwidth', 'nope'))).status).toBe(401);
    }
    expect(await countRows(service(), 'quarantined_notifications')).toBe(before);
  });

  it('answers the challenge and the authenticated retry on one keep-alive connection', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const body = readExample('portins-foc.xml');
    const send = (auth?: string) =>
      postRaw(service(), agent, '/callbacks/bandwidth', body, {
        'Content-Type': 'application/xml; charset=utf-8',
        ...(auth ? { Authorization: auth } : {}),
      });
    try {
      const first = await send();
      expect(first.status).toBe(401);
      expect(first.headers['www-authenticate']).toMatch(/^Basic realm="bandwidth-callbacks"/);
      const second = await send(basicAuth('bandwidth', NEW_PASSWORD));
      expect(second).toMatchObject({ status: 200, reusedSocket: true });
    } finally {
      agent.destroy();
    }
  });

  it('counts failed attempts in a metric and logs them without the password', async () => {
    const metrics = (await request(service().app).get('/metrics')).text;
    expect(
      metricValue(metrics, 'bw_auth_failures_total', { route: 'callback', reason: 'missing' }),
    ).toBeGreaterThanOrEqual(4);
    expect(
      metricValue(metrics, 'bw_auth_failures_total', { route: 'callback', reason: 'invalid' }),
    ).toBeGreaterThanOrEqual(8);
    const warnings = lines.filter((l) => l.includes('authentication failed'));
    expect(warnings.length).toBeGreaterThanOrEqual(8);
    expect(warnings.some((l) => l.includes('"knownUser":true'))).toBe(true);
    const everything = lines.join('\n');
    for (const secret of ['wrong-password', OLD_PASSWORD, NEW_PASSWORD, 'nope']) {
      expect(everything.includes(secret)).toBe(false);
    }
    expect(everything).not.toMatch(/Basic [A-Za-z0-9+/=]{8,}/);
  });
});
