import { setMaxListeners } from 'node:events';
import { DelayedError, UnrecoverableError } from 'bullmq';
import type { Job } from 'bullmq';
import pLimit from 'p-limit';
import type { Logger } from 'winston';
import type { HandlerMetrics } from '../handlers/metrics';
import type { HandlerRegistry } from '../handlers/registry';
import type { DispatchSource, HandlerOutcome } from '../handlers/types';
import type { BatchedDelivery, DeliveryBatchJob, HandlerDeliveriesJob, HandlerDeliveryJob } from '../queue/catalog';
import { deliveryIdsOf, isDeliveryBatch } from '../queue/catalog';
import type { DeliveryStatus } from '../store/handler-delivery-store';
import type { AttemptResult } from '../store/handler-delivery-store';
import { claimDeliveries, finishAttempts, markDeadIfUnfinished } from '../store/handler-delivery-store';
import type { Database } from '../store/prisma';
import type { SqlClient } from '../store/sql';
import type { DispatchNotification, SplitOffDelivery } from './dispatch';
import { groupBy } from './group-by';
import { groupCommit } from '../store/group-commit';
import type { PersistBacklog } from './persist-first';

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
  /** Most handler calls running at once in this process, over single and batch jobs. */
  readonly handlerConcurrency: number;
  /** Adds deliveries split off a batch job as jobs of their own; rejects when the queue refused. */
  readonly splitOff: (split: readonly SplitOffDelivery[]) => Promise<void>;
  /** This process's persist backlog: a job waits for it to clear before it starts (persistence first). */
  readonly persistFirst?: PersistBacklog;
}

export type DeliveryRunResult =
  | { readonly kind: Extract<DeliveryStatus, 'succeeded'> }
  | { readonly kind: 'already_finished' | 'superseded' | 'missing' };

/** What one attempt at a delivery came to; the job (single or batch) decides what follows. */
type AttemptOutcome =
  | { readonly kind: 'done'; readonly result: DeliveryRunResult }
  /** Recorded `dead`: never retried. */
  | { readonly kind: 'dead'; readonly reason: string }
  /** Recorded `failed`: to be retried with the handler's backoff. */
  | { readonly kind: 'failed'; readonly reason: string }
  /**
   * Not run: an earlier delivery of its (handler, order) is still open, or another job of this
   * process is running the same delivery. Nothing recorded.
   */
  | { readonly kind: 'wait' };

export interface DeliveryBatchOutcome {
  readonly kind: 'batch';
  readonly deliveries: number;
  readonly splitOff: number;
}

const SOURCES: readonly DispatchSource[] = ['callback', 'reconcile', 'replay'];
const sourceOf = (value: string | null): DispatchSource => SOURCES.find((s) => s === value) ?? 'callback';

// NUL is the one character PostgreSQL refuses in text: a handler's message must not fail the write.
const errorText = (error: unknown): string =>
  (error instanceof Error ? error.message : String(error)).replaceAll('\u0000', '').slice(0, 2000);

/** Most deliveries per group-committed statement (the handler concurrency bounds it too). */
const GROUP_MAX = 100;

/**
 * Processor of the `handler-deliveries` queue: runs one handler for one notification, or, for
 * a batch job, the first attempt of each of its deliveries.
 *
 * Retryability is decided here and only here (STYLE 5): `delivered` -> succeeded;
 * `reject` -> dead now; `retry` or a thrown error -> failed and retried with the handler's
 * backoff, or dead on its last attempt. The row's final state is written before the job ends,
 * so no delivery stays `pending` once its job is gone. A worker killed mid-handler leaves the
 * job locked; BullMQ finds it stalled and runs it again with the same delivery id.
 *
 * A batch job never fails for a handler: every delivery that did not end in it (a retry, a
 * per-order wait, an error) is split off into a job of its own (`SplitOffDelivery`) before the
 * batch completes, and goes on from there exactly as a single delivery would. Deliveries of one
 * (handler, order) run one after another in the batch, in fan-out order, so the per-order gate
 * opens for each in turn; different orders run concurrently (`HANDLER_CONCURRENCY` handler
 * calls at most per process, batch or not).
 */
export function createHandlerDeliveryProcessor(deps: HandlerWorkerDeps) {
  const { db, registry, logger, metrics } = deps;
  const graceMs = deps.undispatchedGraceMs ?? 30_000;
  const handlerSlots = pLimit(deps.handlerConcurrency);

  // The concurrent jobs of this process share their statements: one claim (row, ordering gate,
  // notification, order, and the attempt count of those that run) for all jobs starting
  // together, and one final write.
  const runnable = registry.all.map((h) => h.handler.name);
  const claim = groupCommit(
    (claims: readonly HandlerDeliveryJob[]) => claimDeliveries(db, claims, runnable),
    GROUP_MAX,
  );
  const record = groupCommit(async (results: readonly AttemptResult[]) => {
    await finishAttempts(db, results);
    return results.map(() => undefined);
  }, GROUP_MAX);

  // Deliveries with an attempt running in this process. Two jobs can hold one delivery: a
  // redelivered receipt (a spooled copy, a retried persist job) queues its unfinished
  // deliveries again as jobs of their own beside the batch job that has them. Released
  // together (when a persist backlog clears), both would claim it and run its handler twice;
  // the second now waits its turn instead and then finds the delivery finished.
  const running = new Set<string>();

  /** One attempt; `lastAttempt` says whether a failure is final. Throws when it could not run. */
  const attempt = async (
    data: HandlerDeliveryJob,
    lastAttempt: (configuredAttempts: number) => boolean,
    signal: AbortSignal | undefined,
  ): Promise<AttemptOutcome> => {
    const key = data.deliveryId.toLowerCase();
    if (running.has(key)) return { kind: 'wait' };
    running.add(key);
    try {
      return await attemptOnce(data, lastAttempt, signal);
    } finally {
      running.delete(key);
    }
  };

  const attemptOnce = async (
    data: HandlerDeliveryJob,
    lastAttempt: (configuredAttempts: number) => boolean,
    signal: AbortSignal | undefined,
  ): Promise<AttemptOutcome> => {
    // Idempotent: re-read the row before acting (STYLE 9). The claim has started the attempt
    // when, and only when, every check below lets the handler run.
    const loaded = await claim(data);
    if (loaded === null) return { kind: 'done', result: { kind: 'missing' } };
    const delivery = loaded.delivery;
    if (delivery.status === 'succeeded' || delivery.status === 'dead') {
      return { kind: 'done', result: { kind: 'already_finished' } };
    }
    // An older job of a delivery an operator re-queued since: the newer job owns it.
    if (delivery.retries !== data.retries) return { kind: 'done', result: { kind: 'superseded' } };

    const finish = async (status: 'succeeded' | 'failed' | 'dead', error: string | null, durationMs: number) => {
      await record({ deliveryId: delivery.id, status, error, durationMs });
      metrics.deliveries.inc({ handler: delivery.handler, outcome: status });
    };

    const registered = registry.get(delivery.handler);
    if (registered === undefined) {
      const reason = `handler "${delivery.handler}" is not configured`;
      await finish('dead', reason, 0);
      return { kind: 'dead', reason };
    }

    // Per-order ordering (always open for a delivery without an order): read with the row.
    const gate = loaded.gate;
    if (gate.kind !== 'open') {
      if (gate.kind === 'undispatched') {
        for (const stuck of gate.notifications.filter((u) => u.ageMs > graceMs)) {
          logger.warn('fanning out an earlier notification that was never dispatched', stuck);
          await deps.dispatch(stuck.notificationId, sourceOf(stuck.source));
        }
      }
      return { kind: 'wait' };
    }

    if (loaded.notification === null) {
      const reason = 'the notification is no longer stored';
      await finish('dead', reason, 0);
      return { kind: 'dead', reason: `notification ${delivery.notificationId} is gone` };
    }
    const notification = { ...loaded.notification, source: sourceOf(delivery.source) };
    const order = loaded.order;
    // Counted (committed) by the claim, before the handler runs: a crash mid-handler shows it.
    const attemptNumber = loaded.attempt;
    if (attemptNumber === null) throw new Error(`delivery ${delivery.id} was not started by its claim`);
    const handlerLogger = logger.child({ handler: delivery.handler, deliveryId: delivery.id });
    const abort = handlerAbort(registered.timeoutMs, signal);
    const handlerSignal = abort.signal;

    const started = process.hrtime.bigint();
    let outcome: HandlerOutcome;
    try {
      outcome = await handlerSlots(() =>
        registered.handler.handle(notification, {
          deliveryId: delivery.id,
          attempt: attemptNumber,
          order,
          logger: handlerLogger,
          signal: handlerSignal,
        }),
      );
    } catch (error: unknown) {
      // A throwing handler is treated as a transient failure: retried, then dead.
      outcome = { kind: 'retry', reason: handlerSignal.aborted ? `aborted: ${errorText(error)}` : errorText(error) };
    } finally {
      abort.release();
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    metrics.duration.observe({ handler: delivery.handler }, seconds);
    const durationMs = seconds * 1000;

    switch (outcome.kind) {
      case 'delivered':
        await finish('succeeded', null, durationMs);
        return { kind: 'done', result: { kind: 'succeeded' } };
      case 'reject':
        await finish('dead', outcome.reason, durationMs);
        handlerLogger.warn('delivery dead: permanent failure', { reason: outcome.reason, attempt: attemptNumber });
        return { kind: 'dead', reason: outcome.reason };
      case 'retry':
        if (lastAttempt(registered.retry.attempts)) {
          await finish('dead', outcome.reason, durationMs);
          handlerLogger.warn('delivery dead: attempts exhausted', { reason: outcome.reason, attempt: attemptNumber });
          return { kind: 'dead', reason: outcome.reason };
        }
        await finish('failed', outcome.reason, durationMs);
        return { kind: 'failed', reason: outcome.reason };
    }
  };

  const single = async (job: Job<HandlerDeliveryJob>, token?: string, signal?: AbortSignal) => {
    const lastAttempt = () => job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    const outcome = await attempt(job.data, lastAttempt, signal);
    switch (outcome.kind) {
      case 'done':
        return outcome.result;
      case 'dead':
        throw new UnrecoverableError(outcome.reason);
      case 'failed':
        throw new Error(outcome.reason);
      case 'wait':
        // Wait without spending an attempt: the earlier delivery of this order goes first.
        if (token === undefined) throw new Error('cannot re-delay a job without its token');
        await job.moveToDelayed(Date.now() + deps.orderWaitMs, token);
        throw new DelayedError();
    }
  };

  const batch = async (job: Job<DeliveryBatchJob>, signal?: AbortSignal): Promise<DeliveryBatchOutcome> => {
    const deliveries = job.data.deliveries;
    // Each running delivery listens on the job's signal (released when its handler ends): a
    // batch of many orders has more than Node's default of 10 at once, which is not a leak.
    if (signal !== undefined) setMaxListeners(0, signal);
    // One lane per (handler, order): its deliveries in fan-out order; without an order, alone.
    const lanes = groupBy(deliveries, (d) => d.orderId ?? `delivery:${d.deliveryId}`);
    const split: SplitOffDelivery[] = [];
    const { handler } = job.data;
    const waitMs = deps.orderWaitMs;
    await Promise.all(
      [...lanes.values()].map(async (lane) => {
        for (const [i, d] of lane.entries()) {
          let outcome: AttemptOutcome | 'error';
          try {
            outcome = await attempt(d, (configured) => configured <= 1, signal);
          } catch (error: unknown) {
            logger.warn('delivery of a batch could not run: split off into a job of its own', {
              deliveryId: d.deliveryId,
              error: errorText(error),
            });
            outcome = 'error';
          }
          if (outcome !== 'error' && (outcome.kind === 'done' || outcome.kind === 'dead')) continue;
          const reason = outcome === 'error' ? 'error' : outcome.kind === 'failed' ? 'retry' : 'wait';
          split.push({ handler, delivery: jobOf(d), reason, ...(reason === 'wait' ? { delayMs: waitMs } : {}) });
          // The rest of its lane would find the gate closed behind it: they wait their turn.
          for (const rest of lane.slice(i + 1)) {
            split.push({ handler, delivery: jobOf(rest), reason: 'wait', delayMs: waitMs });
          }
          return;
        }
      }),
    );
    if (split.length > 0) {
      await deps.splitOff(split);
      for (const s of split) metrics.batchSplitOff.inc({ handler, reason: s.reason });
    }
    return { kind: 'batch', deliveries: deliveries.length, splitOff: split.length };
  };

  /** A burst's history first: its deliveries are durable and run once it is stored. */
  const persistFirst = async (signal: AbortSignal | undefined): Promise<void> => {
    const waitedMs = (await deps.persistFirst?.yieldTo(signal)) ?? 0;
    if (waitedMs > 0) metrics.persistFirstWait.observe(waitedMs / 1000);
  };

  return async (job: Job<HandlerDeliveriesJob>, token?: string, signal?: AbortSignal): Promise<unknown> => {
    await persistFirst(signal);
    return isBatchJob(job) ? batch(job, signal) : single(job as Job<HandlerDeliveryJob>, token, signal);
  };
}

/**
 * The signal a handler gets: aborted when the job's own signal aborts or after `timeoutMs`
 * (reason: a `TimeoutError`, as `AbortSignal.timeout` gives). One controller and one plain
 * timer, released when the handler ends: `AbortSignal.timeout` + `AbortSignal.any` cost about
 * 20 µs of CPU per delivery (weak references, finalization), more than the `log` handler itself.
 */
function handlerAbort(timeoutMs: number, jobSignal: AbortSignal | undefined) {
  const controller = new AbortController();
  const timer = setTimeout(() => {
    controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
  }, timeoutMs);
  timer.unref();
  const onJobAbort = (): void => controller.abort(jobSignal?.reason);
  if (jobSignal?.aborted === true) onJobAbort();
  else jobSignal?.addEventListener('abort', onJobAbort, { once: true });
  return {
    signal: controller.signal,
    release: (): void => {
      clearTimeout(timer);
      jobSignal?.removeEventListener('abort', onJobAbort);
    },
  };
}

const jobOf = (d: BatchedDelivery): HandlerDeliveryJob => ({ deliveryId: d.deliveryId, retries: d.retries });

function isBatchJob(job: Job<HandlerDeliveriesJob>): job is Job<DeliveryBatchJob> {
  return isDeliveryBatch(job.data);
}

/**
 * The consumer's failed-job hook: once BullMQ has failed a job for good (its last attempt threw
 * before the processor could record it, e.g. the database was down), the row is made dead.
 */
export function createHandlerFailureRecorder(deps: { readonly db: Database; readonly logger: Logger }) {
  return async (job: Job<HandlerDeliveriesJob>, error: Error): Promise<void> => {
    if (!(await job.isFailed())) return; // will be retried
    // A batch job fails for good only when its split-off jobs could not be queued for a day:
    // what it did not finish is made dead, where an operator sees and re-queues it.
    for (const deliveryId of deliveryIdsOf(job.data)) {
      if (await markDeadIfUnfinished(deps.db, deliveryId, `job failed: ${error.message}`)) {
        deps.logger.warn('delivery dead: its job failed outside the handler', { deliveryId, error: error.message });
      }
    }
  };
}
