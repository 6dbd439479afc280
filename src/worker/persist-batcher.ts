import type { Logger } from 'winston';
import { Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import type { PersistOutcome, ReceiptToPersist } from '../store/notification-store';
import type { BatchFanOut, PersistedBatch } from '../store/notification-store';
import { persistReceipt, persistReceiptsWithFanOut } from '../store/notification-store';
import type { QueuedDelivery } from '../store/handler-delivery-store';
import type { SqlDatabase } from '../store/sql';
import type { DispatchNotification } from './dispatch';
import { isInfrastructureError } from './fault-policy';
import type { PersistBacklog } from './persist-first';

/**
 * Persists one receipt and fans it out to the handlers (when the worker has a fan-out);
 * resolves once it is durable (committed) in PostgreSQL and its delivery jobs are queued.
 */
export type PersistOne = (receipt: ReceiptToPersist) => Promise<PersistOutcome>;

/** The handler fan-out of the worker's batches (from `createDispatcher`). */
export interface WorkerFanOut {
  /** Written in the batch's transaction. */
  readonly plan: BatchFanOut;
  /** Queues the delivery jobs once the batch has committed. */
  enqueue(queued: readonly QueuedDelivery[]): Promise<void>;
  /** The one-by-one fan-out: fallback receipts, and repair of a redelivered (already stored) one. */
  readonly dispatch: DispatchNotification;
}

export interface PersistBatcherOptions {
  /** Largest batch (one transaction); a full batch is written at once. */
  readonly maxBatch: number;
  /** How long the first receipt of a batch waits for others: 0 = the rest of this event-loop turn. */
  readonly lingerMs: number;
  /**
   * Batches written at once (default 1). Batches in flight together never share an order, a
   * notification (dedup key) or a receipt, so they take no lock the other waits for.
   */
  readonly inFlight?: number;
}

export interface PersistBatcherDeps {
  /** The worker's pool (`sqlOverPool`): Prisma's query compiler stays off the hot path. */
  readonly db: SqlDatabase;
  readonly logger: Logger;
  /** Called with the size of every batch written (metrics). */
  readonly onBatch?: (size: number, mode: 'batch' | 'fallback') => void;
  /** Absent: nothing is dispatched to handlers. */
  readonly fanOut?: WorkerFanOut;
  /** Told how many receipts the batcher holds (waiting or being written), on every change (persistence first). */
  readonly backlog?: PersistBacklog;
}

interface Waiting {
  readonly receipt: ReceiptToPersist;
  /** What the receipt's transaction locks or inserts under a unique key (see `conflictKeys`). */
  readonly keys: readonly string[];
  readonly resolve: (outcome: PersistOutcome) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * The rows a receipt's batch may lock, or insert under a unique key, that another batch could
 * touch too: its order (row lock, history), its notification (the dedup key's unique index)
 * and the receipt itself (a redelivered job). Lower-cased: a false match only holds a receipt
 * back one batch, a missed one could deadlock two.
 */
function conflictKeys(receipt: ReceiptToPersist): string[] {
  const keys = [`r:${receipt.receiptId.toLowerCase()}`, `d:${receipt.dedupKey}`];
  const orderId = receipt.notification.orderId;
  if (orderId !== null) keys.push(`o:${orderId.toLowerCase()}`);
  return keys;
}

/**
 * Group commit for the worker: the concurrent jobs of the notifications queue hand their
 * receipt here, and everything that arrives within one event-loop turn (or `lingerMs`, up to
 * `maxBatch`) is written in ONE transaction (`persistReceipts`). Each job's promise resolves
 * with its own outcome only when that transaction has committed, so a job still completes
 * only once its receipt is durable, and it still fails (and is retried by its own fault
 * policy) when its receipt could not be written.
 *
 * Failure isolation: when a batch fails for a reason other than the database being away, its
 * receipts are written again one by one (`persistReceipt`, in arrival order), so one poison
 * receipt fails only its own job. When the database is away every job of the batch gets the
 * error at once: retrying them one by one would only fail again.
 */
export function createPersistBatcher(deps: PersistBatcherDeps, options: PersistBatcherOptions): PersistOne {
  const { db, logger } = deps;
  const pending: Waiting[] = [];
  let timer: NodeJS.Timeout | NodeJS.Immediate | undefined;

  const fanOut = deps.fanOut;
  // A redelivered job whose receipt is stored: its earlier run may have died between the
  // commit and the enqueue, so its unfinished deliveries are queued again (idempotent).
  const dispatchOne = async (receiptId: string, outcome: PersistOutcome): Promise<PersistOutcome> => {
    if (fanOut !== undefined && outcome.kind !== 'duplicate') await fanOut.dispatch(receiptId, 'callback');
    return outcome;
  };

  const oneByOne = async (batch: readonly Waiting[]): Promise<void> => {
    deps.onBatch?.(batch.length, 'fallback');
    for (const w of batch) {
      try {
        w.resolve(await dispatchOne(w.receipt.receiptId, await persistReceipt(db, w.receipt)));
      } catch (error: unknown) {
        w.reject(error);
      }
    }
  };

  const write = async (batch: readonly Waiting[]): Promise<void> => {
    // Alone, without handlers, the single-receipt transaction is the cheaper one.
    if (batch.length === 1 && fanOut === undefined) return oneByOne(batch);
    let written: PersistedBatch;
    try {
      written = await persistReceiptsWithFanOut(
        db,
        batch.map((w) => w.receipt),
        fanOut?.plan,
      );
    } catch (error: unknown) {
      if (isInfrastructureError(error)) {
        for (const w of batch) w.reject(error);
        return;
      }
      logger.warn('batched persist failed; persisting its receipts one by one', {
        receipts: batch.length,
        error: error instanceof Error ? error.message : String(error),
      });
      return oneByOne(batch);
    }
    deps.onBatch?.(batch.length, 'batch');
    const outcomes = written.outcomes;
    if (fanOut !== undefined) {
      try {
        await fanOut.enqueue(written.queued);
      } catch (error: unknown) {
        // Committed, but the delivery jobs are not queued: every job of the batch fails, and
        // its retry (`already_persisted`) queues its unfinished deliveries again.
        for (const w of batch) w.reject(error);
        return;
      }
    }
    await Promise.all(
      batch.map(async (w, i) => {
        const outcome = outcomes[i];
        if (outcome === undefined) return w.reject(new Error('batched persist returned no outcome'));
        try {
          w.resolve(outcome.kind === 'already_persisted' ? await dispatchOne(w.receipt.receiptId, outcome) : outcome);
        } catch (error: unknown) {
          w.reject(error);
        }
      }),
    );
  };

  // Group commit: receipts that arrive while `inFlight` batches are being written wait and go
  // out together in a later one, so batches grow with the load and the statements per receipt
  // shrink. More than one batch in flight lets the worker prepare and send a batch while
  // PostgreSQL commits another (one batch leaves part of a 2-core machine idle, issue #8);
  // a receipt whose order, notification or receipt id is in a batch being written waits for
  // that batch, so batches in flight never wait on each other's locks (no deadlock) and the
  // receipts of one order are still persisted in arrival order.
  const maxInFlight = Math.max(1, options.inFlight ?? 1);
  let writing = 0;
  const busyKeys = new Set<string>();

  /** The next batch: pending receipts in arrival order that touch nothing being written. */
  const take = (): Waiting[] => {
    if (busyKeys.size === 0) return pending.splice(0, options.maxBatch);
    const batch: Waiting[] = [];
    const rest: Waiting[] = [];
    // A receipt held back holds back every later one that shares a key with it (arrival order).
    const held = new Set<string>();
    for (const w of pending) {
      if (batch.length < options.maxBatch && !w.keys.some((k) => busyKeys.has(k) || held.has(k))) {
        batch.push(w);
      } else {
        rest.push(w);
        for (const k of w.keys) held.add(k);
      }
    }
    pending.splice(0, pending.length, ...rest);
    return batch;
  };
  // Receipts in the batcher: waiting for a batch or in one being written.
  let writingReceipts = 0;
  const report = (): void => deps.backlog?.report(pending.length + writingReceipts);

  const flush = (): void => {
    if (timer !== undefined) {
      if (options.lingerMs > 0) clearTimeout(timer as NodeJS.Timeout);
      else clearImmediate(timer as NodeJS.Immediate);
      timer = undefined;
    }
    while (writing < maxInFlight && pending.length > 0) {
      const batch = take();
      if (batch.length === 0) return;
      const keys = batch.flatMap((w) => w.keys);
      for (const k of keys) busyKeys.add(k);
      writing += 1;
      writingReceipts += batch.length;
      // `write` settles every promise of the batch itself and never rejects.
      void write(batch).finally(() => {
        for (const k of keys) busyKeys.delete(k);
        writing -= 1;
        writingReceipts -= batch.length;
        report();
        flush();
      });
    }
  };

  return (receipt) =>
    new Promise<PersistOutcome>((resolve, reject) => {
      pending.push({ receipt, keys: conflictKeys(receipt), resolve, reject });
      report();
      if (writing >= maxInFlight) return;
      // Nothing being written: a full batch goes at once. Beside a batch in flight, `take` scans
      // every pending receipt for ones that touch nothing being written (and may find none
      // until that batch ends): once per linger, not on every receipt that arrives.
      if (pending.length >= options.maxBatch && writing === 0) flush();
      else if (timer === undefined)
        timer = options.lingerMs > 0 ? setTimeout(flush, options.lingerMs) : setImmediate(flush);
    });
}

/**
 * The worker's persist function from config: the batcher with its metric, or (batch size 1)
 * `persistReceipt` directly, exactly as before batching existed.
 */
export function createWorkerPersist(
  deps: {
    readonly db: SqlDatabase;
    readonly logger: Logger;
    readonly registry: Registry;
    readonly fanOut?: WorkerFanOut;
    readonly backlog?: PersistBacklog;
  },
  config: {
    readonly persistBatchMax: number;
    readonly persistBatchLingerMs: number;
    readonly persistBatchesInFlight?: number;
  },
): PersistOne {
  const fanOut = deps.fanOut;
  if (config.persistBatchMax <= 1) {
    return async (receipt) => {
      const outcome = await persistReceipt(deps.db, receipt);
      if (fanOut !== undefined && outcome.kind !== 'duplicate') await fanOut.dispatch(receipt.receiptId, 'callback');
      return outcome;
    };
  }
  const batchSize = new Histogram({
    name: 'bw_worker_persist_batch_size',
    help: 'Receipts per persist transaction of the worker (mode: batch, or fallback = one by one after a failed batch)',
    labelNames: ['mode'],
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500],
    registers: [deps.registry],
  });
  return createPersistBatcher(
    {
      db: deps.db,
      logger: deps.logger,
      onBatch: (size, mode) => batchSize.observe({ mode }, size),
      ...(fanOut !== undefined ? { fanOut } : {}),
      ...(deps.backlog !== undefined ? { backlog: deps.backlog } : {}),
    },
    {
      maxBatch: config.persistBatchMax,
      lingerMs: config.persistBatchLingerMs,
      ...(config.persistBatchesInFlight !== undefined ? { inFlight: config.persistBatchesInFlight } : {}),
    },
  );
}
