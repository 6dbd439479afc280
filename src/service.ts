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
import type { Metrics } from './observability/metrics';
import { createMetrics } from './observability/metrics';
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
    ? queueBackend.createConsumer(createPersistProcessor({ db, logger, metrics }), config.workerConcurrency)
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
          dispatch: extras.dispatchReconciled,
        })
      : undefined;

  let accepting = true;
  const readiness: ReadinessCheck[] = [{ name: 'database', check: () => pingDatabase(db) }];
  if (producer) readiness.push({ name: 'queue', check: async () => void (await producer.counts()) });

  const app = createApp({
    logger,
    ops: {
      readiness,
      isAccepting: () => accepting,
      metrics,
      beforeScrape: producer
        ? async () => {
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
                enqueue: (job) => producer.enqueue(job),
                quarantine: (record) => quarantine(db, record),
                logger,
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
    const t = config.shutdownTimeoutMs;
    // 1. Stop taking connections; in-flight callbacks finish (each is acked only when durable).
    await step(logger, 'http', t, async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await closed;
    });
    server.closeAllConnections();
    // Bandwidth maintenance jobs (keep-alive, reconcile) stop first: they are re-run on schedule.
    if (bandwidth) await step(logger, 'bandwidth', config.shutdownTimeoutMs, () => bandwidth.close());
    // 2. Drain workers: active jobs finish; unfinished ones are redelivered to another worker.
    if (consumer) await step(logger, 'worker', t, () => consumer.close());
    if (producer) await step(logger, 'queue', t, () => producer.close());
    await step(logger, 'database', t, () => db.$disconnect());
    if (embedded) await step(logger, 'embedded-postgres', t, () => embedded.stop());
    logger.info('shutdown complete');
  };

  return { app, server, port, databaseUrl, queueKind: queueBackend.kind, db, metrics, stop };
}
