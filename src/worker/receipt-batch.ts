import type { Job } from 'bullmq';
import type { Logger } from 'winston';
import type { NotificationsJob, PersistNotificationJob } from '../queue/catalog';
import { isReceiptBatch } from '../queue/catalog';

export interface NotificationsProcessorDeps {
  /** A single-receipt job: the persist processor under the worker's fault policy. */
  readonly single: (job: Job<PersistNotificationJob>) => Promise<unknown>;
  /** One receipt of a batch job (parse, persist, fan out); rejects when it was not persisted. */
  readonly persistReceipt: (receipt: PersistNotificationJob) => Promise<unknown>;
  /** Adds receipts as jobs of their own (`receipt-<id>`); rejects when the queue refused them. */
  readonly splitOff: (receipts: readonly PersistNotificationJob[]) => Promise<void>;
  readonly logger: Logger;
  /** Called with the number of receipts split off a batch (metrics). */
  readonly onSplitOff?: (count: number) => void;
}

export interface BatchOutcome {
  readonly kind: 'batch';
  readonly receipts: number;
  readonly splitOff: number;
}

function isSingleReceiptJob(job: Job<NotificationsJob>): job is Job<PersistNotificationJob> {
  return !isReceiptBatch(job.data);
}

/**
 * Processor of the `notifications` queue. A single-receipt job goes through the fault policy
 * as before. A batch job (the receipts the callback route accepted in one event-loop turn)
 * persists its receipts concurrently, so the persist batcher writes them in one transaction.
 *
 * Never loses a receipt and keeps the fault policy per receipt: every receipt of the batch
 * that was not persisted, whatever the reason (a poison body, the database away), is added
 * back as a job of its own before the batch job completes, and from there is retried or
 * quarantined exactly like any receipt. If even that add fails, the batch job throws and
 * BullMQ retries the whole batch: receipts already persisted come back `already_persisted`
 * (idempotent by receipt id), and the split-off jobs have deterministic ids.
 */
export function createNotificationsProcessor(deps: NotificationsProcessorDeps) {
  return async (job: Job<NotificationsJob>): Promise<unknown> => {
    if (isSingleReceiptJob(job)) return deps.single(job);
    const data = job.data;
    const receipts = isReceiptBatch(data) ? data.receipts : [];
    const results = await Promise.allSettled(receipts.map((receipt) => deps.persistReceipt(receipt)));
    const failed: PersistNotificationJob[] = [];
    results.forEach((result, i) => {
      const receipt = receipts[i];
      if (result.status === 'fulfilled' || receipt === undefined) return;
      failed.push(receipt);
      const reason: unknown = result.reason;
      deps.logger.warn('receipt of a batch not persisted: split off into a job of its own', {
        receiptId: receipt.receiptId,
        error: reason instanceof Error ? reason.message : String(reason),
      });
    });
    if (failed.length > 0) {
      await deps.splitOff(failed);
      deps.onSplitOff?.(failed.length);
    }
    const outcome: BatchOutcome = { kind: 'batch', receipts: receipts.length, splitOff: failed.length };
    return outcome;
  };
}
