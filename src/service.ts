import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createServer } from 'node:http';
import path from 'node:path';
import type { Express } from 'express';
import type { Logger } from 'winston';
import type { ApiKey, Config } from './config';
import { createApp } from './http/app';
import { requestClassesOf } from './http/request-classes';
import { httpServerOptions } from './http/security';
import type { ReadinessCheck } from './http/ops-routes';
import { acceptCallback } from './ingest/accept';
import type { Spool, SpoolDrainer } from './ingest/spool';
import { createQueueGuard, openSpool, startSpoolDrainer } from './ingest/spool';
import type { NotificationConsumer, NotificationProducer, QueueBackend } from './queue/backend';
import { createQueueBackend } from './queue/backend';
import type { EmbeddedPostgres } from './store/embedded-postgres';
import { startEmbeddedPostgres } from './store/embedded-postgres';
import { migrate } from './store/migrator';
import { orderDetailReader, pingDatabase } from './store/order-read-store';
import type { Database } from './store/prisma';
import { createDatabase } from './store/prisma';
import type { SqlDatabase } from './store/sql';
import { createSqlPool, sqlOverPool } from './store/sql';
import { quarantine } from './store/quarantine-store';
import { createPersistProcessor, createReceiptPersister } from './worker/persist-notification';
import { createNotificationsProcessor } from './worker/receipt-batch';
import { withFaultPolicy } from './worker/fault-policy';
import { createWorkerPersist } from './worker/persist-batcher';
import type { RetentionSchedule } from './store/retention';
import { startRetentionSchedule } from './store/retention';
import type { Metrics } from './observability/metrics';
import { createMetrics } from './observability/metrics';
import { loadHandlerRegistry } from './handlers/config';
import { createHandlerMetrics } from './handlers/metrics';
import { listDeadLetters } from './store/handler-delivery-store';
import type { DispatchNotification } from './worker/dispatch';
import { createDispatcher } from './worker/dispatch';
import { createHandlerDeliveryProcessor, createHandlerFailureRecorder } from './worker/handler-delivery';
import { PersistBacklog } from './worker/persist-first';
import type { QueueProbe } from './observability/scrape';
import { primeCallbackOutcomes, refreshScrapeGauges } from './observability/scrape';
import { queueBoardRouter } from './http/queue-board';
import type { BandwidthIntegration } from './bandwidth/integration';
import { startBandwidthIntegration } from './bandwidth/integration';
import type { DispatchReconciled } from './bandwidth/reconcile';

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
  /** The same pool without Prisma: what the API's hot paths use (the worker's own runs unnamed statements). */
  readonly sql: SqlDatabase;
  readonly metrics: Metrics;
  /** Fans a stored notification out to the handlers (reconcile results, tests). */
  readonly dispatchNotification: DispatchNotification;
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

/** Ports wired at the composition root (the lead wires handler dispatch here). */
export interface ServiceExtras {
  /** Hands a `source=reconcile` notification to the handlers; no-op when absent. */
  readonly dispatchReconciled?: DispatchReconciled;
}

export async function startService(
  config: Config,
  logger: Logger,
  extras: ServiceExtras = {},
): Promise<RunningService> {
  const metrics = createMetrics();
  // First: a bad handlers file stops the start before anything is opened (fail closed).
  const handlerRegistry = await loadHandlerRegistry(config.handlersConfig, logger);
  logger.info('handlers loaded', { handlers: handlerRegistry.all.map((h) => h.handler.name) });
  primeCallbackOutcomes(metrics);
  let embedded: EmbeddedPostgres | undefined;
  let databaseUrl = config.databaseUrl;
  if (databaseUrl === undefined) {
    embedded = await startEmbeddedPostgres(config.dataDir, config.embeddedPostgresPort, logger);
    databaseUrl = embedded.url;
  }
  await migrate(databaseUrl, logger);
  // One pool for the process. Prisma runs on it (admin routes, one-off fan-out and repair,
  // reconciler, retention); the hot paths run plain SQL on it through `sql`: the API's
  // (callback quarantine, readiness, scrape gauges, read API), so an API process that serves
  // only those never loads Prisma's query compiler (~90 MB RSS), and the worker's (persist
  // batches, handler deliveries), which paid ~80 µs of the compiler per notification (issue #8).
  const pool = createSqlPool({ url: databaseUrl, max: config.databasePoolSize, logger });
  const db = createDatabase({ url: databaseUrl, pool });
  const sql = sqlOverPool(pool);
  // The worker's statements are planned on each call (see sqlOverPool), on the same pool.
  const workerSql = sqlOverPool(pool, { named: false });
  const queueBackend = createQueueBackend({
    redisUrl: config.redisUrl,
    databaseUrl,
    prefix: config.queuePrefix,
    logger,
    enqueueBatchMax: config.enqueueBatchMax,
    onEnqueueBatch: (receipts) => metrics.queueBatchReceipts.observe(receipts),
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

  // Handlers (issue 5): both roles enqueue deliveries (worker: fan-out; api: admin retry/replay).
  const handlerProducer = queueBackend.createJobProducer('handlerDeliveries');
  // Persistence first (opt-in): the worker's delivery jobs wait while its persist batcher holds
  // a backlog. Off, nothing is tracked: the batcher reports to no one on its hot path.
  const persistBacklog =
    runsWorker && config.persistFirstMaxWaitMs > 0
      ? new PersistBacklog(config.persistFirstBacklog, config.persistFirstMaxWaitMs)
      : undefined;
  const dispatcher = createDispatcher({ db, registry: handlerRegistry, producer: handlerProducer, logger });
  const handlerConsumer: NotificationConsumer | undefined = runsWorker
    ? queueBackend.createJobConsumer(
        'handlerDeliveries',
        createHandlerDeliveryProcessor({
          db: workerSql,
          registry: handlerRegistry,
          dispatch: dispatcher.dispatchNotification,
          logger,
          metrics: createHandlerMetrics(metrics.registry),
          orderWaitMs: config.handlerOrderWaitMs,
          handlerConcurrency: config.handlerConcurrency,
          splitOff: (split) => dispatcher.enqueueAlone(split),
          ...(persistBacklog !== undefined ? { persistFirst: persistBacklog } : {}),
        }),
        {
          concurrency: config.handlerConcurrency,
          lockDurationMs: config.handlerLockDurationMs,
          stalledIntervalMs: config.handlerStalledIntervalMs,
          // A crashed worker's delivery is run again a few times before BullMQ gives up on it.
          maxStalledCount: 5,
          onFailed: createHandlerFailureRecorder({ db, logger }),
        },
      )
    : undefined;

  const producer: NotificationProducer | undefined = servesApi ? queueBackend.createProducer() : undefined;
  // The worker adds back, as jobs of their own, the receipts of a batch it could not persist.
  const splitProducer: NotificationProducer | undefined = runsWorker
    ? (producer ?? queueBackend.createProducer())
    : undefined;
  const workerDeps = {
    db: workerSql,
    logger,
    metrics,
    persist: createWorkerPersist(
      {
        db: workerSql,
        logger,
        registry: metrics.registry,
        fanOut: {
          plan: dispatcher.batchFanOut,
          enqueue: (queued) => dispatcher.enqueue(queued),
          dispatch: dispatcher.dispatchNotification,
        },
        ...(persistBacklog !== undefined ? { backlog: persistBacklog } : {}),
      },
      config,
    ),
  };
  const consumer: NotificationConsumer | undefined =
    runsWorker && splitProducer
      ? queueBackend.createConsumer(
          createNotificationsProcessor({
            single: withFaultPolicy(
              { db, logger, metrics, poisonAttempts: config.workerPoisonAttempts },
              createPersistProcessor(workerDeps),
            ),
            persistReceipt: createReceiptPersister(workerDeps),
            splitOff: (receipts) => splitProducer.enqueueEach(receipts),
            logger,
            onSplitOff: (count) => metrics.batchSplitOff.inc(count),
          }),
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

  // Bandwidth keep-alive and reconciliation: only with credentials, only where workers run.
  const bandwidth: BandwidthIntegration | undefined =
    runsWorker && config.bandwidth
      ? await startBandwidthIntegration({
          config: config.bandwidth,
          callbackCredentials: config.callbackCredentials,
          queue: { redisUrl: config.redisUrl, databaseUrl, prefix: config.queuePrefix, logger },
          db,
          logger,
          registry: metrics.registry,
          dispatch: extras.dispatchReconciled ?? dispatcher.dispatchNotification,
        })
      : undefined;

  let accepting = true;
  const readiness: ReadinessCheck[] = [{ name: 'database', check: () => pingDatabase(sql) }];
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
      beforeScrape: async () => {
        if (spool) {
          const s = spool.stats();
          metrics.spoolPending.set(s.pending);
          metrics.spoolOldestAgeSeconds.set(s.oldestAgeSeconds);
          metrics.spoolBytes.set(s.bytes);
        }
        await refreshScrapeGauges(metrics, sql, producer ? [{ name: 'notifications', ...bindProbe(producer) }] : []);
      },
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
                quarantine: (record) => quarantine(sql, record),
                logger,
                spool: spoolAppend,
              },
              input,
            ),
        }
      : undefined,
    api: servesApi
      ? {
          apiKeys,
          findOrderJson: orderDetailReader(sql),
          db,
          sql,
          metrics,
          queueCounts: producer ? () => producer.counts() : undefined,
          enqueue: producer ? (job) => producer.enqueue(job) : undefined,
        }
      : undefined,
    queueBoard: producer && servesApi ? queueBoardRouter({ apiKeys, queues: [producer.inspectable] }) : undefined,
    adminHandlers: servesApi
      ? {
          apiKeys,
          listDeadLetters: (query) => listDeadLetters(db, query),
          retryDeadLetter: (id) => dispatcher.retryDeadLetter(id),
          replay: (selection, handler) => dispatcher.replay(selection, handler),
        }
      : undefined,
    trustProxy: config.trustProxy,
    security: servesApi
      ? {
          logger,
          metrics,
          apiKeys,
          callbackAllowedCidrs: config.callbackAllowedCidrs,
          rateLimitWindowMs: config.rateLimitWindowMs,
          callbackRateLimit: config.callbackRateLimit,
          apiRateLimit: config.apiRateLimit,
          callbackCredentialPairs: config.callbackCredentials.length,
          trustProxy: config.trustProxy,
        }
      : undefined,
  });

  // Slow-client limits (HTTP_*_TIMEOUT_MS): a request must arrive whole in time (Bandwidth sends small bodies).
  const server = await new Promise<Server>((resolve, reject) => {
    const s = createServer({ ...httpServerOptions(config), ...requestClassesOf(app) }, app);
    s.once('error', reject);
    s.listen(config.port, config.host, () => {
      s.off('error', reject);
      resolve(s);
    });
  });
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
    const remaining = (): number => Math.max(100, deadline - Date.now());
    // 0. Readiness is already false; give load balancers time to notice before closing.
    if (config.shutdownReadinessDelayMs > 0) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(config.shutdownReadinessDelayMs, remaining())));
    }
    // 1. Stop taking connections; in-flight callbacks finish (each is acked only when durable).
    await step(logger, 'http', remaining(), async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await closed;
    });
    server.closeAllConnections();
    // Bandwidth maintenance jobs (keep-alive, reconcile) stop first: they are re-run on schedule.
    if (bandwidth) await step(logger, 'bandwidth', remaining(), () => bandwidth.close());
    // 2. Drain workers: active jobs finish; unfinished ones are redelivered to another worker.
    // Delivery jobs waiting for the persist backlog start now: closing waits for active jobs.
    persistBacklog?.close();
    if (consumer) await step(logger, 'worker', remaining(), () => consumer.close());
    if (handlerConsumer) await step(logger, 'handler-worker', remaining(), () => handlerConsumer.close());
    if (retention) await step(logger, 'retention', remaining(), () => retention.stop());
    // The spool stays on disk if the queue is still down; the next start drains it.
    if (drainer) await step(logger, 'spool-drainer', remaining(), () => drainer.stop());
    if (spool) await step(logger, 'spool', remaining(), () => spool.close());
    await step(logger, 'handler-queue', remaining(), () => handlerProducer.close());
    if (producer) await step(logger, 'queue', remaining(), () => producer.close());
    if (splitProducer && splitProducer !== producer) {
      await step(logger, 'queue-split', remaining(), () => splitProducer.close());
    }
    await step(logger, 'database', remaining(), () => db.$disconnect());
    await step(logger, 'database-pool', remaining(), () => pool.end());
    // PostgreSQL last, and always given a moment even past the budget: its own fast shutdown.
    if (embedded) await step(logger, 'embedded-postgres', Math.max(remaining(), 3000), () => embedded.stop());
    logger.info('shutdown complete');
  };

  return {
    app,
    server,
    port,
    databaseUrl,
    queueKind: queueBackend.kind,
    db,
    sql,
    metrics,
    dispatchNotification: dispatcher.dispatchNotification,
    stop,
  };
}

function bindProbe(producer: NotificationProducer): Pick<QueueProbe, 'counts' | 'oldestWaitingAgeMs'> {
  return { counts: () => producer.counts(), oldestWaitingAgeMs: () => producer.oldestWaitingAgeMs() };
}
