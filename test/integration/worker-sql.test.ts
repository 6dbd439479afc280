import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import type { BatchFanOut, ReceiptToPersist } from '../../src/store/notification-store';
import { persistReceipt, persistReceiptsWithFanOut } from '../../src/store/notification-store';
import { claimDeliveries, finishAttempts, loadDeliveries } from '../../src/store/handler-delivery-store';
import type { SqlClient } from '../../src/store/sql';
import type { MigratedDatabase } from '../support/harness';
import { createMigratedDatabase, uniqueName } from '../support/harness';
import { orderScenario, permutationOf, receiptToPersist, receiptsOf } from '../support/order-scenarios';

/**
 * The worker's hot paths run on the pg pool (`sqlOverPool`), not on Prisma (issue #8). pg
 * returns int8 as a string where Prisma returns bigint, so these tests run the worker's
 * persistence and delivery bookkeeping over the pool and compare with the Prisma path.
 */
describe('the worker on the pg pool', () => {
  let onPool: MigratedDatabase;
  let onPrisma: MigratedDatabase;

  beforeAll(async () => {
    [onPool, onPrisma] = [await createMigratedDatabase(), await createMigratedDatabase()];
  });

  afterAll(async () => {
    await onPool?.close();
    await onPrisma?.close();
  });

  describe('transactions', () => {
    const probe = uniqueName('probe');

    it('commits what a resolved transaction wrote and rolls back what a failed one wrote', async () => {
      const { sql } = onPool;
      await sql.$executeRaw`CREATE TABLE IF NOT EXISTS tx_probe (name text PRIMARY KEY)`;
      await sql.$transaction((tx) => tx.$executeRaw`INSERT INTO tx_probe VALUES (${`${probe}-kept`})`);
      const failed = sql.$transaction(async (tx) => {
        await tx.$executeRaw`INSERT INTO tx_probe VALUES (${`${probe}-dropped`})`;
        throw new Error('the work failed');
      });
      await expect(failed).rejects.toThrow('the work failed');
      const rows = await sql.$queryRaw<{ name: string }[]>`
        SELECT name FROM tx_probe WHERE name LIKE ${`${probe}%`} ORDER BY name`;
      expect(rows.map((r) => r.name)).toEqual([`${probe}-kept`]);
    });

    it('gives its connection back on every path: more failures than the pool has connections', async () => {
      const { sql } = onPool;
      for (let i = 0; i < 5; i += 1) {
        await expect(sql.$transaction((tx) => tx.$queryRaw`SELECT 1/0`)).rejects.toThrow(/division by zero/);
        await expect(
          sql.$transaction(() => {
            throw new Error('thrown before any statement');
          }),
        ).rejects.toThrow('thrown before any statement');
      }
      expect(await sql.$transaction((tx) => tx.$queryRaw<{ one: number }[]>`SELECT 1 AS one`)).toEqual([{ one: 1 }]);
    });

    it('bounds each statement with the timeout, which ends with the transaction', async () => {
      const { sql } = onPool;
      const slow = sql.$transaction((tx) => tx.$queryRaw`SELECT pg_sleep(5)`, { timeout: 100 });
      await expect(slow).rejects.toMatchObject({ code: '57014' });
      // Both connections of the pool are back at the server's default.
      const settings = await Promise.all(
        [1, 2].map(() =>
          sql.$transaction((tx) => tx.$queryRaw<{ statement_timeout: string }[]>`SHOW statement_timeout`),
        ),
      );
      expect(settings.flat().map((r) => r.statement_timeout)).toEqual(['0', '0']);
    });
  });

  describe('persistence and deliveries', () => {
    /** Every row the persistence writes, without what differs between two databases (ids, clocks). */
    async function contents(db: SqlClient): Promise<unknown> {
      return db.$queryRaw<{ rows: unknown }[]>`
        SELECT json_build_object(
          'notifications', (SELECT json_agg(to_jsonb(n) - 'processed_at' ORDER BY n.id) FROM notifications n),
          'orders', (SELECT json_agg(to_jsonb(o) - 'updated_at' ORDER BY o.order_id) FROM orders o),
          'history', (SELECT json_agg(h.row ORDER BY h.row->>'notification_id')
                        FROM (SELECT to_jsonb(e) - 'id' - 'created_at' || jsonb_build_object('position',
                                rank() OVER (PARTITION BY e.order_id ORDER BY e.id)) AS row
                                FROM order_events e) h),
          'notes', (SELECT json_agg(to_jsonb(t) - 'id' - 'event_id' || jsonb_build_object('of', e.notification_id)
                      ORDER BY e.notification_id) FROM order_notes t JOIN order_events e ON e.id = t.event_id),
          'numbers', (SELECT json_agg(to_jsonb(t) ORDER BY t.order_id, t.telephone_number)
                        FROM order_telephone_numbers t)) AS rows`;
    }

    const traffic = fc
      .array(orderScenario(5), { minLength: 1, maxLength: 3 })
      .chain((scenarios) =>
        permutationOf(
          scenarios.flatMap((s) => receiptsOf(s.orderType, uniqueName('order'), s.a).map(receiptToPersist)),
        ),
      )
      .chain((receipts) =>
        fc.record({
          receipts: fc.constant(receipts),
          cuts: fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 6 }),
        }),
      );

    it('stores what Prisma stores, one receipt or a batch at a time, with int8 positions as bigint', async () => {
      const positions: (bigint | null)[] = [];
      const fanOut: BatchFanOut = {
        source: 'callback',
        deliveriesOf: (receipt, position) => {
          positions.push(position);
          return [];
        },
      };
      await fc.assert(
        fc.asyncProperty(traffic, async ({ receipts, cuts }) => {
          for (let at = 0, i = 0; at < receipts.length; i += 1) {
            const batch: ReceiptToPersist[] = receipts.slice(at, at + (cuts[i % cuts.length] ?? 1));
            at += batch.length;
            for (const r of batch) await persistReceipt(onPrisma.db, r);
            // A batch of one goes through the worker's one-by-one path (its fallback).
            if (batch.length === 1 && batch[0] !== undefined) await persistReceipt(onPool.sql, batch[0]);
            else await persistReceiptsWithFanOut(onPool.sql, batch, fanOut);
          }
          expect(await contents(onPool.sql)).toEqual(await contents(onPrisma.db));
        }),
        { numRuns: 10 },
      );
      const ids = await onPool.sql.$queryRaw<{ id: string }[]>`SELECT id::text FROM order_events`;
      expect(positions.length).toBeGreaterThan(0);
      expect(positions.every((p) => typeof p === 'bigint' && ids.some((row) => row.id === p.toString()))).toBe(true);
    });

    it('loads, starts and finishes deliveries with the same values as over Prisma', async () => {
      const receipts = receiptsOf('portins', uniqueName('order'), [
        { status: 'SUBMITTED', lmdSeconds: 1, message: null, note: null },
        { status: 'FOC', lmdSeconds: 2, message: null, note: 'LOA received' },
      ]).map(receiptToPersist);
      const fanOut: BatchFanOut = {
        source: 'callback',
        deliveriesOf: (receipt, position) => [
          {
            id: receipt.receiptId,
            handler: 'audit',
            notificationId: receipt.receiptId,
            orderId: receipt.notification.orderId,
            position,
          },
        ],
      };
      const written = await persistReceiptsWithFanOut(onPool.sql, receipts, fanOut);
      const ids = written.queued.map((q) => q.id);
      expect(ids).toEqual(receipts.map((r) => r.receiptId));

      const [overPool, overPrisma] = await Promise.all([
        loadDeliveries(onPool.sql, ids),
        loadDeliveries(onPool.db, ids),
      ]);
      expect(overPool).toEqual(overPrisma);
      const second = overPool.get(ids[1] ?? '');
      expect(typeof second?.delivery.position).toBe('bigint');
      expect(second?.gate).toEqual({ kind: 'earlier_delivery' });
      expect(second?.order?.eventCount).toBe(2);

      // The claim starts an attempt exactly where the job runs the handler: the first delivery
      // (gate open), not the second (an earlier one is open), nor a stale generation or an
      // unconfigured handler.
      const claims = ids.map((deliveryId) => ({ deliveryId, retries: 0 }));
      expect(
        (await claimDeliveries(onPool.sql, [...claims, { deliveryId: ids[0] ?? '', retries: 1 }], ['other'])).map(
          (c) => c?.attempt,
        ),
      ).toEqual([null, null, null]);
      const claimed = await claimDeliveries(
        onPool.sql,
        [...claims, { deliveryId: randomUUID(), retries: 0 }],
        ['audit'],
      );
      expect(claimed.map((c) => c?.attempt ?? null)).toEqual([1, null, null]);
      expect(claimed[2]).toBeNull();
      expect(claimed[0]?.delivery.attempts).toBe(0);
      await finishAttempts(onPool.sql, [{ deliveryId: ids[0] ?? '', status: 'succeeded', error: null, durationMs: 3 }]);
      const after = await loadDeliveries(onPool.sql, ids);
      expect(after.get(ids[0] ?? '')?.delivery.status).toBe('succeeded');
      expect(after.get(ids[1] ?? '')?.gate).toEqual({ kind: 'open' });
    });
  });
});
