-- Handler fan-out (issue 5): what per-order ordering and manual retries need.

-- The order a delivery belongs to and its position in that order's history (the
-- order_events.id of its notification: assigned under the order's row lock, so it follows
-- persistence order). Both NULL for notifications without an order (no ordering constraint).
ALTER TABLE "handler_deliveries" ADD COLUMN "order_id" TEXT;
ALTER TABLE "handler_deliveries" ADD COLUMN "position" BIGINT;
-- How many times an operator re-queued this delivery after it was dead (job id generation).
ALTER TABLE "handler_deliveries" ADD COLUMN "retries" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "handler_deliveries" ADD COLUMN "last_attempt_at" TIMESTAMPTZ(3);

-- The ordering gate: "is an earlier delivery of this (handler, order) still unfinished?"
CREATE INDEX "handler_deliveries_handler_order_id_position_idx"
    ON "handler_deliveries"("handler", "order_id", "position");

-- One row per notification that went through fan-out (even when no handler matched it).
-- A later delivery of the same order waits while an earlier notification has no row here.
CREATE TABLE "notification_dispatches" (
    "notification_id" UUID NOT NULL,
    "source" TEXT NOT NULL,
    "dispatched_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "notification_dispatches_pkey" PRIMARY KEY ("notification_id")
);

-- Notifications stored before handlers existed count as dispatched, so they never hold back
-- the deliveries of newer notifications of the same order.
INSERT INTO "notification_dispatches" ("notification_id", "source")
SELECT "id", 'callback' FROM "notifications" WHERE "outcome" <> 'duplicate'
ON CONFLICT DO NOTHING;
