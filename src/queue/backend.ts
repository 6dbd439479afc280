import { Queue, Worker, createPostgresBackend, runMigrations, withBackend } from 'bullmq';
import { Client } from 'pg';
import type { Job } from 'bullmq';
import type { Logger } from 'winston';
import { createBatchingEnqueue } from './batching-enqueue';
import type { BulkJob } from './batching-enqueue';
import { QUEUES } from './catalog';
import type { PersistNotificationJob } from './catalog';

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
  /** Most receipts per `addBulk` from the producer (group commit per event-loop turn); 1 = one `add` each. */
  readonly enqueueBatchMax?: number;
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
  addBulk(jobs: BulkJob<PersistNotificationJob>[]): Promise<unknown>;
  getJobCounts(...types: string[]): Promise<Record<string, number>>;
  close(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

function producerOf(queue: QueueLike, batchMax = 1): NotificationProducer {
  const addInBulk =
    batchMax > 1 ? createBatchingEnqueue<PersistNotificationJob>((jobs) => queue.addBulk(jobs), batchMax) : undefined;
  return {
    async enqueue(job) {
      const opts = { ...JOB_OPTIONS, jobId: catalog.jobId(job) };
      if (addInBulk) await addInBulk({ name: catalog.jobName, data: job, opts });
      else await queue.add(catalog.jobName, job, opts);
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
      prepare: () => Promise.resolve(),
      createProducer() {
        // Fail fast: a producer that waits for Redis would hold the callback open; the
        // caller decides what to do instead (spool or 503).
        const queue = new Queue<PersistNotificationJob>(catalog.name, {
          prefix,
          connection: { url, maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000 },
        });
        queue.on('error', onError('producer'));
        return producerOf(queue, options.enqueueBatchMax);
      },
      createConsumer(processor, concurrency) {
        const worker = new Worker<PersistNotificationJob>(catalog.name, processor, {
          prefix,
          concurrency,
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
      return producerOf(queue, options.enqueueBatchMax);
    },
    createConsumer(processor, concurrency) {
      const worker = new PgWorker<PersistNotificationJob>(catalog.name, processor, {
        connection: { ...connection, max: Math.max(4, concurrency + 2) },
        concurrency,
      });
      worker.on('error', onError('worker'));
      return { close: () => worker.close() };
    },
  };
}
