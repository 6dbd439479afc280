import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import type { ReceiptToPersist } from '../../src/store/notification-store';
import { persistReceipt, persistReceipts } from '../../src/store/notification-store';
import type { Database } from '../../src/store/prisma';
import type { MigratedDatabase } from '../support/harness';
import { createMigratedDatabase, uniqueName } from '../support/harness';
import { orderScenario, receiptToPersist, receiptsOf } from '../support/order-scenarios';

/**
 * Property, against the real store: persisting receipts in batches (`persistReceipts`, one
 * transaction per batch) leaves the database exactly as `persistReceipt` called once per
 * receipt in the same arrival order: receipts and their outcomes, duplicate counts, orders,
 * history (`applied`/`previous_status` included), notes and numbers. The generated traffic
 * mixes several orders, copies of one notification (often the later copy first), redelivered
 * receipts, orderless notifications, and receipts already stored before the batch.
 */
const NUM_RUNS = 20;

const NUMBERS = ['9195551001', '9195551002', '9195551003'];

const traffic = fc
  .array(orderScenario(5), { minLength: 1, maxLength: 3 })
  .chain((scenarios) => {
    const receipts: ReceiptToPersist[] = scenarios.flatMap((s) => {
      const orderId = uniqueName('order');
      return receiptsOf(s.orderType, orderId, s.a).map(receiptToPersist);
    });
    return fc.record({
      receipts: fc.constant(receipts),
      // Interleaving of the orders' deliveries, with their arrival times shuffled too.
      order: fc.shuffledSubarray(receipts, { minLength: receipts.length, maxLength: receipts.length }),
      numbers: fc.array(fc.subarray(NUMBERS), { minLength: receipts.length, maxLength: receipts.length }),
      accounts: fc.array(fc.option(fc.constantFrom('acct-1', 'acct-2')), {
        minLength: receipts.length,
        maxLength: receipts.length,
      }),
      orderless: fc.nat({ max: 3 }),
      redelivered: fc.array(fc.nat(), { maxLength: 3 }),
      alreadyStored: fc.nat({ max: 4 }),
      cuts: fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 10 }),
    });
  })
  .map(({ order, numbers, accounts, orderless, redelivered, alreadyStored, cuts }) => {
    const base = order.map((r, i) => ({
      ...r,
      accountId: accounts[i] ?? null,
      notification: { ...r.notification, telephoneNumbers: numbers[i] ?? [] },
    }));
    for (let i = 0; i < orderless; i += 1) {
      const at = base[i % Math.max(base.length, 1)]?.receivedAt ?? new Date();
      base.push({
        receiptId: randomUUID(),
        receivedAt: at,
        accountId: null,
        remoteAddress: null,
        headers: {},
        body: '<Notification/>',
        notification: {
          subscriptionId: 'sub-1',
          orderType: null,
          orderId: null,
          customerOrderId: null,
          status: null,
          message: `event ${i % 2}`,
          errorCode: null,
          note: null,
          eventType: 'MESSAGE',
          telephoneNumbers: [],
          lastModifiedAt: null,
          actualFocDate: null,
          known: true,
        },
        dedupKey: `orderless-${uniqueName('k')}-${i % 2}`,
      });
    }
    // A redelivered job: the same receipt again, later.
    for (const pick of redelivered) {
      const again = base[pick % base.length];
      if (again !== undefined) base.push(again);
    }
    const prefix = base.slice(0, Math.min(alreadyStored, base.length));
    const rest = base.slice(prefix.length);
    const batches: ReceiptToPersist[][] = [];
    let at = 0;
    for (let i = 0; at < rest.length; i += 1) {
      const size = cuts[i % cuts.length] ?? 1;
      batches.push(rest.slice(at, at + size));
      at += size;
    }
    return { prefix, batches };
  });

async function snapshot(db: Database): Promise<unknown> {
  const receipts = await db.$queryRaw<unknown[]>`
    SELECT id::text, received_at, account_id, outcome, dedup_key, duplicate_of::text, duplicate_count,
           last_duplicate_at, order_id, status, telephone_numbers
    FROM notifications ORDER BY id`;
  const orders = await db.$queryRaw<unknown[]>`
    SELECT order_id, order_type, customer_order_id, known, account_id, first_seen_at, last_event_at, status,
           is_terminal, status_changed_at, last_modified_at, actual_foc_date, event_count
    FROM orders ORDER BY order_id`;
  const history = await db.$queryRaw<unknown[]>`
    SELECT order_id, notification_id::text, status, previous_status, applied, received_at, last_modified_at, note,
           telephone_numbers, source, rank() OVER (PARTITION BY order_id ORDER BY id) AS position
    FROM order_events ORDER BY notification_id`;
  const notes = await db.$queryRaw<unknown[]>`
    SELECT n.order_id, e.notification_id::text, n.note, n.received_at,
           rank() OVER (PARTITION BY n.order_id ORDER BY n.id) AS position
    FROM order_notes n JOIN order_events e ON e.id = n.event_id ORDER BY e.notification_id`;
  const numbers = await db.$queryRaw<unknown[]>`
    SELECT order_id, telephone_number, first_seen_at FROM order_telephone_numbers ORDER BY 1, 2`;
  return { receipts, orders, history, notes, numbers };
}

describe('batched persistence gives the same database as persisting one receipt at a time', () => {
  let stores: MigratedDatabase[] = [];
  let sequential: Database;
  let batched: Database;

  beforeAll(async () => {
    stores = [await createMigratedDatabase(), await createMigratedDatabase()];
    [sequential, batched] = stores.map((s) => s.db) as [Database, Database];
  });

  afterAll(async () => {
    for (const store of stores) await store.close();
  });

  it(`holds for ${NUM_RUNS} generated cases`, async () => {
    await fc.assert(
      fc.asyncProperty(traffic, async ({ prefix, batches }) => {
        for (const r of prefix) {
          await persistReceipt(sequential, r);
          await persistReceipt(batched, r);
        }
        for (const batch of batches) {
          const expected = [];
          for (const r of batch) expected.push(await persistReceipt(sequential, r));
          const outcomes = await persistReceipts(batched, batch);
          // Same kind of outcome per receipt (`applied` may differ: see persistReceipts).
          expect(outcomes.map((o) => (o.kind === 'stored' ? [o.kind, o.orderId] : o))).toEqual(
            expected.map((o) => (o.kind === 'stored' ? [o.kind, o.orderId] : o)),
          );
        }
        expect(await snapshot(batched)).toEqual(await snapshot(sequential));
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
