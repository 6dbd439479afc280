import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Prometheus metrics (prom-client), one registry per service instance so that several
 * services can live in one process (tests). Names are snake_case with units; labels never
 * carry ids (order ids, receipt ids) so cardinality stays bounded.
 */
export type CallbackOutcomeLabel =
  'accepted' | 'duplicate' | 'unauthorized' | 'malformed' | 'too_large' | 'unavailable';

export interface Metrics {
  readonly registry: Registry;
  /** Callbacks by outcome. */
  readonly notificationsReceived: Counter<'outcome'>;
  /** Time from request start to answer, callback route only. */
  readonly callbackDuration: Histogram<'outcome'>;
  /** Persisted notifications by order type / event type and status (bounded: known values or "unknown"). */
  readonly notificationsPersisted: Counter<'kind' | 'order_type' | 'status' | 'result'>;
  /** Notifications whose order type, state or event type is not in the table. */
  readonly unknownNotifications: Counter<'field'>;
  /** Worker time per persisted notification. */
  readonly persistDuration: Histogram<'result'>;
  /** Queue depth by queue and state, refreshed on scrape. */
  readonly queueJobs: Gauge<'queue' | 'state'>;
  /** Age of the oldest waiting job per queue (0 when none waits), refreshed on scrape. */
  readonly queueOldestWaitingAge: Gauge<'queue'>;
  /** Read API latency by route pattern (never the raw URL: no ids in labels) and status. */
  readonly apiRequestDuration: Histogram<'route' | 'method' | 'status'>;
  /** Handler deliveries currently dead-lettered, per handler, read from the database on scrape. */
  readonly deadLetteredDeliveries: Gauge<'handler'>;
  /** Quarantined payloads not yet released, read from the database on scrape. */
  readonly quarantinedPending: Gauge;
  /** Failed authentication by route (callback|api|admin) and reason (missing|invalid|forbidden). */
  readonly authFailures: Counter<'route' | 'reason'>;
  /** Requests refused before authentication, by route and reason (rate_limited|source_not_allowed). */
  readonly requestsRefused: Counter<'route' | 'reason'>;
  /** Notifications in the local spool, waiting for the queue (refreshed on scrape). */
  readonly spoolPending: Gauge;
  /** Age of the oldest spooled notification (0 when the spool is empty). */
  readonly spoolOldestAgeSeconds: Gauge;
  readonly spoolBytes: Gauge;
  /** Notifications written to the spool because the queue was unreachable. */
  readonly spoolAppended: Counter;
  /** Spooled notifications re-enqueued once the queue was back. */
  readonly spoolDrained: Counter;
  /** Notifications the worker moved to quarantine after failing persistence deterministically. */
  readonly poisonQuarantined: Counter;
  /** Persist attempts that failed and will be retried, by cause (infrastructure|other). */
  readonly persistRetries: Counter<'cause'>;
  /** Raw receipts deleted by the retention purge. */
  readonly rawReceiptsPurged: Counter;
  /** Receipts per job the callback route adds to the notifications queue (one job per event-loop turn). */
  readonly queueBatchReceipts: Histogram;
  /** Receipts of a batch job the worker could not persist, added back as jobs of their own. */
  readonly batchSplitOff: Counter;
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  return {
    registry,
    notificationsReceived: new Counter({
      name: 'bw_callback_notifications_total',
      help: 'Callback requests by outcome',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    callbackDuration: new Histogram({
      name: 'bw_callback_duration_seconds',
      help: 'Callback answer latency',
      labelNames: ['outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    notificationsPersisted: new Counter({
      name: 'bw_notifications_persisted_total',
      help: 'Notifications persisted by the worker, by kind (order|event|orderless), order type, status and result (stored|duplicate)',
      labelNames: ['kind', 'order_type', 'status', 'result'],
      registers: [registry],
    }),
    unknownNotifications: new Counter({
      name: 'bw_unknown_notifications_total',
      help: 'Notifications carrying an order type, state or event type not in the known table (stored anyway)',
      labelNames: ['field'],
      registers: [registry],
    }),
    persistDuration: new Histogram({
      name: 'bw_worker_persist_duration_seconds',
      help: 'Worker time to persist one notification',
      labelNames: ['result'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    queueJobs: new Gauge({
      name: 'bw_queue_jobs',
      help: 'Jobs per queue and state',
      labelNames: ['queue', 'state'],
      registers: [registry],
    }),
    queueOldestWaitingAge: new Gauge({
      name: 'bw_queue_oldest_waiting_job_age_seconds',
      help: 'Age of the oldest waiting job per queue (0 when the queue is empty)',
      labelNames: ['queue'],
      registers: [registry],
    }),
    apiRequestDuration: new Histogram({
      name: 'bw_api_request_duration_seconds',
      help: 'Read/admin API answer latency by route pattern, method and status',
      labelNames: ['route', 'method', 'status'],
      buckets: [0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    deadLetteredDeliveries: new Gauge({
      name: 'bw_dead_lettered_deliveries',
      help: 'Handler deliveries currently dead-lettered, per handler (from the database)',
      labelNames: ['handler'],
      registers: [registry],
    }),
    quarantinedPending: new Gauge({
      name: 'bw_quarantined_pending',
      help: 'Quarantined callback bodies not yet released (from the database)',
      registers: [registry],
    }),
    authFailures: new Counter({
      name: 'bw_auth_failures_total',
      help: 'Requests refused for missing or wrong credentials (callback Basic auth, API keys) or a key without the needed scope',
      labelNames: ['route', 'reason'],
      registers: [registry],
    }),
    requestsRefused: new Counter({
      name: 'bw_requests_refused_total',
      help: 'Requests refused before authentication: rate limited (429) or source address not allowed (403)',
      labelNames: ['route', 'reason'],
      registers: [registry],
    }),
    spoolPending: new Gauge({
      name: 'bw_spool_pending_notifications',
      help: 'Notifications in the local spool waiting to be re-enqueued',
      registers: [registry],
    }),
    spoolOldestAgeSeconds: new Gauge({
      name: 'bw_spool_oldest_age_seconds',
      help: 'Age of the oldest notification in the local spool (0 when empty)',
      registers: [registry],
    }),
    spoolBytes: new Gauge({
      name: 'bw_spool_bytes',
      help: 'Size of the local spool on disk',
      registers: [registry],
    }),
    spoolAppended: new Counter({
      name: 'bw_spool_appended_total',
      help: 'Notifications spooled because the queue was unreachable',
      registers: [registry],
    }),
    spoolDrained: new Counter({
      name: 'bw_spool_drained_total',
      help: 'Spooled notifications re-enqueued once the queue was back',
      registers: [registry],
    }),
    poisonQuarantined: new Counter({
      name: 'bw_worker_poison_quarantined_total',
      help: 'Notifications quarantined by the worker after failing persistence on every attempt',
      registers: [registry],
    }),
    persistRetries: new Counter({
      name: 'bw_worker_persist_retries_total',
      help: 'Failed persist attempts that will be retried, by cause (infrastructure|other)',
      labelNames: ['cause'],
      registers: [registry],
    }),
    rawReceiptsPurged: new Counter({
      name: 'bw_raw_receipts_purged_total',
      help: 'Raw receipts deleted by the retention purge (order history is kept)',
      registers: [registry],
    }),
    queueBatchReceipts: new Histogram({
      name: 'bw_queue_batch_receipts',
      help: 'Receipts per job the callback route adds to the notifications queue (one job per event-loop turn)',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
      registers: [registry],
    }),
    batchSplitOff: new Counter({
      name: 'bw_worker_batch_split_off_total',
      help: 'Receipts of a batch job the worker could not persist, added back as jobs of their own',
      registers: [registry],
    }),
  };
}
