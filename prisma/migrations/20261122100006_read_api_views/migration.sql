-- Read API indexes and dashboard views (issue #6).
-- Every filter of GET /api/v1/orders and GET /api/v1/notifications has an index whose last
-- column is the keyset (orders: order_id; notifications: received_at, id), so a filtered page
-- is an index range scan, not a sort. The views are the stable surface dashboards read
-- (docs/schema.md); they select from the tables only, so they never block a migration.

-- CreateIndex: orders?status=..., ?orderType=..., ?terminal=... (keyset on order_id)
CREATE INDEX "orders_status_order_id_idx" ON "orders"("status", "order_id");
CREATE INDEX "orders_order_type_order_id_idx" ON "orders"("order_type", "order_id");
CREATE INDEX "orders_is_terminal_order_id_idx" ON "orders"("is_terminal", "order_id");
-- v_orders_stuck: non-terminal orders by idle time
CREATE INDEX "orders_is_terminal_last_event_at_idx" ON "orders"("is_terminal", "last_event_at");

-- CreateIndex: notifications?status=... and the event look-up by number
CREATE INDEX "notifications_status_received_at_id_idx" ON "notifications"("status", "received_at", "id");
-- (issue #3 creates the same index in its own migration; IF NOT EXISTS lets either land first.
-- schema.prisma declares it on issue #3's side.)
CREATE INDEX IF NOT EXISTS "notifications_telephone_numbers_idx" ON "notifications" USING GIN ("telephone_numbers");

-- CreateIndex: v_daily_status_counts
CREATE INDEX "order_events_received_at_idx" ON "order_events"("received_at");

-- CreateIndex: admin quarantine list (pending first, newest first)
CREATE INDEX "quarantined_notifications_released_at_received_at_idx" ON "quarantined_notifications"("released_at", "received_at");

-- CreateIndex: v_handler_failures
CREATE INDEX "handler_deliveries_handler_created_at_idx" ON "handler_deliveries"("handler", "created_at");

-- One row per order: its current state, its numbers, and the latest event's message/error.
CREATE VIEW "v_order_current_status" AS
SELECT
    o.order_id,
    o.order_type,
    o.customer_order_id,
    o.account_id,
    o.status,
    o.is_terminal,
    o.known,
    o.last_modified_at,
    o.actual_foc_date,
    o.first_seen_at,
    o.last_event_at,
    o.status_changed_at,
    o.event_count,
    COALESCE(tn.telephone_numbers, ARRAY[]::TEXT[]) AS telephone_numbers,
    COALESCE(array_length(tn.telephone_numbers, 1), 0) AS telephone_number_count,
    last_event.message AS last_message,
    last_event.error_code AS last_error_code,
    EXTRACT(EPOCH FROM (now() - o.last_event_at))::BIGINT AS idle_seconds
FROM "orders" o
LEFT JOIN LATERAL (
    SELECT array_agg(t.telephone_number ORDER BY t.telephone_number) AS telephone_numbers
    FROM "order_telephone_numbers" t
    WHERE t.order_id = o.order_id
) tn ON true
LEFT JOIN LATERAL (
    SELECT e.message, e.error_code
    FROM "order_events" e
    WHERE e.order_id = o.order_id AND e.status IS NOT NULL
    ORDER BY e.applied DESC, COALESCE(e.last_modified_at, e.received_at) DESC, e.id DESC
    LIMIT 1
) last_event ON true;

-- Non-terminal orders with no notification for longer than the threshold. The threshold is the
-- session setting bw.stuck_after (an interval, e.g. SET bw.stuck_after = '2 days'), default 24 h.
CREATE VIEW "v_orders_stuck" AS
SELECT
    o.order_id,
    o.order_type,
    o.customer_order_id,
    o.account_id,
    o.status,
    o.first_seen_at,
    o.last_event_at,
    o.status_changed_at,
    o.event_count,
    EXTRACT(EPOCH FROM (now() - o.last_event_at))::BIGINT AS idle_seconds
FROM "orders" o
WHERE o.is_terminal = false
  AND o.last_event_at < now() - COALESCE(NULLIF(current_setting('bw.stuck_after', true), '')::INTERVAL, INTERVAL '24 hours');

-- Order-status history counted per UTC day, order type and status (note-only events: status NULL).
CREATE VIEW "v_daily_status_counts" AS
SELECT
    (e.received_at AT TIME ZONE 'UTC')::DATE AS day,
    o.order_type,
    e.status,
    COUNT(*)::BIGINT AS events,
    COUNT(*) FILTER (WHERE e.applied)::BIGINT AS applied_events,
    COUNT(DISTINCT e.order_id)::BIGINT AS orders
FROM "order_events" e
JOIN "orders" o ON o.order_id = e.order_id
GROUP BY 1, 2, 3;

-- Handler deliveries that failed at least once (an error recorded) or ended dead-lettered,
-- with what the notification was about.
CREATE VIEW "v_handler_failures" AS
SELECT
    d.id AS delivery_id,
    d.notification_id,
    d.handler,
    d.status,
    d.status IN ('dead', 'dead_letter', 'dead_lettered') AS dead_lettered,
    d.attempts,
    d.last_error,
    d.source,
    d.created_at,
    d.started_at,
    d.finished_at,
    d.duration_ms,
    n.order_id,
    n.order_type,
    n.event_type,
    n.status AS notification_status,
    n.received_at AS notification_received_at
FROM "handler_deliveries" d
LEFT JOIN "notifications" n ON n.id = d.notification_id
WHERE d.last_error IS NOT NULL OR d.status IN ('failed', 'dead', 'dead_letter', 'dead_lettered');
