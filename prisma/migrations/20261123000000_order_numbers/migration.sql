-- The order's numbers on the order row (issue #8; src/store/order-numbers.ts): every read of an
-- order (list pages, detail, handler deliveries, v_order_current_status) took them from
-- order_telephone_numbers with one index probe and an aggregate per order. This array is that
-- table's copy per order, sorted and without repeats, written by the statements that insert
-- there. order_telephone_numbers stays the index for look-ups by number.
--
-- No backfill here: adding a column without a default is instant however large the table, and
-- a migration runs at every process's start. NULL means "not copied yet": reads fall back to
-- order_telephone_numbers, the order's next receipt writes the copy, and the worker's
-- housekeeping copies the rest in batches.

-- AlterTable
ALTER TABLE "orders" ADD COLUMN "telephone_numbers" TEXT[];

-- CreateIndex: the orders still to copy (empty once the housekeeping is done)
CREATE INDEX "orders_telephone_numbers_pending_idx" ON "orders"("order_id") WHERE "telephone_numbers" IS NULL;

-- The dashboards' view reads the copy: same columns, same values.
CREATE OR REPLACE VIEW "v_order_current_status" AS
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
    tn.telephone_numbers,
    COALESCE(array_length(tn.telephone_numbers, 1), 0) AS telephone_number_count,
    last_event.message AS last_message,
    last_event.error_code AS last_error_code,
    EXTRACT(EPOCH FROM (now() - o.last_event_at))::BIGINT AS idle_seconds
FROM "orders" o
CROSS JOIN LATERAL (
    SELECT COALESCE(o.telephone_numbers, ARRAY(
        SELECT t.telephone_number FROM "order_telephone_numbers" t
        WHERE t.order_id = o.order_id ORDER BY t.telephone_number)) AS telephone_numbers
) tn
LEFT JOIN LATERAL (
    SELECT e.message, e.error_code
    FROM "order_events" e
    WHERE e.order_id = o.order_id AND e.status IS NOT NULL
    ORDER BY e.applied DESC, COALESCE(e.last_modified_at, e.received_at) DESC, e.id DESC
    LIMIT 1
) last_event ON true;
