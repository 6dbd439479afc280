import type { BandwidthNotification } from '../domain/notification';
import type { OrderHistoryEvent, OrderingDecision, ReplayedOrder } from '../domain/ordering';
import { replayOrderHistory } from '../domain/ordering';
import { Prisma } from '../generated/prisma/client';
import type { NewDelivery, QueuedDelivery } from './handler-delivery-store';
import type { Int8, SqlClient, SqlDatabase } from './sql';

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

/**
 * How a later receipt of a known order updates its row (single and batched writes): first
 * non-null ids win, `known` only while every receipt is known, earliest/latest arrival. Reads
 * `orders` (the row) and `EXCLUDED` (the receipts): the upsert's own alias, and the name the
 * batched UPDATE gives its input, so both apply these very assignments.
 */
const ORDER_MERGE = Prisma.sql`
  customer_order_id = COALESCE(orders.customer_order_id, EXCLUDED.customer_order_id),
  account_id = COALESCE(orders.account_id, EXCLUDED.account_id),
  known = orders.known AND EXCLUDED.known,
  first_seen_at = LEAST(orders.first_seen_at, EXCLUDED.first_seen_at),
  last_event_at = GREATEST(orders.last_event_at, EXCLUDED.last_event_at)`;

/** One transaction: Prisma's interactive one (reconciler, tests) or the worker's on its pool. */
type Transaction = SqlClient;

interface HistoryRow {
  order_id: string;
  id: Int8;
  notification_id: string | null;
  status: string | null;
  previous_status: string | null;
  applied: boolean;
  last_modified_at: Date | null;
  actual_foc_date: Date | null;
  received_at: Date;
  arrival_key: string;
}

/** A history row as stored: what the replay reads, and what it wrote last time. */
interface StoredHistoryEvent extends OrderHistoryEvent {
  readonly kind: 'stored';
  readonly id: bigint;
  readonly notificationId: string | null;
  readonly stored: OrderingDecision & { readonly receivedAt: Date };
}

/** Every history row of `orderIds`, by order. The caller holds the orders' row locks. */
async function readHistory(tx: Transaction, orderIds: readonly string[]): Promise<Map<string, StoredHistoryEvent[]>> {
  const byOrder = new Map<string, StoredHistoryEvent[]>(orderIds.map((id) => [id, []]));
  if (orderIds.length === 0) return byOrder;
  const rows = await tx.$queryRaw<HistoryRow[]>`
    SELECT order_id, id, notification_id::text, status, previous_status, applied, last_modified_at, actual_foc_date,
           received_at, COALESCE(notification_id::text, id::text) AS arrival_key
    FROM order_events WHERE order_id = ANY(${orderIds}::text[])`;
  for (const r of rows) {
    byOrder.get(r.order_id)?.push({
      kind: 'stored',
      id: BigInt(r.id),
      notificationId: r.notification_id,
      status: r.status,
      lastModifiedAt: r.last_modified_at,
      actualFocDate: r.actual_foc_date,
      receivedAt: r.received_at,
      arrivalKey: r.arrival_key,
      stored: { applied: r.applied, previousStatus: r.previous_status, receivedAt: r.received_at },
    });
  }
  return byOrder;
}

/** A stored history row whose decision (or arrival, moved by an earlier copy) changed. */
interface ChangedEvent {
  readonly id: bigint;
  readonly applied: boolean;
  readonly previousStatus: string | null;
  readonly receivedAt: Date;
}

function changedEvent(event: StoredHistoryEvent, decision: OrderingDecision): ChangedEvent | null {
  const { stored } = event;
  const same =
    decision.applied === stored.applied &&
    decision.previousStatus === stored.previousStatus &&
    event.receivedAt.getTime() === stored.receivedAt.getTime();
  if (same) return null;
  return {
    id: event.id,
    applied: decision.applied,
    previousStatus: decision.previousStatus,
    receivedAt: event.receivedAt,
  };
}

async function updateHistory(tx: Transaction, changed: readonly ChangedEvent[]): Promise<void> {
  if (changed.length === 0) return;
  await tx.$executeRaw`
    UPDATE order_events AS e SET applied = c.applied, previous_status = c.previous_status, received_at = c.received_at
    FROM unnest(${changed.map((c) => c.id.toString())}::text[],
                ${changed.map((c) => c.applied)}::boolean[],
                ${changed.map((c) => c.previousStatus)}::text[],
                ${changed.map((c) => c.receivedAt.toISOString())}::timestamptz[]) AS c(id, applied, previous_status, received_at)
    WHERE e.id = c.id::bigint`;
}

/**
 * An order row as the batch writes it: the receipts' merge (`ORDER_MERGE`; for an order
 * re-decided without new receipts, values that change nothing) and the replayed state.
 */
interface OrderRecord {
  order_id: string;
  order_type: string;
  customer_order_id: string | null;
  known: boolean;
  account_id: string | null;
  first_seen_at: string | null;
  last_event_at: string | null;
  status: string | null;
  is_terminal: boolean;
  status_changed_at: string | null;
  last_modified_at: string | null;
  actual_foc_date: string | null;
  event_count: number;
}

/** The columns of `OrderRecord`, as `jsonb_to_recordset` reads them (a fixed text). */
const ORDER_RECORD = Prisma.raw(`order_id text, order_type text, customer_order_id text, known boolean,
  account_id text, first_seen_at timestamptz, last_event_at timestamptz, status text, is_terminal boolean,
  status_changed_at timestamptz, last_modified_at timestamptz, actual_foc_date timestamptz, event_count int`);

const iso = (d: Date | null): string | null => d?.toISOString() ?? null;

/** The replayed state of an order's row. */
function replayedState(
  replay: ReplayedOrder<OrderHistoryEvent>,
): Pick<
  OrderRecord,
  'status' | 'is_terminal' | 'status_changed_at' | 'last_modified_at' | 'actual_foc_date' | 'event_count'
> {
  return {
    status: replay.status,
    is_terminal: replay.isTerminal,
    status_changed_at: iso(replay.statusChangedAt),
    last_modified_at: iso(replay.lastModifiedAt),
    actual_foc_date: iso(replay.actualFocDate),
    event_count: replay.events.length,
  };
}

/** Existing orders (the caller holds their locks): merged with their receipts, state replaced. */
async function updateOrders(tx: Transaction, records: readonly OrderRecord[]): Promise<void> {
  if (records.length === 0) return;
  await tx.$executeRaw`
    UPDATE orders SET ${ORDER_MERGE},
      status = EXCLUDED.status,
      is_terminal = EXCLUDED.is_terminal,
      status_changed_at = EXCLUDED.status_changed_at,
      last_modified_at = EXCLUDED.last_modified_at,
      actual_foc_date = EXCLUDED.actual_foc_date,
      event_count = EXCLUDED.event_count,
      updated_at = now()
    FROM jsonb_to_recordset(${JSON.stringify(records)}::jsonb) AS EXCLUDED(${ORDER_RECORD})
    WHERE orders.order_id = EXCLUDED.order_id`;
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
  const decisions = new Map<bigint, OrderingDecision>();
  const events = (await readHistory(tx, [orderId])).get(orderId) ?? [];
  const replay = replayOrderHistory(orderType, events);
  const changed: ChangedEvent[] = [];
  for (const e of replay.events) {
    decisions.set(e.event.id, { applied: e.applied, previousStatus: e.previousStatus });
    const change = changedEvent(e.event, e);
    if (change !== null) changed.push(change);
  }
  await updateHistory(tx, changed);
  // The receipt's merge was the upsert's: nothing more to merge here.
  await updateOrders(tx, [{ ...UNMERGED, order_id: orderId, order_type: orderType, ...replayedState(replay) }]);
  return decisions;
}

/**
 * A batch holds up to PERSIST_BATCH_MAX (1,000) receipts: more than Prisma's default 5 s on a busy host.
 * On the worker's pool it is each statement's timeout (`SET LOCAL statement_timeout`).
 */
const BATCH_TRANSACTION = { timeout: 30_000 } as const;

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
export async function persistReceipt(db: SqlDatabase, receipt: ReceiptToPersist): Promise<PersistOutcome> {
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
      ON CONFLICT (order_id) DO UPDATE SET ${ORDER_MERGE}
      RETURNING order_type`;
    const orderType = rows[0]?.order_type;
    if (orderType === undefined) throw new Error('order upsert returned no row');

    // Decided below by recomputeOrder, in the same transaction.
    const events = await tx.$queryRaw<{ id: Int8 }[]>`
      INSERT INTO order_events (
        order_id, notification_id, status, previous_status, message, error_code, note, subscription_id,
        telephone_numbers, last_modified_at, received_at, applied, source, actual_foc_date)
      VALUES (
        ${n.orderId}, ${receipt.receiptId}::uuid, ${n.status}, NULL, ${n.message},
        ${n.errorCode}, ${n.note}, ${n.subscriptionId}, ${[...n.telephoneNumbers]}::text[],
        ${n.lastModifiedAt}, ${receipt.receivedAt}, false, 'callback', ${n.actualFocDate})
      RETURNING id`;
    const eventRow = events[0];
    if (eventRow === undefined) throw new Error('history insert returned no row');
    const eventId = BigInt(eventRow.id);

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
  }, BATCH_TRANSACTION);
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

/** Thrown inside a batch when another transaction stored one of its receipts concurrently. */
export class BatchRaceError extends Error {
  override readonly name = 'BatchRaceError';
}

interface OrderUpsert {
  order_id: string;
  order_type: string;
  customer_order_id: string | null;
  known: boolean;
  account_id: string | null;
  first_seen_at: string;
  last_event_at: string;
}

type BatchPlan =
  | { readonly kind: 'already_persisted' }
  | { readonly kind: 'duplicate'; readonly originalId: string; readonly orderId: string | null }
  | { readonly kind: 'stored' };

/** The receipt columns of `notifications`, as `jsonb_to_recordset` reads them (a fixed text). */
const RECEIPT_RECORD =
  Prisma.raw(`id uuid, received_at timestamptz, account_id text, remote_address text, headers jsonb,
  body text, duplicate_of uuid, subscription_id text, order_id text, order_type text, event_type text, status text,
  customer_order_id text, message text, error_code text, note text, last_modified_at timestamptz,
  actual_foc_date timestamptz, telephone_numbers text[], known boolean, dedup_key text, ord int`);

function receiptRecord(receipt: ReceiptToPersist, ord: number, duplicateOf: string | null) {
  const n = receipt.notification;
  return {
    id: receipt.receiptId,
    received_at: receipt.receivedAt.toISOString(),
    account_id: receipt.accountId,
    remote_address: receipt.remoteAddress,
    headers: receipt.headers,
    body: receipt.body,
    duplicate_of: duplicateOf,
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
    dedup_key: duplicateOf === null ? receipt.dedupKey : null,
    ord,
  };
}

/**
 * Inserts the receipt records of `source` (rows of `RECEIPT_RECORD`, in `ord` order): a first
 * arrival (`duplicate_of` null) is `accepted` and carries its dedup key, a copy is `duplicate`
 * and names its original (`receiptRecord` gives a copy no dedup key).
 */
function insertReceiptRecords(source: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`
    INSERT INTO notifications (id, received_at, processed_at, account_id, remote_address, headers, body, outcome,
      dedup_key, duplicate_of, subscription_id, order_id, order_type, event_type, status, customer_order_id, message,
      error_code, note, last_modified_at, actual_foc_date, telephone_numbers, known)
    SELECT id, received_at, now(), account_id, remote_address, headers, body,
      CASE WHEN duplicate_of IS NULL THEN 'accepted' ELSE 'duplicate' END, dedup_key, duplicate_of,
      subscription_id, order_id, order_type, event_type, status, customer_order_id, message, error_code, note,
      last_modified_at, actual_foc_date, telephone_numbers, known
    FROM ${source} ORDER BY ord
    ON CONFLICT DO NOTHING`;
}

/**
 * Persists several receipts in ONE transaction, with the same end state as calling
 * `persistReceipt` for each of them in array (arrival) order: redelivered receipts are
 * skipped, later copies of a notification are stored as `duplicate` receipts counted on the
 * original (and move its history entry to the earliest arrival). The existing orders are
 * locked in `order_id` order (no deadlock between concurrent batches) and their history read;
 * each touched order is replayed once in memory with the batch's events, then written once:
 * new orders inserted and new history rows inserted in their final state, existing orders
 * updated once, and of the stored history only the rows whose decision changed (issue #8:
 * every row version of `orders` costs its 9 index entries). About 9 round trips per batch
 * instead of about 7 per receipt.
 *
 * One difference from the sequential calls: the `applied` of a stored outcome is the decision
 * after the whole batch (what the database holds), not after the receipt's own prefix.
 * Fails as a whole (nothing written): the caller retries its receipts one by one. A receipt
 * stored, or a new order created, by another transaction meanwhile fails it with
 * `BatchRaceError`, and `persistReceiptsWithFanOut` runs it again in a new transaction.
 */
export async function persistReceipts(
  db: SqlDatabase,
  receipts: readonly ReceiptToPersist[],
): Promise<PersistOutcome[]> {
  return (await persistReceiptsWithFanOut(db, receipts, undefined)).outcomes;
}

/**
 * The handler fan-out of a batch, written in the batch's own transaction (a transactional
 * outbox): the delivery rows and dispatch markers of the notifications it stores commit with
 * them or not at all, so no notification is ever stored without its fan-out.
 */
export interface BatchFanOut {
  readonly source: string;
  /** The deliveries of one newly stored notification; `position` is its `order_events.id`. */
  deliveriesOf(receipt: ReceiptToPersist, position: bigint | null): NewDelivery[];
}

export interface PersistedBatch {
  /** One per receipt, in the order given. */
  readonly outcomes: PersistOutcome[];
  /** The unfinished deliveries written by this batch, in persistence order: to be enqueued. */
  readonly queued: QueuedDelivery[];
}

/** `persistReceipts`, plus the fan-out of every stored notification in the same transaction. */
export async function persistReceiptsWithFanOut(
  db: SqlDatabase,
  receipts: readonly ReceiptToPersist[],
  fanOut: BatchFanOut | undefined,
): Promise<PersistedBatch> {
  // A race is with another batch that stored a copy of one of these notifications while this
  // one was deciding: it has committed by the time the conflict is seen, so a second attempt
  // (a new transaction) sees its receipt and stores ours as a duplicate.
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await persistBatchOnce(db, receipts, fanOut);
    } catch (error: unknown) {
      if (!(error instanceof BatchRaceError) || attempt >= BATCH_RACE_ATTEMPTS) throw error;
    }
  }
}

/**
 * One statement: the dispatch marker of every stored notification (also those no handler
 * wants: the ordering gate of a later delivery of their order asks whether they were fanned
 * out) and the delivery rows. Idempotent on the deterministic delivery ids.
 */
async function writeFanOut(
  tx: Transaction,
  fanOut: BatchFanOut,
  stored: readonly ReceiptToPersist[],
  eventIds: ReadonlyMap<string, bigint>,
): Promise<QueuedDelivery[]> {
  if (stored.length === 0) return [];
  const d = stored.flatMap((r) => fanOut.deliveriesOf(r, eventIds.get(r.receiptId.toLowerCase()) ?? null));
  return tx.$queryRaw<QueuedDelivery[]>`
    WITH marked AS (
      INSERT INTO notification_dispatches (notification_id, source)
      SELECT unnest(${stored.map((r) => r.receiptId)}::uuid[]), ${fanOut.source}
      ON CONFLICT DO NOTHING)
    INSERT INTO handler_deliveries (id, notification_id, handler, status, source, order_id, position)
    SELECT d.id, d.notification_id, d.handler, 'pending', ${fanOut.source}, d.order_id, d.position
      FROM unnest(${d.map((x) => x.id)}::uuid[], ${d.map((x) => x.notificationId)}::uuid[],
                  ${d.map((x) => x.handler)}::text[], ${d.map((x) => x.orderId)}::text[],
                  ${d.map((x) => (x.position === null ? null : x.position.toString()))}::bigint[])
           WITH ORDINALITY AS d(id, notification_id, handler, order_id, position, ord)
     ORDER BY d.ord
    ON CONFLICT (id) DO NOTHING
    RETURNING id::text AS id, handler, retries, order_id AS "orderId"`;
}

const BATCH_RACE_ATTEMPTS = 3;

async function persistBatchOnce(
  db: SqlDatabase,
  receipts: readonly ReceiptToPersist[],
  fanOut: BatchFanOut | undefined,
): Promise<PersistedBatch> {
  if (receipts.length === 0) return { outcomes: [], queued: [] };
  return db.$transaction(async (tx) => {
    const written = await writeBatch(tx, receipts);
    const queued = fanOut === undefined ? [] : await writeFanOut(tx, fanOut, written.stored, written.eventIds);
    return { outcomes: outcomesOf(written.plans, receipts, written.applied), queued };
  }, BATCH_TRANSACTION);
}

interface WrittenBatch {
  readonly plans: readonly BatchPlan[];
  /** The receipts stored for the first time, in arrival order. */
  readonly stored: readonly ReceiptToPersist[];
  /** Receipt id (lower case) -> its history row. */
  readonly eventIds: ReadonlyMap<string, bigint>;
  readonly applied: ReadonlyMap<string, boolean>;
}

async function writeBatch(tx: Transaction, receipts: readonly ReceiptToPersist[]): Promise<WrittenBatch> {
  // 1. What the database already holds: receipts by id, originals by dedup key.
  const existing = await tx.$queryRaw<{ id: string; dedup_key: string | null; order_id: string | null }[]>`
    SELECT id::text, dedup_key, order_id FROM notifications
    WHERE id = ANY(${receipts.map((r) => r.receiptId)}::uuid[])
       OR dedup_key = ANY(${[...new Set(receipts.map((r) => r.dedupKey))]}::text[])`;
  const seen = new Set(existing.map((r) => r.id.toLowerCase()));
  const originals = new Map<string, { id: string; orderId: string | null }>();
  for (const r of existing) if (r.dedup_key !== null) originals.set(r.dedup_key, { id: r.id, orderId: r.order_id });

  // 2. Decide each receipt in arrival order, exactly as `persistReceipt` would one by one.
  const plans: BatchPlan[] = receipts.map((r) => {
    const id = r.receiptId.toLowerCase();
    if (seen.has(id)) return { kind: 'already_persisted' };
    seen.add(id);
    const original = originals.get(r.dedupKey);
    if (original !== undefined) return { kind: 'duplicate', originalId: original.id, orderId: original.orderId };
    originals.set(r.dedupKey, { id: r.receiptId, orderId: r.notification.orderId });
    return { kind: 'stored' };
  });
  const stored = receipts.filter((_, i) => plans[i]?.kind === 'stored');
  const copies = receipts.flatMap((r, i) => {
    const plan = plans[i];
    return plan?.kind === 'duplicate' ? [{ receipt: r, originalId: plan.originalId, orderId: plan.orderId }] : [];
  });

  if (stored.length > 0) {
    const records = stored.map((r, i) => receiptRecord(r, i, null));
    const inserted = await tx.$executeRaw(
      insertReceiptRecords(Prisma.sql`jsonb_to_recordset(${JSON.stringify(records)}::jsonb) AS r(${RECEIPT_RECORD})`),
    );
    if (inserted !== stored.length) throw new BatchRaceError('a receipt of the batch was stored concurrently');
  }
  if (copies.length > 0) {
    const records = copies.map((c, i) => receiptRecord(c.receipt, i, c.originalId));
    await tx.$executeRaw(Prisma.sql`
       WITH r AS (SELECT * FROM jsonb_to_recordset(${JSON.stringify(records)}::jsonb) AS r(${RECEIPT_RECORD})),
       counted AS (
         UPDATE notifications AS o SET duplicate_count = o.duplicate_count + d.copies,
                                       last_duplicate_at = GREATEST(o.last_duplicate_at, d.latest)
         FROM (SELECT duplicate_of, count(*)::int AS copies, max(received_at) AS latest FROM r GROUP BY duplicate_of) d
         WHERE o.id = d.duplicate_of)
       ${insertReceiptRecords(Prisma.sql`r`)}`);
  }

  // 3. Lock every existing order the batch touches, in order_id order, then read its history:
  //    every writer of an order's history holds its row lock, so the history read is complete.
  const forOrders = stored.filter((r) => r.notification.orderId !== null);
  const copyOrders = copies.flatMap((c) => (c.orderId === null ? [] : [c.orderId]));
  const touched = [...new Set([...forOrders.map((r) => r.notification.orderId as string), ...copyOrders])].sort();
  if (touched.length === 0) return { plans, stored, eventIds: new Map(), applied: new Map() };
  const locked = await tx.$queryRaw<{ order_id: string; order_type: string }[]>`
    SELECT order_id, order_type FROM orders WHERE order_id = ANY(${touched}::text[]) ORDER BY order_id FOR UPDATE`;
  const lockedTypes = new Map(locked.map((row) => [row.order_id, row.order_type]));
  const history = await readHistory(tx, [...lockedTypes.keys()]);

  // 4. Decide in memory before writing: each order's history with the batch's new events
  //    (arrival keyed by notification id, known before the insert) and the arrivals moved by
  //    copies, replayed once, so that every row below is written once, in its final state.
  const earliest = earliestCopies(copies);
  const arrivalOf = (notificationId: string | null, receivedAt: Date): Date => {
    const copy = notificationId === null ? undefined : earliest.get(notificationId.toLowerCase());
    return copy !== undefined && copy < receivedAt ? copy : receivedAt;
  };
  const events = new Map<string, BatchHistoryEvent[]>();
  for (const [orderId, rows] of history) {
    events.set(
      orderId,
      rows.map((e) => ({ ...e, receivedAt: arrivalOf(e.notificationId, e.receivedAt) })),
    );
  }
  for (const r of forOrders) {
    const n = r.notification;
    const list = events.get(n.orderId as string) ?? [];
    list.push({
      kind: 'new',
      receipt: r,
      status: n.status,
      lastModifiedAt: n.lastModifiedAt,
      actualFocDate: n.actualFocDate,
      receivedAt: arrivalOf(r.receiptId, r.receivedAt),
      arrivalKey: r.receiptId.toLowerCase(),
    });
    events.set(n.orderId as string, list);
  }
  const merged = mergedOrders(forOrders);
  const decided = new Map<ReceiptToPersist, OrderingDecision & { readonly receivedAt: Date }>();
  const changed: ChangedEvent[] = [];
  const created: OrderRecord[] = [];
  const updated: OrderRecord[] = [];
  for (const [orderId, list] of events) {
    const merge = merged.get(orderId);
    const moved = list.some((e) => e.kind === 'stored' && e.receivedAt.getTime() !== e.stored.receivedAt.getTime());
    // Touched only by copies that moved nothing: locked, not written.
    if (merge === undefined && !moved) continue;
    const orderType = lockedTypes.get(orderId) ?? merge?.order_type ?? 'unknown';
    const replay = replayOrderHistory(orderType, list);
    for (const { event, applied, previousStatus } of replay.events) {
      if (event.kind === 'new') decided.set(event.receipt, { applied, previousStatus, receivedAt: event.receivedAt });
      else {
        const change = changedEvent(event, { applied, previousStatus });
        if (change !== null) changed.push(change);
      }
    }
    const record = {
      ...(merge ?? { ...UNMERGED, order_id: orderId }),
      order_type: orderType,
      ...replayedState(replay),
    };
    (lockedTypes.has(orderId) ? updated : created).push(record);
  }

  // 5. Each order once: new ones inserted in their final state (a concurrent batch that created
  //    one first is a race: this batch starts over and finds it), existing ones updated.
  if (created.length > 0) {
    const inserted = await tx.$queryRaw<{ order_id: string }[]>`
      INSERT INTO orders (order_id, order_type, customer_order_id, known, account_id, first_seen_at, last_event_at,
        status, is_terminal, status_changed_at, last_modified_at, actual_foc_date, event_count)
      SELECT order_id, order_type, customer_order_id, known, account_id, first_seen_at, last_event_at,
        status, is_terminal, status_changed_at, last_modified_at, actual_foc_date, event_count
      FROM jsonb_to_recordset(${JSON.stringify(created)}::jsonb) AS o(${ORDER_RECORD})
      ORDER BY order_id
      ON CONFLICT (order_id) DO NOTHING
      RETURNING order_id`;
    if (inserted.length !== created.length) throw new BatchRaceError('an order of the batch was created concurrently');
  }
  await updateOrders(tx, updated);

  // 6. The new history (arrival order) with its decisions, notes and numbers in one statement;
  //    of the stored history only the rows whose decision or arrival changed.
  const eventIds = new Map<string, bigint>();
  if (forOrders.length > 0) {
    const records = forOrders.map((r, i) => {
      const decision = decided.get(r);
      if (decision === undefined) throw new Error('a new history entry was not replayed');
      return {
        ...receiptRecord(r, i, null),
        // The history insert reads neither: the raw body went out once, with the receipts.
        body: null,
        headers: null,
        applied: decision.applied,
        previous_status: decision.previousStatus,
        event_received_at: decision.receivedAt.toISOString(),
      };
    });
    const inserted = await tx.$queryRaw<{ id: Int8; notification_id: string }[]>`
       WITH e AS (SELECT * FROM jsonb_to_recordset(${JSON.stringify(records)}::jsonb)
         AS e(${RECEIPT_RECORD}, applied boolean, previous_status text, event_received_at timestamptz)),
       ins AS (
         INSERT INTO order_events (order_id, notification_id, status, previous_status, message, error_code, note,
           subscription_id, telephone_numbers, last_modified_at, received_at, applied, source, actual_foc_date)
         SELECT order_id, id, status, previous_status, message, error_code, note, subscription_id, telephone_numbers,
           last_modified_at, event_received_at, applied, 'callback', actual_foc_date
         FROM e ORDER BY ord
         RETURNING id, notification_id),
       notes AS (
         INSERT INTO order_notes (order_id, event_id, note, last_modified_at, received_at)
         SELECT e.order_id, ins.id, e.note, e.last_modified_at, e.received_at
         FROM e JOIN ins ON ins.notification_id = e.id WHERE e.note IS NOT NULL ORDER BY e.ord),
       numbers AS (
         INSERT INTO order_telephone_numbers (order_id, telephone_number, first_seen_at)
         SELECT DISTINCT ON (e.order_id, tn) e.order_id, tn, e.received_at
         FROM e, unnest(e.telephone_numbers) AS tn ORDER BY e.order_id, tn, e.ord
         ON CONFLICT DO NOTHING)
       SELECT id, notification_id::text FROM ins`;
    for (const e of inserted) eventIds.set(e.notification_id.toLowerCase(), BigInt(e.id));
  }
  await updateHistory(tx, changed);

  const applied = new Map<string, boolean>();
  for (const [r, decision] of decided) applied.set(r.receiptId.toLowerCase(), decision.applied);
  return { plans, stored, eventIds, applied };
}

/** A history entry of a batch's replay: stored already, or one of the batch's receipts. */
type BatchHistoryEvent =
  StoredHistoryEvent | (OrderHistoryEvent & { readonly kind: 'new'; readonly receipt: ReceiptToPersist });

/**
 * Copies that arrived before their original move its history entry to their arrival: the
 * earliest copy's arrival per original (lower-case id), for originals that have an order.
 */
function earliestCopies(
  copies: readonly {
    readonly receipt: ReceiptToPersist;
    readonly originalId: string;
    readonly orderId: string | null;
  }[],
): Map<string, Date> {
  const earliest = new Map<string, Date>();
  for (const c of copies) {
    if (c.orderId === null) continue;
    const key = c.originalId.toLowerCase();
    const at = earliest.get(key);
    if (at === undefined || c.receipt.receivedAt < at) earliest.set(key, c.receipt.receivedAt);
  }
  return earliest;
}

/** What an order row takes from receipts when none of the batch's is for it. */
const UNMERGED = { customer_order_id: null, known: true, account_id: null, first_seen_at: null, last_event_at: null };

/**
 * The batch's receipts folded per order in arrival order, as the per-receipt upsert would: first
 * order type and first non-null ids win, `known` only while every receipt is known,
 * earliest/latest arrival.
 */
function mergedOrders(forOrders: readonly ReceiptToPersist[]): Map<string, OrderUpsert> {
  const upserts = new Map<string, OrderUpsert>();
  for (const r of forOrders) {
    const n = r.notification;
    const at = r.receivedAt.toISOString();
    const prev = upserts.get(n.orderId as string);
    if (prev === undefined) {
      upserts.set(n.orderId as string, {
        order_id: n.orderId as string,
        order_type: n.orderType ?? 'unknown',
        customer_order_id: n.customerOrderId,
        known: n.known,
        account_id: r.accountId,
        first_seen_at: at,
        last_event_at: at,
      });
      continue;
    }
    prev.customer_order_id ??= n.customerOrderId;
    prev.account_id ??= r.accountId;
    prev.known = prev.known && n.known;
    if (r.receivedAt < new Date(prev.first_seen_at)) prev.first_seen_at = at;
    if (r.receivedAt > new Date(prev.last_event_at)) prev.last_event_at = at;
  }
  return upserts;
}

function outcomesOf(
  plans: readonly BatchPlan[],
  receipts: readonly ReceiptToPersist[],
  applied: ReadonlyMap<string, boolean>,
): PersistOutcome[] {
  return receipts.map((r, i): PersistOutcome => {
    const plan = plans[i];
    if (plan === undefined || plan.kind === 'already_persisted') return { kind: 'already_persisted' };
    if (plan.kind === 'duplicate') return { kind: 'duplicate', duplicateOf: plan.originalId };
    const orderId = r.notification.orderId;
    return { kind: 'stored', orderId, applied: applied.get(r.receiptId.toLowerCase()) ?? false };
  });
}
