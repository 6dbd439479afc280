import { createHash } from 'node:crypto';
import { Client } from 'pg';
import type { Prisma } from '../src/generated/prisma/client';
import type { OrderFilter } from '../src/store/order-read-store';
import { listOrdersSql, orderDetailSql } from '../src/store/order-read-store';

/**
 * Seeds the read-API benchmark's data set with set-based SQL (generate_series), so that a
 * million orders take minutes, not hours: `orders` rows, `eventsPerOrder` history rows each
 * (spread across the table in insertion order, as interleaved real traffic leaves them),
 * one or more telephone numbers per order and a note on one order in ten.
 *
 * Order ids are `md5('bench-order-' || i)` shaped as UUIDs, like Bandwidth's, so they are
 * scattered across the primary key; `seededOrderId(i)` computes the same id in JavaScript.
 */

const TYPES = ['orders', 'portins', 'disconnects', 'tnoptions', 'e911s', 'importtnorders', 'lsrorders', 'csrs'];
// The state a non-terminal order of each type sits in (same index as TYPES).
const OPEN_STATES = ['SUBMITTED', 'FOC', 'COMPLETE', 'PROCESSING', 'RECEIVED', 'PROCESSING', 'PENDING', 'COMPLETE'];

export function seededOrderId(i: number): string {
  const h = createHash('md5').update(`bench-order-${i}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export interface SeedResult {
  readonly orders: number;
  readonly events: number;
  readonly seconds: number;
}

const sqlArray = (values: readonly string[]): string => `ARRAY[${values.map((v) => `'${v}'`).join(',')}]`;

export async function seedOrders(
  databaseUrl: string,
  orders: number,
  events: number,
  log: (line: string) => void,
): Promise<SeedResult> {
  const started = Date.now();
  const eventsPerOrder = Math.max(1, Math.round(events / orders));
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('SET synchronous_commit = off');
    const step = async (label: string, sql: string): Promise<void> => {
      const t = Date.now();
      await client.query(sql);
      log(`  seed: ${label} (${((Date.now() - t) / 1000).toFixed(1)} s)`);
    };
    // Type i % 8; four in five orders terminal (COMPLETE), the rest in the type's open state.
    await step(
      `${orders} orders`,
      `INSERT INTO orders (order_id, order_type, customer_order_id, status, is_terminal, known, account_id,
                           last_modified_at, first_seen_at, last_event_at, status_changed_at, event_count, updated_at)
       SELECT md5('bench-order-' || i)::uuid::text,
              (${sqlArray(TYPES)})[1 + i % 8],
              CASE WHEN i % 5 < 2 THEN 'cust-' || i END,
              CASE WHEN (i / 8) % 5 = 0 THEN (${sqlArray(OPEN_STATES)})[1 + i % 8] ELSE 'COMPLETE' END,
              (i / 8) % 5 <> 0 OR (${sqlArray(OPEN_STATES)})[1 + i % 8] = 'COMPLETE',
              true,
              'acct-' || (i % 20),
              t + interval '3 days', t, t + interval '3 days', t + interval '3 days', ${eventsPerOrder},
              t + interval '3 days'
       FROM generate_series(1, ${orders}) AS i,
            LATERAL (SELECT now() - interval '400 days' + ((i::bigint * 7919) % 34560000) * interval '1 second') AS s(t)`,
    );
    await step(
      `${orders * eventsPerOrder} history rows`,
      `INSERT INTO order_events (order_id, status, previous_status, message, subscription_id, telephone_numbers,
                                 last_modified_at, received_at, applied, source)
       SELECT md5('bench-order-' || i)::uuid::text,
              CASE WHEN k = ${eventsPerOrder} THEN 'COMPLETE' ELSE 'STATE_' || k END,
              CASE WHEN k = 1 THEN NULL ELSE 'STATE_' || (k - 1) END,
              CASE WHEN k = ${eventsPerOrder} THEN 'Created a new number order for 1 number' END,
              '9a434012-501b-4d7f-989d-fb64a4fcb74b',
              CASE WHEN k = ${eventsPerOrder} THEN ARRAY['+1' || (2000000000 + i)] ELSE ARRAY[]::text[] END,
              t + (k * interval '12 hours'), t + (k * interval '12 hours'), true, 'callback'
       FROM generate_series(1, ${eventsPerOrder}) AS k,
            generate_series(1, ${orders}) AS i,
            LATERAL (SELECT now() - interval '400 days' + ((i::bigint * 7919) % 34560000) * interval '1 second') AS s(t)`,
    );
    await step(
      'telephone numbers',
      `INSERT INTO order_telephone_numbers (order_id, telephone_number, first_seen_at)
       SELECT md5('bench-order-' || i)::uuid::text, '+1' || (2000000000 + i), now()
       FROM generate_series(1, ${orders}) AS i`,
    );
    await step(
      'notes',
      `INSERT INTO order_notes (order_id, note, last_modified_at, received_at)
       SELECT md5('bench-order-' || i)::uuid::text, 'Customer contacted about the FOC date', now(), now()
       FROM generate_series(1, ${orders}, 10) AS i`,
    );
    // Asynchronously committed rows cannot get hint bits or all-visible pages until their commit
    // is flushed (PostgreSQL's SetHintBits), so VACUUM would leave every page to be dirtied by
    // the first reads: a synchronous commit flushes the WAL before the VACUUM.
    await client.query('SET synchronous_commit = on');
    await client.query('BEGIN; SELECT txid_current(); COMMIT');
    await step('VACUUM ANALYZE', 'VACUUM ANALYZE orders, order_events, order_telephone_numbers, order_notes');
    // The load's dirty pages written out now, not by the backends of the measured reads.
    await step('CHECKPOINT', 'CHECKPOINT');
  } finally {
    await client.end();
  }
  return { orders, events: orders * eventsPerOrder, seconds: (Date.now() - started) / 1000 };
}

/**
 * EXPLAIN (ANALYZE, BUFFERS) of the statements the read routes run (built by the store itself,
 * so this is exactly what the API sends): the order detail, and one list per filter mix.
 */
export async function explainReadQueries(
  databaseUrl: string,
  orderId: string,
  listPaths: readonly string[],
): Promise<string[]> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  const out: string[] = [];
  const statements: [string, Prisma.Sql][] = [
    [`order detail ${orderId}`, orderDetailSql([orderId])],
    ...listPaths.map((p): [string, Prisma.Sql] => {
      const q = new URL(p, 'http://bench').searchParams;
      const filter: OrderFilter = {
        ...(q.has('orderType') ? { orderType: q.get('orderType') ?? '' } : {}),
        ...(q.has('status') ? { status: q.get('status') ?? '' } : {}),
        ...(q.has('tn') ? { tn: q.get('tn') ?? '' } : {}),
        ...(q.has('terminal') ? { terminal: q.get('terminal') === 'true' } : {}),
        ...(q.has('updatedSince') ? { updatedSince: new Date(q.get('updatedSince') ?? '') } : {}),
      };
      return [`list ${p}`, listOrdersSql(filter, { limit: Number(q.get('limit') ?? 50), after: null })];
    }),
  ];
  try {
    for (const [label, sql] of statements) {
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN (ANALYZE, BUFFERS) ${sql.text}`,
        sql.values,
      );
      out.push(label, ...rows.map((r) => `    ${r['QUERY PLAN']}`));
    }
  } finally {
    await client.end();
  }
  return out;
}
