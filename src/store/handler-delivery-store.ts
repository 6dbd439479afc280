import type { DispatchedNotification, DispatchedOrder } from '../handlers/types';
import type { Database } from './prisma';
import type { Int8, SqlClient } from './sql';

/**
 * The handler_deliveries port (STYLE 8): fan-out rows, the per-order ordering gate, attempt
 * bookkeeping, dead letters and replay selection. Set-based SQL: fan-out is on the hot path.
 */

export type DeliveryStatus = 'pending' | 'succeeded' | 'failed' | 'dead';

/** A stored notification as fan-out and handlers need it. */
export interface NotificationForDispatch {
  /** What the handler sees (its `source` is the delivery's, added by the worker). */
  readonly notification: Omit<DispatchedNotification, 'source'>;
  /** notifications.outcome: `duplicate` receipts are never dispatched. */
  readonly outcome: string;
  /** order_events.id of this notification: its place in the order's persistence order. */
  readonly position: bigint | null;
  /** The history row's source (callback, reconcile, ...), when it has one. */
  readonly eventSource: string | null;
}

interface NotificationDispatchRow {
  id: string;
  outcome: string;
  receivedAt: Date;
  accountId: string | null;
  subscriptionId: string | null;
  orderId: string | null;
  orderType: string | null;
  eventType: string | null;
  status: string | null;
  customerOrderId: string | null;
  message: string | null;
  errorCode: string | null;
  note: string | null;
  lastModifiedAt: Date | null;
  actualFocDate: Date | null;
  telephoneNumbers: string[];
  known: boolean;
  position: bigint | null;
  eventSource: string | null;
}

const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());

export async function findNotificationForDispatch(
  db: Database,
  notificationId: string,
): Promise<NotificationForDispatch | null> {
  const rows = await db.$queryRaw<NotificationDispatchRow[]>`
    SELECT n.id::text AS id, n.outcome, n.received_at AS "receivedAt", n.account_id AS "accountId",
           n.subscription_id AS "subscriptionId", n.order_id AS "orderId", n.order_type AS "orderType",
           n.event_type AS "eventType", n.status, n.customer_order_id AS "customerOrderId", n.message,
           n.error_code AS "errorCode", n.note, n.last_modified_at AS "lastModifiedAt",
           n.actual_foc_date AS "actualFocDate", COALESCE(n.telephone_numbers, ARRAY[]::text[]) AS "telephoneNumbers",
           n.known, e.id AS position, e.source AS "eventSource"
      FROM notifications n
      LEFT JOIN order_events e ON e.notification_id = n.id
     WHERE n.id = ${notificationId}::uuid`;
  const row = rows[0];
  if (row === undefined) return null;
  const { outcome, position, eventSource, receivedAt, lastModifiedAt, actualFocDate, ...rest } = row;
  return {
    outcome,
    position,
    eventSource,
    notification: {
      ...rest,
      receivedAt: receivedAt.toISOString(),
      lastModifiedAt: iso(lastModifiedAt),
      actualFocDate: iso(actualFocDate),
    },
  };
}

export interface NewDelivery {
  readonly id: string;
  readonly handler: string;
  readonly notificationId: string;
  readonly orderId: string | null;
  readonly position: bigint | null;
}

export interface QueuedDelivery {
  readonly id: string;
  readonly handler: string;
  readonly retries: number;
  /** Deliveries of one (handler, order) run one after another; unknown: on their own. */
  readonly orderId?: string | null;
}

/**
 * Records a fan-out in one transaction: a `pending` row per delivery (idempotent on the id)
 * and the dispatch marker of each notification. All rows of a replay are written at once, so
 * none of them can run before an earlier one of its order exists. Returns every unfinished
 * delivery among `deliveries`, new or not, so that a caller re-running after a crash between
 * this commit and the enqueue queues them again (job ids make that a no-op when they exist).
 */
export async function recordFanOut(
  db: Database,
  fanOut: {
    readonly source: string;
    readonly deliveries: readonly NewDelivery[];
    readonly dispatched: readonly string[];
  },
): Promise<QueuedDelivery[]> {
  const d = fanOut.deliveries;
  const ids = d.map((x) => x.id);
  const [, , queued] = await db.$transaction([
    db.$executeRaw`
      INSERT INTO handler_deliveries (id, notification_id, handler, status, source, order_id, position)
      SELECT d.id, d.notification_id, d.handler, 'pending', ${fanOut.source}, d.order_id, d.position
        FROM unnest(${ids}::uuid[], ${d.map((x) => x.notificationId)}::uuid[], ${d.map((x) => x.handler)}::text[],
                    ${d.map((x) => x.orderId)}::text[], ${d.map((x) => (x.position === null ? null : x.position.toString()))}::bigint[])
             AS d(id, notification_id, handler, order_id, position)
      ON CONFLICT (id) DO NOTHING`,
    db.$executeRaw`
      INSERT INTO notification_dispatches (notification_id, source)
      SELECT unnest(${[...fanOut.dispatched]}::uuid[]), ${fanOut.source}
      ON CONFLICT DO NOTHING`,
    db.$queryRaw<QueuedDelivery[]>`
      SELECT id::text AS id, handler, retries, order_id AS "orderId" FROM handler_deliveries
       WHERE id = ANY(${ids}::uuid[]) AND status IN ('pending', 'failed')
       ORDER BY position NULLS FIRST, created_at`,
  ]);
  return queued;
}

export interface DeliveryRow {
  readonly id: string;
  readonly notificationId: string;
  readonly handler: string;
  readonly status: DeliveryStatus;
  readonly source: string;
  readonly attempts: number;
  readonly retries: number;
  readonly orderId: string | null;
  readonly position: bigint | null;
}

export async function findDelivery(db: Database, deliveryId: string): Promise<DeliveryRow | null> {
  const rows = await db.$queryRaw<DeliveryRow[]>`
    SELECT id::text AS id, notification_id::text AS "notificationId", handler, status, source, attempts, retries,
           order_id AS "orderId", position
      FROM handler_deliveries WHERE id = ${deliveryId}::uuid`;
  return rows[0] ?? null;
}

export interface UndispatchedNotification {
  readonly notificationId: string;
  readonly source: string;
  readonly ageMs: number;
}

export type OrderingGate =
  | { readonly kind: 'open' }
  /** An earlier delivery of this (handler, order) is pending or failed-and-retrying. */
  | { readonly kind: 'earlier_delivery' }
  /** An earlier notification of this order was persisted but not yet fanned out. */
  | { readonly kind: 'undispatched'; readonly notifications: readonly UndispatchedNotification[] };

/** A delivery as its job needs it: the row, its ordering gate, the notification and the order. */
export interface LoadedDelivery {
  readonly delivery: DeliveryRow;
  readonly gate: OrderingGate;
  /** What the handler sees (without `source`); null when the notification is gone. */
  readonly notification: Omit<DispatchedNotification, 'source'> | null;
  /** The order's current state (not its history); null without an order. */
  readonly order: DispatchedOrder | null;
}

interface LoadedDeliveryRow extends Omit<DeliveryRow, 'position'> {
  ord: Int8;
  position: Int8 | null;
  started: number | null;
  earlier: boolean;
  undispatched: UndispatchedNotification[] | null;
  n_id: string | null;
  receivedAt: Date | null;
  accountId: string | null;
  subscriptionId: string | null;
  n_order_id: string | null;
  orderType: string | null;
  eventType: string | null;
  n_status: string | null;
  customerOrderId: string | null;
  message: string | null;
  errorCode: string | null;
  note: string | null;
  lastModifiedAt: Date | null;
  actualFocDate: Date | null;
  telephoneNumbers: string[] | null;
  known: boolean | null;
  o_order_id: string | null;
  o_order_type: string | null;
  o_customer_order_id: string | null;
  o_status: string | null;
  o_is_terminal: boolean | null;
  o_last_modified_at: Date | null;
  o_actual_foc_date: Date | null;
  o_first_seen_at: Date | null;
  o_last_event_at: Date | null;
  o_event_count: number | null;
  o_account_id: string | null;
  o_telephone_numbers: string[] | null;
}

/** A delivery a job is about to run: its id and the generation (`retries`) of that job. */
export interface DeliveryClaim {
  readonly deliveryId: string;
  readonly retries: number;
}

/** A loaded delivery, and the attempt number when this claim started an attempt. */
export interface ClaimedDelivery extends LoadedDelivery {
  /** Set (and committed) when the claim started an attempt: the handler runs next. */
  readonly attempt: number | null;
}

/**
 * Everything the delivery jobs of `claims` need before their handlers run, and the attempt
 * count of those that run, in ONE statement for all of them (the worker group-commits the
 * claims of concurrent jobs): the row, its ordering gate, the stored notification and the
 * order's current state. One answer per claim, in order; null for an unknown id.
 *
 * An attempt is started (attempts + 1, committed before the handler runs, so a crash
 * mid-handler still shows it) exactly when the job goes on to run the handler: the row is
 * unfinished and of the job's generation, its handler is one of `runnableHandlers`, its gate
 * is open and its notification is stored. The worker reads the same rules off the row it gets
 * back. (Until issue #8's third round, the read and the count were two statements.)
 *
 * Per-order ordering for one handler: a delivery may run only when every earlier delivery of
 * its (handler, order) is finished (succeeded or dead), and every earlier notification of the
 * order has been fanned out (otherwise its delivery row may not exist yet). Read from
 * PostgreSQL, so it holds across queue backends and worker processes. A delivery without an
 * order (or position) is always open.
 */
export async function claimDeliveries(
  db: SqlClient,
  claims: readonly DeliveryClaim[],
  runnableHandlers: readonly string[],
): Promise<(ClaimedDelivery | null)[]> {
  const rows = await db.$queryRaw<LoadedDeliveryRow[]>`
    WITH l AS MATERIALIZED (
      SELECT w.ord, d.id AS uuid, d.id::text AS id, d.notification_id::text AS "notificationId", d.handler,
             d.status, d.source, d.attempts, d.retries, d.order_id AS "orderId", d.position,
             d.status IN ('pending', 'failed') AND d.retries = w.retries AS runs,
             (d.order_id IS NOT NULL AND d.position IS NOT NULL AND EXISTS (
                SELECT 1 FROM handler_deliveries p
                 WHERE p.handler = d.handler AND p.order_id = d.order_id
                   AND p.position < d.position AND p.status IN ('pending', 'failed'))) AS earlier,
             CASE WHEN d.order_id IS NOT NULL AND d.position IS NOT NULL THEN (
                SELECT json_agg(json_build_object('notificationId', u.notification_id::text, 'source', u.source,
                                                  'ageMs', u.age_ms) ORDER BY u.id)
                  FROM (SELECT e.id, e.notification_id, e.source,
                               (EXTRACT(EPOCH FROM (now() - e.created_at)) * 1000)::float8 AS age_ms
                          FROM order_events e
                          LEFT JOIN notification_dispatches x ON x.notification_id = e.notification_id
                         WHERE e.order_id = d.order_id AND e.id < d.position
                           AND e.notification_id IS NOT NULL AND x.notification_id IS NULL
                         ORDER BY e.id LIMIT 20) u) END AS undispatched,
             n.id::text AS n_id, n.received_at AS "receivedAt", n.account_id AS "accountId",
             n.subscription_id AS "subscriptionId", n.order_id AS n_order_id, n.order_type AS "orderType",
             n.event_type AS "eventType", n.status AS n_status, n.customer_order_id AS "customerOrderId", n.message,
             n.error_code AS "errorCode", n.note, n.last_modified_at AS "lastModifiedAt",
             n.actual_foc_date AS "actualFocDate", n.telephone_numbers AS "telephoneNumbers", n.known,
             o.order_id AS o_order_id, o.order_type AS o_order_type, o.customer_order_id AS o_customer_order_id,
             o.status AS o_status, o.is_terminal AS o_is_terminal, o.last_modified_at AS o_last_modified_at,
             o.actual_foc_date AS o_actual_foc_date, o.first_seen_at AS o_first_seen_at,
             o.last_event_at AS o_last_event_at, o.event_count AS o_event_count, o.account_id AS o_account_id,
             CASE WHEN o.order_id IS NOT NULL THEN
               COALESCE((SELECT array_agg(t.telephone_number ORDER BY t.telephone_number)
                           FROM order_telephone_numbers t WHERE t.order_id = o.order_id), ARRAY[]::text[]) END
               AS o_telephone_numbers
        FROM unnest(${claims.map((c) => c.deliveryId)}::uuid[], ${claims.map((c) => c.retries)}::int[])
             WITH ORDINALITY AS w(id, retries, ord)
        JOIN handler_deliveries d ON d.id = w.id
        LEFT JOIN notifications n ON n.id = d.notification_id
        LEFT JOIN orders o ON o.order_id = n.order_id),
    started AS (
      UPDATE handler_deliveries s
         SET attempts = s.attempts + 1, started_at = COALESCE(s.started_at, now()), last_attempt_at = now()
       WHERE s.id IN (SELECT uuid FROM l
                       WHERE runs AND NOT earlier AND undispatched IS NULL AND n_id IS NOT NULL
                         AND handler = ANY(${[...runnableHandlers]}::text[]))
      RETURNING s.id, s.attempts)
    SELECT l.*, started.attempts AS started FROM l LEFT JOIN started ON started.id = l.uuid`;
  const claimed: (ClaimedDelivery | null)[] = claims.map(() => null);
  for (const r of rows) claimed[Number(r.ord) - 1] = { ...loadedOf(r), attempt: r.started };
  return claimed;
}

/** What delivery jobs would find, without starting anything (tests and tools). */
export async function loadDeliveries(
  db: SqlClient,
  deliveryIds: readonly string[],
): Promise<Map<string, LoadedDelivery>> {
  const claimed = await claimDeliveries(
    db,
    deliveryIds.map((deliveryId) => ({ deliveryId, retries: -1 })),
    [],
  );
  const loaded = new Map<string, LoadedDelivery>();
  for (const c of claimed) if (c !== null) loaded.set(c.delivery.id.toLowerCase(), c);
  return loaded;
}

function loadedOf(r: LoadedDeliveryRow): LoadedDelivery {
  const delivery: DeliveryRow = {
    id: r.id,
    notificationId: r.notificationId,
    handler: r.handler,
    status: r.status,
    source: r.source,
    attempts: r.attempts,
    retries: r.retries,
    orderId: r.orderId,
    position: r.position === null ? null : BigInt(r.position),
  };
  const gate: OrderingGate = r.earlier
    ? { kind: 'earlier_delivery' }
    : r.undispatched !== null && r.undispatched.length > 0
      ? { kind: 'undispatched', notifications: r.undispatched }
      : { kind: 'open' };
  const notification =
    r.n_id === null || r.receivedAt === null
      ? null
      : {
          id: r.n_id,
          receivedAt: r.receivedAt.toISOString(),
          accountId: r.accountId,
          subscriptionId: r.subscriptionId,
          orderId: r.n_order_id,
          orderType: r.orderType,
          eventType: r.eventType,
          status: r.n_status,
          customerOrderId: r.customerOrderId,
          message: r.message,
          errorCode: r.errorCode,
          note: r.note,
          lastModifiedAt: iso(r.lastModifiedAt),
          actualFocDate: iso(r.actualFocDate),
          telephoneNumbers: r.telephoneNumbers ?? [],
          known: r.known ?? false,
        };
  const order: DispatchedOrder | null =
    r.o_order_id === null || r.o_order_type === null || r.o_first_seen_at === null || r.o_last_event_at === null
      ? null
      : {
          orderId: r.o_order_id,
          orderType: r.o_order_type,
          customerOrderId: r.o_customer_order_id,
          status: r.o_status,
          isTerminal: r.o_is_terminal ?? false,
          lastModifiedAt: iso(r.o_last_modified_at),
          actualFocDate: iso(r.o_actual_foc_date),
          firstSeenAt: r.o_first_seen_at.toISOString(),
          lastEventAt: r.o_last_event_at.toISOString(),
          eventCount: r.o_event_count ?? 0,
          telephoneNumbers: r.o_telephone_numbers ?? [],
          accountId: r.o_account_id,
        };
  return { delivery, gate, notification, order };
}

export interface AttemptResult {
  readonly deliveryId: string;
  readonly status: Exclude<DeliveryStatus, 'pending'>;
  readonly error: string | null;
  readonly durationMs: number;
}

/** `finishAttempt` for several deliveries in one statement. */
export async function finishAttempts(db: SqlClient, results: readonly AttemptResult[]): Promise<void> {
  const final = (s: AttemptResult['status']) => s === 'succeeded' || s === 'dead';
  await db.$executeRaw`
    UPDATE handler_deliveries AS d
       SET status = r.status, last_error = r.error, duration_ms = r.duration_ms,
           finished_at = CASE WHEN r.final THEN now() ELSE NULL END
      FROM unnest(${results.map((r) => r.deliveryId)}::uuid[], ${results.map((r) => r.status)}::text[],
                  ${results.map((r) => r.error)}::text[], ${results.map((r) => Math.round(r.durationMs))}::int[],
                  ${results.map((r) => final(r.status))}::boolean[])
           AS r(id, status, error, duration_ms, final)
     WHERE d.id = r.id`;
}

/**
 * Safety net for a job that ended without the processor recording it (an infrastructure error
 * on its last attempt): an unfinished row becomes dead, so nothing stays pending forever.
 */
export async function markDeadIfUnfinished(db: Database, deliveryId: string, reason: string): Promise<boolean> {
  const changed = await db.$executeRaw`
    UPDATE handler_deliveries SET status = 'dead', last_error = ${reason.slice(0, 2000)}, finished_at = now()
     WHERE id = ${deliveryId}::uuid AND status IN ('pending', 'failed')`;
  return changed > 0;
}

export interface DeadLetterView {
  id: string;
  notificationId: string;
  handler: string;
  source: string;
  orderId: string | null;
  attempts: number;
  retries: number;
  lastError: string | null;
  createdAt: string;
  lastAttemptAt: string | null;
  finishedAt: string | null;
}

type DeadLetterRow = Omit<DeadLetterView, 'createdAt' | 'lastAttemptAt' | 'finishedAt'> & {
  createdAt: Date;
  lastAttemptAt: Date | null;
  finishedAt: Date | null;
};

/** Dead deliveries, newest first, keyset-paginated on (finished_at, id). */
export async function listDeadLetters(
  db: Database,
  query: { readonly handler?: string; readonly limit: number; readonly cursor?: { finishedAt: Date; id: string } },
): Promise<{ data: DeadLetterView[]; nextCursor: { finishedAt: Date; id: string } | null }> {
  const handler = query.handler ?? null;
  const cursorAt = query.cursor?.finishedAt ?? null;
  const cursorId = query.cursor?.id ?? null;
  const rows = await db.$queryRaw<DeadLetterRow[]>`
    SELECT id::text AS id, notification_id::text AS "notificationId", handler, source, order_id AS "orderId",
           attempts, retries, last_error AS "lastError", created_at AS "createdAt",
           last_attempt_at AS "lastAttemptAt", finished_at AS "finishedAt"
      FROM handler_deliveries
     WHERE status = 'dead' AND (${handler}::text IS NULL OR handler = ${handler}::text)
       AND (${cursorAt}::timestamptz IS NULL OR (finished_at, id) < (${cursorAt}::timestamptz, ${cursorId}::uuid))
     ORDER BY finished_at DESC, id DESC
     LIMIT ${query.limit + 1}`;
  const page = rows.slice(0, query.limit);
  const last = page[page.length - 1];
  return {
    data: page.map((r) => ({
      ...r,
      createdAt: r.createdAt.toISOString(),
      lastAttemptAt: r.lastAttemptAt?.toISOString() ?? null,
      finishedAt: r.finishedAt?.toISOString() ?? null,
    })),
    nextCursor: rows.length > query.limit && last?.finishedAt ? { finishedAt: last.finishedAt, id: last.id } : null,
  };
}

export type RequeueResult =
  | { readonly kind: 'requeued'; readonly delivery: QueuedDelivery }
  | { readonly kind: 'not_found' }
  | { readonly kind: 'not_dead'; readonly status: DeliveryStatus };

/** Moves a dead delivery back to pending with a new retry generation (so it gets a new job). */
export async function requeueDeadDelivery(db: Database, deliveryId: string): Promise<RequeueResult> {
  const rows = await db.$queryRaw<QueuedDelivery[]>`
    UPDATE handler_deliveries SET status = 'pending', retries = retries + 1, finished_at = NULL
     WHERE id = ${deliveryId}::uuid AND status = 'dead'
    RETURNING id::text AS id, handler, retries`;
  const delivery = rows[0];
  if (delivery !== undefined) return { kind: 'requeued', delivery };
  const current = await findDelivery(db, deliveryId);
  return current === null ? { kind: 'not_found' } : { kind: 'not_dead', status: current.status };
}

export type ReplaySelection = { readonly orderId: string } | { readonly from: Date; readonly to: Date };

/** Notifications to replay (never duplicates), in persistence order. */
export async function selectReplayNotifications(
  db: Database,
  selection: ReplaySelection,
  limit: number,
): Promise<string[]> {
  const rows =
    'orderId' in selection
      ? await db.$queryRaw<{ id: string }[]>`
          SELECT n.id::text AS id FROM notifications n JOIN order_events e ON e.notification_id = n.id
           WHERE e.order_id = ${selection.orderId} AND n.outcome <> 'duplicate'
           ORDER BY e.id LIMIT ${limit}`
      : await db.$queryRaw<{ id: string }[]>`
          SELECT n.id::text AS id FROM notifications n LEFT JOIN order_events e ON e.notification_id = n.id
           WHERE n.received_at >= ${selection.from} AND n.received_at < ${selection.to} AND n.outcome <> 'duplicate'
           ORDER BY n.received_at, e.id NULLS LAST, n.id LIMIT ${limit}`;
  return rows.map((r) => r.id);
}
