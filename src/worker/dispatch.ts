import { createHash, randomUUID } from 'node:crypto';
import type { Logger } from 'winston';
import type { HandlerRegistry, RegisteredHandler } from '../handlers/registry';
import type { BandwidthNotification } from '../domain/notification';
import type { DispatchSource, DispatchedNotification } from '../handlers/types';
import type { JobAddOptions, JobProducer } from '../queue/backend';
import type { BatchedDelivery, HandlerDeliveriesJob, HandlerDeliveryJob } from '../queue/catalog';
import { QUEUES } from '../queue/catalog';
import type { NewDelivery, QueuedDelivery, ReplaySelection } from '../store/handler-delivery-store';
import {
  findNotificationForDispatch,
  recordFanOut,
  requeueDeadDelivery,
  selectReplayNotifications,
} from '../store/handler-delivery-store';
import type { BatchFanOut } from '../store/notification-store';
import type { Database } from '../store/prisma';
import { QueueUnavailableError } from './fault-policy';
import { groupBy } from './group-by';

/**
 * Fan-out: one delivery row and one BullMQ job per (notification, handler). The row is
 * written first (with the notification's dispatch marker), then the job, so a crash in
 * between is repaired by calling again: ids are deterministic and adds are idempotent.
 */

export type DispatchResult =
  | { readonly kind: 'dispatched'; readonly deliveries: number }
  | { readonly kind: 'not_found' }
  /** A duplicate receipt is never dispatched: its original was. */
  | { readonly kind: 'duplicate' };

export type RetryResult =
  | { readonly kind: 'requeued'; readonly deliveryId: string; readonly handler: string }
  | { readonly kind: 'not_found' }
  | { readonly kind: 'not_dead'; readonly status: string }
  | { readonly kind: 'handler_unknown'; readonly handler: string };

export type ReplayResult =
  | { readonly kind: 'replayed'; readonly notifications: number; readonly deliveries: number }
  | { readonly kind: 'handler_unknown'; readonly handler: string };

/** Dispatches one stored notification (by notifications.id) to every handler that matches it. */
export type DispatchNotification = (notificationId: string, source: DispatchSource) => Promise<DispatchResult>;

export interface Dispatcher {
  readonly dispatchNotification: DispatchNotification;
  /**
   * The fan-out of first arrivals as the worker's persist batches write it, in their own
   * transaction (`persistReceiptsWithFanOut`); the caller then `enqueue`s what it returns.
   */
  readonly batchFanOut: BatchFanOut;
  /**
   * Adds the jobs of unfinished deliveries (one `addBulk` per chunk; job ids make it
   * idempotent): one batch job per handler for several deliveries, a job of its own for one.
   */
  enqueue(queued: readonly QueuedDelivery[]): Promise<void>;
  /** Adds deliveries split off a batch job as jobs of their own (see `DeliveryBatchJob`). */
  enqueueAlone(split: readonly SplitOffDelivery[]): Promise<void>;
  retryDeadLetter(deliveryId: string): Promise<RetryResult>;
  /** Re-dispatches stored notifications as new `source=replay` deliveries; history is untouched. */
  replay(selection: ReplaySelection, handler?: string): Promise<ReplayResult>;
}

export interface DispatcherDeps {
  readonly db: Database;
  readonly registry: HandlerRegistry;
  readonly producer: JobProducer<HandlerDeliveriesJob>;
  readonly logger: Logger;
}

/** A delivery leaving a batch job for a job of its own, and why. */
export interface SplitOffDelivery {
  readonly handler: string;
  readonly delivery: HandlerDeliveryJob;
  /**
   * `retry`: its first attempt (in the batch) failed and will be retried: the job starts after
   * the handler's first backoff with one attempt fewer. `wait`: an earlier delivery of its order
   * is still open: the job starts after `delayMs`. `error`: it could not run (the database was
   * away): the job runs now, with every attempt.
   */
  readonly reason: 'retry' | 'wait' | 'error';
  readonly delayMs?: number;
}

interface QueuedJob {
  readonly data: HandlerDeliveriesJob;
  readonly options: JobAddOptions;
}

/** Most jobs per `addBulk`. */
const ENQUEUE_CHUNK = 500;
/** Most deliveries per batch job (a persist batch holds at most PERSIST_BATCH_MAX, 1,000). */
const DELIVERY_BATCH_MAX = 500;

/** Largest replay in one request; bigger ranges are split by the caller (time windows). */
export const MAX_REPLAY_NOTIFICATIONS = 10_000;

/** A UUID derived from (notification, handler): a re-run fan-out finds the same delivery. */
export function deliveryIdOf(notificationId: string, handler: string): string {
  const hex = createHash('sha256').update(`${notificationId}\u0000${handler}`).digest('hex');
  // Shaped as an RFC 9562 version-8 (custom) UUID.
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${((parseInt(hex.slice(16, 17), 16) & 0x3) | 0x8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export function createDispatcher(deps: DispatcherDeps): Dispatcher {
  const { db, registry, producer, logger } = deps;

  const retryOf = (handler: string) => {
    const registered = registry.get(handler);
    if (registered === undefined) {
      // Config changed since the row was written: the worker dead-letters it on sight.
      logger.warn('delivery for a handler that is no longer configured', { handler });
    }
    return registered?.retry ?? { attempts: 1, backoffMs: 1000 };
  };
  /**
   * A delivery's own job. After `spentAttempts` (1: its first attempt, spent in a batch) it
   * starts after the handler's first backoff, whatever `delayMs` says.
   */
  const singleJob = (delivery: QueuedDelivery, spentAttempts = 0, delayMs = 0) => {
    const retry = retryOf(delivery.handler);
    const data: HandlerDeliveryJob = { deliveryId: delivery.id, retries: delivery.retries };
    return {
      data,
      options: {
        jobId: QUEUES.handlerDeliveries.jobId(data),
        attempts: Math.max(1, retry.attempts - spentAttempts),
        // After an attempt spent in a batch, the job's own retries continue the handler's
        // sequence (backoff, 2x, 4x ...) instead of starting it again.
        backoff: {
          type: 'exponential' as const,
          delay: retry.backoffMs * 2 ** spentAttempts,
          jitter: QUEUES.handlerDeliveries.backoff.jitter,
        },
        delay: spentAttempts > 0 ? retry.backoffMs : delayMs,
      },
    };
  };
  const batchJob = (handler: string, deliveries: readonly QueuedDelivery[]) => {
    const data = {
      handler,
      deliveries: deliveries.map((d): BatchedDelivery => ({
        deliveryId: d.id,
        retries: d.retries,
        orderId: d.orderId ?? null,
      })),
    };
    return {
      data,
      options: {
        jobId: QUEUES.handlerDeliveries.jobId(data),
        attempts: QUEUES.handlerDeliveries.batchAttempts,
        backoff: { ...QUEUES.handlerDeliveries.batchBackoff },
      },
    };
  };
  const add = async (jobs: readonly QueuedJob[]): Promise<void> => {
    // One round trip per chunk instead of one per job (a replay queues up to 10,000).
    try {
      for (let i = 0; i < jobs.length; i += ENQUEUE_CHUNK) await producer.addBulk(jobs.slice(i, i + ENQUEUE_CHUNK));
    } catch (error: unknown) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new QueueUnavailableError(`handler deliveries not queued: ${reason}`, { cause: error });
    }
  };

  const enqueue = async (queued: readonly QueuedDelivery[]): Promise<void> => {
    const jobs = [...groupBy(queued, (d) => d.handler)].flatMap(([handler, deliveries]): QueuedJob[] => {
      if (deliveries.length === 1) return deliveries.map((d) => singleJob(d));
      const batches: QueuedJob[] = [];
      for (let i = 0; i < deliveries.length; i += DELIVERY_BATCH_MAX) {
        batches.push(batchJob(handler, deliveries.slice(i, i + DELIVERY_BATCH_MAX)));
      }
      return batches;
    });
    await add(jobs);
  };

  const enqueueAlone = async (split: readonly SplitOffDelivery[]): Promise<void> => {
    await add(
      split.map(({ handler, delivery, reason, delayMs }) =>
        singleJob(
          { id: delivery.deliveryId, handler, retries: delivery.retries },
          reason === 'retry' ? 1 : 0,
          delayMs ?? 0,
        ),
      ),
    );
  };

  const deliveriesOf = (
    n: Omit<DispatchedNotification, 'source'> | BandwidthNotification,
    notificationId: string,
    position: bigint | null,
  ): NewDelivery[] =>
    registry.subscribers(n).map((h) => ({
      id: deliveryIdOf(notificationId, h.handler.name),
      handler: h.handler.name,
      notificationId,
      orderId: position === null ? null : n.orderId,
      position,
    }));

  const handlersFor = (only: string | undefined): RegisteredHandler[] | { unknown: string } => {
    if (only === undefined) return [...registry.all];
    const found = registry.get(only);
    return found === undefined ? { unknown: only } : [found];
  };

  return {
    async dispatchNotification(notificationId, source) {
      const stored = await findNotificationForDispatch(db, notificationId);
      if (stored === null) return { kind: 'not_found' };
      if (stored.outcome === 'duplicate') return { kind: 'duplicate' };
      const n = stored.notification;
      const deliveries = deliveriesOf(n, n.id, stored.position);
      const queued = await recordFanOut(db, { source, deliveries, dispatched: [n.id] });
      await enqueue(queued);
      return { kind: 'dispatched', deliveries: deliveries.length };
    },

    batchFanOut: {
      source: 'callback',
      deliveriesOf: (receipt, position) => deliveriesOf(receipt.notification, receipt.receiptId, position),
    },
    enqueue,
    enqueueAlone,

    async retryDeadLetter(deliveryId) {
      const result = await requeueDeadDelivery(db, deliveryId);
      switch (result.kind) {
        case 'not_found':
          return result;
        case 'not_dead':
          return { kind: 'not_dead', status: result.status };
        case 'requeued':
          if (registry.get(result.delivery.handler) === undefined) {
            return { kind: 'handler_unknown', handler: result.delivery.handler };
          }
          await enqueue([result.delivery]);
          logger.info('dead letter re-queued', { deliveryId, handler: result.delivery.handler });
          return { kind: 'requeued', deliveryId, handler: result.delivery.handler };
      }
    },

    async replay(selection, only) {
      const handlers = handlersFor(only);
      if (!Array.isArray(handlers)) return { kind: 'handler_unknown', handler: handlers.unknown };
      const ids = await selectReplayNotifications(db, selection, MAX_REPLAY_NOTIFICATIONS);
      const deliveries: NewDelivery[] = [];
      for (const id of ids) {
        const stored = await findNotificationForDispatch(db, id);
        if (stored === null) continue;
        const subscribers = registry.subscribers(stored.notification);
        for (const h of handlers) {
          // A replay is an operator's explicit request: `match` still applies (a handler only
          // ever sees what it subscribed to), but every replay is a new delivery.
          if (!subscribers.includes(h)) continue;
          deliveries.push({
            id: randomUUID(),
            handler: h.handler.name,
            notificationId: id,
            orderId: stored.position === null ? null : stored.notification.orderId,
            position: stored.position,
          });
        }
      }
      const queued = await recordFanOut(db, { source: 'replay', deliveries, dispatched: [] });
      await enqueue(queued);
      logger.info('replay queued', { notifications: ids.length, deliveries: deliveries.length, handler: only });
      return { kind: 'replayed', notifications: ids.length, deliveries: deliveries.length };
    },
  };
}
