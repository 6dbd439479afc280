import http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import autocannon from 'autocannon';
import type { Client } from 'pg';
import { probeBody } from './bodies';
import { sleep } from './infra';

/** Load generation (autocannon) and the measurements that need more than autocannon. */

export interface LoadResult {
  /** 2xx answers per second over the whole run. */
  readonly okPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly ok: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly seconds: number;
  /**
   * Paced runs only: p99 of how late the pacer itself sent a request (send time minus due
   * time). Latency counts from the due time, so a stall of the bench's own event loop shows in
   * the p99 too; this says how much of it was the client's.
   */
  readonly sentLateP99Ms?: number;
  /**
   * Paced runs only: the bench's own event loop, sampled every millisecond: the p99 and the
   * longest stall. A stall also delays reading answers that have arrived, which `sentLateP99Ms`
   * cannot see: it is counted in the latency as if the server had been slow.
   */
  readonly pacerStallP99Ms?: number;
  readonly pacerStallMaxMs?: number;
}

export interface LoadOptions {
  readonly url: string;
  readonly connections: number;
  readonly seconds: number;
  readonly method: 'GET' | 'POST';
  readonly headers: Readonly<Record<string, string>>;
  /** Called for every request: its path, and its body for a POST. */
  readonly next: () => { path: string; body?: string };
  /** Offered rate over all connections (requests/s); unset: as fast as answers come back. */
  readonly overallRate?: number;
}

export function runLoad(options: LoadOptions): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: options.url,
        connections: options.connections,
        duration: options.seconds,
        method: options.method,
        headers: { ...options.headers },
        ...(options.overallRate !== undefined ? { overallRate: options.overallRate } : {}),
        requests: [
          {
            setupRequest: (request) => {
              const { path, body } = options.next();
              return body === undefined ? { ...request, path } : { ...request, path, body };
            },
          },
        ],
      },
      (error: Error | null, result: autocannon.Result) => {
        if (error) {
          reject(error);
          return;
        }
        resolve({
          okPerSecond: result['2xx'] / result.duration,
          p50Ms: result.latency.p50,
          p99Ms: result.latency.p99,
          ok: result['2xx'],
          non2xx: result.non2xx,
          errors: result.errors,
          seconds: result.duration,
        });
      },
    );
  });
}

/**
 * GETs at a steady rate, evenly spaced (open loop): autocannon's `overallRate` paces each
 * connection with its own timer, so its connections fire together and queue behind each other
 * at any rate. Latency counts from the moment a request was due, so a slow answer that delays
 * the next ones is charged to them too (no coordinated omission). Keep-alive sockets, as many
 * as the requests in flight need.
 */
export async function runPaced(options: {
  readonly url: string;
  readonly seconds: number;
  readonly rate: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly next: () => string;
}): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const base = new URL(options.url);
  const latencies: number[] = [];
  const sentLate: number[] = [];
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  const get = (path: string, dueAt: number): Promise<void> =>
    new Promise((resolve) => {
      const req = http.get(
        { agent, host: base.hostname, port: base.port, path, headers: { ...options.headers } },
        (res) => {
          res.resume();
          res.on('end', () => {
            latencies.push(performance.now() - dueAt);
            if ((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300) ok++;
            else non2xx++;
            resolve();
          });
        },
      );
      req.on('error', () => {
        errors++;
        resolve();
      });
    });
  const interval = 1000 / options.rate;
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const started = performance.now();
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < options.rate * options.seconds; i++) {
    const dueAt = started + i * interval;
    const wait = dueAt - performance.now();
    if (wait > 1) await sleep(wait);
    // Timers have millisecond resolution and fire up to about 1.3 ms early: a request can go
    // out before it is due. Its latency then counts from when it was sent, never from a due
    // time still ahead (counted from `dueAt`, the paced p50s read 0.1 ms, below the API's own
    // CPU time per request, and some latencies were negative). Sent late, from when it was due.
    const sentAt = performance.now();
    sentLate.push(Math.max(0, sentAt - dueAt));
    inFlight.push(get(options.next(), Math.min(dueAt, sentAt)));
  }
  await Promise.all(inFlight);
  loop.disable();
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  sentLate.sort((a, b) => a - b);
  return {
    okPerSecond: ok / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    ok,
    non2xx,
    errors,
    seconds,
    sentLateP99Ms: percentile(sentLate, 99),
    // The histogram holds the time between 1 ms ticks: the stall is what exceeds the tick.
    pacerStallP99Ms: Math.max(0, loop.percentile(99) / 1e6 - 1),
    pacerStallMaxMs: Math.max(0, loop.max / 1e6 - 1),
  };
}

/** Receipts persisted by the workers (accepted and duplicate alike: one row per receipt). */
export async function persistedCount(client: Client): Promise<number> {
  const { rows } = await client.query<{ n: string }>('SELECT count(*)::text AS n FROM notifications');
  return Number(rows[0]?.n ?? 0);
}

export interface DrainResult {
  readonly persisted: number;
  readonly seconds: number;
  readonly perSecond: number;
  /** False when the deadline passed before the backlog was gone. */
  readonly complete: boolean;
}

/**
 * Watches the `notifications` table until `target` more rows exist than `base`. The rate is
 * taken from the rows' own `processed_at` (the start of the worker transaction that wrote
 * them), from the first batch written to the last one, so worker start-up time does not count
 * against it and the polling can be slow: a `count(*)` of the table every 100 ms cost
 * PostgreSQL about 0.08 ms of CPU per notification (10 % of its share, pg_stat_statements),
 * taken from the system being measured.
 */
export async function watchDrain(
  client: Client,
  base: number,
  target: number,
  timeoutMs: number,
): Promise<DrainResult> {
  const deadline = Date.now() + timeoutMs;
  const since = (await client.query<{ at: Date }>('SELECT now() AS at')).rows[0]?.at ?? new Date();
  let count = base;
  while (Date.now() < deadline) {
    count = await persistedCount(client);
    if (count - base >= target) break;
    await sleep(DRAIN_POLL_MS);
  }
  const { rows } = await client.query<{ n: number; first: number; seconds: number | null }>(
    `SELECT count(*)::int AS n,
            count(*) FILTER (WHERE processed_at = (SELECT min(processed_at) FROM notifications WHERE processed_at >= $1))::int AS first,
            extract(epoch FROM max(processed_at) - min(processed_at))::float8 AS seconds
       FROM notifications WHERE processed_at >= $1`,
    [since],
  );
  const written = rows[0];
  const seconds = written?.seconds ?? 0;
  const persisted = count - base;
  return {
    persisted,
    seconds,
    // Rows of the first batch were written at its start: the rate counts what came after.
    perSecond: seconds > 0 && written !== undefined ? (written.n - written.first) / seconds : 0,
    complete: persisted >= target,
  };
}

/**
 * Waits until no handler delivery is pending (the log handler's deliveries of a burst trail
 * its persistence: the worker persists first). Returns how many were pending at the start and
 * how long they took, or null seconds at the deadline.
 */
export async function watchDeliveries(
  client: Client,
  timeoutMs: number,
): Promise<{ readonly pendingAtStart: number; readonly seconds: number | null }> {
  const started = performance.now();
  const pending = async (): Promise<number> =>
    (await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM handler_deliveries WHERE status = 'pending'`))
      .rows[0]?.n ?? 0;
  const pendingAtStart = await pending();
  let left = pendingAtStart;
  while (left > 0) {
    if (performance.now() - started > timeoutMs) return { pendingAtStart, seconds: null };
    await sleep(DELIVERIES_POLL_MS);
    left = await pending();
  }
  return { pendingAtStart, seconds: (performance.now() - started) / 1000 };
}

const DELIVERIES_POLL_MS = 250;

/** How often a drain is polled for completion; the timing comes from the rows themselves. */
const DRAIN_POLL_MS = 500;

export interface LagResult {
  readonly samples: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Probes whose callback was not answered 200. */
  readonly refused: number;
  /** Probes acked with 200 and still not visible in the API after 60 s (counted, not timed). */
  readonly late: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

export interface LagProbeOptions {
  readonly baseUrl: string;
  readonly authorization: string;
  readonly apiKey: string;
  /** Probe notifications per second (on top of the background load). */
  readonly perSecond: number;
  readonly seconds: number;
  /** Poll interval of the read API while waiting for a probe to appear: the resolution. */
  readonly pollMs: number;
  readonly runId: string;
}

/**
 * End-to-end lag, as a user sees it: each probe is a new order POSTed to the callback route;
 * the clock starts when its 200 arrives and stops when `GET /api/v1/orders/:id` first
 * answers 200. Resolution is `pollMs`.
 */
export async function probeLag(options: LagProbeOptions): Promise<LagResult> {
  const lags: number[] = [];
  let refused = 0;
  let late = 0;
  const probes: Promise<void>[] = [];
  const interval = 1000 / options.perSecond;
  const started = Date.now();
  for (let i = 0; Date.now() - started < options.seconds * 1000; i++) {
    const orderId = `probe-${options.runId}-${i}`;
    probes.push(
      (async () => {
        const res = await fetch(`${options.baseUrl}/callbacks/bandwidth`, {
          method: 'POST',
          headers: { 'content-type': 'application/xml', authorization: options.authorization },
          body: probeBody(orderId, new Date()),
        });
        await res.arrayBuffer();
        if (res.status !== 200) {
          refused++;
          return;
        }
        const ackedAt = performance.now();
        const deadline = ackedAt + 60_000;
        while (performance.now() < deadline) {
          const read = await fetch(`${options.baseUrl}/api/v1/orders/${orderId}`, {
            headers: { authorization: `Bearer ${options.apiKey}` },
          });
          await read.arrayBuffer();
          if (read.status === 200) {
            lags.push(performance.now() - ackedAt);
            return;
          }
          await sleep(options.pollMs);
        }
        late++;
      })(),
    );
    const nextAt = started + (i + 1) * interval;
    await sleep(Math.max(0, nextAt - Date.now()));
  }
  await Promise.all(probes);
  const sorted = [...lags].sort((a, b) => a - b);
  return {
    samples: sorted.length,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted[sorted.length - 1] ?? Number.NaN,
    refused,
    late,
  };
}
