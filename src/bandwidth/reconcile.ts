import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'winston';
import type { BandwidthMetrics } from '../observability/bandwidth-metrics';
import type { Database } from '../store/prisma';
import type { OrderToReconcile } from '../store/reconcile-store';
import { findOrdersToReconcile, recordReconcileCheck, recordReconciledStatus } from '../store/reconcile-store';
import type { BandwidthClient, OrderStatusLookup } from './client';
import { BandwidthApiError } from './client';
import { RECONCILABLE_ORDER_TYPES } from './order-endpoints';
import { buildXml } from './xml';

/**
 * Heals lost notifications. Bandwidth never retries a callback, so an order whose last
 * notification was lost stays in an old state forever unless we ask. The reconciler asks
 * Bandwidth for the current status of stuck orders (non-terminal, idle past a threshold) and
 * of orders that just got a per-order subscription (Bandwidth advises it: the first state
 * changes may predate the subscription), and records a difference as a `source=reconcile`
 * notification + history entry, dispatched to handlers like any notification.
 */

/**
 * Hands a recorded notification to the handlers (issue #5's dispatchNotification fits; no-op
 * by default). Its result is not used: the history entry is durable either way.
 */
export type DispatchReconciled = (notificationId: string, source: 'reconcile') => Promise<unknown>;

export const noDispatch: DispatchReconciled = () => Promise.resolve();

export interface ReconcilerDeps {
  readonly db: Database;
  readonly client: BandwidthClient;
  readonly logger: Logger;
  readonly metrics: BandwidthMetrics | undefined;
  readonly dispatch: DispatchReconciled;
}

export type ReconcileResult =
  'unchanged' | 'recorded' | 'not_applied' | 'already_recorded' | 'not_found' | 'unsupported' | 'error';

/** A `<Notification>` carrying what Bandwidth answered, so handlers parse it like a callback. */
function synthesizedNotification(lookup: OrderStatusLookup, message: string): string {
  return buildXml('Notification', {
    OrderType: lookup.orderType,
    OrderId: lookup.orderId,
    CustomerOrderId: lookup.customerOrderId ?? undefined,
    Status: lookup.status,
    Message: message,
    LastModifiedDate: lookup.lastModifiedAt?.toISOString(),
  });
}

/** Looks one order up and records the answer. Throws only for authentication failures (stop the run). */
export async function reconcileOrder(deps: ReconcilerDeps, order: OrderToReconcile): Promise<ReconcileResult> {
  const { db, client, logger } = deps;
  const count = (result: ReconcileResult): ReconcileResult => {
    deps.metrics?.reconciledOrders.inc({ result });
    return result;
  };
  let lookup: OrderStatusLookup | null;
  try {
    lookup = await client.getOrderStatus(order.orderType, order.orderId);
  } catch (error: unknown) {
    const unsupported = error instanceof BandwidthApiError && error.kind === 'unsupported';
    const message = error instanceof Error ? error.message : String(error);
    await recordReconcileCheck(db, {
      orderId: order.orderId,
      orderType: order.orderType,
      outcome: unsupported ? 'unsupported' : 'error',
      remoteStatus: null,
      error: message,
    });
    if (unsupported) return count('unsupported');
    count('error');
    logger.warn('reconcile: order look-up failed', {
      orderId: order.orderId,
      orderType: order.orderType,
      error: message,
    });
    if (error instanceof BandwidthApiError && (error.kind === 'unauthorized' || error.kind === 'forbidden'))
      throw error;
    return 'error';
  }
  if (lookup === null) {
    await recordReconcileCheck(db, { ...order, outcome: 'not_found', remoteStatus: null, error: null });
    return count('not_found');
  }

  const message = `Reconciled from Bandwidth's ${order.orderType} look-up (a notification was missed)`;
  const outcome = await recordReconciledStatus(db, {
    orderId: lookup.orderId,
    orderType: order.orderType,
    status: lookup.status,
    customerOrderId: lookup.customerOrderId,
    lastModifiedAt: lookup.lastModifiedAt,
    accountId: client.accountId,
    message,
    body: synthesizedNotification(lookup, message),
    receivedAt: new Date(),
  });
  const result: ReconcileResult =
    outcome.kind === 'recorded' ? (outcome.applied ? 'recorded' : 'not_applied') : outcome.kind;
  await recordReconcileCheck(db, { ...order, outcome: result, remoteStatus: lookup.status, error: null });
  if (outcome.kind === 'recorded') {
    logger.info('reconcile: recorded a status Bandwidth reports', {
      orderId: order.orderId,
      orderType: order.orderType,
      previousStatus: order.status,
      status: lookup.status,
      applied: outcome.applied,
      notificationId: outcome.notificationId,
    });
    try {
      await deps.dispatch(outcome.notificationId, 'reconcile');
    } catch (error: unknown) {
      // The history entry is durable; a failed hand-off is the handlers' to retry/replay.
      logger.error('reconcile: dispatch to handlers failed', {
        notificationId: outcome.notificationId,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
  return count(result);
}

export interface ReconcileRunOptions {
  readonly idleSeconds: number;
  readonly recheckSeconds: number;
  readonly limit: number;
  /** Spacing between two look-ups: the reconciler's rate limit towards Bandwidth. */
  readonly minRequestIntervalMs: number;
}

export type ReconcileSummary = Partial<Record<ReconcileResult, number>> & { readonly checked: number };

/** One pass over stuck orders, oldest activity first, at most `limit`, rate-limited. */
export async function reconcileStuckOrders(
  deps: ReconcilerDeps,
  options: ReconcileRunOptions,
): Promise<ReconcileSummary> {
  const orders = await findOrdersToReconcile(deps.db, {
    idleSeconds: options.idleSeconds,
    recheckSeconds: options.recheckSeconds,
    orderTypes: RECONCILABLE_ORDER_TYPES,
    limit: options.limit,
  });
  const summary: Partial<Record<ReconcileResult, number>> = {};
  let first = true;
  for (const order of orders) {
    if (!first && options.minRequestIntervalMs > 0) await sleep(options.minRequestIntervalMs);
    first = false;
    const result = await reconcileOrder(deps, order);
    summary[result] = (summary[result] ?? 0) + 1;
  }
  if (orders.length > 0) deps.logger.info('reconcile run finished', { checked: orders.length, ...summary });
  return { checked: orders.length, ...summary };
}
