import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Client } from 'pg';
import { QUEUES } from '../src/queue/catalog';
import type { PersistNotificationJob } from '../src/queue/catalog';
import { createBodyGenerator } from './bodies';
import { cpuMsOf, scratchDir, sleep, startPostgres, startRedis, startServiceProcess } from './infra';
import type { ServiceEnv } from './infra';

/**
 * `npm run bench:worker-drain [-- --notifications N] [-- --env KEY=VALUE ...]`: the worker
 * alone, end to end. Queues N notifications straight into Redis (no API process, so the
 * machine's load does not decide how big the burst is), starts one worker process
 * (`dist/main.js`, run `npm run build` first) and measures its CPU until every notification is
 * persisted AND every handler delivery has succeeded (the default `log` handler). Prints the
 * drain rate, the time until the last delivery, the worker CPU per notification and the
 * persist batch sizes. CPU per notification is the figure to compare on a shared machine.
 */

const { values: args } = parseArgs({
  options: {
    notifications: { type: 'string', default: '3000' },
    env: { type: 'string', multiple: true, default: [] },
  },
  strict: true,
});
const total = Math.max(1, Math.floor(Number(args.notifications)));
const extra = Object.fromEntries(
  (args.env ?? []).map((pair) => {
    const eq = pair.indexOf('=');
    return eq > 0 ? [pair.slice(0, eq), pair.slice(eq + 1)] : [pair, ''];
  }),
);
const log = (line: string): void => void process.stderr.write(`${line}\n`);

async function queueBurst(redisUrl: string, count: number): Promise<void> {
  const queue = new Queue<PersistNotificationJob>(QUEUES.notifications.name, {
    prefix: 'bench',
    connection: { url: redisUrl },
  });
  const bodies = createBodyGenerator(Date.now() % 1_000_000);
  for (let start = 0; start < count; start += 1000) {
    const jobs = Array.from({ length: Math.min(1000, count - start) }, () => {
      const data: PersistNotificationJob = {
        receiptId: randomUUID(),
        receivedAt: new Date().toISOString(),
        accountId: null,
        remoteAddress: '127.0.0.1',
        headers: {},
        body: bodies.next(),
      };
      return {
        name: QUEUES.notifications.jobName,
        data,
        opts: { jobId: QUEUES.notifications.jobId(data), attempts: 25, backoff: { ...QUEUES.notifications.backoff } },
      };
    });
    await queue.addBulk(jobs);
  }
  await queue.close();
}

async function main(): Promise<void> {
  const dir = scratchDir();
  const redis = await startRedis(dir.path);
  const pg = await startPostgres(dir.path);
  try {
    const env: ServiceEnv = {
      databaseUrl: pg.url,
      redisUrl: redis.url,
      callbackAuth: 'bench:unused-password',
      apiKey: randomUUID(),
      extra,
      nodeArgs: [],
    };
    // A first worker migrates the database; the burst is queued while none runs.
    await (await startServiceProcess('worker', env)).stop();
    await queueBurst(redis.url, total);
    const db = new Client({ connectionString: pg.url });
    await db.connect();
    const loadBefore = loadavg()[0] ?? 0;
    const started = Date.now();
    const worker = await startServiceProcess('worker', env);
    const cpuBefore = cpuMsOf(worker.pid) ?? 0;
    let persistedAt: number | undefined;
    let deliveries = 0;
    for (;;) {
      const result = await db.query<{ persisted: number; open: number; deliveries: number }>(
        `SELECT (SELECT count(*) FROM notifications)::int AS persisted,
                (SELECT count(*) FROM handler_deliveries WHERE status <> 'succeeded')::int AS open,
                (SELECT count(*) FROM handler_deliveries)::int AS deliveries`,
      );
      const row = result.rows[0];
      if (row === undefined) throw new Error('no counts');
      if (persistedAt === undefined && row.persisted >= total) persistedAt = Date.now();
      deliveries = row.deliveries;
      // Duplicates in the generated traffic are not dispatched: every stored one is.
      if (row.persisted >= total && row.open === 0) break;
      if (Date.now() - started > 900_000) throw new Error(`not drained after 900 s: ${JSON.stringify(row)}`);
      await sleep(100);
    }
    const cpuMs = (cpuMsOf(worker.pid) ?? 0) - cpuBefore;
    const seconds = (Date.now() - started) / 1000;
    const persistSeconds = ((persistedAt ?? Date.now()) - started) / 1000;
    const metrics = await (await fetch(`${worker.baseUrl}/metrics`)).text();
    const batches = metrics
      .split('\n')
      .filter(
        (line) =>
          line.startsWith('bw_worker_persist_batch_size_sum') || line.startsWith('bw_worker_persist_batch_size_count'),
      );
    await db.end();
    await worker.stop();
    process.stdout.write(
      [
        `worker drain · ${new Date().toISOString()} · load average ${loadBefore.toFixed(2)} -> ${(loadavg()[0] ?? 0).toFixed(2)} · env ${JSON.stringify(extra)}`,
        `${total} notifications persisted in ${persistSeconds.toFixed(1)} s (${(total / persistSeconds).toFixed(0)}/s)`,
        `${deliveries} handler deliveries all succeeded after ${seconds.toFixed(1)} s`,
        `worker CPU ${(cpuMs / total).toFixed(3)} ms per notification (persist + fan-out + delivery)`,
        ...batches,
        '',
      ].join('\n'),
    );
  } finally {
    await pg.stop();
    await redis.stop();
    dir.remove();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    log(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exit(1);
  },
);
