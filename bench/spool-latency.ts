import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import autocannon from 'autocannon';
import { PostgresProcess, RedisProcess, ServiceProcess, freePort } from '../chaos/processes';

/**
 * Callback latency while the queue is down (acceptance: p99 under 50 ms, every answer 200):
 * an API process (ROLE=api, its own OS process) whose Redis URL points at a closed port, so every notification is spooled
 * (fsync'd) and answered. Prints autocannon's latency percentiles and status counts.
 *   npm run bench:spool-latency -- --seconds=20 --connections=10 [--rate=200] [--redis-up]
 */

const arg = (name: string, fallback: number): number =>
  Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback);

const BODY =
  '<?xml version="1.0"?><Notification><SubscriptionId>bench</SubscriptionId><OrderType>portins</OrderType>' +
  '<OrderId>bench-order</OrderId><Status>FOC</Status><LastModifiedDate>2026-01-01T10:00:00.000Z</LastModifiedDate></Notification>';

async function main(): Promise<void> {
  const root = mkdtempSync(path.join(tmpdir(), 'bw-bench-spool-'));
  const postgres = new PostgresProcess(await freePort(), path.join(root, 'pg'));
  await postgres.init();
  await postgres.start();
  const admin = new Client({ connectionString: postgres.url });
  await admin.connect();
  await admin.query('CREATE DATABASE bench');
  await admin.end();

  // --redis-up: the same measurement with a healthy Redis, as the baseline to compare with.
  const redis = process.argv.includes('--redis-up')
    ? new RedisProcess(await freePort(), path.join(root, 'redis'))
    : null;
  await redis?.start();
  // The service in its own process, as in production: autocannon must not share its event loop.
  const service = new ServiceProcess(
    'api',
    await freePort(),
    {
      ROLE: 'api',
      DATABASE_URL: postgres.url.replace(/\/postgres$/, '/bench'),
      // Without --redis-up nothing listens there: Redis is "down".
      REDIS_URL: redis?.url ?? `redis://127.0.0.1:${await freePort()}`,
      CALLBACK_BASIC_AUTH: 'bench:bench-secret',
      SPOOL_DIR: path.join(root, 'spool'),
      LOG_LEVEL: 'error',
    },
    root,
  );
  await service.start();
  try {
    const result = await autocannon({
      url: `http://127.0.0.1:${service.port}/callbacks/bandwidth`,
      method: 'POST',
      headers: {
        'content-type': 'application/xml',
        authorization: `Basic ${Buffer.from('bench:bench-secret').toString('base64')}`,
      },
      body: BODY,
      connections: arg('connections', 10),
      duration: arg('seconds', 20),
      // Requests per second over all connections; 0 = as fast as the service answers.
      ...(arg('rate', 0) > 0 ? { overallRate: arg('rate', 0) } : {}),
    });
    const l = result.latency;
    process.stdout.write(
      `requests=${result.requests.total} 2xx=${result['2xx']} non2xx=${result.non2xx} errors=${result.errors} ` +
        `rps=${result.requests.average} latency_ms p50=${l.p50} p90=${l.p90} p99=${l.p99} max=${l.max}\n`,
    );
  } finally {
    await service.signal('SIGTERM');
    await redis?.kill();
    await postgres.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
