import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Client } from 'pg';
import { QUEUES } from '../src/queue/catalog';
import type { NotificationsJob, PersistNotificationJob } from '../src/queue/catalog';
import { createBodyGenerator } from './bodies';
import {
  cpuMsOf,
  cpuMsOfCommands,
  machineBusyCpuMs,
  scratchDir,
  sleep,
  startPostgres,
  startRedis,
  startServiceProcess,
} from './infra';
import type { ServiceEnv } from './infra';

/**
 * `npm run bench:worker-drain [-- --notifications N --batch N --statements --profile DIR --env KEY=VALUE ...]`: the worker
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
    /** Receipts per queued job: 1 = one job each; more = batch jobs, as the callback route queues them. */
    batch: { type: 'string', default: '1' },
    /** Write the worker's V8 CPU profile (`--cpu-prof`) into this directory. */
    profile: { type: 'string' },
    /** Print PostgreSQL's busiest statements (pg_stat_statements) after the drain. */
    statements: { type: 'boolean', default: false },
    env: { type: 'string', multiple: true, default: [] },
  },
  strict: true,
});
const total = Math.max(1, Math.floor(Number(args.notifications)));
const perJob = Math.max(1, Math.floor(Number(args.batch)));
const extra = Object.fromEntries(
  (args.env ?? []).map((pair) => {
    const eq = pair.indexOf('=');
    return eq > 0 ? [pair.slice(0, eq), pair.slice(eq + 1)] : [pair, ''];
  }),
);
const log = (line: string): void => void process.stderr.write(`${line}\n`);

async function queueBurst(redisUrl: string, count: number, receiptsPerJob: number): Promise<void> {
  const queue = new Queue<NotificationsJob>(QUEUES.notifications.name, {
    prefix: 'bench',
    connection: { url: redisUrl },
  });
  const bodies = createBodyGenerator(Date.now() % 1_000_000);
  const receipt = (): PersistNotificationJob => ({
    receiptId: randomUUID(),
    receivedAt: new Date().toISOString(),
    accountId: null,
    remoteAddress: '127.0.0.1',
    headers: {},
    body: bodies.next(),
  });
  for (let start = 0; start < count; start += 1000) {
    const inChunk = Math.min(1000, count - start);
    const jobs = Array.from({ length: Math.ceil(inChunk / receiptsPerJob) }, (_, j) => {
      const size = Math.min(receiptsPerJob, inChunk - j * receiptsPerJob);
      const data: NotificationsJob = size === 1 ? receipt() : { receipts: Array.from({ length: size }, receipt) };
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

/** The statements PostgreSQL spent the most time in, per notification drained. */
async function busiestStatements(db: Client, notifications: number): Promise<string[]> {
  const result = await db.query<{ ms: number; calls: string; rows: string; query: string }>(
    `SELECT total_exec_time AS ms, calls::text, rows::text, regexp_replace(query, '\\s+', ' ', 'g') AS query
       FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 15`,
  );
  return [
    'busiest statements (exec ms per notification · calls · rows · statement):',
    ...result.rows.map(
      (r) => `  ${(r.ms / notifications).toFixed(4)} · ${r.calls} · ${r.rows} · ${r.query.slice(0, 160)}`,
    ),
  ];
}

/** Row writes per table (and how many updates were HOT) and WAL volume, per notification. */
async function tableWrites(db: Client, notifications: number): Promise<string[]> {
  const tables = await db.query<{ relname: string; ins: string; upd: string; hot: string }>(
    `SELECT relname, n_tup_ins::text AS ins, n_tup_upd::text AS upd, n_tup_hot_upd::text AS hot
       FROM pg_stat_user_tables WHERE n_tup_ins + n_tup_upd > 0 ORDER BY relname`,
  );
  const wal = await db.query<{ bytes: string; fpi: string }>(
    `SELECT wal_bytes::text AS bytes, wal_fpi::text AS fpi FROM pg_stat_wal`,
  );
  const per = (v: string | undefined): string => (Number(v ?? 0) / notifications).toFixed(2);
  return [
    'row writes per notification (inserts · updates · of which HOT):',
    ...tables.rows.map((r) => `  ${r.relname}: ${per(r.ins)} · ${per(r.upd)} · ${per(r.hot)}`),
    `WAL ${(Number(wal.rows[0]?.bytes ?? 0) / notifications).toFixed(0)} bytes and ${per(wal.rows[0]?.fpi)} full-page images per notification (whole run, migration included)`,
  ];
}

async function main(): Promise<void> {
  const dir = scratchDir();
  const redis = await startRedis(dir.path);
  const pg = await startPostgres(dir.path, { statements: args.statements });
  try {
    const env: ServiceEnv = {
      databaseUrl: pg.url,
      redisUrl: redis.url,
      callbackAuth: 'bench:unused-password',
      apiKey: randomUUID(),
      extra,
      nodeArgs: args.profile === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', path.resolve(args.profile)],
    };
    // A first worker migrates the database; the burst is queued while none runs.
    await (await startServiceProcess('worker', env)).stop();
    await queueBurst(redis.url, total, perJob);
    const db = new Client({ connectionString: pg.url });
    await db.connect();
    const loadBefore = loadavg()[0] ?? 0;
    const started = Date.now();
    const worker = await startServiceProcess('worker', env);
    const cpuBefore = cpuMsOf(worker.pid) ?? 0;
    const storesBefore = { pg: cpuMsOfCommands(['postgres']), redis: cpuMsOfCommands(['redis-server']) };
    const machineBefore = machineBusyCpuMs();
    for (;;) {
      const result = await db.query<{ persisted: number; open: number }>(
        `SELECT (SELECT count(*) FROM notifications)::int AS persisted,
                (SELECT count(*) FROM handler_deliveries WHERE status <> 'succeeded')::int AS open`,
      );
      const row = result.rows[0];
      if (row === undefined) throw new Error('no counts');
      // Duplicates in the generated traffic are not dispatched: every stored one is.
      if (row.persisted >= total && row.open === 0) break;
      if (Date.now() - started > 900_000) throw new Error(`not drained after 900 s: ${JSON.stringify(row)}`);
      // Slow polling (a count(*) every 100 ms cost PostgreSQL ~10 % of its share): the times
      // below come from the rows' own timestamps.
      await sleep(500);
    }
    const times = await db.query<{ persisted: number; delivered: number; deliveries: number }>(
      `SELECT extract(epoch FROM (SELECT max(processed_at) FROM notifications) - $1::timestamptz)::float8 AS persisted,
              extract(epoch FROM (SELECT max(finished_at) FROM handler_deliveries) - $1::timestamptz)::float8 AS delivered,
              (SELECT count(*) FROM handler_deliveries)::int AS deliveries`,
      [new Date(started)],
    );
    const deliveries = times.rows[0]?.deliveries ?? 0;
    const cpuMs = (cpuMsOf(worker.pid) ?? 0) - cpuBefore;
    const pgMs = cpuMsOfCommands(['postgres']) - storesBefore.pg;
    const redisMs = cpuMsOfCommands(['redis-server']) - storesBefore.redis;
    const machineMs = machineBusyCpuMs() - machineBefore;
    const seconds = times.rows[0]?.delivered ?? Number.NaN;
    const persistSeconds = times.rows[0]?.persisted ?? Number.NaN;
    const metrics = await (await fetch(`${worker.baseUrl}/metrics`)).text();
    const batches = metrics
      .split('\n')
      .filter(
        (line) =>
          line.startsWith('bw_worker_persist_batch_size_sum') || line.startsWith('bw_worker_persist_batch_size_count'),
      );
    const statements = args.statements ? await busiestStatements(db, total) : [];
    await worker.stop();
    // After the worker's connections closed: they flush their table counters when they end.
    if (args.statements) statements.push(...(await tableWrites(db, total)));
    await db.end();
    process.stdout.write(
      [
        `worker drain · ${new Date().toISOString()} · load average ${loadBefore.toFixed(2)} -> ${(loadavg()[0] ?? 0).toFixed(2)} · ${perJob} receipt(s) per job · env ${JSON.stringify(extra)}`,
        `${total} notifications persisted in ${persistSeconds.toFixed(1)} s (${(total / persistSeconds).toFixed(0)}/s)`,
        `${deliveries} handler deliveries all succeeded after ${seconds.toFixed(1)} s`,
        `worker CPU ${(cpuMs / total).toFixed(3)} ms per notification (persist + fan-out + delivery)`,
        `PostgreSQL CPU ${(pgMs / total).toFixed(3)} ms, Redis CPU ${(redisMs / total).toFixed(3)} ms, ` +
          `whole machine ${(machineMs / total).toFixed(3)} ms per notification (includes this bench's polling)`,
        ...batches,
        ...statements,
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
