import type { Job } from 'bullmq';
import type { Registry } from 'prom-client';
import type { Logger } from 'winston';
import type { BasicCredential } from '../config';
import type { BandwidthConfig } from '../config/bandwidth';
import type { BandwidthMetrics } from '../observability/bandwidth-metrics';
import { createBandwidthMetrics } from '../observability/bandwidth-metrics';
import type { QueueBackendOptions } from '../queue/backend';
import type { BandwidthQueue, BandwidthWorker } from '../queue/bandwidth-queue';
import { createBandwidthQueue, createBandwidthWorker } from '../queue/bandwidth-queue';
import { QUEUES } from '../queue/catalog';
import type { BandwidthMaintenanceJob } from '../queue/catalog';
import type { Database } from '../store/prisma';
import type { BandwidthClient } from './client';
import { createBandwidthClient } from './client';
import type { DispatchReconciled, ReconcilerDeps } from './reconcile';
import { noDispatch, reconcileOrder, reconcileStuckOrders } from './reconcile';
import type { SubscriptionDeps } from './subscriptions';
import { keepSubscriptionsAlive } from './subscriptions';

/**
 * Composition of the Bandwidth integration for one worker process: client, metrics, the
 * `bandwidth` queue with its two job schedulers (keep-alive, reconciliation) and its worker.
 * Started by service.ts only when Bandwidth credentials are configured.
 */

export function bandwidthClientOf(
  config: BandwidthConfig,
  logger: Logger,
  metrics: BandwidthMetrics | undefined,
): BandwidthClient {
  return createBandwidthClient({
    baseUrl: config.apiBaseUrl,
    accountId: config.accountId,
    username: config.username,
    password: config.password,
    timeoutMs: config.requestTimeoutMs,
    maxAttempts: config.maxAttempts,
    retryBaseDelayMs: config.retryBaseDelayMs,
    logger,
    onAttempt: metrics ? (operation, outcome) => metrics.apiRequests.inc({ operation, outcome }) : undefined,
  });
}

export interface BandwidthIntegrationOptions {
  readonly config: BandwidthConfig;
  readonly callbackCredentials: readonly BasicCredential[];
  readonly queue: QueueBackendOptions;
  readonly db: Database;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly dispatch?: DispatchReconciled | undefined;
}

export interface BandwidthIntegration {
  readonly queue: BandwidthQueue;
  close(): Promise<void>;
}

/** The processor of the `bandwidth` queue: one exhaustive switch over the job catalog's tasks. */
export function createBandwidthProcessor(
  subscriptions: SubscriptionDeps,
  reconciler: ReconcilerDeps,
  config: BandwidthConfig,
): (job: Job<BandwidthMaintenanceJob>) => Promise<unknown> {
  return async (job) => {
    const data = job.data;
    switch (data.task) {
      case 'keepalive': {
        try {
          const summary = await keepSubscriptionsAlive(subscriptions);
          subscriptions.metrics?.keepAliveRuns.inc({ result: summary.errors > 0 ? 'error' : 'ok' });
          return summary;
        } catch (error: unknown) {
          // Cannot even list subscriptions: alert, and let BullMQ retry (the next run comes anyway).
          subscriptions.metrics?.keepAliveRuns.inc({ result: 'error' });
          subscriptions.logger.error('subscription keep-alive could not run', {
            error: error instanceof Error ? error.message : String(error),
          });
          throw error;
        }
      }
      case 'reconcile':
        return reconcileStuckOrders(reconciler, {
          idleSeconds: config.reconcileIdleSeconds,
          recheckSeconds: config.reconcileRecheckSeconds,
          limit: config.reconcileBatchSize,
          minRequestIntervalMs: config.minRequestIntervalMs,
        });
      case 'reconcile-order':
        return reconcileOrder(reconciler, { orderId: data.orderId, orderType: data.orderType, status: null });
    }
  };
}

export async function startBandwidthIntegration(options: BandwidthIntegrationOptions): Promise<BandwidthIntegration> {
  const { config, db, logger } = options;
  const metrics = createBandwidthMetrics(options.registry);
  const client = bandwidthClientOf(config, logger, metrics);
  const subscriptions: SubscriptionDeps = {
    db,
    client,
    config,
    callbackCredentials: options.callbackCredentials,
    logger,
    metrics,
  };
  const reconciler: ReconcilerDeps = { db, client, logger, metrics, dispatch: options.dispatch ?? noDispatch };

  const queue = createBandwidthQueue(options.queue);
  const worker: BandwidthWorker = createBandwidthWorker(
    options.queue,
    createBandwidthProcessor(subscriptions, reconciler, config),
  );
  await queue.schedule(QUEUES.bandwidth.keepAliveSchedulerId, config.keepAliveIntervalMs, { task: 'keepalive' });
  await queue.schedule(QUEUES.bandwidth.reconcileSchedulerId, config.reconcileIntervalMs, { task: 'reconcile' });
  logger.info('Bandwidth integration started', {
    accountId: config.accountId,
    apiBaseUrl: config.apiBaseUrl,
    keepAliveIntervalMs: config.keepAliveIntervalMs,
    reconcileIntervalMs: config.reconcileIntervalMs,
  });
  return {
    queue,
    close: async () => {
      await worker.close();
      await queue.close();
    },
  };
}
