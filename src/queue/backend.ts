import { Queue, Worker, createPostgresBackend, runMigrations, withBackend } from 'bullmq';
import { Client } from 'pg';
import type { Job } from 'bullmq';
import type { Logger } from 'winston';
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
  /** Age in ms of the oldest waiting job, null when none waits (metrics: queue lag). */
  oldestWaitingAgeMs(): Promise<number | null>;
  /** The BullMQ queue itself, for the admin queue UI (@bull-board) only. */
  readonly inspectable: Queue;
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
  getJobs(types: 'waiting'[], start: number, end: number, asc: boolean): Promise<{ timestamp: number }[]>;
  close(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

function producerOf(queue: QueueLike, inspectable: Queue): NotificationProducer {
  return {
    async enqueue(job) {
      await queue.add(catalog.jobName, job, { ...JOB_OPTIONS, jobId: catalog.jobId(job) });
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
        return producerOf(queue, queue);
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
      // Same Queue class, typed with its PostgreSQL backend; bull-board's adapter is typed
      // against the default (Redis) parameters and only uses the shared public API.
      return producerOf(queue, queue as unknown as Queue);
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
