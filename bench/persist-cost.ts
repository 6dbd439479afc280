import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Client } from 'pg';
import { dedupKeyOf } from '../src/ingest/dedup';
import { parseNotificationXml } from '../src/ingest/parse';
import { createLogger } from '../src/observability/logger';
import type { ReceiptToPersist } from '../src/store/notification-store';
import { persistReceipt, persistReceipts } from '../src/store/notification-store';
import { migrate } from '../src/store/migrator';
import { createDatabase } from '../src/store/prisma';
import type { Database } from '../src/store/prisma';
import { createBodyGenerator } from './bodies';
import { scratchDir, startPostgres } from './infra';

/**
 * `npm run bench:persist`: what does persisting one notification cost, and what would
 * batching buy? Persists the same realistic receipts into two fresh databases of one
 * durable PostgreSQL: (a) with today's `persistReceipt` (one transaction per notification,
 * `--concurrency` in flight, like the worker), (b) with the batched
 * `persistReceipts` (what the worker uses, `--batch` per transaction). Prints
 * notifications/s, Node CPU per notification, and whether both end in the same order state.
 * No queue and no HTTP: this isolates the store.
 */

const { values: args } = parseArgs({
  options: {
    notifications: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '8' },
    batch: { type: 'string', default: '50' },
    'batch-concurrency': { type: 'string', default: '2' },
  },
});
const total = Number(args.notifications);
const concurrency = Number(args.concurrency);
const batchSize = Number(args.batch);
const batchConcurrency = Number(args['batch-concurrency']);

async function receipts(count: number): Promise<ReceiptToPersist[]> {
  const bodies = createBodyGenerator(11);
  const out: ReceiptToPersist[] = [];
  const start = Date.now();
  for (let i = 0; i < count; i++) {
    const body = bodies.next();
    const parsed = await parseNotificationXml(body);
    if (!parsed.ok) throw new Error(`generated body does not parse: ${parsed.reason}`);
    out.push({
      receiptId: randomUUID(),
      receivedAt: new Date(start + i),
      accountId: 'acct-1',
      remoteAddress: '127.0.0.1',
      headers: { 'content-type': 'application/xml' },
      body,
      notification: parsed.notification,
      dedupKey: dedupKeyOf(parsed.notification),
    });
  }
  return out;
}

async function inParallel<T>(items: readonly T[], lanes: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < items.length) {
        const item = items[next++]!;
        await work(item);
      }
    }),
  );
}

async function measure(
  label: string,
  action: () => Promise<void>,
): Promise<{ label: string; wall: number; cpu: number }> {
  const cpu = process.cpuUsage();
  const t = performance.now();
  await action();
  const wall = (performance.now() - t) / 1000;
  const used = process.cpuUsage(cpu);
  return { label, wall, cpu: (used.user + used.system) / 1000 };
}

async function stateChecksum(url: string): Promise<string> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{
      orders: string;
      events: string;
      notes: string;
      tns: string;
      receipts: string;
    }>(
      `SELECT
         (SELECT md5(string_agg(concat_ws('|', order_id, status, is_terminal, event_count, last_modified_at,
            customer_order_id, actual_foc_date, known), ',' ORDER BY order_id)) FROM orders) AS orders,
         (SELECT md5(string_agg(concat_ws('|', notification_id, status, previous_status, applied), ','
            ORDER BY notification_id)) FROM order_events) AS events,
         (SELECT count(*) FROM order_notes)::text AS notes,
         (SELECT count(*) FROM order_telephone_numbers)::text AS tns,
         (SELECT string_agg(outcome || '=' || n, ',' ORDER BY outcome)
            FROM (SELECT outcome, count(*) AS n FROM notifications GROUP BY outcome) x) AS receipts`,
    );
    return JSON.stringify(rows[0]);
  } finally {
    await client.end();
  }
}

async function main(): Promise<void> {
  const scratch = scratchDir();
  const pg = await startPostgres(scratch.path);
  const logger = createLogger('error');
  const admin = new Client({ connectionString: pg.url });
  await admin.connect();
  await admin.query('CREATE DATABASE bench_current');
  await admin.query('CREATE DATABASE bench_batched');
  await admin.end();
  const urlOf = (name: string): string => pg.url.replace(/\/bench$/, `/${name}`);
  const dbs: Database[] = [];
  try {
    const work = await receipts(total);
    const results = [];

    await migrate(urlOf('bench_current'), logger);
    const current = createDatabase({ url: urlOf('bench_current'), poolSize: concurrency + 2 });
    dbs.push(current);
    await current.$queryRaw`SELECT 1`;
    results.push(
      await measure(`persistReceipt, 1 per transaction, ${concurrency} in flight`, () =>
        inParallel(work, concurrency, (r) => persistReceipt(current, r)),
      ),
    );

    await migrate(urlOf('bench_batched'), logger);
    const batched = createDatabase({ url: urlOf('bench_batched'), poolSize: batchConcurrency + 2 });
    dbs.push(batched);
    await batched.$queryRaw`SELECT 1`;
    const batches: ReceiptToPersist[][] = [];
    for (let i = 0; i < work.length; i += batchSize) batches.push(work.slice(i, i + batchSize));
    results.push(
      await measure(`persistReceipts, ${batchSize} per transaction, ${batchConcurrency} in flight`, () =>
        inParallel(batches, batchConcurrency, (b) => persistReceipts(batched, b)),
      ),
    );

    const a = JSON.parse(await stateChecksum(urlOf('bench_current'))) as Record<string, string>;
    const b = JSON.parse(await stateChecksum(urlOf('bench_batched'))) as Record<string, string>;
    const same = (keys: string[]): string => (keys.every((k) => a[k] === b[k]) ? 'yes' : 'NO');
    const lines = [
      `persist cost, ${total} realistic notifications, durable PostgreSQL (fsync on)`,
      '| variant | notifications/s | Node CPU per notification |',
      '|---|---|---|',
      ...results.map((r) => `| ${r.label} | ${Math.round(total / r.wall)}/s | ${(r.cpu / total).toFixed(3)} ms |`),
      `same final state in both databases: orders ${same(['orders'])}, receipts/notes/numbers ${same(['receipts', 'notes', 'tns'])}, ` +
        `history ${same(['events'])} (history's previous_status/applied follow processing order, which is ` +
        'arrival order only with --concurrency 1 --batch-concurrency 1)',
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    for (const db of dbs) await db.$disconnect();
    await pg.stop();
    scratch.remove();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `persist bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
