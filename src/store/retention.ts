import type { Logger } from 'winston';
import type { Database } from './prisma';

/**
 * Retention of raw receipts: `notifications` rows older than the retention period are deleted
 * in batches (set-based SQL, short transactions). Order history is kept: `order_events`,
 * `order_notes` and `orders` stay, and an event's `notification_id` becomes NULL (its foreign
 * key is ON DELETE SET NULL). After a purge, a redelivery of a purged notification is no longer
 * recognised as a duplicate; it arrives out of order and is kept with applied=false.
 */

// Arbitrary constant ("bw-purge"): only one process purges at a time.
const PURGE_LOCK_KEY = 0x62772d707572;

export async function purgeRawReceipts(
  db: Database,
  options: { readonly olderThanDays: number; readonly batchSize?: number; readonly now?: Date },
): Promise<number> {
  const cutoff = new Date((options.now ?? new Date()).getTime() - options.olderThanDays * 24 * 3600_000);
  const batch = options.batchSize ?? 5000;
  let total = 0;
  for (;;) {
    const deleted = await db.$transaction(async (tx) => {
      const lock = await tx.$queryRaw<
        { locked: boolean }[]
      >`SELECT pg_try_advisory_xact_lock(${PURGE_LOCK_KEY}) AS locked`;
      if (lock[0]?.locked !== true) return -1;
      return tx.$executeRaw`
        DELETE FROM notifications WHERE id IN (
          SELECT id FROM notifications WHERE received_at < ${cutoff} ORDER BY received_at LIMIT ${batch})`;
    });
    if (deleted < 0) return total; // another process is purging
    total += deleted;
    if (deleted < batch) return total;
  }
}

export interface RetentionSchedule {
  stop(): Promise<void>;
}

/** Runs the purge now and then every `intervalMs` (worker role). Errors are logged, never thrown. */
export function startRetentionSchedule(options: {
  readonly db: Database;
  readonly logger: Logger;
  readonly olderThanDays: number;
  readonly intervalMs: number;
  readonly onPurged?: (count: number) => void;
}): RetentionSchedule {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const run = async (): Promise<void> => {
    try {
      const purged = await purgeRawReceipts(options.db, { olderThanDays: options.olderThanDays });
      if (purged > 0) {
        options.onPurged?.(purged);
        options.logger.info('raw receipts purged', { purged, olderThanDays: options.olderThanDays });
      }
    } catch (error: unknown) {
      options.logger.warn('raw receipt purge failed; will retry on schedule', {
        error: error instanceof Error ? error.message : String(error),
      });
    }
  };
  const schedule = (delay: number): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = run().finally(() => schedule(options.intervalMs));
    }, delay);
    timer.unref();
  };
  // First run shortly after start, not during it.
  schedule(Math.min(5000, options.intervalMs));
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
