-- Initial schema of the Bandwidth order-notification receiver.
-- Kept in step with prisma/schema.prisma (checked by test/schema-drift.test.ts).

-- CreateTable
CREATE TABLE "notifications" (
    "id" UUID NOT NULL,
    "received_at" TIMESTAMPTZ(3) NOT NULL,
    "processed_at" TIMESTAMPTZ(3),
    "account_id" TEXT,
    "remote_address" TEXT,
    "headers" JSONB NOT NULL DEFAULT '{}',
    "body" TEXT NOT NULL,
    "outcome" TEXT NOT NULL,
    "dedup_key" TEXT,
    "duplicate_of" UUID,
    "subscription_id" TEXT,
    "order_id" TEXT,
    "order_type" TEXT,
    "event_type" TEXT,
    "status" TEXT,
    "customer_order_id" TEXT,
    "message" TEXT,
    "error_code" TEXT,
    "note" TEXT,
    "last_modified_at" TIMESTAMPTZ(3),
    "actual_foc_date" TIMESTAMPTZ(3),
    "telephone_numbers" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "known" BOOLEAN NOT NULL DEFAULT true,

    CONSTRAINT "notifications_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "orders" (
    "order_id" TEXT NOT NULL,
    "order_type" TEXT NOT NULL,
    "customer_order_id" TEXT,
    "status" TEXT,
    "is_terminal" BOOLEAN NOT NULL DEFAULT false,
    "known" BOOLEAN NOT NULL DEFAULT true,
    "account_id" TEXT,
    "last_modified_at" TIMESTAMPTZ(3),
    "actual_foc_date" TIMESTAMPTZ(3),
    "first_seen_at" TIMESTAMPTZ(3) NOT NULL,
    "last_event_at" TIMESTAMPTZ(3) NOT NULL,
    "status_changed_at" TIMESTAMPTZ(3),
    "event_count" INTEGER NOT NULL DEFAULT 0,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "orders_pkey" PRIMARY KEY ("order_id")
);

-- CreateTable
CREATE TABLE "order_events" (
    "id" BIGSERIAL NOT NULL,
    "order_id" TEXT NOT NULL,
    "notification_id" UUID,
    "status" TEXT,
    "previous_status" TEXT,
    "message" TEXT,
    "error_code" TEXT,
    "note" TEXT,
    "subscription_id" TEXT,
    "telephone_numbers" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "last_modified_at" TIMESTAMPTZ(3),
    "received_at" TIMESTAMPTZ(3) NOT NULL,
    "applied" BOOLEAN NOT NULL,
    "source" TEXT NOT NULL DEFAULT 'callback',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "order_events_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "order_notes" (
    "id" BIGSERIAL NOT NULL,
    "order_id" TEXT NOT NULL,
    "event_id" BIGINT,
    "note" TEXT NOT NULL,
    "last_modified_at" TIMESTAMPTZ(3),
    "received_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "order_notes_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "order_telephone_numbers" (
    "order_id" TEXT NOT NULL,
    "telephone_number" TEXT NOT NULL,
    "first_seen_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "order_telephone_numbers_pkey" PRIMARY KEY ("order_id","telephone_number")
);

-- CreateTable
CREATE TABLE "quarantined_notifications" (
    "id" UUID NOT NULL,
    "received_at" TIMESTAMPTZ(3) NOT NULL,
    "account_id" TEXT,
    "remote_address" TEXT,
    "headers" JSONB NOT NULL DEFAULT '{}',
    "body" BYTEA NOT NULL,
    "reason" TEXT NOT NULL,
    "released_at" TIMESTAMPTZ(3),

    CONSTRAINT "quarantined_notifications_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "handler_deliveries" (
    "id" UUID NOT NULL,
    "notification_id" UUID NOT NULL,
    "handler" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "source" TEXT NOT NULL DEFAULT 'callback',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "last_error" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),
    "duration_ms" INTEGER,

    CONSTRAINT "handler_deliveries_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "subscriptions" (
    "id" TEXT NOT NULL,
    "account_id" TEXT NOT NULL,
    "order_type" TEXT,
    "event_type" TEXT,
    "order_id" TEXT,
    "callback_url" TEXT,
    "number_format" TEXT,
    "expiry_seconds" INTEGER,
    "expires_at" TIMESTAMPTZ(3),
    "last_status" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "subscriptions_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "notifications_dedup_key_key" ON "notifications"("dedup_key");

-- CreateIndex
CREATE INDEX "notifications_received_at_id_idx" ON "notifications"("received_at", "id");

-- CreateIndex
CREATE INDEX "notifications_order_id_received_at_idx" ON "notifications"("order_id", "received_at");

-- CreateIndex
CREATE INDEX "orders_order_type_status_idx" ON "orders"("order_type", "status");

-- CreateIndex
CREATE INDEX "orders_updated_at_order_id_idx" ON "orders"("updated_at", "order_id");

-- CreateIndex
CREATE INDEX "orders_customer_order_id_idx" ON "orders"("customer_order_id");

-- CreateIndex
CREATE UNIQUE INDEX "order_events_notification_id_key" ON "order_events"("notification_id");

-- CreateIndex
CREATE INDEX "order_events_order_id_id_idx" ON "order_events"("order_id", "id");

-- CreateIndex
CREATE UNIQUE INDEX "order_notes_event_id_key" ON "order_notes"("event_id");

-- CreateIndex
CREATE INDEX "order_notes_order_id_id_idx" ON "order_notes"("order_id", "id");

-- CreateIndex
CREATE INDEX "order_telephone_numbers_telephone_number_idx" ON "order_telephone_numbers"("telephone_number");

-- CreateIndex
CREATE INDEX "quarantined_notifications_received_at_idx" ON "quarantined_notifications"("received_at");

-- CreateIndex
CREATE INDEX "handler_deliveries_notification_id_idx" ON "handler_deliveries"("notification_id");

-- CreateIndex
CREATE INDEX "handler_deliveries_status_handler_idx" ON "handler_deliveries"("status", "handler");

-- AddForeignKey
ALTER TABLE "order_events" ADD CONSTRAINT "order_events_order_id_fkey" FOREIGN KEY ("order_id") REFERENCES "orders"("order_id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "order_events" ADD CONSTRAINT "order_events_notification_id_fkey" FOREIGN KEY ("notification_id") REFERENCES "notifications"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "order_notes" ADD CONSTRAINT "order_notes_order_id_fkey" FOREIGN KEY ("order_id") REFERENCES "orders"("order_id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "order_telephone_numbers" ADD CONSTRAINT "order_telephone_numbers_order_id_fkey" FOREIGN KEY ("order_id") REFERENCES "orders"("order_id") ON DELETE CASCADE ON UPDATE CASCADE;
