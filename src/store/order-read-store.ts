import { groupCommit } from './group-commit';
import type { Int8, SqlClient } from './sql';
import { Prisma } from '../generated/prisma/client';

/** The API shapes of SPEC 3.3. Timestamps are ISO 8601 strings. */
export interface OrderView {
  orderId: string;
  orderType: string;
  customerOrderId: string | null;
  status: string | null;
  isTerminal: boolean;
  known: boolean;
  lastModifiedAt: string | null;
  actualFocDate: string | null;
  firstSeenAt: string;
  lastEventAt: string;
  eventCount: number;
  telephoneNumbers: string[];
  accountId: string | null;
}

export interface StatusEventView {
  id: string;
  status: string | null;
  previousStatus: string | null;
  message: string | null;
  errorCode: string | null;
  note: string | null;
  subscriptionId: string | null;
  telephoneNumbers: string[];
  lastModifiedAt: string | null;
  receivedAt: string;
  applied: boolean;
  source: string;
  notificationId: string | null;
}

export interface NoteView {
  id: string;
  note: string;
  lastModifiedAt: string | null;
  receivedAt: string;
  eventId: string | null;
}

export interface OrderDetailView extends OrderView {
  history: StatusEventView[];
  notes: NoteView[];
}

const iso = (date: Date | null): string | null => (date === null ? null : date.toISOString());

/**
 * A timestamptz as `Date.prototype.toISOString()` writes it (UTC, milliseconds, `Z`), so JSON
 * built in SQL reads exactly as JSON built from the Date in JavaScript. The columns are
 * timestamptz(3): there is nothing below the millisecond to round or truncate. `column` is
 * always a constant of this file, never input.
 */
const isoText = (column: string): string => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
const isoSql = (column: string): Prisma.Sql => Prisma.raw(isoText(column));

/**
 * The columns of an `OrderView` of the orders row `o`, by key, in the interface's order: a
 * timestamp, the order's numbers (sorted), or a value as it is.
 */
const ORDER_FIELDS: readonly (readonly [key: keyof OrderView, column: string, kind?: 'time' | 'numbers'])[] = [
  ['orderId', 'o.order_id'],
  ['orderType', 'o.order_type'],
  ['customerOrderId', 'o.customer_order_id'],
  ['status', 'o.status'],
  ['isTerminal', 'o.is_terminal'],
  ['known', 'o.known'],
  ['lastModifiedAt', 'o.last_modified_at', 'time'],
  ['actualFocDate', 'o.actual_foc_date', 'time'],
  ['firstSeenAt', 'o.first_seen_at', 'time'],
  ['lastEventAt', 'o.last_event_at', 'time'],
  ['eventCount', 'o.event_count'],
  ['telephoneNumbers', 't.telephone_number', 'numbers'],
  ['accountId', 'o.account_id'],
];

/** ORDER_FIELDS as a select list, each column as `expression` writes it, aliased by its key. */
const orderSelectList = (expression: (column: string, kind?: 'time' | 'numbers') => string): Prisma.Sql =>
  Prisma.raw(ORDER_FIELDS.map(([key, column, kind]) => `${expression(column, kind)} AS "${key}"`).join(', '));

const NUMBERS_OF_ORDER = 'FROM order_telephone_numbers t WHERE t.order_id = o.order_id';

/**
 * An `OrderView` as a select list for JSON built in SQL: values as JavaScript wrote them before
 * the JSON moved into SQL (ISO timestamps, numbers sorted), so an API client sees the same
 * bytes. `row_to_json`/`array_to_json` of such rows write compact JSON (no spaces;
 * json_build_object writes `"key" : value`), byte for byte what `JSON.stringify` writes for the
 * same values.
 */
const ORDER_COLUMNS = orderSelectList((column, kind) => {
  if (kind === 'time') return isoText(column);
  if (kind === 'numbers') {
    return `COALESCE((SELECT array_to_json(array_agg(${column} ORDER BY ${column})) ${NUMBERS_OF_ORDER}), '[]'::json)`;
  }
  return column;
});

/**
 * The same `OrderView` as plain columns, for the pages of orders, which Node serialises itself
 * (issue #8: building each row's JSON and its ISO timestamps took PostgreSQL about half of a
 * list's CPU, and the list is PostgreSQL-bound at saturation). Timestamps come as the text of
 * the UTC `timestamp` (`2026-01-02 03:04:05.6`: PostgreSQL's ISO DateStyle, which node-postgres
 * needs anyway), which `orderRowView` writes in `toISOString()`'s form.
 */
const ORDER_ROW_COLUMNS = orderSelectList((column, kind) => {
  if (kind === 'time') return `(${column} AT TIME ZONE 'UTC')::text`;
  if (kind === 'numbers') return `ARRAY(SELECT ${column} ${NUMBERS_OF_ORDER} ORDER BY ${column})`;
  return column;
});

/**
 * `2026-01-02 03:04:05.6` (a UTC timestamp's text, 0–3 fraction digits: the columns are
 * timestamptz(3)) as `Date.prototype.toISOString()` writes it: `2026-01-02T03:04:05.600Z`.
 */
export function isoOfUtcText(text: string): string;
export function isoOfUtcText(text: string | null): string | null;
export function isoOfUtcText(text: string | null): string | null {
  if (text === null) return null;
  const n = text.length;
  if (n === 19 || (n >= 21 && n <= 23 && text.charCodeAt(19) === 46)) {
    return `${text.slice(0, 10)}T${text.slice(11)}${n === 19 ? '.000' : '00'.slice(n - 21)}Z`;
  }
  // Anything else (a year past 9999, a DateStyle other than ISO): let Date read it.
  return new Date(`${text.replace(' ', 'T')}Z`).toISOString();
}

/**
 * A row of ORDER_ROW_COLUMNS (an OrderView but for the timestamps' form) as the OrderView it
 * holds: the row object itself, so its keys keep the select list's order.
 */
function orderRowView(row: OrderView): OrderView {
  row.lastModifiedAt = isoOfUtcText(row.lastModifiedAt);
  row.actualFocDate = isoOfUtcText(row.actualFocDate);
  row.firstSeenAt = isoOfUtcText(row.firstSeenAt);
  row.lastEventAt = isoOfUtcText(row.lastEventAt);
  return row;
}

/** The first `limit` orders `o` matching `where`, in `orderBy` order (`o`'s columns). */
const orderPageSql = (where: Prisma.Sql, orderBy: Prisma.Sql, limit: number): Prisma.Sql => Prisma.sql`
  SELECT ${ORDER_ROW_COLUMNS} FROM orders o WHERE ${where} ORDER BY ${orderBy} LIMIT ${limit}`;

/**
 * The order detail as compact JSON text: `row_to_json` and `array_to_json` write no spaces
 * (json_build_object writes `"key" : value`), so the text is byte for byte what
 * `JSON.stringify` writes for the same OrderDetailView, and the API sends it as it is, with no
 * parse and stringify in Node (issue #8). Keys are the column aliases, in OrderDetailView's
 * order. History oldest first: by Bandwidth's LastModifiedDate when it was sent, else by
 * arrival, then by id (a total order, so the same on every read); notes by id. The read-API
 * test compares the bytes with JSON.stringify of the rows read back.
 */
const DETAIL_ROW = Prisma.sql`
  ${ORDER_COLUMNS},
  COALESCE((SELECT array_to_json(array_agg(h ORDER BY COALESCE(e.last_modified_at, e.received_at), e.id))
              FROM order_events e, LATERAL (SELECT
                e.id::text AS "id", e.status AS "status", e.previous_status AS "previousStatus",
                e.message AS "message", e.error_code AS "errorCode", e.note AS "note",
                e.subscription_id AS "subscriptionId",
                COALESCE(to_json(e.telephone_numbers), '[]'::json) AS "telephoneNumbers",
                ${isoSql('e.last_modified_at')} AS "lastModifiedAt", ${isoSql('e.received_at')} AS "receivedAt",
                e.applied AS "applied", e.source AS "source", e.notification_id::text AS "notificationId") h
             WHERE e.order_id = o.order_id), '[]'::json) AS "history",
  COALESCE((SELECT array_to_json(array_agg(m ORDER BY n.id))
              FROM order_notes n, LATERAL (SELECT
                n.id::text AS "id", n.note AS "note", ${isoSql('n.last_modified_at')} AS "lastModifiedAt",
                ${isoSql('n.received_at')} AS "receivedAt", n.event_id::text AS "eventId") m
             WHERE n.order_id = o.order_id), '[]'::json) AS "notes"`;

/**
 * Most orders in one detail statement. The statement's text has one parameter per order, padded
 * to a power of two (1, 2, 4, 8, 16), so a connection prepares at most five texts.
 */
export const ORDER_DETAIL_BATCH_MAX = 16;

/**
 * The order-detail statement for one or more orders: one row per order found, its id beside its
 * JSON (exported for the bench's EXPLAIN). The ids travel as an `IN` list of parameters, not as
 * one array: PostgreSQL keeps the generic plan of an `IN ($1, $2)` statement (its estimate is
 * the custom plan's), while `= ANY($1::text[])` was planned again on every call, at 0.63 ms of
 * PostgreSQL CPU for one order against 0.25 ms (issue #8; 1M orders, one connection).
 */
export function orderDetailSql(orderIds: readonly string[]): Prisma.Sql {
  return Prisma.sql`
    SELECT d."orderId" AS id, row_to_json(d)::text AS detail
      FROM (SELECT ${DETAIL_ROW} FROM orders o WHERE o.order_id IN (${Prisma.join(orderIds)})) d`;
}

/**
 * Read side of the order store: the few queries the API needs (STYLE: narrow ports).
 *
 * The details of several orders in one statement and one round trip: PostgreSQL builds each
 * answer as compact JSON text (order, numbers, history, notes; three index scans on
 * `order_id`). Answers one entry per id, in order: the order's JSON, or null when there is no
 * such order. Up to ORDER_DETAIL_BATCH_MAX distinct ids (callers batch through
 * `orderDetailReader`).
 */
export async function findOrderDetailsJson(db: SqlClient, orderIds: readonly string[]): Promise<(string | null)[]> {
  const distinct = [...new Set(orderIds)];
  if (distinct.length === 0) return [];
  if (distinct.length > ORDER_DETAIL_BATCH_MAX)
    throw new Error(`at most ${ORDER_DETAIL_BATCH_MAX} orders per detail statement`);
  // Padded with the last id (IN matches it once): five statement texts instead of sixteen.
  let width = 1;
  while (width < distinct.length) width *= 2;
  const padded = [...distinct, ...Array<string>(width - distinct.length).fill(distinct[distinct.length - 1] ?? '')];
  const rows = await db.$queryRaw<{ id: string; detail: string }[]>(orderDetailSql(padded));
  const byId = new Map(rows.map((row) => [row.id, row.detail]));
  return orderIds.map((id) => byId.get(id) ?? null);
}

/** The details of one order as JSON text, or null when there is no such order. */
export async function findOrderDetailJson(db: SqlClient, orderId: string): Promise<string | null> {
  const [json] = await findOrderDetailsJson(db, [orderId]);
  return json ?? null;
}

/**
 * `findOrderDetailJson` for the API's concurrent requests: the details asked for while one
 * statement runs go out together in the next one (group commit, as the worker writes; issue
 * #8). Under load that is a few orders per statement, which costs PostgreSQL and the process
 * less per order: on 1M orders, 0.24 ms of PostgreSQL CPU for one order alone, 0.18 ms each for
 * two, 0.15 ms each for four (one connection, bench database). A request that comes alone
 * waits one event-loop turn. One statement at a time, not two: two in flight made smaller
 * batches, and cost PostgreSQL 0.19-0.22 ms per detail at 10 connections against 0.15-0.18 ms.
 * The price is that a detail waits behind the one statement running, which is bounded by the
 * largest order in it; the lists and the other routes have the rest of the pool.
 */
export function orderDetailReader(db: SqlClient): (orderId: string) => Promise<string | null> {
  return groupCommit((orderIds: readonly string[]) => findOrderDetailsJson(db, orderIds), ORDER_DETAIL_BATCH_MAX);
}

/** `findOrderDetailJson`, parsed. */
export async function findOrderDetail(db: SqlClient, orderId: string): Promise<OrderDetailView | null> {
  const json = await findOrderDetailJson(db, orderId);
  // The JSON is built by the statement above in OrderDetailView's shape.
  return json === null ? null : (JSON.parse(json) as OrderDetailView);
}

export async function pingDatabase(db: SqlClient): Promise<void> {
  await db.$queryRaw`SELECT 1`;
}

/* ------------------------------------------------------------------------------------------ *
 * Lists, look-ups and stats for the read API (issue #6). Set-based SQL: one query per page.   *
 * ------------------------------------------------------------------------------------------ */

export interface OrderFilter {
  readonly orderType?: string;
  readonly status?: string;
  readonly customerOrderId?: string;
  /** E.164. */
  readonly tn?: string;
  readonly terminal?: boolean;
  readonly updatedSince?: Date;
}

export interface Page<T> {
  readonly data: T[];
  /** Pass back as `after` for the next page; null on the last page. */
  readonly next: string | null;
}

/** The SQL condition for an order filter (exported so tests compare the API with plain SQL). */
export function orderFilterSql(filter: OrderFilter): Prisma.Sql {
  const conditions: Prisma.Sql[] = [Prisma.sql`true`];
  if (filter.orderType !== undefined) conditions.push(Prisma.sql`o.order_type = ${filter.orderType}`);
  if (filter.status !== undefined) conditions.push(Prisma.sql`o.status = ${filter.status}`);
  if (filter.customerOrderId !== undefined)
    conditions.push(Prisma.sql`o.customer_order_id = ${filter.customerOrderId}`);
  if (filter.terminal !== undefined) conditions.push(Prisma.sql`o.is_terminal = ${filter.terminal}`);
  if (filter.updatedSince !== undefined) conditions.push(Prisma.sql`o.updated_at >= ${filter.updatedSince}`);
  if (filter.tn !== undefined) {
    conditions.push(Prisma.sql`EXISTS (SELECT 1 FROM order_telephone_numbers t
                                       WHERE t.order_id = o.order_id AND t.telephone_number = ${filter.tn})`);
  }
  return Prisma.join(conditions, ' AND ');
}

/**
 * The list statement (exported for the bench's EXPLAIN): one page plus one row, in key order,
 * with its numbers, one row per order (ORDER_ROW_COLUMNS). `limit + 1` tells whether there is a
 * next page.
 */
export function listOrdersSql(
  filter: OrderFilter,
  page: { readonly limit: number; readonly after: string | null },
): Prisma.Sql {
  const after = page.after === null ? Prisma.empty : Prisma.sql`AND o.order_id > ${page.after}`;
  return orderPageSql(Prisma.sql`${orderFilterSql(filter)} ${after}`, Prisma.sql`o.order_id`, page.limit + 1);
}

/**
 * Keyset pagination on the immutable primary key: an order present when paging starts is
 * returned exactly once however many orders are inserted or updated meanwhile (an offset or a
 * mutable sort key such as updated_at would skip or repeat rows).
 */
export async function listOrders(
  db: SqlClient,
  filter: OrderFilter,
  page: { readonly limit: number; readonly after: string | null },
): Promise<Page<OrderView>> {
  const rows = await db.$queryRaw<OrderView[]>(listOrdersSql(filter, page));
  const data = rows.slice(0, page.limit).map(orderRowView);
  const last = data[data.length - 1];
  return { data, next: rows.length > page.limit && last !== undefined ? last.orderId : null };
}

export interface NotificationView {
  id: string;
  receivedAt: string;
  processedAt: string | null;
  outcome: string;
  duplicateOf: string | null;
  accountId: string | null;
  remoteAddress: string | null;
  subscriptionId: string | null;
  orderId: string | null;
  orderType: string | null;
  eventType: string | null;
  status: string | null;
  customerOrderId: string | null;
  message: string | null;
  errorCode: string | null;
  note: string | null;
  lastModifiedAt: string | null;
  actualFocDate: string | null;
  telephoneNumbers: string[];
  known: boolean;
}

export interface NotificationDetailView extends NotificationView {
  headers: Record<string, string>;
  /** The raw XML exactly as received. */
  body: string;
}

interface NotificationRow {
  id: string;
  received_at: Date;
  processed_at: Date | null;
  outcome: string;
  duplicate_of: string | null;
  account_id: string | null;
  remote_address: string | null;
  subscription_id: string | null;
  order_id: string | null;
  order_type: string | null;
  event_type: string | null;
  status: string | null;
  customer_order_id: string | null;
  message: string | null;
  error_code: string | null;
  note: string | null;
  last_modified_at: Date | null;
  actual_foc_date: Date | null;
  telephone_numbers: string[] | null;
  known: boolean;
}

const NOTIFICATION_COLUMNS = Prisma.sql`
  n.id::text AS id, n.received_at, n.processed_at, n.outcome, n.duplicate_of::text AS duplicate_of, n.account_id,
  n.remote_address, n.subscription_id, n.order_id, n.order_type, n.event_type, n.status, n.customer_order_id,
  n.message, n.error_code, n.note, n.last_modified_at, n.actual_foc_date, n.telephone_numbers, n.known`;

function notificationView(r: NotificationRow): NotificationView {
  return {
    id: r.id,
    receivedAt: r.received_at.toISOString(),
    processedAt: iso(r.processed_at),
    outcome: r.outcome,
    duplicateOf: r.duplicate_of,
    accountId: r.account_id,
    remoteAddress: r.remote_address,
    subscriptionId: r.subscription_id,
    orderId: r.order_id,
    orderType: r.order_type,
    eventType: r.event_type,
    status: r.status,
    customerOrderId: r.customer_order_id,
    message: r.message,
    errorCode: r.error_code,
    note: r.note,
    lastModifiedAt: iso(r.last_modified_at),
    actualFocDate: iso(r.actual_foc_date),
    telephoneNumbers: r.telephone_numbers ?? [],
    known: r.known,
  };
}

export interface NotificationFilter {
  readonly orderId?: string;
  readonly since?: Date;
  readonly status?: string;
}

/** Keyset on (received_at, id), oldest first: the natural order for "what arrived since". */
export interface NotificationKey {
  readonly receivedAt: Date;
  readonly id: string;
}

export async function listNotifications(
  db: SqlClient,
  filter: NotificationFilter,
  page: { readonly limit: number; readonly after: NotificationKey | null },
): Promise<Page<NotificationView> & { readonly nextKey: NotificationKey | null }> {
  const conditions: Prisma.Sql[] = [Prisma.sql`true`];
  if (filter.orderId !== undefined) conditions.push(Prisma.sql`n.order_id = ${filter.orderId}`);
  if (filter.since !== undefined) conditions.push(Prisma.sql`n.received_at >= ${filter.since}`);
  if (filter.status !== undefined) conditions.push(Prisma.sql`n.status = ${filter.status}`);
  if (page.after !== null) {
    conditions.push(Prisma.sql`(n.received_at, n.id) > (${page.after.receivedAt}, ${page.after.id}::uuid)`);
  }
  const rows = await db.$queryRaw<NotificationRow[]>`
    SELECT ${NOTIFICATION_COLUMNS} FROM notifications n
    WHERE ${Prisma.join(conditions, ' AND ')}
    ORDER BY n.received_at, n.id
    LIMIT ${page.limit + 1}`;
  const kept = rows.slice(0, page.limit);
  const last = kept[kept.length - 1];
  const nextKey = rows.length > page.limit && last !== undefined ? { receivedAt: last.received_at, id: last.id } : null;
  return { data: kept.map(notificationView), next: nextKey === null ? null : nextKey.id, nextKey };
}

export async function findNotification(db: SqlClient, id: string): Promise<NotificationDetailView | null> {
  const rows = await db.$queryRaw<(NotificationRow & { headers: unknown; body: string })[]>`
    SELECT ${NOTIFICATION_COLUMNS}, n.headers, n.body FROM notifications n WHERE n.id = ${id}::uuid`;
  const row = rows[0];
  if (row === undefined) return null;
  const headers: Record<string, string> = {};
  if (typeof row.headers === 'object' && row.headers !== null) {
    for (const [name, value] of Object.entries(row.headers)) {
      if (typeof value === 'string') headers[name] = value;
    }
  }
  return { ...notificationView(row), headers, body: row.body };
}

/**
 * Everything known about one number: the orders that carried it, and the notifications without
 * an order (account events such as MESSAGING_LOST) that named it.
 */
export async function findByTelephoneNumber(
  db: SqlClient,
  tn: string,
  limit: number,
): Promise<{ orders: OrderView[]; events: NotificationView[] }> {
  const [orders, events] = await Promise.all([
    db.$queryRaw<OrderView[]>(
      orderPageSql(
        Prisma.sql`EXISTS (SELECT 1 FROM order_telephone_numbers t
                           WHERE t.order_id = o.order_id AND t.telephone_number = ${tn})`,
        Prisma.sql`o.last_event_at DESC, o.order_id`,
        limit,
      ),
    ),
    db.$queryRaw<NotificationRow[]>`
      SELECT ${NOTIFICATION_COLUMNS} FROM notifications n
      WHERE n.telephone_numbers @> ARRAY[${tn}]::text[] AND n.order_id IS NULL AND n.outcome = 'accepted'
      ORDER BY n.received_at DESC, n.id
      LIMIT ${limit}`,
  ]);
  return { orders: orders.map(orderRowView), events: events.map(notificationView) };
}

/** Handler delivery statuses that mean "gave up" (issue #5 writes them). */
export const DEAD_LETTER_STATUSES = ['dead', 'dead_letter', 'dead_lettered'] as const;

export interface StoreStats {
  orders: { orderType: string; status: string | null; isTerminal: boolean; count: number }[];
  ordersTotal: number;
  notifications: { outcome: string; count: number }[];
  deadLetters: number;
  quarantinedPending: number;
}

/**
 * The counts one after the other, not at once: each scans a whole table, and an API process's
 * pool is small (docker-compose.yml: 4), so counting in parallel would hold every connection
 * while the read API waits. /stats is an operator's page; it can take the sum of the times.
 */
export async function readStats(db: SqlClient): Promise<StoreStats> {
  const orders = await db.$queryRaw<{ order_type: string; status: string | null; is_terminal: boolean; n: Int8 }[]>`
    SELECT order_type, status, is_terminal, count(*)::bigint AS n FROM orders
    GROUP BY order_type, status, is_terminal ORDER BY order_type, status NULLS FIRST`;
  const notifications = await db.$queryRaw<{ outcome: string; n: Int8 }[]>`
    SELECT outcome, count(*)::bigint AS n FROM notifications GROUP BY outcome ORDER BY outcome`;
  const gauges = await readScrapeGauges(db);
  const byType = orders.map((r) => ({
    orderType: r.order_type,
    status: r.status,
    isTerminal: r.is_terminal,
    count: Number(r.n),
  }));
  return {
    orders: byType,
    ordersTotal: byType.reduce((sum, r) => sum + r.count, 0),
    notifications: notifications.map((r) => ({ outcome: r.outcome, count: Number(r.n) })),
    deadLetters: gauges.deadLettersByHandler.reduce((sum, g) => sum + g.count, 0),
    quarantinedPending: gauges.quarantinedPending,
  };
}

/** Counts exported as Prometheus gauges (bounded labels: handler names come from config). */
export async function readScrapeGauges(
  db: SqlClient,
): Promise<{ deadLettersByHandler: { handler: string; count: number }[]; quarantinedPending: number }> {
  // One after the other, as readStats: a scrape holds one connection of the pool at a time.
  const dead = await db.$queryRaw<{ handler: string; n: Int8 }[]>`
    SELECT handler, count(*)::bigint AS n FROM handler_deliveries
    WHERE status IN (${Prisma.join([...DEAD_LETTER_STATUSES])}) GROUP BY handler`;
  const quarantined = await db.$queryRaw<{ n: Int8 }[]>`
    SELECT count(*)::bigint AS n FROM quarantined_notifications WHERE released_at IS NULL`;
  return {
    deadLettersByHandler: dead.map((r) => ({ handler: r.handler, count: Number(r.n) })),
    quarantinedPending: Number(quarantined[0]?.n ?? 0),
  };
}
