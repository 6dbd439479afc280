import type { BandwidthNotification } from '../domain/notification';
import { decideOrdering } from '../domain/ordering';
import { isTerminalState } from '../domain/order-types';
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

interface OrderRow {
  order_id: string;
  status: string | null;
  last_modified_at: Date | null;
  inserted: boolean;
}

/**
 * Persists one receipt in one transaction, idempotently:
 * - the receipt id is the primary key, so a redelivered job finds its row and stops;
 * - the dedup key is unique, so a second delivery of the same notification is stored only as
 *   a `duplicate` receipt and never adds history;
 * - the order row is locked while its current status is decided.
 */
export async function persistReceipt(db: Database, receipt: ReceiptToPersist): Promise<PersistOutcome> {
  const n = receipt.notification;
  return db.$transaction(async (tx) => {
    const inserted = await tx.$queryRaw<{ id: string }[]>`
      INSERT INTO notifications (
        id, received_at, processed_at, account_id, remote_address, headers, body, outcome, dedup_key,
        subscription_id, order_id, order_type, event_type, status, customer_order_id, message,
        error_code, note, last_modified_at, actual_foc_date, telephone_numbers, known)
      VALUES (
        ${receipt.receiptId}::uuid, ${receipt.receivedAt}, now(), ${receipt.accountId}, ${receipt.remoteAddress},
        ${JSON.stringify(receipt.headers)}::jsonb, ${receipt.body}, 'accepted', ${receipt.dedupKey},
        ${n.subscriptionId}, ${n.orderId}, ${n.orderType}, ${n.eventType}, ${n.status}, ${n.customerOrderId},
        ${n.message}, ${n.errorCode}, ${n.note}, ${n.lastModifiedAt}, ${n.actualFocDate},
        ${[...n.telephoneNumbers]}::text[], ${n.known})
      ON CONFLICT DO NOTHING
      RETURNING id`;

    if (inserted.length === 0) {
      const existing = await tx.$queryRaw<{ id: string }[]>`
        SELECT id FROM notifications WHERE id = ${receipt.receiptId}::uuid`;
      if (existing.length > 0) return { kind: 'already_persisted' } as const;
      const original = await tx.$queryRaw<{ id: string }[]>`
        SELECT id FROM notifications WHERE dedup_key = ${receipt.dedupKey}`;
      const duplicateOf = original[0]?.id;
      if (duplicateOf === undefined) throw new Error('dedup conflict without an original receipt');
      await tx.$executeRaw`
        INSERT INTO notifications (
          id, received_at, processed_at, account_id, remote_address, headers, body, outcome, duplicate_of,
          subscription_id, order_id, order_type, event_type, status, customer_order_id, message,
          error_code, note, last_modified_at, actual_foc_date, telephone_numbers, known)
        VALUES (
          ${receipt.receiptId}::uuid, ${receipt.receivedAt}, now(), ${receipt.accountId}, ${receipt.remoteAddress},
          ${JSON.stringify(receipt.headers)}::jsonb, ${receipt.body}, 'duplicate', ${duplicateOf}::uuid,
          ${n.subscriptionId}, ${n.orderId}, ${n.orderType}, ${n.eventType}, ${n.status}, ${n.customerOrderId},
          ${n.message}, ${n.errorCode}, ${n.note}, ${n.lastModifiedAt}, ${n.actualFocDate},
          ${[...n.telephoneNumbers]}::text[], ${n.known})`;
      return { kind: 'duplicate', duplicateOf } as const;
    }

    if (n.orderId === null) return { kind: 'stored', orderId: null, applied: false } as const;

    const orderType = n.orderType ?? 'unknown';
    // Upsert-and-lock in one statement: the no-op update takes the row lock, so concurrent
    // notifications for one order are decided one after the other.
    const rows = await tx.$queryRaw<OrderRow[]>`
      INSERT INTO orders (order_id, order_type, customer_order_id, known, account_id, first_seen_at, last_event_at)
      VALUES (${n.orderId}, ${orderType}, ${n.customerOrderId}, ${n.known}, ${receipt.accountId},
              ${receipt.receivedAt}, ${receipt.receivedAt})
      ON CONFLICT (order_id) DO UPDATE SET order_id = EXCLUDED.order_id
      RETURNING order_id, status, last_modified_at, (xmax = 0) AS inserted`;
    const current = rows[0];
    if (current === undefined) throw new Error('order upsert returned no row');

    const decision = decideOrdering(
      current.status === null ? null : { orderType, status: current.status, lastModifiedAt: current.last_modified_at },
      { status: n.status, lastModifiedAt: n.lastModifiedAt },
      orderType,
    );

    const events = await tx.$queryRaw<{ id: bigint }[]>`
      INSERT INTO order_events (
        order_id, notification_id, status, previous_status, message, error_code, note, subscription_id,
        telephone_numbers, last_modified_at, received_at, applied, source)
      VALUES (
        ${n.orderId}, ${receipt.receiptId}::uuid, ${n.status}, ${decision.previousStatus}, ${n.message},
        ${n.errorCode}, ${n.note}, ${n.subscriptionId}, ${[...n.telephoneNumbers]}::text[],
        ${n.lastModifiedAt}, ${receipt.receivedAt}, ${decision.applied}, 'callback')
      RETURNING id`;
    const eventId = events[0]?.id;

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

    const status = decision.applied ? n.status : current.status;
    await tx.$executeRaw`
      UPDATE orders SET
        status = ${status},
        is_terminal = ${isTerminalState(orderType, status)},
        last_modified_at = CASE WHEN ${decision.applied} THEN COALESCE(${n.lastModifiedAt}, last_modified_at)
                                ELSE last_modified_at END,
        status_changed_at = CASE WHEN ${decision.applied} AND status IS DISTINCT FROM ${status}
                                 THEN ${receipt.receivedAt} ELSE status_changed_at END,
        customer_order_id = COALESCE(customer_order_id, ${n.customerOrderId}),
        account_id = COALESCE(account_id, ${receipt.accountId}),
        actual_foc_date = COALESCE(${n.actualFocDate}, actual_foc_date),
        known = known AND ${n.known},
        first_seen_at = LEAST(first_seen_at, ${receipt.receivedAt}),
        last_event_at = GREATEST(last_event_at, ${receipt.receivedAt}),
        event_count = event_count + 1,
        updated_at = now()
      WHERE order_id = ${n.orderId}`;

    return { kind: 'stored', orderId: n.orderId, applied: decision.applied } as const;
  });
}
