import fc from 'fast-check';
import { replayOrderHistory } from '../../src/domain/ordering';
import { persistReceipt } from '../../src/store/notification-store';
import type { Database } from '../../src/store/prisma';
import type { MigratedDatabase } from '../support/harness';
import { createMigratedDatabase, uniqueName } from '../support/harness';
import type { ScenarioReceipt } from '../support/order-scenarios';
import {
  entryOf,
  historyOf,
  orderScenario,
  permutationOf,
  receiptToPersist,
  receiptsOf,
} from '../support/order-scenarios';

/**
 * Property, against the real store: whatever order workers process the receipts of one
 * order in (duplicates included, the later copy of a notification sometimes first), the
 * database ends with the history and status that arrival order defines: one history row per
 * distinct notification, the same `applied`/`previousStatus` as a replay in arrival order, and
 * every extra copy recorded as a duplicate receipt.
 */
const NUM_RUNS = 25;

describe('notification store property: processing order does not change the stored history', () => {
  let migrated: MigratedDatabase;
  let db: Database;

  beforeAll(async () => {
    migrated = await createMigratedDatabase();
    db = migrated.db;
  });

  afterAll(async () => {
    await migrated?.close();
  });

  const scenario = orderScenario(6).chain((s) => {
    const orderId = uniqueName('order');
    const receipts = receiptsOf(s.orderType, orderId, s.a);
    return fc.record({
      orderType: fc.constant(s.orderType),
      orderId: fc.constant(orderId),
      receipts: fc.constant(receipts),
      processing: permutationOf(receipts),
    });
  });

  const store = (r: ScenarioReceipt) => persistReceipt(db, receiptToPersist(r));

  it(`holds for ${NUM_RUNS} generated cases`, async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ orderType, orderId, receipts, processing }) => {
        for (const receipt of processing) await store(receipt);

        const expected = replayOrderHistory(orderType, historyOf(receipts));
        const order = await db.order.findUniqueOrThrow({ where: { orderId }, include: { events: true } });
        expect(order.status).toBe(expected.status);
        expect(order.isTerminal).toBe(expected.isTerminal);
        expect(order.eventCount).toBe(expected.events.length);
        expect(order.lastModifiedAt).toEqual(expected.lastModifiedAt);

        const lmdSeconds = (d: Date | null) => (d === null ? null : (d.getTime() - Date.UTC(2024, 2, 1)) / 1000);
        const stored = order.events
          .map((e) =>
            JSON.stringify([e.status, lmdSeconds(e.lastModifiedAt), e.message, e.note, e.applied, e.previousStatus]),
          )
          .sort();
        const model = expected.events
          .map((e) => {
            const [status, lmd, message, note] = JSON.parse(entryOf(e.event.source)) as unknown[];
            return JSON.stringify([status, lmd, message, note, e.applied, e.previousStatus]);
          })
          .sort();
        expect(stored).toEqual(model);

        const duplicates = await db.notification.count({ where: { orderId, outcome: 'duplicate' } });
        expect(duplicates).toBe(receipts.length - expected.events.length);
        const counted = await db.notification.aggregate({ where: { orderId }, _sum: { duplicateCount: true } });
        expect(counted._sum.duplicateCount).toBe(duplicates);
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
