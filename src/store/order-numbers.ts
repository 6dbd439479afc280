import { Prisma } from '../generated/prisma/client';
import { runLockedBatches } from './locked-batches';
import type { Database } from './prisma';

/**
 * `orders.telephone_numbers`: each order's numbers, sorted and without repeats, a copy of its
 * `order_telephone_numbers` rows kept on the order row (issue #8). Every read of an order took
 * them with one index probe and an aggregate per order, about a third of PostgreSQL's CPU per
 * list page. `order_telephone_numbers` stays the index for look-ups by number.
 *
 * The column was added without a backfill, so that the migration is instant on a large table
 * and never holds up a process's start: NULL means "not copied yet". Reads fall back to the
 * rows for such an order (`numbersOfOrderSql`), the next receipt for the order writes the copy
 * (the merge reads the rows too), and `copyOrderNumbers` copies the rest in batches. Every
 * statement that inserts numbers writes the copy in the same transaction.
 */

/** The numbers of the order row `alias` (a constant of the store, never input) as a text[]. */
export function numbersOfOrderSql(alias: string): string {
  return `COALESCE(${alias}.telephone_numbers, ARRAY(SELECT t.telephone_number FROM order_telephone_numbers t
            WHERE t.order_id = ${alias}.order_id ORDER BY t.telephone_number))`;
}

/** The text[] expression `numbers` (a constant of the store) sorted and without repeats. */
export function sortedNumbersSql(numbers: string): string {
  return `ARRAY(SELECT DISTINCT tn FROM unnest(${numbers}) AS tn ORDER BY tn)`;
}

// Arbitrary constant ("bw-tnc"): one process copies at a time.
const COPY_LOCK_KEY = 0x62772d746e63;

/**
 * Copies the numbers of orders that have no copy yet (rows from before the column existed), in
 * short transactions of `batchSize` orders, until none is left; returns how many it copied.
 * Rows a worker holds are skipped (it writes their copy itself). Cheap once done: the partial
 * index `orders_telephone_numbers_pending_idx` holds only the orders still to copy.
 */
export async function copyOrderNumbers(db: Database, options: { readonly batchSize?: number } = {}): Promise<number> {
  const batchSize = options.batchSize ?? 5000;
  return runLockedBatches(
    db,
    COPY_LOCK_KEY,
    batchSize,
    (tx) => tx.$executeRaw`
      UPDATE orders o SET telephone_numbers = ${Prisma.raw(numbersOfOrderSql('o'))}
       WHERE o.order_id IN (SELECT order_id FROM orders WHERE telephone_numbers IS NULL
                            LIMIT ${batchSize} FOR UPDATE SKIP LOCKED)`,
  );
}
