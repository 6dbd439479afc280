import { decideOrdering } from '../../src/domain/ordering';
import { isTerminalState } from '../../src/domain/order-types';
import type { ReceiptToPersist } from '../../src/store/notification-store';
import type { Database } from '../../src/store/prisma';

/**
 * PROTOTYPE — NOT USED BY THE SERVICE. Nothing in src/ imports this file; only
 * bench/persist-cost.ts does, to measure what batched persistence would buy (issue #8).
 * src/store/notification-store.ts (issue #3) owns the real semantics; port this there after
 * #3 is merged, do not import it.
 *
 * Persists a batch of receipts in ONE transaction with set-based SQL through Prisma
 * (`$queryRaw` over `jsonb_to_recordset`): about 7 round trips per batch instead of about 7
 * per notification. Same rules as `persistReceipt` at the time of writing: receipt id is
 * idempotent, dedup key unique (later copies stored as `duplicate`), order rows locked while
 * their status is decided, ordering decided by `decideOrdering` in arrival order within the
 * batch. Not handled here and needed before production use: the per-receipt outcome that the
 * BullMQ job returns, and splitting a batch when one receipt makes the transaction fail.
 */

export interface BatchOutcome {
  readonly stored: number;
  readonly duplicates: number;
}

interface OrderState {
  orderType: string;
  status: string | null;
  lastModifiedAt: Date | null;
  statusChangedAt: Date | null;
  changed: boolean;
  customerOrderId: string | null;
  accountId: string | null;
  actualFocDate: Date | null;
  known: boolean;
  firstSeenAt: Date;
  lastEventAt: Date;
  events: number;
}

const RECEIPT_COLUMNS = `id uuid, received_at timestamptz, account_id text, remote_address text, headers jsonb,
  body text, dedup_key text, subscription_id text, order_id text, order_type text, event_type text, status text,
  customer_order_id text, message text, error_code text, note text, last_modified_at timestamptz,
  actual_foc_date timestamptz, telephone_numbers text[], known boolean`;

export async function persistBatchPrototype(
  db: Database,
  receipts: readonly ReceiptToPersist[],
): Promise<BatchOutcome> {
  const rows = receipts.map((r) => {
    const n = r.notification;
    return {
      id: r.receiptId,
      received_at: r.receivedAt.toISOString(),
      account_id: r.accountId,
      remote_address: r.remoteAddress,
      headers: r.headers,
      body: r.body,
      dedup_key: r.dedupKey,
      subscription_id: n.subscriptionId,
      order_id: n.orderId,
      order_type: n.orderType,
      event_type: n.eventType,
      status: n.status,
      customer_order_id: n.customerOrderId,
      message: n.message,
      error_code: n.errorCode,
      note: n.note,
      last_modified_at: n.lastModifiedAt?.toISOString() ?? null,
      actual_foc_date: n.actualFocDate?.toISOString() ?? null,
      telephone_numbers: n.telephoneNumbers,
      known: n.known,
    };
  });
  const json = JSON.stringify(rows);

  return db.$transaction(async (tx) => {
    // 1. Receipts. Within one statement the first of two equal dedup keys wins, like arrival.
    const inserted = await tx.$queryRawUnsafe<{ id: string }[]>(
      `INSERT INTO notifications (id, received_at, processed_at, account_id, remote_address, headers, body, outcome,
         dedup_key, subscription_id, order_id, order_type, event_type, status, customer_order_id, message, error_code,
         note, last_modified_at, actual_foc_date, telephone_numbers, known)
       SELECT id, received_at, now(), account_id, remote_address, headers, body, 'accepted', dedup_key, subscription_id,
         order_id, order_type, event_type, status, customer_order_id, message, error_code, note, last_modified_at,
         actual_foc_date, telephone_numbers, known
       FROM jsonb_to_recordset($1::jsonb) AS r(${RECEIPT_COLUMNS})
       ON CONFLICT DO NOTHING
       RETURNING id`,
      json,
    );
    const storedIds = new Set(inserted.map((r) => r.id));
    const rest = rows.filter((r) => !storedIds.has(r.id));
    let duplicates = 0;
    if (rest.length > 0) {
      // 2. Copies of known notifications: stored as duplicates; redelivered receipts skipped.
      duplicates = await tx.$executeRawUnsafe(
        `INSERT INTO notifications (id, received_at, processed_at, account_id, remote_address, headers, body, outcome,
           duplicate_of, subscription_id, order_id, order_type, event_type, status, customer_order_id, message,
           error_code, note, last_modified_at, actual_foc_date, telephone_numbers, known)
         SELECT r.id, r.received_at, now(), r.account_id, r.remote_address, r.headers, r.body, 'duplicate', o.id,
           r.subscription_id, r.order_id, r.order_type, r.event_type, r.status, r.customer_order_id, r.message,
           r.error_code, r.note, r.last_modified_at, r.actual_foc_date, r.telephone_numbers, r.known
         FROM jsonb_to_recordset($1::jsonb) AS r(${RECEIPT_COLUMNS})
         JOIN notifications o ON o.dedup_key = r.dedup_key
         ON CONFLICT (id) DO NOTHING`,
        JSON.stringify(rest),
      );
    }

    const forOrders = receipts.filter((r) => storedIds.has(r.receiptId) && r.notification.orderId !== null);
    if (forOrders.length === 0) return { stored: storedIds.size, duplicates };

    // 3. Make sure every order row exists, then lock them all (in key order: no deadlocks).
    const orderIds = [...new Set(forOrders.map((r) => r.notification.orderId!))].sort();
    await tx.$executeRawUnsafe(
      `INSERT INTO orders (order_id, order_type, customer_order_id, known, account_id, first_seen_at, last_event_at)
       SELECT DISTINCT ON (order_id) order_id, COALESCE(order_type, 'unknown'), customer_order_id, known, account_id,
         received_at, received_at
       FROM jsonb_to_recordset($1::jsonb) AS r(${RECEIPT_COLUMNS})
       WHERE order_id IS NOT NULL AND id = ANY($2::uuid[])
       ORDER BY order_id
       ON CONFLICT (order_id) DO NOTHING`,
      json,
      [...storedIds],
    );
    const current = await tx.$queryRawUnsafe<
      {
        order_id: string;
        status: string | null;
        last_modified_at: Date | null;
        status_changed_at: Date | null;
        customer_order_id: string | null;
        account_id: string | null;
        actual_foc_date: Date | null;
        known: boolean;
        first_seen_at: Date;
        last_event_at: Date;
      }[]
    >(
      `SELECT order_id, status, last_modified_at, status_changed_at, customer_order_id, account_id, actual_foc_date,
         known, first_seen_at, last_event_at
       FROM orders WHERE order_id = ANY($1::text[]) ORDER BY order_id FOR UPDATE`,
      orderIds,
    );

    // 4. Decide every event in arrival order, in memory.
    const states = new Map<string, OrderState>();
    for (const row of current) {
      states.set(row.order_id, {
        orderType: 'unknown',
        status: row.status,
        lastModifiedAt: row.last_modified_at,
        statusChangedAt: row.status_changed_at,
        changed: false,
        customerOrderId: row.customer_order_id,
        accountId: row.account_id,
        actualFocDate: row.actual_foc_date,
        known: row.known,
        firstSeenAt: row.first_seen_at,
        lastEventAt: row.last_event_at,
        events: 0,
      });
    }
    const events = forOrders.map((r) => {
      const n = r.notification;
      const state = states.get(n.orderId!)!;
      const orderType = n.orderType ?? 'unknown';
      const decision = decideOrdering(
        state.status === null ? null : { orderType, status: state.status, lastModifiedAt: state.lastModifiedAt },
        { status: n.status, lastModifiedAt: n.lastModifiedAt },
        orderType,
      );
      const status = decision.applied ? n.status : state.status;
      if (decision.applied) {
        if (status !== state.status) state.statusChangedAt = r.receivedAt;
        state.lastModifiedAt = n.lastModifiedAt ?? state.lastModifiedAt;
      }
      state.orderType = orderType;
      state.status = status;
      state.changed = true;
      state.customerOrderId ??= n.customerOrderId;
      state.accountId ??= r.accountId;
      state.actualFocDate = n.actualFocDate ?? state.actualFocDate;
      state.known = state.known && n.known;
      if (r.receivedAt < state.firstSeenAt) state.firstSeenAt = r.receivedAt;
      if (r.receivedAt > state.lastEventAt) state.lastEventAt = r.receivedAt;
      state.events += 1;
      return {
        order_id: n.orderId,
        notification_id: r.receiptId,
        status: n.status,
        previous_status: decision.previousStatus,
        message: n.message,
        error_code: n.errorCode,
        note: n.note,
        subscription_id: n.subscriptionId,
        telephone_numbers: n.telephoneNumbers,
        last_modified_at: n.lastModifiedAt?.toISOString() ?? null,
        received_at: r.receivedAt.toISOString(),
        applied: decision.applied,
      };
    });

    // 5. History and notes in one statement; numbers in another.
    await tx.$executeRawUnsafe(
      `WITH e AS (
         SELECT * FROM jsonb_to_recordset($1::jsonb) AS e(order_id text, notification_id uuid, status text,
           previous_status text, message text, error_code text, note text, subscription_id text,
           telephone_numbers text[], last_modified_at timestamptz, received_at timestamptz, applied boolean)
       ), ins AS (
         INSERT INTO order_events (order_id, notification_id, status, previous_status, message, error_code, note,
           subscription_id, telephone_numbers, last_modified_at, received_at, applied, source)
         SELECT order_id, notification_id, status, previous_status, message, error_code, note, subscription_id,
           telephone_numbers, last_modified_at, received_at, applied, 'callback' FROM e
         RETURNING id, notification_id
       )
       INSERT INTO order_notes (order_id, event_id, note, last_modified_at, received_at)
       SELECT e.order_id, ins.id, e.note, e.last_modified_at, e.received_at
       FROM ins JOIN e ON e.notification_id = ins.notification_id WHERE e.note IS NOT NULL`,
      JSON.stringify(events),
    );
    await tx.$executeRawUnsafe(
      `INSERT INTO order_telephone_numbers (order_id, telephone_number, first_seen_at)
       SELECT e.order_id, tn, min(e.received_at)
       FROM jsonb_to_recordset($1::jsonb) AS e(order_id text, telephone_numbers text[], received_at timestamptz),
            unnest(e.telephone_numbers) AS tn
       GROUP BY e.order_id, tn
       ON CONFLICT DO NOTHING`,
      JSON.stringify(events),
    );

    // 6. One UPDATE for every touched order.
    const updates = [...states.entries()].map(([orderId, s]) => ({
      order_id: orderId,
      status: s.status,
      is_terminal: isTerminalState(s.orderType, s.status),
      last_modified_at: s.lastModifiedAt?.toISOString() ?? null,
      status_changed_at: s.statusChangedAt?.toISOString() ?? null,
      customer_order_id: s.customerOrderId,
      account_id: s.accountId,
      actual_foc_date: s.actualFocDate?.toISOString() ?? null,
      known: s.known,
      first_seen_at: s.firstSeenAt.toISOString(),
      last_event_at: s.lastEventAt.toISOString(),
      events: s.events,
    }));
    await tx.$executeRawUnsafe(
      `UPDATE orders o SET status = u.status, is_terminal = u.is_terminal, last_modified_at = u.last_modified_at,
         status_changed_at = u.status_changed_at, customer_order_id = u.customer_order_id, account_id = u.account_id,
         actual_foc_date = u.actual_foc_date, known = u.known, first_seen_at = u.first_seen_at,
         last_event_at = u.last_event_at, event_count = o.event_count + u.events, updated_at = now()
       FROM jsonb_to_recordset($1::jsonb) AS u(order_id text, status text, is_terminal boolean,
         last_modified_at timestamptz, status_changed_at timestamptz, customer_order_id text, account_id text,
         actual_foc_date timestamptz, known boolean, first_seen_at timestamptz, last_event_at timestamptz, events int)
       WHERE o.order_id = u.order_id`,
      JSON.stringify(updates),
    );
    return { stored: storedIds.size, duplicates };
  });
}
