import { existsSync } from 'node:fs';
import { mkdir, open, readFile, readdir, stat, unlink, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'winston';
import type { PersistNotificationJob } from '../queue/catalog';

/**
 * The spool: where a callback goes when the queue is unreachable, so that it can still be
 * answered 200 (Bandwidth never retries). Invariants:
 * - a record is acknowledged only after its bytes are written and fdatasync'd (fail closed:
 *   when the spool cannot write, the caller answers 503);
 * - segments are append-only JSON lines; a torn last line (crash mid-write) was never acked
 *   and is skipped on read;
 * - a segment is deleted only after every record in it was re-enqueued; re-enqueueing a record
 *   twice is harmless (the job id is `receipt-<receiptId>` and the database dedups by receipt
 *   id), so the drainer may always err on the side of sending again.
 * One directory belongs to one process at a time (a lock file enforces it on one host).
 */

export interface SpoolStats {
  /** Records written and not yet re-enqueued. */
  readonly pending: number;
  /** Bytes of spool segments on disk. */
  readonly bytes: number;
  /** Age of the oldest pending record, 0 when empty. */
  readonly oldestAgeSeconds: number;
}

export interface Spool {
  /** Resolves once the job is on disk (fdatasync'd); rejects when it cannot be. */
  append(job: PersistNotificationJob): Promise<void>;
  /** Re-enqueues every sealed record; stops at the first enqueue failure. Returns records drained. */
  drain(enqueue: (job: PersistNotificationJob) => Promise<void>): Promise<number>;
  stats(): SpoolStats;
  close(): Promise<void>;
}

export interface SpoolOptions {
  readonly dir: string;
  readonly logger: Logger;
  /** Records enqueued in parallel while draining. */
  readonly drainConcurrency?: number;
}

interface SpoolRecord {
  readonly spooledAt: number;
  readonly job: PersistNotificationJob;
}

interface Segment {
  readonly file: string;
  count: number;
  bytes: number;
  /** Records already re-enqueued by this process (a retry after a partial drain skips them). */
  drained: number;
  oldestSpooledAt: number | null;
}

interface Pending {
  readonly line: string;
  readonly spooledAt: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

const LOCK_FILE = 'spool.lock';
const SEGMENT = /^segment-\d+-\d+\.jsonl$/;

function isJob(value: unknown): value is PersistNotificationJob {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v['receiptId'] === 'string' &&
    typeof v['receivedAt'] === 'string' &&
    typeof v['body'] === 'string' &&
    typeof v['headers'] === 'object' &&
    v['headers'] !== null &&
    (v['accountId'] === null || typeof v['accountId'] === 'string') &&
    (v['remoteAddress'] === null || typeof v['remoteAddress'] === 'string')
  );
}

/** Parses a segment; lines that do not parse (a torn tail) are skipped and counted. */
export function parseSegment(text: string): { records: SpoolRecord[]; skipped: number } {
  const records: SpoolRecord[] = [];
  let skipped = 0;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      const value: unknown = JSON.parse(line);
      const candidate = value as { spooledAt?: unknown; job?: unknown };
      if (typeof candidate.spooledAt === 'number' && isJob(candidate.job)) {
        records.push({ spooledAt: candidate.spooledAt, job: candidate.job });
      } else skipped += 1;
    } catch {
      skipped += 1;
    }
  }
  return { records, skipped };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error: unknown) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function takeLock(dir: string): Promise<string> {
  const file = path.join(dir, LOCK_FILE);
  if (existsSync(file)) {
    const pid = Number((await readFile(file, 'utf8')).trim());
    if (Number.isInteger(pid) && pid !== process.pid && isAlive(pid)) {
      throw new Error(`spool directory ${dir} is in use by process ${pid}; give each API process its own SPOOL_DIR`);
    }
  }
  await writeFile(file, `${process.pid}\n`);
  return file;
}

export async function openSpool(options: SpoolOptions): Promise<Spool> {
  const dir = path.resolve(options.dir);
  const { logger } = options;
  const concurrency = options.drainConcurrency ?? 16;
  await mkdir(dir, { recursive: true });
  const lockFile = await takeLock(dir);

  // Segments left by an earlier run (a crash, or a shutdown while the queue was down).
  const sealed: Segment[] = [];
  for (const name of (await readdir(dir)).filter((n) => SEGMENT.test(n)).sort()) {
    const file = path.join(dir, name);
    const { records, skipped } = parseSegment(await readFile(file, 'utf8'));
    if (skipped > 0)
      logger.warn('spool segment has unreadable lines (torn write, never acknowledged)', { file, skipped });
    sealed.push({
      file,
      count: records.length,
      bytes: (await stat(file)).size,
      drained: 0,
      oldestSpooledAt: records[0]?.spooledAt ?? null,
    });
  }
  if (sealed.length > 0) {
    logger.warn('spool holds notifications from an earlier run; they will be re-enqueued', {
      pending: sealed.reduce((n, s) => n + s.count, 0),
    });
  }

  let active: { segment: Segment; handle: FileHandle } | null = null;
  let sequence = 0;
  let queue: Pending[] = [];
  // True from the moment a flush loop starts until, synchronously, it sees an empty queue.
  let flushActive = false;
  let flushing: Promise<void> = Promise.resolve();
  let draining: Promise<number> | null = null;
  let closed = false;

  const openSegment = async (): Promise<{ segment: Segment; handle: FileHandle }> => {
    if (active) return active;
    sequence += 1;
    const file = path.join(dir, `segment-${String(Date.now()).padStart(15, '0')}-${sequence}.jsonl`);
    const handle = await open(file, 'a', 0o600);
    // The directory entry must be durable too, or a crash could forget the whole file.
    await fsyncDir(dir);
    active = { segment: { file, count: 0, bytes: 0, drained: 0, oldestSpooledAt: null }, handle };
    return active;
  };

  const seal = async (): Promise<void> => {
    const current = active;
    if (current === null) return;
    active = null;
    await current.handle.close();
    if (current.segment.count > 0) sealed.push(current.segment);
    else await unlink(current.segment.file).catch(() => undefined);
  };

  // Group commit: every append waiting while a write is in progress shares the next fsync.
  const flush = async (): Promise<void> => {
    while (queue.length > 0) {
      const batch = queue;
      queue = [];
      try {
        const { segment, handle } = await openSegment();
        const data = batch.map((p) => p.line).join('');
        await handle.write(data);
        await handle.datasync();
        segment.count += batch.length;
        segment.bytes += Buffer.byteLength(data);
        segment.oldestSpooledAt ??= batch[0]?.spooledAt ?? null;
        for (const p of batch) p.resolve();
      } catch (error: unknown) {
        const failure = error instanceof Error ? error : new Error(String(error));
        // A partial write may have left a torn line: never append after it.
        await seal().catch(() => undefined);
        for (const p of batch) p.reject(failure);
      }
    }
    // Same tick as the empty-queue check above (every error is caught in the loop), so an
    // append can never be left behind in the queue with no loop to write it.
    flushActive = false;
  };

  const append = (job: PersistNotificationJob): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      if (closed) {
        reject(new Error('spool is closed'));
        return;
      }
      const spooledAt = Date.now();
      queue.push({ line: `${JSON.stringify({ spooledAt, job })}\n`, spooledAt, resolve, reject });
      if (!flushActive) {
        flushActive = true;
        flushing = flush();
      }
    });

  const drainSealed = async (enqueue: (job: PersistNotificationJob) => Promise<void>): Promise<number> => {
    // Seal the active segment once no write is in flight, so new appends start a new one.
    while (flushActive) await flushing;
    await seal();
    let drained = 0;
    while (sealed.length > 0) {
      const segment = sealed[0];
      if (segment === undefined) break;
      const { records } = parseSegment(await readFile(segment.file, 'utf8'));
      for (let i = segment.drained; i < records.length; i += concurrency) {
        const chunk = records.slice(i, i + concurrency);
        // Fails the whole drain on the first error; the segment stays for the next round.
        await Promise.all(chunk.map((r) => enqueue(r.job)));
        segment.drained = i + chunk.length;
        drained += chunk.length;
      }
      await unlink(segment.file);
      await fsyncDir(dir);
      sealed.shift();
    }
    return drained;
  };

  return {
    append,
    drain(enqueue) {
      draining ??= drainSealed(enqueue).finally(() => {
        draining = null;
      });
      return draining;
    },
    stats() {
      const segments = active ? [...sealed, active.segment] : sealed;
      let pending = 0;
      let bytes = 0;
      let oldest: number | null = null;
      for (const s of segments) {
        pending += s.count - s.drained;
        bytes += s.bytes;
        if (s.count > s.drained && s.oldestSpooledAt !== null) oldest = Math.min(oldest ?? Infinity, s.oldestSpooledAt);
      }
      return { pending, bytes, oldestAgeSeconds: oldest === null ? 0 : Math.max(0, (Date.now() - oldest) / 1000) };
    },
    async close() {
      closed = true;
      while (flushActive) await flushing;
      if (draining) await draining.catch(() => undefined);
      await seal();
      await unlink(lockFile).catch(() => undefined);
    },
  };
}

function withTimeout<T>(action: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    action,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not answer within ${timeoutMs} ms`)), timeoutMs);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * A circuit breaker in front of the queue, so that a dead or hanging queue costs at most one
 * callback `timeoutMs`, and none after that: once an enqueue fails, callbacks go straight to
 * the spool until a background probe (the drainer, never a callback) gets through again.
 * A timed-out add may still land later: the spooled copy has the same job id, so the
 * notification is still persisted exactly once.
 */
export interface QueueGuard {
  /** For callbacks: rejects at once while the breaker is open. */
  enqueue(job: PersistNotificationJob): Promise<void>;
  /** For the drainer: runs `action` whatever the state; success closes the breaker. */
  probe<T>(action: () => Promise<T>): Promise<T>;
  isOpen(): boolean;
}

export function createQueueGuard(
  enqueue: (job: PersistNotificationJob) => Promise<void>,
  options: { readonly timeoutMs: number; readonly probeTimeoutMs?: number },
): QueueGuard {
  let open = false;
  return {
    async enqueue(job) {
      if (open) throw new Error('queue unavailable (circuit open)');
      try {
        await withTimeout(enqueue(job), options.timeoutMs, 'queue');
      } catch (error: unknown) {
        open = true;
        throw error;
      }
    },
    async probe(action) {
      const result = await withTimeout(action(), options.probeTimeoutMs ?? 5000, 'queue');
      open = false;
      return result;
    },
    isOpen: () => open,
  };
}

export interface SpoolDrainer {
  stop(): Promise<void>;
}

/**
 * Every `intervalMs`, while the spool holds records or the breaker is open: re-enqueue the
 * spool (or ping the queue), which also closes the breaker once the queue answers.
 */
export function startSpoolDrainer(options: {
  readonly spool: Spool;
  readonly enqueue: (job: PersistNotificationJob) => Promise<void>;
  readonly guard: QueueGuard;
  /** A cheap queue call that proves it is reachable (used when the spool is empty). */
  readonly ping: () => Promise<unknown>;
  readonly intervalMs: number;
  readonly logger: Logger;
  readonly onDrained?: (count: number) => void;
}): SpoolDrainer {
  const { spool, logger } = options;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let failing = false;

  const { guard } = options;
  const tick = async (): Promise<void> => {
    if (spool.stats().pending === 0 && !guard.isOpen()) return;
    try {
      // Probe first: sealing a segment per tick while the queue is down would cost an extra
      // file creation and directory fsync in the callbacks' path for nothing.
      if (guard.isOpen() || spool.stats().pending === 0) await guard.probe(options.ping);
      if (spool.stats().pending === 0) return;
      const drained = await spool.drain((job) => guard.probe(() => options.enqueue(job)));
      if (drained > 0) {
        options.onDrained?.(drained);
        logger.info('spool drained into the queue', { drained, pending: spool.stats().pending });
      }
      failing = false;
    } catch (error: unknown) {
      // Expected while the queue is down: log once per outage, keep trying.
      if (!failing) {
        logger.warn('spool drain waiting for the queue', {
          pending: spool.stats().pending,
          error: error instanceof Error ? error.message : String(error),
        });
      }
      failing = true;
    }
  };

  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = tick().finally(schedule);
    }, options.intervalMs);
  };
  schedule();

  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
