import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import path from 'node:path';
import type { Express } from 'express';
import type { Logger } from 'winston';
import type { ApiKey, Config } from './config';
import { createApp } from './http/app';
import type { ReadinessCheck } from './http/ops-routes';
import { acceptCallback } from './ingest/accept';
import type { Spool, SpoolDrainer } from './ingest/spool';
import { createQueueGuard, openSpool, startSpoolDrainer } from './ingest/spool';
import type { NotificationConsumer, NotificationProducer, QueueBackend } from './queue/backend';
import { createQueueBackend } from './queue/backend';
import type { EmbeddedPostgres } from './store/embedded-postgres';
import { startEmbeddedPostgres } from './store/embedded-postgres';
import { migrate } from './store/migrator';
import { findOrderDetail, pingDatabase } from './store/order-read-store';
import type { Database } from './store/prisma';
import { createDatabase } from './store/prisma';
import { quarantine } from './store/quarantine-store';
import { createPersistProcessor } from './worker/persist-notification';
import { withFaultPolicy } from './worker/fault-policy';
import type { RetentionSchedule } from './store/retention';
import { startRetentionSchedule } from './store/retention';
import type { Metrics } from './observability/metrics';
import { createMetrics } from './observability/metrics';

/**
 * Wires config -> connections -> roles. main.ts calls this and owns the process (signals,
 * exit code); tests call it to boot the real service in-process.
 */
export interface RunningService {
  readonly app: Express;
  readonly server: Server;
  readonly port: number;
  readonly databaseUrl: string;
  readonly queueKind: QueueBackend['kind'];
  readonly db: Database;
  readonly metrics: Metrics;
  /** Graceful stop: readiness false, stop accepting, drain, close everything. */
  stop(): Promise<void>;
}

async function embeddedApiKey(dataDir: string): Promise<ApiKey> {
  const file = path.resolve(dataDir, 'api-key');
  let key: string;
  if (existsSync(file)) {
    key = (await readFile(file, 'utf8')).trim();
  } else {
    key = randomBytes(24).toString('base64url');
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, `${key}\n`, { mode: 0o600 });
  }
  return { name: 'embedded', key, scope: 'admin' };
}

async function step(logger: Logger, name: string, timeoutMs: number, action: () => Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      action(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (error: unknown) {
    logger.warn('shutdown step did not finish cleanly', {
      step: name,
      error: error instanceof Error ? error.message : String(error),
    });
  } finally {
    if (timer) clearTimeout(timer);
  }
}

export async function startService(config: Config, logger: Logger): Promise<RunningService> {
  const metrics = createMetrics();
  let embedded: EmbeddedPostgres | undefined;
  let databaseUrl = config.databaseUrl;
  if (databaseUrl === undefined) {
    embedded = await startEmbeddedPostgres(config.dataDir, config.embeddedPostgresPort, logger);
    databaseUrl = embedded.url;
  }
  await migrate(databaseUrl, logger);
  const db = createDatabase({ url: databaseUrl });
  const queueBackend = createQueueBackend({
    redisUrl: config.redisUrl,
    databaseUrl,
    prefix: config.queuePrefix,
    logger,
    retry: {
      windowMs: config.workerRetryWindowMs,
      baseDelayMs: config.workerRetryBaseDelayMs,
      maxDelayMs: config.workerRetryMaxDelayMs,
    },
    lockDurationMs: config.workerLockDurationMs,
  });
  await queueBackend.prepare();

  const servesApi = config.role === 'all' || config.role === 'api';
  const runsWorker = config.role === 'all' || config.role === 'worker';

  let apiKeys: readonly ApiKey[] = config.apiKeys ?? [];
  if (servesApi && config.apiKeys === undefined) {
    if (embedded) {
      const key = await embeddedApiKey(config.dataDir);
      apiKeys = [key];
      logger.warn(`API_KEYS is not set: embedded mode generated an admin API key: ${key.key}`, {
        hint: 'use it as "Authorization: Bearer <key>"; it is kept in DATA_DIR/api-key',
      });
    } else {
      logger.warn('API_KEYS is not set: the read API refuses every request (fail closed)');
    }
  }
  if (servesApi && config.callbackCredentials.length === 0) {
    logger.warn(
      '!!! CALLBACK_BASIC_AUTH is not set: the callback route accepts notifications from anyone. ' +
        'Set it to the credentials of your Bandwidth subscription before exposing this service. !!!',
    );
  }

  const producer: NotificationProducer | undefined = servesApi ? queueBackend.createProducer() : undefined;
  const consumer: NotificationConsumer | undefined = runsWorker
    ? queueBackend.createConsumer(
        withFaultPolicy(
          { db, logger, metrics, poisonAttempts: config.workerPoisonAttempts },
          createPersistProcessor({ db, logger, metrics }),
        ),
        config.workerConcurrency,
      )
    : undefined;
  const retention: RetentionSchedule | undefined = runsWorker
    ? startRetentionSchedule({
        db,
        logger,
        olderThanDays: config.rawRetentionDays,
        intervalMs: config.retentionIntervalMs,
        onPurged: (n) => metrics.rawReceiptsPurged.inc(n),
      })
    : undefined;

  // Zero loss when the queue is down: callbacks go to the local spool, a drainer re-enqueues.
  const spool: Spool | undefined = producer ? await openSpool({ dir: config.spoolDir, logger }) : undefined;
  const guard = producer
    ? createQueueGuard((job) => producer.enqueue(job), { timeoutMs: config.spoolEnqueueTimeoutMs })
    : undefined;
  const drainer: SpoolDrainer | undefined =
    producer && spool && guard
      ? startSpoolDrainer({
          spool,
          guard,
          enqueue: (job) => producer.enqueue(job),
          ping: () => producer.counts(),
          intervalMs: config.spoolDrainIntervalMs,
          logger,
          onDrained: (n) => metrics.spoolDrained.inc(n),
        })
      : undefined;
  const spoolAppend = spool
    ? async (job: Parameters<Spool['append']>[0]) => {
        await spool.append(job);
        metrics.spoolAppended.inc();
      }
    : undefined;

  let accepting = true;
  const readiness: ReadinessCheck[] = [{ name: 'database', check: () => pingDatabase(db) }];
  if (producer && spool) {
    // Soft: with the queue down, callbacks are spooled (still 200), so stay in rotation, degraded.
    readiness.push({
      name: 'queue',
      soft: true,
      check: async () => void (await producer.counts()),
      details: () => ({ spoolPending: spool.stats().pending }),
    });
  } else if (producer) readiness.push({ name: 'queue', check: async () => void (await producer.counts()) });

  const app = createApp({
    logger,
    ops: {
      readiness,
      isAccepting: () => accepting,
      metrics,
      beforeScrape: producer
        ? async () => {
            if (spool) {
              const s = spool.stats();
              metrics.spoolPending.set(s.pending);
              metrics.spoolOldestAgeSeconds.set(s.oldestAgeSeconds);
              metrics.spoolBytes.set(s.bytes);
            }
            const counts = await producer.counts();
            for (const [state, value] of Object.entries(counts)) {
              metrics.queueJobs.set({ queue: 'notifications', state }, value);
            }
          }
        : undefined,
    },
    callback: producer
      ? {
          credentials: config.callbackCredentials,
          bodyLimitBytes: config.callbackBodyLimitBytes,
          logger,
          metrics,
          accept: (input) =>
            acceptCallback(
              {
                enqueue: guard ? (job) => guard.enqueue(job) : (job) => producer.enqueue(job),
                quarantine: (record) => quarantine(db, record),
                logger,
                spool: spoolAppend,
              },
              input,
            ),
        }
      : undefined,
    api: servesApi ? { apiKeys, findOrder: (orderId) => findOrderDetail(db, orderId) } : undefined,
  });

  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(config.port, config.host, (error?: Error) => (error ? reject(error) : resolve(s)));
  });
  // Slow-client limits: a request must arrive whole in time (Bandwidth sends small bodies).
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;

  logger.info(
    `bandwidth receiver ready: role=${config.role} port=${port} database=${
      embedded ? `embedded PostgreSQL (${path.resolve(config.dataDir, 'postgres')})` : 'PostgreSQL (DATABASE_URL)'
    } queue=${queueBackend.description}`,
    { role: config.role, port, queueBackend: queueBackend.kind, embedded: embedded !== undefined },
  );

  const stop = async (): Promise<void> => {
    accepting = false;
    // One budget for the whole shutdown: each step gets what is left of it.
    const deadline = Date.now() + config.shutdownTimeoutMs;
    const left = (): number => Math.max(100, deadline - Date.now());
    // 0. Readiness is already false; give load balancers time to notice before closing.
    if (config.shutdownReadinessDelayMs > 0) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(config.shutdownReadinessDelayMs, left())));
    }
    // 1. Stop taking connections; in-flight callbacks finish (each is acked only when durable).
    await step(logger, 'http', left(), async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await closed;
    });
    server.closeAllConnections();
    // 2. Drain workers: active jobs finish; unfinished ones are redelivered to another worker.
    if (consumer) await step(logger, 'worker', left(), () => consumer.close());
    if (retention) await step(logger, 'retention', left(), () => retention.stop());
    // The spool stays on disk if the queue is still down; the next start drains it.
    if (drainer) await step(logger, 'spool-drainer', left(), () => drainer.stop());
    if (spool) await step(logger, 'spool', left(), () => spool.close());
    if (producer) await step(logger, 'queue', left(), () => producer.close());
    await step(logger, 'database', left(), () => db.$disconnect());
    if (embedded) await step(logger, 'embedded-postgres', left(), () => embedded.stop());
    logger.info('shutdown complete');
  };

  return { app, server, port, databaseUrl, queueKind: queueBackend.kind, db, metrics, stop };
}
