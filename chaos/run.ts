import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import type { PlannedNotification, Verdict } from './driver';
import { Ledger, inOrder, planOrders, send, shuffled, verify } from './driver';
import { PostgresProcess, RedisProcess, ServiceProcess, freePort, sleep } from './processes';

/**
 * Fault-injection suite: `npm run chaos` (full) or `npm run chaos -- --short` (CI).
 * Starts Redis, PostgreSQL, two API processes and one worker process as separate processes,
 * drives load, injects one fault per scenario, and prints per scenario:
 *   scenario sent acked persisted duplicates lost
 * (counted in distinct notifications). Exits 1 when anything acked was lost, stored twice, or
 * an order's final status differs from the driver's truth.
 */

const short = process.argv.includes('--short');
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);

const P = short
  ? { orders: 60, rate: 30, outageMs: 4000, killGapMs: 1000, settleMs: 90_000 }
  : { orders: 300, rate: 40, outageMs: 30_000, killGapMs: 2000, settleMs: 240_000 };

const AUTH = `Basic ${Buffer.from('chaos:chaos-secret').toString('base64')}`;

interface Cluster {
  readonly redis: RedisProcess;
  readonly postgres: PostgresProcess;
  readonly apis: readonly ServiceProcess[];
  readonly worker: ServiceProcess;
  readonly databaseUrl: string;
}

interface Scenario {
  readonly name: string;
  /** How notifications go out: in order, shuffled bursts, each several times. */
  readonly order?: 'in-order' | 'shuffled-bursts';
  readonly copies?: number;
  /** The fault, started shortly after the load begins; runs alongside it. */
  readonly fault?: (cluster: Cluster, mark: (from: number, to: number, note?: string) => void) => Promise<void>;
}

const SCENARIOS: readonly Scenario[] = [
  {
    name: 'redis-kill-restart',
    fault: async ({ redis }) => {
      await redis.kill();
      await sleep(P.killGapMs);
      await redis.start();
    },
  },
  {
    name: 'redis-down',
    fault: async (cluster, mark) => {
      await cluster.redis.kill();
      const from = Date.now();
      const before = await acceptedBuckets(cluster);
      await sleep(P.outageMs);
      const server = p99Bound(before, await acceptedBuckets(cluster));
      mark(from, Date.now(), server ? `server_p99<=${server.p99AtMostMs}ms (${server.count} callbacks)` : '');
      await cluster.redis.start();
    },
  },
  {
    name: 'postgres-down',
    fault: async ({ postgres }) => {
      await postgres.stop();
      await sleep(P.outageMs);
      await postgres.start();
    },
  },
  {
    name: 'worker-sigkill',
    fault: async ({ worker }) => {
      await worker.signal('SIGKILL');
      await sleep(P.killGapMs);
      await worker.start();
    },
  },
  {
    name: 'api-sigterm-rolling',
    fault: async ({ apis }) => {
      for (const api of apis) {
        await api.signal('SIGTERM');
        await api.start();
      }
    },
  },
  { name: 'deliver-3-times', copies: 3 },
  { name: 'out-of-order-bursts', order: 'shuffled-bursts' },
];

async function createDatabase(adminUrl: string): Promise<string> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  await client.query('CREATE DATABASE chaos');
  await client.end();
  return adminUrl.replace(/\/postgres$/, '/chaos');
}

type Buckets = Map<number, number>;

/** Server-side callback latency buckets (accepted), summed over the API processes. */
async function acceptedBuckets(cluster: Cluster): Promise<Buckets> {
  const sum: Buckets = new Map();
  for (const api of cluster.apis) {
    try {
      const text = await (await fetch(`http://127.0.0.1:${api.port}/metrics`)).text();
      for (const m of text.matchAll(
        /^bw_callback_duration_seconds_bucket\{le="([^"]+)",outcome="accepted"\} (\d+)$/gm,
      )) {
        const le = m[1] === '+Inf' ? Infinity : Number(m[1]);
        sum.set(le, (sum.get(le) ?? 0) + Number(m[2]));
      }
    } catch {
      // a restarting API has no metrics to give
    }
  }
  return sum;
}

/** The smallest bucket bound holding 99% of the callbacks answered between two snapshots. */
function p99Bound(before: Buckets, after: Buckets): { count: number; p99AtMostMs: number } | null {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0);
  if (total <= 0) return null;
  for (const le of bounds) {
    if ((after.get(le) ?? 0) - (before.get(le) ?? 0) >= total * 0.99) return { count: total, p99AtMostMs: le * 1000 };
  }
  return null;
}

/** Sum of bw_spool_appended_total over the API processes (shows the spool was exercised). */
async function spooledSoFar(cluster: Cluster): Promise<number> {
  let total = 0;
  for (const api of cluster.apis) {
    try {
      const text = await (await fetch(`http://127.0.0.1:${api.port}/metrics`)).text();
      total += Number(/^bw_spool_appended_total (\d+)/m.exec(text)?.[1] ?? 0);
    } catch {
      // a restarting API has no metrics to give
    }
  }
  return total;
}

async function runScenario(cluster: Cluster, scenario: Scenario): Promise<Verdict & { extra: string }> {
  const prefix = `chaos-${scenario.name}-${Date.now().toString(36)}`;
  const plan = planOrders(prefix, P.orders);
  const copies = scenario.copies ?? 1;
  let items: PlannedNotification[] = inOrder(plan);
  if (copies > 1) items = items.flatMap((n) => Array.from({ length: copies }, () => n));
  const bursts = scenario.order === 'shuffled-bursts';
  if (bursts) items = shuffled(items);

  const ledger = new Ledger();
  let window: { from: number; to: number; note?: string } | undefined;
  const load = send(
    items,
    {
      urls: cluster.apis.map((api) => `http://127.0.0.1:${api.port}/callbacks/bandwidth`),
      authorization: AUTH,
      rate: P.rate,
      burst: bursts ? 40 : 1,
    },
    ledger,
  );
  const fault = scenario.fault
    ? (async () => {
        // Let the load get going, then break something while it runs.
        await sleep(Math.min(3000, (items.length / P.rate) * 250));
        await scenario.fault?.(cluster, (from, to, note) => (window = { from, to, note }));
      })()
    : Promise.resolve();
  await Promise.all([load, fault]);
  const verdict = await verify(cluster.databaseUrl, prefix, plan, ledger, P.settleMs);
  const spooled = await spooledSoFar(cluster);
  let extra = `requests=${ledger.requests} answered200=${ledger.deliveries.filter((d) => d.status === 200).length}`;
  extra += ` spooled_total_since_api_start=${spooled}`;
  if (window) {
    const l = ledger.latencyBetween(window.from, window.to);
    extra += l
      ? ` latency_during_fault_ms p50=${l.p50.toFixed(1)} p90=${l.p90.toFixed(1)} p99=${l.p99.toFixed(1)} max=${l.max.toFixed(1)} (${l.count} acks)`
      : ' latency_during_fault_ms n/a';
    if (window.note) extra += ` ${window.note}`;
  }
  return { ...verdict, extra };
}

async function main(): Promise<void> {
  const root = mkdtempSync(path.join(tmpdir(), 'bw-chaos-'));
  const redis = new RedisProcess(await freePort(), path.join(root, 'redis'));
  const postgres = new PostgresProcess(await freePort(), path.join(root, 'pg'));
  process.stderr.write(`chaos run in ${root} (${short ? 'short' : 'full'})\n`);
  await postgres.init();
  await postgres.start();
  await redis.start();
  const databaseUrl = await createDatabase(postgres.url);

  const common = {
    DATABASE_URL: databaseUrl,
    REDIS_URL: redis.url,
    QUEUE_PREFIX: 'chaos',
    CALLBACK_BASIC_AUTH: 'chaos:chaos-secret',
    LOG_LEVEL: 'warn',
    SPOOL_DRAIN_INTERVAL_MS: '500',
    WORKER_RETRY_BASE_DELAY_MS: '250',
    WORKER_RETRY_MAX_DELAY_MS: '2000',
    WORKER_LOCK_DURATION_MS: '5000',
    SHUTDOWN_TIMEOUT_MS: '8000',
    SHUTDOWN_READINESS_DELAY_MS: '0',
  };
  // Ports are fixed per process so a restarted API comes back where the driver sends.
  const apiProcesses = await Promise.all(
    [0, 1].map(async (i) => {
      const port = await freePort();
      return new ServiceProcess(
        `api-${i}`,
        port,
        { ...common, ROLE: 'api', SPOOL_DIR: path.join(root, `spool-${i}`) },
        root,
      );
    }),
  );
  const worker = new ServiceProcess('worker', await freePort(), { ...common, ROLE: 'worker' }, root);
  const cluster: Cluster = { redis, postgres, apis: apiProcesses, worker, databaseUrl };

  let failed = true;
  try {
    // The first start applies migrations; start one process before the others.
    await worker.start();
    await Promise.all(apiProcesses.map((api) => api.start()));
    failed = false;
    process.stdout.write(`${['scenario', 'sent', 'acked', 'persisted', 'duplicates', 'lost'].join(' ')}\n`);
    for (const scenario of SCENARIOS.filter((s) => only === undefined || s.name === only)) {
      const v = await runScenario(cluster, scenario);
      const line = [scenario.name, v.sent, v.acked, v.persisted, v.duplicates, v.lost].join(' ');
      process.stdout.write(`${line}\n`);
      process.stderr.write(
        `  ${scenario.name}: ${v.extra}; final statuses ${v.wrongStatus.length === 0 ? 'match the truth' : `WRONG for ${v.wrongStatus.length} orders`}\n`,
      );
      for (const w of v.wrongStatus.slice(0, 5)) process.stderr.write(`    ${w}\n`);
      if (v.lost > 0 || v.duplicates > 0 || v.wrongStatus.length > 0 || v.acked === 0) failed = true;
    }
  } finally {
    await Promise.all([...apiProcesses, worker].map((s) => s.signal('SIGTERM')));
    await redis.kill();
    await postgres.stop();
    // Keep the process logs (small); drop the data directories unless something failed.
    if (!failed) for (const dir of ['pg', 'redis']) rmSync(path.join(root, dir), { recursive: true, force: true });
    process.stderr.write(`process logs in ${root}\n`);
  }
  process.exit(failed ? 1 : 0);
}

main().catch((error: unknown) => {
  process.stderr.write(`chaos failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(2);
});
