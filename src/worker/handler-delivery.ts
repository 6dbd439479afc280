import { DelayedError, UnrecoverableError } from 'bullmq';
import type { Job } from 'bullmq';
import type { Logger } from 'winston';
import type { HandlerMetrics } from '../handlers/metrics';
import type { HandlerRegistry } from '../handlers/registry';
import type { DispatchSource, HandlerOutcome } from '../handlers/types';
import type { HandlerDeliveryJob } from '../queue/catalog';
import type { DeliveryStatus } from '../store/handler-delivery-store';
import type { AttemptResult } from '../store/handler-delivery-store';
import { finishAttempts, loadDeliveries, markDeadIfUnfinished, startAttempts } from '../store/handler-delivery-store';
import type { Database } from '../store/prisma';
import type { SqlClient } from '../store/sql';
import type { DispatchNotification } from './dispatch';
import { groupCommit } from './group-commit';

export interface HandlerWorkerDeps {
  /** The group-committed reads and writes of deliveries: the pool, not Prisma (issue #8). */
  readonly db: SqlClient;
  readonly registry: HandlerRegistry;
  readonly dispatch: DispatchNotification;
  readonly logger: Logger;
  readonly metrics: HandlerMetrics;
  /** Re-check delay while an earlier delivery of the same (handler, order) is unfinished. */
  readonly orderWaitMs: number;
  /**
   * An earlier notification persisted this long ago without a fan-out (its producer crashed
   * between the two) is fanned out by the waiting delivery itself, so the order is not stuck.
   */
  readonly undispatchedGraceMs?: number;
}

export type DeliveryRunResult =
  | { readonly kind: Extract<DeliveryStatus, 'succeeded'> }
  | { readonly kind: 'already_finished' | 'superseded' | 'missing' };

const SOURCES: readonly DispatchSource[] = ['callback', 'reconcile', 'replay'];
const sourceOf = (value: string | null): DispatchSource => SOURCES.find((s) => s === value) ?? 'callback';

// NUL is the one character PostgreSQL refuses in text: a handler's message must not fail the write.
const errorText = (error: unknown): string =>
  (error instanceof Error ? error.message : String(error)).replaceAll('\u0000', '').slice(0, 2000);

/** Most deliveries per group-committed statement (the handler concurrency bounds it too). */
const GROUP_MAX = 100;

/**
 * Processor of the `handler-deliveries` queue: runs one handler for one notification.
 *
 * Retryability is decided here and only here (STYLE 5): `delivered` -> succeeded;
 * `reject` -> dead now; `retry` or a thrown error -> failed and retried with the handler's
 * backoff, or dead on its last attempt. The row's final state is written before the job ends,
 * so no delivery stays `pending` once its job is gone. A worker killed mid-handler leaves the
 * job locked; BullMQ finds it stalled and runs it again with the same delivery id.
 */
export function createHandlerDeliveryProcessor(deps: HandlerWorkerDeps) {
  const { db, registry, logger, metrics } = deps;
  const graceMs = deps.undispatchedGraceMs ?? 30_000;

  // The concurrent jobs of this process share their statements: one read (row, ordering gate,
  // notification, order) for all jobs starting together, one attempt count, one final write.
  const load = groupCommit(async (ids: readonly string[]) => {
    const loaded = await loadDeliveries(db, ids);
    return ids.map((id) => loaded.get(id.toLowerCase()) ?? null);
  }, GROUP_MAX);
  const start = groupCommit(async (ids: readonly string[]) => {
    const attempts = await startAttempts(db, ids);
    return ids.map((id) => attempts.get(id.toLowerCase()));
  }, GROUP_MAX);
  const record = groupCommit(async (results: readonly AttemptResult[]) => {
    await finishAttempts(db, results);
    return results.map(() => undefined);
  }, GROUP_MAX);

  return async (job: Job<HandlerDeliveryJob>, token?: string, signal?: AbortSignal): Promise<DeliveryRunResult> => {
    // Idempotent: re-read the row before acting (STYLE 9).
    const loaded = await load(job.data.deliveryId);
    if (loaded === null) return { kind: 'missing' };
    const delivery = loaded.delivery;
    if (delivery.status === 'succeeded' || delivery.status === 'dead') return { kind: 'already_finished' };
    // An older job of a delivery an operator re-queued since: the newer job owns it.
    if (delivery.retries !== job.data.retries) return { kind: 'superseded' };

    const finish = async (status: 'succeeded' | 'failed' | 'dead', error: string | null, durationMs: number) => {
      await record({ deliveryId: delivery.id, status, error, durationMs });
      metrics.deliveries.inc({ handler: delivery.handler, outcome: status });
    };

    const registered = registry.get(delivery.handler);
    if (registered === undefined) {
      await finish('dead', `handler "${delivery.handler}" is not configured`, 0);
      throw new UnrecoverableError(`handler ${delivery.handler} is not configured`);
    }

    {
      // Per-order ordering (always open for a delivery without an order): read with the row.
      const gate = loaded.gate;
      if (gate.kind !== 'open') {
        if (gate.kind === 'undispatched') {
          for (const stuck of gate.notifications.filter((u) => u.ageMs > graceMs)) {
            logger.warn('fanning out an earlier notification that was never dispatched', stuck);
            await deps.dispatch(stuck.notificationId, sourceOf(stuck.source));
          }
        }
        // Wait without spending an attempt: the earlier delivery of this order goes first.
        if (token === undefined) throw new Error('cannot re-delay a job without its token');
        await job.moveToDelayed(Date.now() + deps.orderWaitMs, token);
        throw new DelayedError();
      }
    }

    if (loaded.notification === null) {
      await finish('dead', 'the notification is no longer stored', 0);
      throw new UnrecoverableError(`notification ${delivery.notificationId} is gone`);
    }
    const notification = { ...loaded.notification, source: sourceOf(delivery.source) };
    const order = loaded.order;
    // Counted (committed) before the handler runs, so a crash mid-handler still shows it.
    const attempt = await start(delivery.id);
    if (attempt === undefined) throw new Error(`delivery ${delivery.id} vanished`);
    const handlerLogger = logger.child({ handler: delivery.handler, deliveryId: delivery.id });
    const timeout = AbortSignal.timeout(registered.timeoutMs);
    const handlerSignal = signal ? AbortSignal.any([signal, timeout]) : timeout;

    const started = process.hrtime.bigint();
    let outcome: HandlerOutcome;
    try {
      outcome = await registered.handler.handle(notification, {
        deliveryId: delivery.id,
        attempt,
        order,
        logger: handlerLogger,
        signal: handlerSignal,
      });
    } catch (error: unknown) {
      // A throwing handler is treated as a transient failure: retried, then dead.
      outcome = { kind: 'retry', reason: handlerSignal.aborted ? `aborted: ${errorText(error)}` : errorText(error) };
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    metrics.duration.observe({ handler: delivery.handler }, seconds);
    const durationMs = seconds * 1000;

    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    switch (outcome.kind) {
      case 'delivered':
        await finish('succeeded', null, durationMs);
        return { kind: 'succeeded' };
      case 'reject':
        await finish('dead', outcome.reason, durationMs);
        handlerLogger.warn('delivery dead: permanent failure', { reason: outcome.reason, attempt });
        throw new UnrecoverableError(outcome.reason);
      case 'retry':
        if (lastAttempt) {
          await finish('dead', outcome.reason, durationMs);
          handlerLogger.warn('delivery dead: attempts exhausted', { reason: outcome.reason, attempt });
          throw new UnrecoverableError(outcome.reason);
        }
        await finish('failed', outcome.reason, durationMs);
        throw new Error(outcome.reason);
    }
  };
}

/**
 * The consumer's failed-job hook: once BullMQ has failed a job for good (its last attempt threw
 * before the processor could record it, e.g. the database was down), the row is made dead.
 */
export function createHandlerFailureRecorder(deps: { readonly db: Database; readonly logger: Logger }) {
  return async (job: Job<HandlerDeliveryJob>, error: Error): Promise<void> => {
    if (!(await job.isFailed())) return; // will be retried
    const deliveryId = job.data.deliveryId;
    if (await markDeadIfUnfinished(deps.db, deliveryId, `job failed: ${error.message}`)) {
      deps.logger.warn('delivery dead: its job failed outside the handler', { deliveryId, error: error.message });
    }
  };
}
