import { Client } from 'pg';
import { sleep } from './processes';

/**
 * The chaos suite's own load driver. It knows the truth: every notification it sent, which
 * ones were answered 200 (acked), and therefore what each order's final status must be.
 */

export const PORTIN_STATUSES = ['PENDING_DOCUMENTS', 'SUBMITTED', 'FOC', 'COMPLETE'] as const;

export interface PlannedNotification {
  readonly key: string;
  readonly orderId: string;
  readonly status: string;
  readonly lastModifiedAt: string;
  readonly body: string;
}

export function planOrders(prefix: string, orders: number): PlannedNotification[][] {
  const base = Date.UTC(2026, 0, 1, 9, 0, 0);
  const plan: PlannedNotification[][] = [];
  for (let o = 0; o < orders; o += 1) {
    const orderId = `${prefix}-${String(o).padStart(5, '0')}`;
    plan.push(
      PORTIN_STATUSES.map((status, step) => {
        const lastModifiedAt = new Date(base + o * 1000 + step * 60_000).toISOString();
        const body =
          `<?xml version="1.0"?><Notification><SubscriptionId>chaos-sub</SubscriptionId>` +
          `<OrderType>portins</OrderType><OrderId>${orderId}</OrderId><Status>${status}</Status>` +
          `<Message>chaos ${status}</Message><LastModifiedDate>${lastModifiedAt}</LastModifiedDate></Notification>`;
        return { key: `${orderId}|${status}|${lastModifiedAt}`, orderId, status, lastModifiedAt, body };
      }),
    );
  }
  return plan;
}

/** Round-robin over orders: each order's statuses go out in order, orders interleaved. */
export function inOrder(plan: PlannedNotification[][]): PlannedNotification[] {
  const out: PlannedNotification[] = [];
  for (let step = 0; step < PORTIN_STATUSES.length; step += 1) {
    for (const order of plan) {
      const n = order[step];
      if (n) out.push(n);
    }
  }
  return out;
}

export function shuffled<T>(items: readonly T[], seed = 7): T[] {
  const out = [...items];
  let state = seed;
  const random = (): number => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
  for (let i = out.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

export interface Delivery {
  readonly key: string;
  readonly startedAt: number;
  readonly ms: number;
  /** HTTP status, or 0 when no answer came (refused, reset, timeout). */
  readonly status: number;
}

export class Ledger {
  readonly deliveries: Delivery[] = [];
  /** Distinct notifications sent (a notification delivered 3 times counts once). */
  get sent(): number {
    return new Set(this.deliveries.map((d) => d.key)).size;
  }
  get requests(): number {
    return this.deliveries.length;
  }
  ackedKeys(): Set<string> {
    return new Set(this.deliveries.filter((d) => d.status === 200).map((d) => d.key));
  }
  /** Latency percentiles of the 200 answers to requests started in [from, to]. */
  latencyBetween(
    from: number,
    to: number,
  ): { count: number; p50: number; p90: number; p99: number; max: number } | null {
    const ms = this.deliveries
      .filter((d) => d.status === 200 && d.startedAt >= from && d.startedAt <= to)
      .map((d) => d.ms)
      .sort((a, b) => a - b);
    if (ms.length === 0) return null;
    const at = (q: number): number => ms[Math.min(ms.length - 1, Math.max(0, Math.ceil(ms.length * q) - 1))] ?? NaN;
    return { count: ms.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1) };
  }
}

export interface SendOptions {
  /** Callback URLs; requests are spread over them (several API processes). */
  readonly urls: readonly string[];
  readonly authorization: string;
  /** Requests per second. */
  readonly rate: number;
  /** Requests launched together (bursts); 1 = evenly paced. */
  readonly burst?: number;
  readonly maxInFlight?: number;
}

async function deliver(url: string, authorization: string, n: PlannedNotification, ledger: Ledger): Promise<void> {
  const startedAt = Date.now();
  const started = performance.now();
  let status = 0;
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/xml', authorization },
      body: n.body,
      // Bandwidth gives up on a slow callback too; an answer after this is not an ack.
      signal: AbortSignal.timeout(10_000),
    });
    status = res.status;
    await res.arrayBuffer();
  } catch {
    status = 0;
  }
  ledger.deliveries.push({ key: n.key, startedAt, ms: performance.now() - started, status });
}

/** Sends every item at the given rate; resolves when every request has an outcome. */
export async function send(items: readonly PlannedNotification[], options: SendOptions, ledger: Ledger): Promise<void> {
  const burst = options.burst ?? 1;
  const maxInFlight = options.maxInFlight ?? 64;
  const intervalMs = (1000 / options.rate) * burst;
  const start = Date.now();
  const inFlight = new Set<Promise<void>>();
  for (let i = 0; i < items.length; i += burst) {
    const due = start + (i / burst) * intervalMs;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
    for (const n of items.slice(i, i + burst)) {
      while (inFlight.size >= maxInFlight) await Promise.race(inFlight);
      const url = options.urls[(ledger.deliveries.length + inFlight.size) % options.urls.length] ?? '';
      const p = deliver(url, options.authorization, n, ledger).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
  }
  await Promise.all(inFlight);
}

export interface Verdict {
  readonly sent: number;
  readonly acked: number;
  readonly persisted: number;
  readonly duplicates: number;
  readonly lost: number;
  readonly wrongStatus: readonly string[];
}

interface StoredRow {
  order_id: string;
  status: string;
  last_modified_at: Date;
  outcome: string;
}

/**
 * Compares the database with the truth. persisted: acked notifications stored exactly as one
 * accepted receipt; duplicates: extra accepted receipts or extra history rows for one
 * notification; lost: acked notifications with no stored receipt. Waits up to `settleMs` for
 * the pipeline to catch up (retries, spool drain, stalled-job recovery).
 */
export async function verify(
  databaseUrl: string,
  prefix: string,
  plan: PlannedNotification[][],
  ledger: Ledger,
  settleMs: number,
): Promise<Verdict> {
  const acked = ledger.ackedKeys();
  const client = new Client({ connectionString: databaseUrl });
  client.on('error', () => {});
  await client.connect();
  try {
    const deadline = Date.now() + settleMs;
    let accepted = new Map<string, number>();
    for (;;) {
      const { rows } = await client.query<StoredRow>(
        `SELECT order_id, status, last_modified_at, outcome FROM notifications WHERE order_id LIKE $1`,
        [`${prefix}-%`],
      );
      accepted = new Map();
      for (const r of rows) {
        if (r.outcome !== 'accepted') continue;
        const key = `${r.order_id}|${r.status}|${r.last_modified_at.toISOString()}`;
        accepted.set(key, (accepted.get(key) ?? 0) + 1);
      }
      const missing = [...acked].filter((k) => !accepted.has(k)).length;
      if (missing === 0 || Date.now() > deadline) break;
      await sleep(1000);
    }
    // A moment more, so that a late redelivery would show up as a duplicate.
    await sleep(1000);
    const events = await client.query<{ order_id: string; status: string; last_modified_at: Date; n: string }>(
      `SELECT order_id, status, last_modified_at, count(*) AS n FROM order_events
        WHERE order_id LIKE $1 GROUP BY 1, 2, 3 HAVING count(*) > 1`,
      [`${prefix}-%`],
    );
    let persisted = 0;
    let lost = 0;
    let duplicates = events.rows.reduce((sum, r) => sum + Number(r.n) - 1, 0);
    for (const key of acked) {
      const n = accepted.get(key) ?? 0;
      if (n === 0) lost += 1;
      else persisted += 1;
      if (n > 1) duplicates += n - 1;
    }

    // Truth: the acked notification with the latest LastModifiedDate decides the status; a
    // later one that was sent without an answer may also have landed (it was durable before
    // the connection broke), and then it decides.
    const orders = await client.query<{ order_id: string; status: string }>(
      `SELECT order_id, status FROM orders WHERE order_id LIKE $1`,
      [`${prefix}-%`],
    );
    const actual = new Map(orders.rows.map((r) => [r.order_id, r.status]));
    const wrongStatus: string[] = [];
    for (const order of plan) {
      const ackedSteps = order.filter((n) => acked.has(n.key));
      const last = ackedSteps[ackedSteps.length - 1];
      if (!last) continue;
      const allowed = new Set([last.status]);
      for (const later of order.slice(order.indexOf(last) + 1)) {
        if (accepted.has(later.key)) allowed.add(later.status);
      }
      const status = actual.get(last.orderId);
      if (status === undefined || !allowed.has(status)) {
        wrongStatus.push(`${last.orderId}: expected ${[...allowed].join('|')}, got ${status ?? 'no order'}`);
      }
    }
    return { sent: ledger.sent, acked: acked.size, persisted, duplicates, lost, wrongStatus };
  } finally {
    await client.end();
  }
}
