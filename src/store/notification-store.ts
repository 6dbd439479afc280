import type { BandwidthNotification } from '../domain/notification';
import type { OrderHistoryEvent, OrderingDecision } from '../domain/ordering';
import { replayOrderHistory } from '../domain/ordering';
import type { Database } from './prisma';

/** Everything the worker knows about one receipt when it persists it. */
export interface ReceiptToPersist {
  readonly receiptId: string;
  readonly receivedAt: Date;
  readonly accountId: string | null;
  readonly remoteAddress: string | null;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly notification: BandwidthNotification;
  readonly dedupKey: string;
}

export type PersistOutcome =
  /** First time this notification was seen; order state updated when it names an order. */
  | { readonly kind: 'stored'; readonly orderId: string | null; readonly applied: boolean }
  /** Same notification as an earlier receipt: receipt stored as a duplicate, nothing else. */
  | { readonly kind: 'duplicate'; readonly duplicateOf: string }
  /** This receipt was already persisted (job redelivered): nothing changed. */
  | { readonly kind: 'already_persisted' };

type Transaction = Parameters<Parameters<Database['$transaction']>[0]>[0];

interface HistoryRow {
  id: bigint;
  status: string | null;
  previous_status: string | null;
  applied: boolean;
  last_modified_at: Date | null;
  actual_foc_date: Date | null;
  received_at: Date;
  arrival_key: string;
}

interface StoredHistoryEvent extends OrderHistoryEvent {
  readonly id: bigint;
  readonly stored: OrderingDecision;
}

/**
 * Re-decides an order's whole history (src/domain/ordering.ts) and writes back what changed:
 * the `applied`/`previous_status` of its events and the order's current state. The caller holds
 * the order's row lock. Because the decision is a function of the set of events (ordered by
 * arrival, not by processing), concurrent workers that store one order's receipts in any order
 * end with the same history and status. Usually nothing but the new event changes; when a
 * worker stored an earlier arrival late, the events after it are corrected here.
 */
export async function recomputeOrder(
  tx: Transaction,
  orderId: string,
  orderType: string,
): Promise<Map<bigint, OrderingDecision>> {
  const rows = await tx.$queryRaw<HistoryRow[]>`
    SELECT id, status, previous_status, applied, last_modified_at, actual_foc_date, received_at,
           COALESCE(notification_id::text, id::text) AS arrival_key
    FROM order_events WHERE order_id = ${orderId}`;
  const events: StoredHistoryEvent[] = rows.map((r) => ({
    id: r.id,
    status: r.status,
    lastModifiedAt: r.last_modified_at,
    actualFocDate: r.actual_foc_date,
    receivedAt: r.received_at,
    arrivalKey: r.arrival_key,
    stored: { applied: r.applied, previousStatus: r.previous_status },
  }));
  const replay = replayOrderHistory(orderType, events);
  const changed = replay.events.filter(
    (e) => e.applied !== e.event.stored.applied || e.previousStatus !== e.event.stored.previousStatus,
  );
  if (changed.length > 0) {
    await tx.$executeRaw`
      UPDATE order_events AS e SET applied = c.applied, previous_status = c.previous_status
      FROM unnest(${changed.map((c) => c.event.id.toString())}::text[],
                  ${changed.map((c) => c.applied)}::boolean[],
                  ${changed.map((c) => c.previousStatus)}::text[]) AS c(id, applied, previous_status)
      WHERE e.id = c.id::bigint`;
  }
  await tx.$executeRaw`
    UPDATE orders SET
      status = ${replay.status},
      is_terminal = ${replay.isTerminal},
      status_changed_at = ${replay.statusChangedAt},
      last_modified_at = ${replay.lastModifiedAt},
      actual_foc_date = ${replay.actualFocDate},
      event_count = ${events.length},
      updated_at = now()
    WHERE order_id = ${orderId}`;
  return new Map(replay.events.map((e) => [e.event.id, { applied: e.applied, previousStatus: e.previousStatus }]));
}

/**
 * One row per HTTP delivery. Only an `accepted` receipt carries the dedup key (unique), so a
 * conflict means "already stored" (same receipt id) or "a copy of a stored notification".
 */
function insertReceipt(
  tx: Transaction,
  receipt: ReceiptToPersist,
  kind: { readonly outcome: 'accepted' | 'duplicate'; readonly duplicateOf: string | null },
): Promise<{ id: string }[]> {
  const n = receipt.notification;
  const dedupKey = kind.outcome === 'accepted' ? receipt.dedupKey : null;
  return tx.$queryRaw<{ id: string }[]>`
    INSERT INTO notifications (
      id, received_at, processed_at, account_id, remote_address, headers, body, outcome, dedup_key, duplicate_of,
      subscription_id, order_id, order_type, event_type, status, customer_order_id, message,
      error_code, note, last_modified_at, actual_foc_date, telephone_numbers, known)
    VALUES (
      ${receipt.receiptId}::uuid, ${receipt.receivedAt}, now(), ${receipt.accountId}, ${receipt.remoteAddress},
      ${JSON.stringify(receipt.headers)}::jsonb, ${receipt.body}, ${kind.outcome}, ${dedupKey},
      ${kind.duplicateOf}::uuid,
      ${n.subscriptionId}, ${n.orderId}, ${n.orderType}, ${n.eventType}, ${n.status}, ${n.customerOrderId},
      ${n.message}, ${n.errorCode}, ${n.note}, ${n.lastModifiedAt}, ${n.actualFocDate},
      ${[...n.telephoneNumbers]}::text[], ${n.known})
    ON CONFLICT DO NOTHING
    RETURNING id`;
}

/**
 * Persists one receipt in one transaction, idempotently:
 * - the receipt id is the primary key, so a redelivered job finds its row and stops;
 * - the dedup key is unique, so a second delivery of the same notification is stored only as
 *   a `duplicate` receipt (counted on the original) and never adds history;
 * - the order row is locked while its history and current status are decided.
 */
export async function persistReceipt(db: Database, receipt: ReceiptToPersist): Promise<PersistOutcome> {
  const n = receipt.notification;
  return db.$transaction(async (tx) => {
    const inserted = await insertReceipt(tx, receipt, { outcome: 'accepted', duplicateOf: null });

    if (inserted.length === 0) {
      const existing = await tx.$queryRaw<{ id: string }[]>`
        SELECT id FROM notifications WHERE id = ${receipt.receiptId}::uuid`;
      if (existing.length > 0) return { kind: 'already_persisted' } as const;
      return recordDuplicate(tx, receipt);
    }

    if (n.orderId === null) return { kind: 'stored', orderId: null, applied: false } as const;

    // Upsert-and-lock in one statement: the no-op update takes the row lock, so concurrent
    // notifications for one order are decided one after the other.
    const rows = await tx.$queryRaw<{ order_type: string }[]>`
      INSERT INTO orders (order_id, order_type, customer_order_id, known, account_id, first_seen_at, last_event_at)
      VALUES (${n.orderId}, ${n.orderType ?? 'unknown'}, ${n.customerOrderId}, ${n.known}, ${receipt.accountId},
              ${receipt.receivedAt}, ${receipt.receivedAt})
      ON CONFLICT (order_id) DO UPDATE SET
        customer_order_id = COALESCE(orders.customer_order_id, EXCLUDED.customer_order_id),
        account_id = COALESCE(orders.account_id, EXCLUDED.account_id),
        known = orders.known AND EXCLUDED.known,
        first_seen_at = LEAST(orders.first_seen_at, EXCLUDED.first_seen_at),
        last_event_at = GREATEST(orders.last_event_at, EXCLUDED.last_event_at)
      RETURNING order_type`;
    const orderType = rows[0]?.order_type;
    if (orderType === undefined) throw new Error('order upsert returned no row');

    // Decided below by recomputeOrder, in the same transaction.
    const events = await tx.$queryRaw<{ id: bigint }[]>`
      INSERT INTO order_events (
        order_id, notification_id, status, previous_status, message, error_code, note, subscription_id,
        telephone_numbers, last_modified_at, received_at, applied, source, actual_foc_date)
      VALUES (
        ${n.orderId}, ${receipt.receiptId}::uuid, ${n.status}, NULL, ${n.message},
        ${n.errorCode}, ${n.note}, ${n.subscriptionId}, ${[...n.telephoneNumbers]}::text[],
        ${n.lastModifiedAt}, ${receipt.receivedAt}, false, 'callback', ${n.actualFocDate})
      RETURNING id`;
    const eventId = events[0]?.id;
    if (eventId === undefined) throw new Error('history insert returned no row');

    if (n.note !== null) {
      await tx.$executeRaw`
        INSERT INTO order_notes (order_id, event_id, note, last_modified_at, received_at)
        VALUES (${n.orderId}, ${eventId}, ${n.note}, ${n.lastModifiedAt}, ${receipt.receivedAt})`;
    }
    if (n.telephoneNumbers.length > 0) {
      await tx.$executeRaw`
        INSERT INTO order_telephone_numbers (order_id, telephone_number, first_seen_at)
        SELECT ${n.orderId}, tn, ${receipt.receivedAt} FROM unnest(${[...n.telephoneNumbers]}::text[]) AS tn
        ON CONFLICT DO NOTHING`;
    }

    const decisions = await recomputeOrder(tx, n.orderId, orderType);
    return { kind: 'stored', orderId: n.orderId, applied: decisions.get(eventId)?.applied ?? false } as const;
  });
}

/**
 * A second copy of a stored notification: kept as its own `duplicate` receipt and counted on
 * the original; never a second history row. When this copy reached us before the original
 * did (workers took them out of order), the history entry takes the earlier arrival time and
 * the order is re-decided, so the result does not depend on which copy a worker stored first.
 */
async function recordDuplicate(tx: Transaction, receipt: ReceiptToPersist): Promise<PersistOutcome> {
  const original = await tx.$queryRaw<{ id: string; order_id: string | null }[]>`
    UPDATE notifications SET duplicate_count = duplicate_count + 1,
                             last_duplicate_at = GREATEST(last_duplicate_at, ${receipt.receivedAt})
    WHERE dedup_key = ${receipt.dedupKey}
    RETURNING id, order_id`;
  const first = original[0];
  if (first === undefined) throw new Error('dedup conflict without an original receipt');
  await insertReceipt(tx, receipt, { outcome: 'duplicate', duplicateOf: first.id });
  if (first.order_id !== null) {
    const locked = await tx.$queryRaw<{ order_type: string }[]>`
      SELECT order_type FROM orders WHERE order_id = ${first.order_id} FOR UPDATE`;
    const orderType = locked[0]?.order_type;
    const moved =
      orderType === undefined
        ? 0
        : await tx.$executeRaw`
            UPDATE order_events SET received_at = ${receipt.receivedAt}
            WHERE notification_id = ${first.id}::uuid AND received_at > ${receipt.receivedAt}`;
    if (orderType !== undefined && moved > 0) await recomputeOrder(tx, first.order_id, orderType);
  }
  return { kind: 'duplicate', duplicateOf: first.id };
}
