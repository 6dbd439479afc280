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

export const QUEUES = {
  notifications: {
    name: 'notifications',
    jobName: 'persist',
    /** Deterministic: one job per receipt, whatever path (HTTP, spool drain) adds it. */
    jobId: (job: PersistNotificationJob): string => `receipt-${job.receiptId}`,
    attempts: 25,
    // ~1 s, 2 s, 4 s ... capped by BullMQ at the attempt count: rides out a database
    // restart without dead-lettering.
    backoff: { type: 'exponential', delay: 1000 },
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

/** Bandwidth API maintenance (issue #9): scheduled keep-alive and reconciliation, one-off look-ups. */
export type BandwidthMaintenanceJob =
  | { readonly task: 'keepalive' }
  | { readonly task: 'reconcile' }
  /** Right after a per-order subscription is created (Bandwidth advises a status check then). */
  | { readonly task: 'reconcile-order'; readonly orderId: string; readonly orderType: string };
