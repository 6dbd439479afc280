import { Queue, Worker, createPostgresBackend, withBackend } from 'bullmq';
import type { Job } from 'bullmq';
import type { QueueBackendOptions } from './backend';
import { QUEUES } from './catalog';
import type { BandwidthMaintenanceJob } from './catalog';

/**
 * The `bandwidth` queue (issue #9) on either BullMQ backend: job schedulers for the
 * subscription keep-alive and the reconciler, and one-off per-order look-ups. Connections
 * mirror ./backend.ts (same Redis, or the same `bullmq_<prefix>` schema, prepared there).
 */

const catalog = QUEUES.bandwidth;

const JOB_OPTIONS = {
  attempts: catalog.attempts,
  backoff: { ...catalog.backoff },
  removeOnComplete: { ...catalog.removeOnComplete },
  removeOnFail: { ...catalog.removeOnFail },
};

export interface BandwidthQueue {
  /** Creates or updates a job scheduler that adds `job` every `everyMs`. Idempotent. */
  schedule(schedulerId: string, everyMs: number, job: BandwidthMaintenanceJob): Promise<void>;
  enqueue(job: BandwidthMaintenanceJob, jobId: string): Promise<void>;
  close(): Promise<void>;
}

export interface BandwidthWorker {
  close(): Promise<void>;
}

export type BandwidthProcessor = (job: Job<BandwidthMaintenanceJob>) => Promise<unknown>;

interface QueueLike {
  add(name: string, data: BandwidthMaintenanceJob, opts: object): Promise<unknown>;
  upsertJobScheduler(
    id: string,
    repeat: { every: number },
    template: { name: string; data: BandwidthMaintenanceJob; opts: object },
  ): Promise<unknown>;
  close(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

function wrap(queue: QueueLike): BandwidthQueue {
  return {
    async schedule(schedulerId, everyMs, job) {
      await queue.upsertJobScheduler(schedulerId, { every: everyMs }, { name: job.task, data: job, opts: JOB_OPTIONS });
    },
    async enqueue(job, jobId) {
      await queue.add(job.task, job, { ...JOB_OPTIONS, jobId });
    },
    close: () => queue.close(),
  };
}

function pgConnection(options: QueueBackendOptions) {
  return { connectionString: options.databaseUrl, schema: `bullmq_${options.prefix}`.toLowerCase() };
}

export function createBandwidthQueue(options: QueueBackendOptions): BandwidthQueue {
  const onError = (error: Error) => options.logger.error('bandwidth queue error', { error: error.message });
  let queue: QueueLike;
  if (options.redisUrl !== undefined) {
    queue = new Queue<BandwidthMaintenanceJob>(catalog.name, {
      prefix: options.prefix,
      connection: { url: options.redisUrl, maxRetriesPerRequest: 1, connectTimeout: 2000 },
    });
  } else {
    const { Queue: PgQueue } = withBackend(createPostgresBackend);
    queue = new PgQueue<BandwidthMaintenanceJob>(catalog.name, { connection: { ...pgConnection(options), max: 2 } });
  }
  queue.on('error', onError);
  return wrap(queue);
}

/** One job at a time: runs are sequential so the reconciler's rate limit holds per process. */
export function createBandwidthWorker(options: QueueBackendOptions, processor: BandwidthProcessor): BandwidthWorker {
  const onError = (error: Error) => options.logger.error('bandwidth worker error', { error: error.message });
  if (options.redisUrl !== undefined) {
    const worker = new Worker<BandwidthMaintenanceJob>(catalog.name, processor, {
      prefix: options.prefix,
      concurrency: 1,
      connection: { url: options.redisUrl, maxRetriesPerRequest: null },
    });
    worker.on('error', onError);
    return { close: () => worker.close() };
  }
  const { Worker: PgWorker } = withBackend(createPostgresBackend);
  const worker = new PgWorker<BandwidthMaintenanceJob>(catalog.name, processor, {
    connection: { ...pgConnection(options), max: 3 },
    concurrency: 1,
  });
  worker.on('error', onError);
  return { close: () => worker.close() };
}
