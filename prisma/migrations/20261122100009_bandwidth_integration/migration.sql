-- Issue #9: Bandwidth API integration (subscription keep-alive, reconciliation).

-- Where a notification came from: 'callback' (Bandwidth POSTed it) or 'reconcile' (synthesized
-- from Bandwidth's answer to an order look-up). Existing rows are callbacks.
ALTER TABLE "notifications" ADD COLUMN "source" TEXT NOT NULL DEFAULT 'callback';

-- Keep-alive bookkeeping of each subscription.
ALTER TABLE "subscriptions" ADD COLUMN "email" TEXT;
-- When the keep-alive last read the subscription from Bandwidth.
ALTER TABLE "subscriptions" ADD COLUMN "last_checked_at" TIMESTAMPTZ(3);
-- When we last renewed it (PUT with a fresh Expiry).
ALTER TABLE "subscriptions" ADD COLUMN "renewed_at" TIMESTAMPTZ(3);
-- Whether last_status reports a successful callback (2xx); null when Bandwidth reported none.
ALTER TABLE "subscriptions" ADD COLUMN "last_status_ok" BOOLEAN;

-- One row per order the reconciler looked up: when, what Bandwidth said, what we did.
CREATE TABLE "order_reconciliations" (
    "order_id" TEXT NOT NULL,
    "order_type" TEXT NOT NULL,
    "checked_at" TIMESTAMPTZ(3) NOT NULL,
    "outcome" TEXT NOT NULL,
    "remote_status" TEXT,
    "last_error" TEXT,
    "checks" INTEGER NOT NULL DEFAULT 1,

    CONSTRAINT "order_reconciliations_pkey" PRIMARY KEY ("order_id")
);

CREATE INDEX "order_reconciliations_checked_at_idx" ON "order_reconciliations"("checked_at");

-- The reconciler's scan: non-terminal orders by idleness.
CREATE INDEX "orders_last_event_at_idx" ON "orders"("last_event_at") WHERE NOT "is_terminal";
