import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import request from 'supertest';
import type { RunningService } from '../../src/service';
import type { TestDatabase } from '../support/harness';
import {
  basicAuth,
  bootService,
  createTestDatabase,
  eventually,
  readExample,
  redisUrl,
  uniqueName,
} from '../support/harness';
import type { WebhookReceiver } from '../support/webhook-receiver';
import { header, startWebhookReceiver, until } from '../support/webhook-receiver';

/**
 * A worker process SIGKILLed while a handler is running: after a worker starts again, the
 * delivery runs again with the same delivery id and ends `succeeded`; nothing is lost.
 */
const REPO = path.resolve(__dirname, '..', '..');

describe.each(['redis', 'postgres'] as const)('a worker killed mid-handler (BullMQ on %s)', (queue) => {
  let db: TestDatabase;
  let receiver: WebhookReceiver;
  let api: RunningService | undefined;
  let worker: RunningService | undefined;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
    receiver = await startWebhookReceiver();
  });

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await worker?.stop();
    await api?.stop();
    await receiver?.close();
    await db?.drop();
  });

  it('retries the delivery after restart with the same delivery id', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'handlers-crash-'));
    const config = path.join(dir, 'handlers.json');
    writeFileSync(
      config,
      JSON.stringify({
        handlers: [
          {
            name: 'forward',
            type: 'http-forward',
            url: `${receiver.url}/slow`,
            secret: 'crash-secret-0123456789',
            timeoutMs: 60_000,
            retry: { attempts: 3, backoffMs: 100 },
          },
        ],
      }),
    );
    const prefix = uniqueName('q');
    const shared = {
      QUEUE_PREFIX: prefix,
      HANDLERS_CONFIG: config,
      HANDLER_LOCK_DURATION_MS: '1000',
      HANDLER_STALLED_INTERVAL_MS: '500',
    };
    api = await bootService({ databaseUrl: db.url, queue, env: { ...shared, ROLE: 'api' } });

    // The first request hangs: the handler is mid-call when its worker dies.
    receiver.answer('/slow', 'hang');
    child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: REPO,
      env: {
        PATH: process.env['PATH'] ?? '',
        ...shared,
        DATABASE_URL: db.url,
        ...(queue === 'redis' ? { REDIS_URL: redisUrl() } : {}),
        ROLE: 'worker',
        PORT: '0',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'error',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });

    const res = await request(api.app)
      .post('/callbacks/bandwidth')
      .set('Authorization', basicAuth())
      .set('Content-Type', 'application/xml')
      .send(readExample('portins-foc.xml'));
    expect(res.status).toBe(200);

    const first = await until(() => receiver.on('/slow')[0], 60_000);
    const deliveryId = header(first, 'x-webhook-id');
    const exited = new Promise((resolve) => child?.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    const midway = await api.db.$queryRaw<{ status: string; attempts: number }[]>`
      SELECT status, attempts FROM handler_deliveries WHERE id = ${deliveryId}::uuid`;
    expect(midway).toEqual([{ status: 'pending', attempts: 1 }]);

    // The receiver recovers and a new worker process starts.
    receiver.answer('/slow', 200);
    worker = await bootService({ databaseUrl: db.url, queue, env: { ...shared, ROLE: 'worker' } });

    const done = await eventually(async () => {
      const rows = await api!.db.$queryRaw<{ id: string; status: string; attempts: number }[]>`
        SELECT id::text, status, attempts FROM handler_deliveries`;
      return rows[0]?.status === 'succeeded' ? rows : undefined;
    }, 30_000);
    expect(done).toEqual([{ id: deliveryId, status: 'succeeded', attempts: 2 }]);
    expect(receiver.on('/slow').map((r) => header(r, 'x-webhook-id'))).toEqual([deliveryId, deliveryId]);
    const stored = await api.db.$queryRaw<{ n: bigint }[]>`SELECT count(*)::bigint AS n FROM notifications`;
    expect(Number(stored[0]?.n)).toBe(1);
  });
});
