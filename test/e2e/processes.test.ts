import { mkdtempSync, rmSync, chownSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import type { TestDatabase } from '../support/harness';
import {
  ADMIN_KEY,
  CALLBACK_PASSWORD,
  CALLBACK_USER,
  READ_KEY,
  basicAuth,
  createTestDatabase,
  eventually,
  readExample,
  redisUrl,
  uniqueName,
} from '../support/harness';
import type { ServiceProcess } from '../support/process';
import { freePort, startServiceProcess, stopServiceProcess } from '../support/process';

/**
 * The service as operators run it: separate processes, real signals. Covers the split
 * ROLE=api / ROLE=worker deployment on Redis + PostgreSQL, SIGTERM while notifications are
 * flowing, and the zero-config embedded mode surviving a restart.
 */

const ORDER_ID = 'a8ef295b-fcf4-44a7-945c-0520c8f49123';

const authEnv = {
  CALLBACK_BASIC_AUTH: `${CALLBACK_USER}:${CALLBACK_PASSWORD}`,
  API_KEYS: `reader:${READ_KEY}:read,ops:${ADMIN_KEY}:admin`,
  LOG_LEVEL: 'warn',
};

async function postNotification(service: ServiceProcess, body: string, auth = true): Promise<number> {
  const res = await fetch(service.url('/callbacks/bandwidth'), {
    method: 'POST',
    headers: { 'Content-Type': 'application/xml', ...(auth ? { Authorization: basicAuth() } : {}) },
    body,
  });
  await res.text();
  return res.status;
}

async function getOrder(
  service: ServiceProcess,
  orderId: string,
  key = READ_KEY,
): Promise<Record<string, unknown> | undefined> {
  const res = await fetch(service.url(`/api/v1/orders/${orderId}`), { headers: { Authorization: `Bearer ${key}` } });
  if (res.status !== 200) return undefined;
  return (await res.json()) as Record<string, unknown>;
}

/** A distinct, valid new-number order notification per index. */
function orderBody(i: number): string {
  const id = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
  return `<?xml version="1.0"?><Notification><Status>COMPLETE</Status><SubscriptionId>sub-1</SubscriptionId><OrderId>${id}</OrderId><OrderType>orders</OrderType><CompletedTelephoneNumbers><TelephoneNumber>919555${String(i % 10000).padStart(4, '0')}</TelephoneNumber></CompletedTelephoneNumbers></Notification>`;
}

describe('ROLE=api and ROLE=worker as two processes on Redis + PostgreSQL', () => {
  let db: TestDatabase;
  const running: ServiceProcess[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    for (const p of running) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await db?.drop();
  });

  it('challenges, accepts, persists through the worker process and serves the order', async () => {
    const env = { ...authEnv, DATABASE_URL: db.url, REDIS_URL: redisUrl(), QUEUE_PREFIX: uniqueName('q') };
    const api = await startServiceProcess({ ...env, ROLE: 'api' });
    running.push(api);
    const worker = await startServiceProcess({ ...env, ROLE: 'worker' });
    running.push(worker);

    // The worker process serves only the ops routes.
    expect((await fetch(worker.url('/readyz'))).status).toBe(200);
    expect((await fetch(worker.url('/callbacks/bandwidth'), { method: 'POST', body: '<x/>' })).status).toBe(404);

    const body = readExample('orders-complete.xml');
    expect(await postNotification(api, body, false)).toBe(401);
    expect(await postNotification(api, body)).toBe(200);
    const order = await eventually(() => getOrder(api, ORDER_ID), 60_000);
    expect(order).toMatchObject({ status: 'COMPLETE', isTerminal: true, telephoneNumbers: ['+15402278098'] });

    for (const p of [api, worker]) {
      const { code } = await stopServiceProcess(p);
      expect(code).toBe(0);
    }
  });

  it('on SIGTERM while notifications flow: exits 0 within 10 s, and every 200 is persisted after restart', async () => {
    const env = { ...authEnv, DATABASE_URL: db.url, REDIS_URL: redisUrl(), QUEUE_PREFIX: uniqueName('q') };
    const service = await startServiceProcess({ ...env, ROLE: 'all' });
    running.push(service);

    const acked: number[] = [];
    let sending = true;
    const senders = [0, 1, 2, 3].map(async (lane) => {
      for (let i = lane; sending; i += 4) {
        try {
          if ((await postNotification(service, orderBody(i))) === 200) acked.push(i);
        } catch {
          return; // connection refused once the server has closed: expected
        }
      }
    });
    await eventually(() => Promise.resolve(acked.length >= 100 ? true : undefined), 60_000);
    const { code, ms } = await stopServiceProcess(service);
    sending = false;
    await Promise.all(senders);
    expect(code).toBe(0);
    expect(ms).toBeLessThan(10_000);
    expect(acked.length).toBeGreaterThanOrEqual(100);

    // Restart: whatever was acked but not yet persisted is still in the queue and lands now.
    const restarted = await startServiceProcess({ ...env, ROLE: 'all' });
    running.push(restarted);
    const client = new Client({ connectionString: db.url });
    await client.connect();
    try {
      const ids = acked.map((i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
      const persisted = await eventually(async () => {
        const { rows } = await client.query<{ n: string }>(
          'SELECT count(*) AS n FROM orders WHERE order_id = ANY($1)',
          [ids],
        );
        return Number(rows[0]?.n) === ids.length ? ids.length : undefined;
      }, 60_000);
      expect(persisted).toBe(acked.length);
    } finally {
      await client.end();
    }
    expect((await stopServiceProcess(restarted)).code).toBe(0);
  });
});

describe('embedded default (no DATABASE_URL, no REDIS_URL)', () => {
  let dataDir: string;
  const running: ServiceProcess[] = [];

  beforeAll(() => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'bw-embedded-'));
    if (userInfo().uid === 0) {
      // PostgreSQL runs as the postgres user and must be able to enter the data directory.
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
      const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
      chownSync(dataDir, uid, gid);
    }
  });
  afterAll(async () => {
    // Stop gracefully so the embedded PostgreSQL goes down with its service.
    for (const p of running) if (p.child.exitCode === null) await stopServiceProcess(p);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves, persists, and still has the order after a restart', async () => {
    const env = { ...authEnv, LOG_LEVEL: 'info', DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(await freePort()) };
    const first = await startServiceProcess(env, 90_000);
    running.push(first);
    expect(first.output()).toMatch(/database=embedded PostgreSQL/);
    expect(first.output()).toMatch(/queue=BullMQ on PostgreSQL/);
    expect(await postNotification(first, readExample('orders-complete.xml'))).toBe(200);
    await eventually(() => getOrder(first, ORDER_ID), 60_000);
    expect((await stopServiceProcess(first)).code).toBe(0);

    const second = await startServiceProcess(env, 90_000);
    running.push(second);
    const order = await getOrder(second, ORDER_ID);
    expect(order).toMatchObject({ status: 'COMPLETE', isTerminal: true, telephoneNumbers: ['+15402278098'] });
    expect((await stopServiceProcess(second)).code).toBe(0);
  });
});
