import type { Job } from 'bullmq';
import type { Logger } from 'winston';
import type { Metrics } from '../observability/metrics';
import type { PersistNotificationJob } from '../queue/catalog';
import type { Database } from '../store/prisma';
import { quarantineOnce } from '../store/quarantine-store';

/**
 * Worker fault policy, decided in one place (STYLE 5):
 * - infrastructure failures (database unreachable, restarting, pool exhausted, deadlock) are
 *   thrown and retried with capped exponential backoff; the job's attempts span the configured
 *   outage window, so a shorter outage never dead-letters anything;
 * - any other failure is retried too, but after `poisonAttempts` it is treated as poison: the
 *   raw receipt goes to quarantine (byte for byte, nothing lost) and the job completes, so it
 *   stops costing retries. Other jobs never wait on it (it sits in `delayed` between attempts).
 * Fails safe: quarantining needs the database, so a misclassified outage only keeps retrying.
 */

const INFRA_CODES = new Set([
  // PostgreSQL: admin shutdown, crash shutdown, cannot connect now, too many connections,
  // serialization failure, deadlock, out of resources.
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '53200',
  '53100',
  '40001',
  '40P01',
  // Prisma: can't reach server, timeout, server closed the connection, pool timeout, conflict.
  'P1001',
  'P1002',
  'P1008',
  'P1017',
  'P2024',
  'P2034',
  // Node sockets.
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
]);

const INFRA_MESSAGE =
  /connection (terminated|refused|reset|closed|timeout)|terminating connection|database system is (starting up|shutting down|in recovery)|could not connect|can't reach database|timed out fetching a new connection|server closed the connection|ECONNREFUSED|ECONNRESET|socket hang up|Client has encountered a connection error/i;

/**
 * The handler queue refused jobs whose rows are committed (Redis away, or its fail-fast
 * producer offline). Infrastructure: the persist job is retried, never quarantined, since
 * its receipt is already stored and only its delivery jobs are missing.
 */
export class QueueUnavailableError extends Error {
  override readonly name = 'QueueUnavailableError';
}

/** True when the failure says the database (or the network to it) is away, not the data bad. */
export function isInfrastructureError(error: unknown, depth = 0): boolean {
  if (error instanceof QueueUnavailableError) return true;
  if (depth > 5 || typeof error !== 'object' || error === null) return false;
  const e = error as { code?: unknown; message?: unknown; cause?: unknown; meta?: unknown; errors?: unknown };
  if (typeof e.code === 'string' && (INFRA_CODES.has(e.code) || e.code.startsWith('08'))) return true;
  if (typeof e.message === 'string' && INFRA_MESSAGE.test(e.message)) return true;
  if (Array.isArray(e.errors) && e.errors.some((inner) => isInfrastructureError(inner, depth + 1))) return true;
  return isInfrastructureError(e.cause, depth + 1) || isInfrastructureError(e.meta, depth + 1);
}

export interface FaultPolicyDeps {
  readonly db: Database;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly poisonAttempts: number;
}

export type QuarantinedOutcome = { readonly kind: 'quarantined'; readonly reason: string };

export function withFaultPolicy<R>(
  deps: FaultPolicyDeps,
  processor: (job: Job<PersistNotificationJob>) => Promise<R>,
): (job: Job<PersistNotificationJob>) => Promise<R | QuarantinedOutcome> {
  return async (job) => {
    try {
      return await processor(job);
    } catch (error: unknown) {
      const message = error instanceof Error ? error.message : String(error);
      const attempt = job.attemptsMade + 1;
      const infrastructure = isInfrastructureError(error);
      const unrecoverable = error instanceof Error && error.name === 'UnrecoverableError';
      if (!infrastructure && (unrecoverable || attempt >= deps.poisonAttempts)) {
        const reason = `persist failed on attempt ${attempt}: ${message}`.slice(0, 2000);
        // Throws when the database is down: then the job is simply retried later.
        await quarantineOnce(deps.db, {
          id: job.data.receiptId,
          receivedAt: new Date(job.data.receivedAt),
          accountId: job.data.accountId,
          remoteAddress: job.data.remoteAddress,
          headers: job.data.headers,
          body: Buffer.from(job.data.body, 'utf8'),
          reason,
        });
        deps.metrics.poisonQuarantined.inc();
        deps.logger.error('poison notification quarantined', { receiptId: job.data.receiptId, attempt, reason });
        return { kind: 'quarantined', reason };
      }
      deps.metrics.persistRetries.inc({ cause: infrastructure ? 'infrastructure' : 'other' });
      const last = attempt >= (job.opts.attempts ?? 1);
      const log = last ? deps.logger.error.bind(deps.logger) : deps.logger.warn.bind(deps.logger);
      log(last ? 'persist failed on its last attempt: job moves to the failed set' : 'persist failed; will retry', {
        receiptId: job.data.receiptId,
        attempt,
        infrastructure,
        error: message,
      });
      throw error;
    }
  };
}
