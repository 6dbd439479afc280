import { Queue, Worker, createPostgresBackend, runMigrations, withBackend } from 'bullmq';
import { Client } from 'pg';
import type { Job } from 'bullmq';
import type { Logger } from 'winston';
import { CAPPED_EXPONENTIAL, EVENT_STREAM_MAX_LEN, QUEUES, attemptsForWindow, retryDelayMs } from './catalog';
import type { PersistNotificationJob, RetryPolicy } from './catalog';
import { checkRedisSafety } from './redis-safety';

/**
 * BullMQ on either of its backends: Redis (production) or PostgreSQL (embedded default, in the
 * same database as our tables). Everything above this module sees only these narrow ports.
 */
export type QueueBackendKind = 'redis' | 'postgres';

export interface NotificationProducer {
  enqueue(job: PersistNotificationJob): Promise<void>;
  /** Waiting + delayed + active jobs (for readiness, stats and metrics). */
  counts(): Promise<Record<string, number>>;
  close(): Promise<void>;
}

export interface NotificationConsumer {
  close(): Promise<void>;
}

export type PersistProcessor = (job: Job<PersistNotificationJob>) => Promise<unknown>;

export interface QueueBackend {
  readonly kind: QueueBackendKind;
  /** A human description for the startup banner (no credentials). */
  readonly description: string;
  /** Creates or upgrades the backend's own storage (PostgreSQL backend: BullMQ's schema). */
  prepare(): Promise<void>;
  createProducer(): NotificationProducer;
  createConsumer(processor: PersistProcessor, concurrency: number): NotificationConsumer;
}

export interface QueueBackendOptions {
  readonly redisUrl: string | undefined;
  readonly databaseUrl: string;
  readonly prefix: string;
  readonly logger: Logger;
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

interface QueueLike {
  add(name: string, data: PersistNotificationJob, opts: object): Promise<unknown>;
  getJobCounts(...types: string[]): Promise<Record<string, number>>;
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

function producerOf(queue: QueueLike, retry?: RetryPolicy): NotificationProducer {
  const jobOptions = jobOptionsFor(retry);
  return {
    async enqueue(job) {
      await queue.add(catalog.jobName, job, { ...jobOptions, jobId: catalog.jobId(job) });
    },
    counts: () => queue.getJobCounts('waiting', 'delayed', 'active', 'failed', 'prioritized'),
    close: () => queue.close(),
  };
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
        const queue = new Queue<PersistNotificationJob>(catalog.name, {
          prefix,
          connection: { url, maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000 },
          streams: { events: { maxLen: EVENT_STREAM_MAX_LEN } },
        });
        queue.on('error', onError('producer'));
        return producerOf(queue, options.retry);
      },
      createConsumer(processor, concurrency) {
        const worker = new Worker<PersistNotificationJob>(catalog.name, processor, {
          prefix,
          concurrency,
          ...workerOptionsFor(options),
          // Workers must wait for Redis forever rather than fail commands mid-job.
          connection: { url, maxRetriesPerRequest: null },
        });
        worker.on('error', onError('worker'));
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
      const queue = new PgQueue<PersistNotificationJob>(catalog.name, { connection: { ...connection, max: 10 } });
      queue.on('error', onError('producer'));
      return producerOf(queue, options.retry);
    },
    createConsumer(processor, concurrency) {
      const worker = new PgWorker<PersistNotificationJob>(catalog.name, processor, {
        connection: { ...connection, max: Math.max(4, concurrency + 2) },
        concurrency,
        ...workerOptionsFor(options),
      });
      worker.on('error', onError('worker'));
      return { close: () => worker.close() };
    },
  };
}
