-- Notification semantics (issue 3).

-- Duplicates are counted on the original receipt (each copy is still stored as its own
-- 'duplicate' receipt, so nothing Bandwidth sent is lost).
ALTER TABLE "notifications" ADD COLUMN "duplicate_count" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "notifications" ADD COLUMN "last_duplicate_at" TIMESTAMPTZ(3);

-- The FOC date each history entry carried: the order's actual_foc_date is the one of the newest
-- entry carrying one, recomputed from history, so it does not depend on processing order.
ALTER TABLE "order_events" ADD COLUMN "actual_foc_date" TIMESTAMPTZ(3);
-- Backfill from the receipts, so that existing orders keep their FOC date when re-decided.
UPDATE "order_events" AS e SET "actual_foc_date" = n."actual_foc_date"
FROM "notifications" AS n
WHERE n."id" = e."notification_id" AND n."actual_foc_date" IS NOT NULL;

-- Receipts are looked up by telephone number (account events have no order to join through).
CREATE INDEX "notifications_telephone_numbers_idx" ON "notifications" USING GIN ("telephone_numbers");
