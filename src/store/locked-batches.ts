import type { Database } from './prisma';
import type { SqlClient } from './sql';

/**
 * Housekeeping in short transactions (retention's purge, the copy of order numbers): runs
 * `batch` (one statement; returns the rows it changed) in a transaction of its own, holding the
 * transaction-level advisory lock `lockKey`, until a batch changes fewer than `batchSize` rows.
 * Returns the total. When another process holds the lock it is doing the same work: this one
 * stops at once.
 */
export async function runLockedBatches(
  db: Database,
  lockKey: number,
  batchSize: number,
  batch: (tx: SqlClient) => Promise<number>,
): Promise<number> {
  let total = 0;
  for (;;) {
    const changed = await db.$transaction(async (tx) => {
      const lock = await tx.$queryRaw<{ locked: boolean }[]>`SELECT pg_try_advisory_xact_lock(${lockKey}) AS locked`;
      if (lock[0]?.locked !== true) return -1;
      return batch(tx);
    });
    if (changed < 0) return total;
    total += changed;
    if (changed < batchSize) return total;
  }
}
