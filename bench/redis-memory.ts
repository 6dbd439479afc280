import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { createLogger } from '../src/observability/logger';
import { createQueueBackend } from '../src/queue/backend';
import type { PersistNotificationJob } from '../src/queue/catalog';

/**
 * Redis memory under sustained volume: pushes an hour's worth of notifications (default
 * 36 000, i.e. 10/s for an hour) through the real producer and worker options (retention,
 * capped event stream) with a no-op processor, and prints Redis `used_memory` as they flow.
 * Memory must level off once the completed-job retention count is reached.
 *   npm run bench:redis-memory -- --jobs=36000
 */

const jobs = Number(process.argv.find((a) => a.startsWith('--jobs='))?.slice(7) ?? 36_000);
const BODY =
  '<?xml version="1.0"?><Notification><SubscriptionId>23bba4e1-50f1-4461-94b1-33d223e886dc</SubscriptionId>' +
  '<OrderType>portins</OrderType><OrderId>ORDER</OrderId><CustomerOrderId>port-acme-hq</CustomerOrderId>' +
  '<Status>FOC</Status><Message>FOC date confirmed by losing carrier</Message>' +
  '<LastModifiedDate>2023-09-12T15:11:31.705Z</LastModifiedDate><ActualFocDate>2023-09-14T00:00:00Z</ActualFocDate>' +
  '<CompletedTelephoneNumbers><TelephoneNumber>9195551234</TelephoneNumber></CompletedTelephoneNumbers></Notification>';

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });

const usedMemory = (port: number): number =>
  Number(/used_memory:(\d+)/.exec(execFileSync('redis-cli', ['-p', String(port), 'info', 'memory']).toString())?.[1]);

async function main(): Promise<void> {
  const port = await freePort();
  const redis = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  process.once('exit', () => redis.kill('SIGKILL'));
  for (let i = 0; i < 100; i += 1) {
    try {
      execFileSync('redis-cli', ['-p', String(port), 'ping'], { stdio: 'pipe' });
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const backend = createQueueBackend({
    redisUrl: `redis://127.0.0.1:${port}`,
    databaseUrl: 'postgresql://unused/unused',
    prefix: 'bench',
    logger: createLogger('error'),
    retry: { windowMs: 15 * 60_000, baseDelayMs: 1000, maxDelayMs: 30_000 },
  });
  let done = 0;
  const consumer = backend.createConsumer(() => Promise.resolve(void (done += 1)), 16);
  const producer = backend.createProducer();
  const baseline = usedMemory(port);
  process.stdout.write(`jobs_done used_memory_mib (baseline ${(baseline / 2 ** 20).toFixed(2)} MiB)\n`);
  const step = Math.max(1000, Math.floor(jobs / 12));
  let nextReport = step;
  for (let i = 0; i < jobs; i += 100) {
    const batch: PersistNotificationJob[] = [];
    for (let j = i; j < Math.min(jobs, i + 100); j += 1) {
      batch.push({
        receiptId: randomUUID(),
        receivedAt: new Date().toISOString(),
        accountId: null,
        remoteAddress: '127.0.0.1',
        headers: { 'content-type': 'application/xml' },
        body: BODY.replace('ORDER', randomUUID()),
      });
    }
    await Promise.all(batch.map((job) => producer.enqueue(job)));
    // Keep the backlog small, as a healthy worker fleet would.
    while (i - done > 2000) await new Promise((r) => setTimeout(r, 20));
    if (done >= nextReport) {
      process.stdout.write(`${done} ${(usedMemory(port) / 2 ** 20).toFixed(2)}\n`);
      nextReport += step;
    }
  }
  while (done < jobs) await new Promise((r) => setTimeout(r, 50));
  process.stdout.write(`${done} ${(usedMemory(port) / 2 ** 20).toFixed(2)} (final)\n`);
  await consumer.close();
  await producer.close();
  redis.kill('SIGKILL');
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
