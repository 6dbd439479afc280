import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import type { BandwidthNotification } from '../../src/domain/notification';
import type { OrderHistoryEvent } from '../../src/domain/ordering';
import { ORDER_TYPES } from '../../src/domain/order-types';
import { dedupKeyOf } from '../../src/ingest/dedup';
import type { ReceiptToPersist } from '../../src/store/notification-store';

/** fast-check generators of one order's notifications and of their delivery (shared by property tests). */

export interface GeneratedEvent {
  readonly status: string | null;
  readonly lmdSeconds: number;
  readonly message: string | null;
  readonly note: string | null;
}

export interface OrderScenario {
  readonly orderType: string;
  /** Distinct notifications (distinct dedup keys). */
  readonly events: readonly GeneratedEvent[];
  /** Two deliveries of them: any order, each notification 1 to 3 times. */
  readonly a: readonly GeneratedEvent[];
  readonly b: readonly GeneratedEvent[];
}

const typesWithStates = Object.entries(ORDER_TYPES)
  .filter(([, def]) => def.states.length > 0)
  .map(([type, def]) => ({ type, states: [...def.states] as string[] }));

/** Any permutation of `items`, with each item repeated `copies[i]` times; shrinkable. */
function shuffledWithCopies<T>(items: readonly T[]): fc.Arbitrary<T[]> {
  return fc
    .tuple(
      fc.array(fc.integer({ min: 1, max: 3 }), { minLength: items.length, maxLength: items.length }),
      fc.array(fc.nat(), { minLength: items.length * 3, maxLength: items.length * 3 }),
    )
    .map(([copies, seeds]) => {
      const out = items.flatMap((item, i) => Array.from({ length: copies[i] ?? 1 }, () => item));
      // Fisher-Yates with generated indexes.
      for (let i = out.length - 1; i > 0; i--) {
        const j = (seeds[i] ?? 0) % (i + 1);
        [out[i], out[j]] = [out[j] as T, out[i] as T];
      }
      return out;
    });
}

/** Shuffles without copies (a processing order for a fixed list of receipts). */
export function permutationOf<T>(items: readonly T[]): fc.Arbitrary<T[]> {
  return fc.array(fc.nat(), { minLength: items.length, maxLength: items.length }).map((seeds) => {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = (seeds[i] ?? 0) % (i + 1);
      [out[i], out[j]] = [out[j] as T, out[i] as T];
    }
    return out;
  });
}

export function orderScenario(maxEvents = 8): fc.Arbitrary<OrderScenario> {
  return fc
    .constantFrom(...typesWithStates)
    .chain(({ type, states }) =>
      fc.record({
        orderType: fc.constant(type),
        events: fc.uniqueArray(
          fc.record({
            status: fc.option(fc.constantFrom(...states), { nil: null, freq: 6 }),
            // A small range, so equal LastModifiedDates (ties) are common.
            lmdSeconds: fc.integer({ min: 0, max: 6 }),
            message: fc.option(fc.constantFrom('5005: The telephone number is unavailable', 'In progress'), {
              nil: null,
            }),
            note: fc.option(fc.constantFrom('LOA received'), { nil: null, freq: 4 }),
          }),
          { minLength: 1, maxLength: maxEvents, selector: (e) => JSON.stringify(e) },
        ),
      }),
    )
    .chain((s) =>
      fc.record({
        orderType: fc.constant(s.orderType),
        events: fc.constant(s.events),
        a: shuffledWithCopies(s.events),
        b: shuffledWithCopies(s.events),
      }),
    );
}

export const SCENARIO_BASE_MS = Date.UTC(2024, 2, 1);

export function toNotification(orderType: string, orderId: string, e: GeneratedEvent): BandwidthNotification {
  return {
    subscriptionId: 'sub-1',
    orderType,
    orderId,
    customerOrderId: null,
    status: e.status,
    message: e.message,
    errorCode: null,
    note: e.note,
    eventType: null,
    telephoneNumbers: [],
    lastModifiedAt: new Date(SCENARIO_BASE_MS + e.lmdSeconds * 1000),
    actualFocDate: null,
    known: true,
  };
}

/** One history entry's content, without what depends on arrival (applied, previousStatus). */
export const entryOf = (e: GeneratedEvent): string => JSON.stringify([e.status, e.lmdSeconds, e.message, e.note]);

/** One HTTP delivery of a generated notification; deliveries arrive 1 ms apart, in order. */
export interface ScenarioReceipt {
  readonly receiptId: string;
  readonly receivedAt: Date;
  readonly source: GeneratedEvent;
  readonly notification: BandwidthNotification;
  readonly dedupKey: string;
}

export function receiptsOf(
  orderType: string,
  orderId: string,
  deliveries: readonly GeneratedEvent[],
): ScenarioReceipt[] {
  return deliveries.map((source, i) => {
    const notification = toNotification(orderType, orderId, source);
    return {
      receiptId: randomUUID(),
      receivedAt: new Date(SCENARIO_BASE_MS + 3_600_000 + i),
      source,
      notification,
      dedupKey: dedupKeyOf(notification),
    };
  });
}

export interface ScenarioHistoryEvent extends OrderHistoryEvent {
  readonly source: GeneratedEvent;
}

/** What the history must hold: the earliest copy of each distinct notification. */
export function historyOf(receipts: readonly ScenarioReceipt[]): ScenarioHistoryEvent[] {
  const first = new Map<string, ScenarioHistoryEvent>();
  for (const r of receipts) {
    if (first.has(r.dedupKey)) continue;
    first.set(r.dedupKey, {
      status: r.notification.status,
      lastModifiedAt: r.notification.lastModifiedAt,
      actualFocDate: null,
      receivedAt: r.receivedAt,
      arrivalKey: r.receiptId,
      source: r.source,
    });
  }
  return [...first.values()];
}

/** A generated delivery as the store persists it (no headers, a placeholder body). */
export function receiptToPersist(r: ScenarioReceipt): ReceiptToPersist {
  return {
    receiptId: r.receiptId,
    receivedAt: r.receivedAt,
    accountId: null,
    remoteAddress: null,
    headers: {},
    body: '<Notification/>',
    notification: r.notification,
    dedupKey: r.dedupKey,
  };
}
