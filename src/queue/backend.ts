import { Queue, Worker, createPostgresBackend, runMigrations, withBackend } from 'bullmq';
import { Client } from 'pg';
import type { Job } from 'bullmq';
import type { Logger } from 'winston';
import { createBatchingEnqueue } from './batching-enqueue';
import { CAPPED_EXPONENTIAL, EVENT_STREAM_MAX_LEN, QUEUES, attemptsForWindow, retryDelayMs } from './catalog';
import type {
  BandwidthMaintenanceJob,
  HandlerDeliveriesJob,
  NotificationsJob,
  PersistNotificationJob,
  QueueName,
  RetryPolicy,
} from './catalog';
import { checkRedisSafety } from './redis-safety';

/**
 * BullMQ on either of its backends: Redis (production) or PostgreSQL (embedded default, in the
 * same database as our tables). Everything above this module sees only these narrow ports.
 */
export type QueueBackendKind = 'redis' | 'postgres';

export interface NotificationProducer {
  /** Makes one receipt durable; receipts of the same event-loop turn share one job. */
  enqueue(job: PersistNotificationJob): Promise<void>;
  /** Adds each receipt as a job of its own (a batch's receipts the worker could not persist). */
  enqueueEach(jobs: readonly PersistNotificationJob[]): Promise<void>;
  /** Waiting + delayed + active jobs (for readiness, stats and metrics). */
  counts(): Promise<Record<string, number>>;
  /** Age in ms of the oldest waiting job, null when none waits (metrics: queue lag). */
  oldestWaitingAgeMs(): Promise<number | null>;
  /** The BullMQ queue itself, for the admin queue UI (@bull-board) only. */
  readonly inspectable: Queue;
  close(): Promise<void>;
}

export interface NotificationConsumer {
  close(): Promise<void>;
}

export type PersistProcessor = (job: Job<NotificationsJob>) => Promise<unknown>;

export interface QueueBackend {
  readonly kind: QueueBackendKind;
  /** A human description for the startup banner (no credentials). */
  readonly description: string;
  /** Creates or upgrades the backend's own storage (PostgreSQL backend: BullMQ's schema). */
  prepare(): Promise<void>;
  createProducer(): NotificationProducer;
  createConsumer(processor: PersistProcessor, concurrency: number): NotificationConsumer;
  /** A producer for any queue of the catalog (job name and retention from the catalog). */
  createJobProducer<Q extends QueueName>(queue: Q): JobProducer<JobPayloads[Q]>;
  /** A consumer for any queue of the catalog. */
  createJobConsumer<Q extends QueueName>(
    queue: Q,
    processor: JobProcessor<JobPayloads[Q]>,
    options: JobConsumerOptions<JobPayloads[Q]>,
  ): NotificationConsumer;
}

/** The payload type of each queue of the catalog. */
export interface JobPayloads {
  notifications: NotificationsJob;
  handlerDeliveries: HandlerDeliveriesJob;
  bandwidth: BandwidthMaintenanceJob;
}

export interface JobAddOptions {
  readonly jobId: string;
  readonly attempts: number;
  readonly backoff: { readonly type: 'exponential' | 'fixed'; readonly delay: number; readonly jitter?: number };
  /** Milliseconds before the job may run (a split-off retry or per-order wait). */
  readonly delay?: number;
}

export interface JobProducer<T> {
  add(data: T, options: JobAddOptions): Promise<void>;
  /** Several jobs in one round trip (one `addBulk`); job ids keep re-adding a no-op. */
  addBulk(jobs: readonly { readonly data: T; readonly options: JobAddOptions }[]): Promise<void>;
  counts(): Promise<Record<string, number>>;
  close(): Promise<void>;
}

export interface JobConsumerOptions<T = unknown> {
  readonly concurrency: number;
  /** Lock of an active job; a crashed worker's job is stalled (and retried) once it expires. */
  readonly lockDurationMs?: number;
  readonly stalledIntervalMs?: number;
  /** How many times a job may stall (its worker died) before BullMQ fails it. */
  readonly maxStalledCount?: number;
  /** Called after every failed attempt (the job may still be retried: check its state). */
  readonly onFailed?: (job: Job<T>, error: Error) => Promise<void>;
}

/** BullMQ's processor signature: the token is needed to re-delay a job, the signal to abort it. */
export type JobProcessor<T> = (job: Job<T>, token?: string, signal?: AbortSignal) => Promise<unknown>;

export interface QueueBackendOptions {
  readonly redisUrl: string | undefined;
  readonly databaseUrl: string;
  readonly prefix: string;
  readonly logger: Logger;
  /** Most receipts per job from the producer (group commit per event-loop turn); 1 = one job each. */
  readonly enqueueBatchMax?: number;
  /** Called with the number of receipts of every job the producer adds (metrics). */
  readonly onEnqueueBatch?: (receipts: number) => void;
  /** Retry policy of persist jobs; unset: the catalog's fixed attempts and exponential backoff. */
  readonly retry?: RetryPolicy;
  /** Worker job lock (and stalled-check interval): a crashed worker's jobs return after this. */
  readonly lockDurationMs?: number;
}

const catalog = QUEUES.notifications;

const JOB_OPTIONS = {
  attempts: catalog.attempts,
  backoff: { ...catalog.backoff },
  removeOnComplete: { ...catalog.removeOnComplete },
  removeOnFail: { ...catalog.removeOnFail },
};

function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
}

interface BulkJob<T> {
  readonly name: string;
  readonly data: T;
  readonly opts: object;
}

interface QueueLike {
  add(name: string, data: NotificationsJob, opts: object): Promise<unknown>;
  addBulk(jobs: BulkJob<NotificationsJob>[]): Promise<unknown>;
  getJobCounts(...types: string[]): Promise<Record<string, number>>;
  getJobs(types: 'waiting'[], start: number, end: number, asc: boolean): Promise<{ timestamp: number }[]>;
  close(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

const DEFAULT_RETRY: RetryPolicy = { windowMs: 15 * 60_000, baseDelayMs: 1000, maxDelayMs: 30_000 };

interface JobOptions {
  readonly attempts: number;
  readonly backoff: { readonly type: string; readonly delay: number };
  readonly removeOnComplete: { readonly age: number; readonly count: number };
  readonly removeOnFail: { readonly age: number; readonly count: number };
}

function jobOptionsFor(retry: RetryPolicy | undefined): JobOptions {
  if (retry === undefined) return JOB_OPTIONS;
  return { ...JOB_OPTIONS, attempts: attemptsForWindow(retry), backoff: { type: CAPPED_EXPONENTIAL, delay: 0 } };
}

/** Worker options shared by both backends: retry delays, stalled-job recovery. */
function workerOptionsFor(options: QueueBackendOptions) {
  const retry = options.retry;
  const lockDuration = options.lockDurationMs ?? 30_000;
  return {
    lockDuration,
    stalledInterval: lockDuration,
    // A job whose worker died is put back up to this many times before it is failed: a
    // crash loop must not dead-letter a healthy notification after one crash.
    maxStalledCount: 10,
    // Called for the capped-exponential type only; the catalog's default uses BullMQ's own.
    settings: { backoffStrategy: (attemptsMade: number) => retryDelayMs(retry ?? DEFAULT_RETRY, attemptsMade) },
  };
}

function producerOf(
  queue: QueueLike,
  inspectable: Queue,
  options: Pick<QueueBackendOptions, 'enqueueBatchMax' | 'onEnqueueBatch' | 'retry'>,
): NotificationProducer {
  const { retry, onEnqueueBatch } = options;
  const batchMax = options.enqueueBatchMax ?? 1;
  const jobOptions = jobOptionsFor(retry);
  const optsOf = (data: NotificationsJob) => ({ ...jobOptions, jobId: catalog.jobId(data) });
  const add = (data: NotificationsJob) => queue.add(catalog.jobName, data, optsOf(data));
  // One job per event-loop turn, whatever the number of receipts in it: BullMQ's cost is per
  // job (about 40-60 us of CPU to add one, more to run one), and it was the callback route's
  // largest cost after the XML check. A turn with one receipt stays a plain receipt job.
  const addInBatches =
    batchMax > 1
      ? createBatchingEnqueue<PersistNotificationJob>((receipts) => {
          onEnqueueBatch?.(receipts.length);
          return add(receipts.length === 1 && receipts[0] ? receipts[0] : { receipts });
        }, batchMax)
      : undefined;
  return {
    async enqueue(job) {
      if (addInBatches) await addInBatches(job);
      else {
        onEnqueueBatch?.(1);
        await add(job);
      }
    },
    async enqueueEach(jobs) {
      await queue.addBulk(jobs.map((data) => ({ name: catalog.jobName, data, opts: optsOf(data) })));
    },
    counts: () => queue.getJobCounts('waiting', 'delayed', 'active', 'failed', 'prioritized'),
    close: () => queue.close(),
    async oldestWaitingAgeMs() {
      const [oldest] = await queue.getJobs(['waiting'], 0, 0, true);
      return oldest === undefined ? null : Math.max(0, Date.now() - oldest.timestamp);
    },
    inspectable,
  };
}

interface GenericQueueLike<T> {
  add(name: string, data: T, opts: object): Promise<unknown>;
  addBulk(jobs: { name: string; data: T; opts: object }[]): Promise<unknown>;
  getJobCounts(...types: string[]): Promise<Record<string, number>>;
  close(): Promise<void>;
}

function jobProducerOf<Q extends QueueName>(
  queue: Q,
  bull: GenericQueueLike<JobPayloads[Q]>,
): JobProducer<JobPayloads[Q]> {
  const entry = QUEUES[queue];
  const optionsOf = (opts: JobAddOptions) => ({
    jobId: opts.jobId,
    attempts: opts.attempts,
    backoff: { ...opts.backoff },
    ...(opts.delay !== undefined && opts.delay > 0 ? { delay: opts.delay } : {}),
    removeOnComplete: { ...entry.removeOnComplete },
    removeOnFail: { ...entry.removeOnFail },
  });
  return {
    async add(data, opts) {
      await bull.add(entry.jobName, data, optionsOf(opts));
    },
    async addBulk(jobs) {
      if (jobs.length === 0) return;
      await bull.addBulk(jobs.map((j) => ({ name: entry.jobName, data: j.data, opts: optionsOf(j.options) })));
    },
    counts: () => bull.getJobCounts('waiting', 'delayed', 'active', 'failed', 'prioritized'),
    close: () => bull.close(),
  };
}

function workerOptions<T>(options: JobConsumerOptions<T>): object {
  return {
    concurrency: options.concurrency,
    ...(options.lockDurationMs !== undefined ? { lockDuration: options.lockDurationMs } : {}),
    ...(options.stalledIntervalMs !== undefined ? { stalledInterval: options.stalledIntervalMs } : {}),
    ...(options.maxStalledCount !== undefined ? { maxStalledCount: options.maxStalledCount } : {}),
  };
}

function listenForFailures<T>(
  worker: { on(event: 'failed', listener: (job: Job<T> | undefined, error: Error) => void): unknown },
  options: JobConsumerOptions<T>,
  logger: Logger,
): void {
  const onFailed = options.onFailed;
  if (onFailed === undefined) return;
  worker.on('failed', (job, error) => {
    if (job === undefined) return;
    onFailed(job, error).catch((hookError: unknown) =>
      logger.error('failed-job hook failed', {
        jobId: job.id,
        error: hookError instanceof Error ? hookError.message : String(hookError),
      }),
    );
  });
}

export function createQueueBackend(options: QueueBackendOptions): QueueBackend {
  const { logger, prefix } = options;
  const onError = (role: string) => (error: Error) =>
    logger.error('queue connection error', { role, error: error.message });

  if (options.redisUrl !== undefined) {
    const url = options.redisUrl;
    return {
      kind: 'redis',
      description: `BullMQ on Redis ${redact(url)}`,
      // Never fails the start: an unsafe Redis is logged loudly (docs/operations.md).
      prepare: () => checkRedisSafety(url, logger),
      createProducer() {
        // Fail fast: a producer that waits for Redis would hold the callback open; the
        // caller decides what to do instead (spool or 503).
        const queue = new Queue<NotificationsJob>(catalog.name, {
          prefix,
          connection: { url, maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000 },
          streams: { events: { maxLen: EVENT_STREAM_MAX_LEN } },
        });
        queue.on('error', onError('producer'));
        return producerOf(queue, queue, options);
      },
      createConsumer(processor, concurrency) {
        const worker = new Worker<NotificationsJob>(catalog.name, processor, {
          prefix,
          concurrency,
          ...workerOptionsFor(options),
          // Workers must wait for Redis forever rather than fail commands mid-job.
          connection: { url, maxRetriesPerRequest: null },
        });
        worker.on('error', onError('worker'));
        return { close: () => worker.close() };
      },
      createJobProducer(queue) {
        // Fail fast, as the notification producer: callers decide what to do when Redis is down.
        const bull = new Queue(QUEUES[queue].name, {
          prefix,
          connection: { url, maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000 },
        });
        bull.on('error', onError(`producer:${queue}`));
        return jobProducerOf(queue, bull);
      },
      createJobConsumer(queue, processor, consumerOptions) {
        const worker = new Worker(QUEUES[queue].name, processor, {
          prefix,
          ...workerOptions(consumerOptions),
          connection: { url, maxRetriesPerRequest: null },
        });
        worker.on('error', onError(`worker:${queue}`));
        listenForFailures(worker, consumerOptions, logger);
        return { close: () => worker.close() };
      },
    };
  }

  const { Queue: PgQueue, Worker: PgWorker } = withBackend(createPostgresBackend);
  // All BullMQ tables live in their own schema of our database, away from ours.
  const connection = { connectionString: options.databaseUrl, schema: `bullmq_${prefix}`.toLowerCase() };
  return {
    kind: 'postgres',
    description: `BullMQ on PostgreSQL ${redact(options.databaseUrl)} (schema ${connection.schema})`,
    async prepare() {
      // BullMQ's PostgreSQL backend does not migrate on connect; its migrator takes its own
      // advisory lock, so API and worker processes may both call this at start.
      const client = new Client({ connectionString: options.databaseUrl });
      client.on('error', onError('migrator'));
      await client.connect();
      try {
        await runMigrations(client, connection.schema);
      } finally {
        await client.end();
      }
    },
    createProducer() {
      const queue = new PgQueue<NotificationsJob>(catalog.name, { connection: { ...connection, max: 10 } });
      queue.on('error', onError('producer'));
      // Same Queue class, typed with its PostgreSQL backend; bull-board's adapter is typed
      // against the default (Redis) parameters and only uses the shared public API.
      return producerOf(queue, queue as unknown as Queue, options);
    },
    createConsumer(processor, concurrency) {
      const worker = new PgWorker<NotificationsJob>(catalog.name, processor, {
        connection: { ...connection, max: Math.max(4, concurrency + 2) },
        concurrency,
        ...workerOptionsFor(options),
      });
      worker.on('error', onError('worker'));
      return { close: () => worker.close() };
    },
    createJobProducer(queue) {
      const bull = new PgQueue(QUEUES[queue].name, { connection: { ...connection, max: 4 } });
      bull.on('error', onError(`producer:${queue}`));
      return jobProducerOf(queue, bull);
    },
    createJobConsumer(queue, processor, consumerOptions) {
      const worker = new PgWorker(QUEUES[queue].name, processor, {
        ...workerOptions(consumerOptions),
        connection: { ...connection, max: Math.max(4, consumerOptions.concurrency + 2) },
      });
      worker.on('error', onError(`worker:${queue}`));
      listenForFailures(worker, consumerOptions, logger);
      return { close: () => worker.close() };
    },
  };
}
