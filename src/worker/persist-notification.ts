import { UnrecoverableError } from 'bullmq';
import type { Job } from 'bullmq';
import type { Logger } from 'winston';
import { dedupKeyOf } from '../ingest/dedup';
import { parseNotificationXml } from '../ingest/parse';
import { unknownFieldOf } from '../domain/order-types';
import type { PersistNotificationJob } from '../queue/catalog';
import type { PersistOutcome } from '../store/notification-store';
import { persistReceipt } from '../store/notification-store';
import type { SqlDatabase } from '../store/sql';
import type { Metrics } from '../observability/metrics';
import type { DispatchNotification } from './dispatch';
import type { PersistOne } from './persist-batcher';

export interface PersistWorkerDeps {
  readonly db: SqlDatabase;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /**
   * Handler fan-out after persistence (issue 5), used only without `persist` (which fans out
   * itself); absent: nothing is dispatched.
   */
  readonly dispatch?: DispatchNotification;
  /**
   * How a receipt is written and fanned out (the worker's batcher); absent: `persistReceipt`,
   * one transaction each, then `dispatch`.
   */
  readonly persist?: PersistOne;
}

/**
 * Persists one receipt: raw receipt -> database, in one transaction (or one group-commit batch).
 * Retryability is decided here: a body that does not parse will never parse (give up);
 * anything else (database down, deadlock) is thrown and retried with backoff.
 */
export function createReceiptPersister(deps: PersistWorkerDeps) {
  return async (data: PersistNotificationJob): Promise<PersistOutcome> => {
    const parsed = await parseNotificationXml(data.body);
    if (!parsed.ok) {
      throw new UnrecoverableError(`receipt ${data.receiptId} does not parse: ${parsed.reason}`);
    }
    const started = process.hrtime.bigint();
    const n = parsed.notification;
    const persist: PersistOne =
      deps.persist ??
      (async (receipt) => {
        const stored = await persistReceipt(deps.db, receipt);
        // Fan out once stored. Also on a redelivered job (`already_persisted`): the previous run
        // may have died between the commit and the fan-out; dispatching is idempotent.
        if (deps.dispatch && stored.kind !== 'duplicate') await deps.dispatch(receipt.receiptId, 'callback');
        return stored;
      });
    const outcome = await persist({
      receiptId: data.receiptId,
      receivedAt: new Date(data.receivedAt),
      accountId: data.accountId,
      remoteAddress: data.remoteAddress,
      headers: data.headers,
      body: data.body,
      notification: parsed.notification,
      dedupKey: dedupKeyOf(parsed.notification),
    });
    const result = outcome.kind === 'duplicate' ? 'duplicate' : 'stored';
    deps.metrics.persistDuration.observe({ result }, Number(process.hrtime.bigint() - started) / 1e9);
    if (outcome.kind !== 'already_persisted') {
      deps.metrics.notificationsPersisted.inc({
        kind: n.orderId !== null ? 'order' : n.eventType !== null ? 'event' : 'orderless',
        // Unknown values are collapsed so a misbehaving sender cannot explode label cardinality.
        order_type: n.known ? (n.orderType ?? n.eventType ?? 'none') : 'unknown',
        status: n.known ? (n.status ?? 'none') : 'unknown',
        result,
      });
      // Counted once per notification (not per copy): field is order_type, status or event_type.
      const unknownField = unknownFieldOf(n);
      if (unknownField !== null && result === 'stored') deps.metrics.unknownNotifications.inc({ field: unknownField });
    }
    deps.logger.debug('notification persisted', { receiptId: data.receiptId, outcome: outcome.kind });
    return outcome;
  };
}

/** Processor of a single-receipt job of the `notifications` queue. */
export function createPersistProcessor(deps: PersistWorkerDeps) {
  const persist = createReceiptPersister(deps);
  return (job: Job<PersistNotificationJob>): Promise<PersistOutcome> => persist(job.data);
}
