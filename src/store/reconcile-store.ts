import { createHash, randomUUID } from 'node:crypto';
import { isKnownOrderType, isKnownState } from '../domain/order-types';
import { recomputeOrder } from './notification-store';
import type { Database } from './prisma';

/**
 * Persistence of the reconciler: which orders look stuck, and recording what Bandwidth says
 * their status is as a `source = 'reconcile'` notification + history entry, under the same
 * ordering rules as callbacks (decideOrdering), so a look-up never regresses a status.
 */

export interface OrderToReconcile {
  readonly orderId: string;
  readonly orderType: string;
  readonly status: string | null;
}

export interface StuckOrderQuery {
  /** Only orders with no event for this long. */
  readonly idleSeconds: number;
  /** And not looked up within this long. */
  readonly recheckSeconds: number;
  readonly orderTypes: readonly string[];
  readonly limit: number;
}

/** Non-terminal orders idle past the threshold, least recently active first. */
export async function findOrdersToReconcile(db: Database, q: StuckOrderQuery): Promise<OrderToReconcile[]> {
  const rows = await db.$queryRaw<{ order_id: string; order_type: string; status: string | null }[]>`
    SELECT o.order_id, o.order_type, o.status
    FROM orders o
    LEFT JOIN order_reconciliations r ON r.order_id = o.order_id
    WHERE NOT o.is_terminal
      AND o.order_type = ANY(${[...q.orderTypes]}::text[])
      AND o.last_event_at <= now() - make_interval(secs => ${q.idleSeconds})
      AND (r.checked_at IS NULL OR r.checked_at <= now() - make_interval(secs => ${q.recheckSeconds}))
    ORDER BY o.last_event_at ASC
    LIMIT ${q.limit}`;
  return rows.map((r) => ({ orderId: r.order_id, orderType: r.order_type, status: r.status }));
}

export interface ReconciledStatus {
  readonly orderId: string;
  readonly orderType: string;
  readonly status: string;
  readonly customerOrderId: string | null;
  readonly lastModifiedAt: Date | null;
  readonly accountId: string | null;
  readonly message: string;
  /** The synthesized `<Notification>` stored as the notification body. */
  readonly body: string;
  readonly receivedAt: Date;
}

export type ReconcileRecordOutcome =
  /** Bandwidth agrees with what we have: nothing written. */
  | { readonly kind: 'unchanged' }
  /** This very status (same last-modified) was recorded by an earlier look-up. */
  | { readonly kind: 'already_recorded' }
  /** A new notification + history entry; `applied` false when the ordering rules kept ours. */
  | { readonly kind: 'recorded'; readonly notificationId: string; readonly applied: boolean };

interface LockedOrder {
  status: string | null;
  last_modified_at: Date | null;
  order_type: string;
}

/** Same status at the same last-modified time is one fact, however often we look it up. */
function reconcileDedupKey(r: ReconciledStatus): string {
  const canonical = JSON.stringify(['reconcile', r.orderId, r.status, r.lastModifiedAt?.toISOString() ?? null]);
  return createHash('sha256').update(canonical).digest('hex');
}

export async function recordReconciledStatus(db: Database, r: ReconciledStatus): Promise<ReconcileRecordOutcome> {
  const known = isKnownOrderType(r.orderType) && isKnownState(r.orderType, r.status);
  return db.$transaction(async (tx) => {
    // Upsert-and-lock, as the callback path does: decisions about one order are serialised.
    // A per-order subscription may be reconciled before any callback created the order.
    const locked = await tx.$queryRaw<LockedOrder[]>`
      INSERT INTO orders (order_id, order_type, customer_order_id, known, account_id, first_seen_at, last_event_at)
      VALUES (${r.orderId}, ${r.orderType}, ${r.customerOrderId}, ${known}, ${r.accountId}, ${r.receivedAt}, ${r.receivedAt})
      ON CONFLICT (order_id) DO UPDATE SET order_id = EXCLUDED.order_id
      RETURNING status, last_modified_at, order_type`;
    const current = locked[0];
    if (current === undefined) throw new Error('order upsert returned no row');
    const orderType = current.order_type;
    if (current.status === r.status) return { kind: 'unchanged' } as const;

    const notificationId = randomUUID();
    const inserted = await tx.$queryRaw<{ id: string }[]>`
      INSERT INTO notifications (
        id, received_at, processed_at, account_id, headers, body, outcome, dedup_key, source,
        order_id, order_type, status, customer_order_id, message, last_modified_at, known)
      VALUES (
        ${notificationId}::uuid, ${r.receivedAt}, now(), ${r.accountId}, '{}'::jsonb, ${r.body}, 'accepted',
        ${reconcileDedupKey(r)}, 'reconcile', ${r.orderId}, ${r.orderType}, ${r.status}, ${r.customerOrderId},
        ${r.message}, ${r.lastModifiedAt}, ${known})
      ON CONFLICT DO NOTHING
      RETURNING id`;
    if (inserted.length === 0) return { kind: 'already_recorded' } as const;

    // Decided by issue #3's replay of the whole history (same rules, same order as callbacks).
    const events = await tx.$queryRaw<{ id: bigint }[]>`
      INSERT INTO order_events (
        order_id, notification_id, status, previous_status, message, last_modified_at, received_at, applied, source)
      VALUES (
        ${r.orderId}, ${notificationId}::uuid, ${r.status}, NULL, ${r.message},
        ${r.lastModifiedAt}, ${r.receivedAt}, false, 'reconcile')
      RETURNING id`;
    const eventId = events[0]?.id;
    if (eventId === undefined) throw new Error('history insert returned no row');
    await tx.$executeRaw`
      UPDATE orders SET customer_order_id = COALESCE(customer_order_id, ${r.customerOrderId}),
                        last_event_at = GREATEST(last_event_at, ${r.receivedAt})
      WHERE order_id = ${r.orderId}`;
    const decisions = await recomputeOrder(tx, r.orderId, orderType);
    const applied = decisions.get(eventId)?.applied ?? false;
    return { kind: 'recorded', notificationId, applied } as const;
  });
}

export interface ReconcileCheck {
  readonly orderId: string;
  readonly orderType: string;
  readonly outcome: string;
  readonly remoteStatus: string | null;
  readonly error: string | null;
}

/** Remembers the look-up, so an order is not asked about again before the recheck interval. */
export async function recordReconcileCheck(db: Database, c: ReconcileCheck): Promise<void> {
  await db.$executeRaw`
    INSERT INTO order_reconciliations (order_id, order_type, checked_at, outcome, remote_status, last_error)
    VALUES (${c.orderId}, ${c.orderType}, now(), ${c.outcome}, ${c.remoteStatus}, ${c.error})
    ON CONFLICT (order_id) DO UPDATE SET
      order_type = EXCLUDED.order_type, checked_at = EXCLUDED.checked_at, outcome = EXCLUDED.outcome,
      remote_status = EXCLUDED.remote_status, last_error = EXCLUDED.last_error,
      checks = order_reconciliations.checks + 1`;
}
