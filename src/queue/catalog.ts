/**
 * The job catalog: every queue and job this service uses, with its payload type, attempts,
 * backoff and retention, in one typed table (STYLE: one job catalog).
 */

/** A raw receipt on its way to persistence. The raw body is the source of truth; no secrets. */
export interface PersistNotificationJob {
  /** Receipt id (UUID) minted on arrival; also the BullMQ job id, so re-adding is a no-op. */
  readonly receiptId: string;
  readonly receivedAt: string;
  readonly accountId: string | null;
  readonly remoteAddress: string | null;
  /** A safe subset of request headers (never Authorization). */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/**
 * Several receipts accepted in the same event-loop turn, in one job (the callback route's
 * group commit): one BullMQ job instead of one per receipt, at the edge and in the worker. A
 * receipt the worker cannot persist is split off into a job of its own (`receipt-<id>`), so
 * the fault policy (retries, poison quarantine) still works per receipt.
 */
export interface ReceiptBatchJob {
  readonly receipts: readonly PersistNotificationJob[];
}

/** What the `notifications` queue carries: one receipt, or a batch of them. */
export type NotificationsJob = PersistNotificationJob | ReceiptBatchJob;

export function isReceiptBatch(job: NotificationsJob): job is ReceiptBatchJob {
  return 'receipts' in job;
}

export const QUEUES = {
  notifications: {
    name: 'notifications',
    jobName: 'persist',
    /**
     * Deterministic: one job per receipt, whatever path (HTTP, spool drain, a batch's split)
     * adds it; a batch is named after its first receipt (receipt ids are random UUIDs).
     */
    jobId: (job: NotificationsJob): string =>
      isReceiptBatch(job)
        ? `receipts-${job.receipts[0]?.receiptId ?? 'empty'}-${job.receipts.length}`
        : `receipt-${job.receiptId}`,
    attempts: 25,
    // ~1 s, 2 s, 4 s ... capped by BullMQ at the attempt count: rides out a database
    // restart without dead-lettering.
    backoff: { type: 'exponential', delay: 1000 },
    removeOnComplete: { age: 24 * 3600, count: 10_000 },
    removeOnFail: { age: 7 * 24 * 3600, count: 50_000 },
  },
  handlerDeliveries: {
    name: 'handler-deliveries',
    jobName: 'deliver',
    /**
     * Deterministic: one job per delivery row and retry generation (an operator's retry of a
     * dead delivery needs a new job while the old failed one is still retained).
     */
    jobId: (job: HandlerDeliveriesJob): string => {
      if (isDeliveryBatch(job)) {
        const first = job.deliveries[0];
        return `deliveries-${first?.deliveryId ?? 'empty'}-${first?.retries ?? 0}-${job.deliveries.length}`;
      }
      return job.retries === 0 ? `delivery-${job.deliveryId}` : `delivery-${job.deliveryId}-retry-${job.retries}`;
    },
    /**
     * A batch job only fails when the queue refused its split-off jobs (Redis away): retried
     * like a persist job, long enough to ride out a restart. Handler failures never fail it.
     */
    batchAttempts: 25,
    batchBackoff: { type: 'exponential', delay: 1000 },
    // Defaults; each handler's config overrides attempts and the base delay.
    attempts: 5,
    backoff: { type: 'exponential', delay: 1000, jitter: 0.5 },
    removeOnComplete: { age: 24 * 3600, count: 10_000 },
    removeOnFail: { age: 7 * 24 * 3600, count: 50_000 },
  },
  bandwidth: {
    name: 'bandwidth',
    /** Default job name; the bandwidth queue names each job by its task (keepalive, reconcile, ...). */
    jobName: 'maintenance',
    /** Job scheduler ids: upserting them from every worker process is idempotent. */
    keepAliveSchedulerId: 'subscriptions-keepalive',
    reconcileSchedulerId: 'reconcile-stuck-orders',
    /** Deterministic: a per-order look-up is queued once per subscription. */
    reconcileOrderJobId: (orderId: string, subscriptionId: string): string =>
      `reconcile-order-${subscriptionId}-${orderId}`,
    // A failed run is retried a little; the next scheduled run comes anyway.
    attempts: 3,
    backoff: { type: 'exponential', delay: 5000 },
    removeOnComplete: { count: 200 },
    removeOnFail: { count: 1000 },
  },
} as const;

export type QueueName = keyof typeof QUEUES;

/** One handler run for one notification: only ids, the row holds the rest. */
export interface HandlerDeliveryJob {
  /** handler_deliveries.id, the same over every attempt (the X-Webhook-Id of http-forward). */
  readonly deliveryId: string;
  /** handler_deliveries.retries when the job was added (0 unless re-queued by an operator). */
  readonly retries: number;
}

/** A delivery in a batch job: its order (when it has one) decides what runs one after another. */
export interface BatchedDelivery extends HandlerDeliveryJob {
  readonly orderId: string | null;
}

/**
 * The deliveries of one handler fanned out together (a persist batch, a replay), in one job:
 * BullMQ's cost is per job (fetch, lock, complete: more than the `log` handler itself). Each
 * delivery's first attempt runs in the batch; whatever does not succeed or end there (a retry,
 * an earlier delivery of its order still open, an error) is split off into a job of its own
 * (`delivery-<id>`), so retries, backoff, per-order waits and dead letters stay per delivery.
 */
export interface DeliveryBatchJob {
  /** handler_deliveries.handler of every delivery in the batch. */
  readonly handler: string;
  readonly deliveries: readonly BatchedDelivery[];
}

/** What the `handler-deliveries` queue carries: one delivery, or a batch of one handler's. */
export type HandlerDeliveriesJob = HandlerDeliveryJob | DeliveryBatchJob;

export function isDeliveryBatch(job: HandlerDeliveriesJob): job is DeliveryBatchJob {
  return 'deliveries' in job;
}

/** The delivery ids a `handler-deliveries` job carries, batch or not. */
export function deliveryIdsOf(job: HandlerDeliveriesJob): string[] {
  return isDeliveryBatch(job) ? job.deliveries.map((d) => d.deliveryId) : [job.deliveryId];
}

/** Backoff type name of the notifications queue's capped exponential retry (see below). */
export const CAPPED_EXPONENTIAL = 'capped-exponential';

export interface RetryPolicy {
  /** Outages shorter than this never exhaust a job's attempts. */
  readonly windowMs: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

/** Delay before retry number `attemptsMade` (1-based): base, 2x base, 4x base ... capped. */
export function retryDelayMs(policy: RetryPolicy, attemptsMade: number): number {
  const exponent = Math.max(0, Math.min(attemptsMade - 1, 30));
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** exponent);
}

/**
 * Attempts such that the retries of one job span at least the window: a database down for
 * less than the window can never push a job to the failed (dead-letter) set.
 */
export function attemptsForWindow(policy: RetryPolicy): number {
  let attempts = 1;
  let waited = 0;
  while (waited < policy.windowMs) {
    waited += retryDelayMs(policy, attempts);
    attempts += 1;
  }
  // One more for the attempt that runs once the outage is over.
  return attempts + 1;
}

/** Events kept in a queue's Redis event stream (approximate cap, so memory stays bounded). */
export const EVENT_STREAM_MAX_LEN = 1000;
/** Bandwidth API maintenance (issue #9): scheduled keep-alive and reconciliation, one-off look-ups. */
export type BandwidthMaintenanceJob =
  | { readonly task: 'keepalive' }
  | { readonly task: 'reconcile' }
  /** Right after a per-order subscription is created (Bandwidth advises a status check then). */
  | { readonly task: 'reconcile-order'; readonly orderId: string; readonly orderType: string };
