import { randomUUID } from 'node:crypto';
import type { ReceiptToPersist } from '../../src/store/notification-store';
import { persistReceipt, persistReceipts } from '../../src/store/notification-store';
import { copyOrderNumbers } from '../../src/store/order-numbers';
import { findOrderDetail, listOrders } from '../../src/store/order-read-store';
import type { MigratedDatabase } from '../support/harness';
import { createMigratedDatabase, uniqueName } from '../support/harness';
import { receiptToPersist, toNotification } from '../support/order-scenarios';

/**
 * orders.telephone_numbers, the copy of order_telephone_numbers on the order row (issue #8), was
 * added without a backfill: orders from before it have NULL there. Reads must fall back to the
 * rows, the next receipt must merge into the rows' numbers (not into NULL), and the
 * housekeeping copy must fill in the rest.
 */
let store: MigratedDatabase;

beforeAll(async () => {
  store = await createMigratedDatabase();
});

afterAll(async () => {
  await store?.close();
});

/** An order as it was before the column: numbers in order_telephone_numbers only. */
async function oldOrder(numbers: readonly string[]): Promise<string> {
  const orderId = uniqueName('old-order');
  await store.sql.$executeRaw`
    INSERT INTO orders (order_id, order_type, status, known, first_seen_at, last_event_at, event_count)
    VALUES (${orderId}, 'portins', 'SUBMITTED', true, now(), now(), 0)`;
  for (const tn of numbers) {
    await store.sql.$executeRaw`
      INSERT INTO order_telephone_numbers (order_id, telephone_number, first_seen_at) VALUES (${orderId}, ${tn}, now())`;
  }
  const copy = await copyOf(orderId);
  expect(copy).toBeNull();
  return orderId;
}

async function copyOf(orderId: string): Promise<string[] | null> {
  const rows = await store.sql.$queryRaw<{ telephone_numbers: string[] | null }[]>`
    SELECT telephone_numbers FROM orders WHERE order_id = ${orderId}`;
  return rows[0]?.telephone_numbers ?? null;
}

/** A FOC notification for the order carrying `telephoneNumbers`. */
function receipt(orderId: string, telephoneNumbers: string[]): ReceiptToPersist {
  const event = { status: 'FOC', lmdSeconds: 1, message: null, note: null };
  return receiptToPersist({
    receiptId: randomUUID(),
    receivedAt: new Date(),
    source: event,
    notification: { ...toNotification('portins', orderId, event), telephoneNumbers },
    dedupKey: uniqueName('dedup'),
  });
}

describe('orders without a copy of their numbers', () => {
  it('are read with the numbers of their rows', async () => {
    const orderId = await oldOrder(['+19195550002', '+19195550001']);
    const want = ['+19195550001', '+19195550002'];
    expect((await findOrderDetail(store.sql, orderId))?.telephoneNumbers).toEqual(want);
    const page = await listOrders(store.sql, { tn: '+19195550002' }, { limit: 10, after: null });
    expect(page.data.map((o) => [o.orderId, o.telephoneNumbers])).toEqual([[orderId, want]]);
    const view = await store.sql.$queryRaw<{ telephone_numbers: string[]; telephone_number_count: number }[]>`
      SELECT telephone_numbers, telephone_number_count FROM v_order_current_status WHERE order_id = ${orderId}`;
    expect(view).toEqual([{ telephone_numbers: want, telephone_number_count: 2 }]);
  });

  it('get the union of their rows and the new numbers from their next receipt, one at a time or batched', async () => {
    const single = await oldOrder(['+19195550012', '+19195550011']);
    await persistReceipt(store.sql, receipt(single, ['+19195550013', '+19195550011']));
    expect(await copyOf(single)).toEqual(['+19195550011', '+19195550012', '+19195550013']);

    const batched = await oldOrder(['+19195550022']);
    const unchanged = await oldOrder(['+19195550032']);
    await persistReceipts(store.sql, [
      receipt(batched, ['+19195550021']),
      receipt(batched, ['+19195550023', '+19195550021']),
      receipt(unchanged, ['+19195550032']),
    ]);
    expect(await copyOf(batched)).toEqual(['+19195550021', '+19195550022', '+19195550023']);
    expect(await copyOf(unchanged)).toEqual(['+19195550032']);
  });

  it('are copied by the housekeeping in batches, and the copy then stays as it is', async () => {
    const orders = [await oldOrder(['+19195550041']), await oldOrder([]), await oldOrder(['+19195550043'])];
    expect(await copyOrderNumbers(store.db, { batchSize: 2 })).toBeGreaterThanOrEqual(3);
    expect(await Promise.all(orders.map(copyOf))).toEqual([['+19195550041'], [], ['+19195550043']]);
    const pending = await store.sql.$queryRaw<{ n: number }[]>`
      SELECT count(*)::int AS n FROM orders WHERE telephone_numbers IS NULL`;
    expect(pending).toEqual([{ n: 0 }]);
    expect(await copyOrderNumbers(store.db)).toBe(0);
  });
});
