import { randomUUID } from 'node:crypto';
import type { Logger } from 'winston';
import type { PersistNotificationJob } from '../queue/catalog';
import type { QuarantineRecord } from '../store/quarantine-store';
import { checkNotificationXml, decodeBody } from './parse';

/** Expected outcomes of a callback are values (STYLE 4); exceptions are for bugs only. */
export type CallbackOutcome =
  | { readonly kind: 'accepted'; readonly receiptId: string }
  | { readonly kind: 'unauthorized'; readonly reason: 'missing' | 'invalid' }
  | { readonly kind: 'malformed'; readonly reason: string; readonly quarantineId: string }
  | { readonly kind: 'too_large'; readonly limitBytes: number }
  | { readonly kind: 'unavailable'; readonly reason: string };

export interface IncomingCallback {
  readonly body: Buffer;
  readonly headers: Readonly<Record<string, string>>;
  readonly accountId: string | null;
  readonly remoteAddress: string | null;
  readonly receivedAt: Date;
}

export interface AcceptDeps {
  /** Makes the receipt durable (queue). Rejects when it cannot. */
  readonly enqueue: (job: PersistNotificationJob) => Promise<void>;
  readonly quarantine: (record: QuarantineRecord) => Promise<void>;
  readonly logger: Logger;
  /** Fallback when `enqueue` rejects: the local spool (fsync'd). Absent: answer unavailable. */
  readonly spool?: (job: PersistNotificationJob) => Promise<void>;
}

/** Request headers worth keeping with a receipt. Never Authorization or cookies. */
const KEPT_HEADERS = ['content-type', 'content-length', 'user-agent', 'x-forwarded-for', 'x-request-id'];

export function keptHeaders(headers: Readonly<Record<string, string | string[] | undefined>>): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const name of KEPT_HEADERS) {
    const value = headers[name];
    if (typeof value === 'string') kept[name] = value.slice(0, 512);
    else if (Array.isArray(value)) kept[name] = value.join(', ').slice(0, 512);
  }
  return kept;
}

/**
 * Parse, then make durable, then (only then) report `accepted`. Fail closed on durability:
 * a receipt that could not be enqueued is `unavailable`, never `accepted`.
 */
export async function acceptCallback(deps: AcceptDeps, input: IncomingCallback): Promise<CallbackOutcome> {
  const receiptId = randomUUID();
  const text = decodeBody(input.body);
  const parsed = checkNotificationXml(text);
  if (!parsed.ok) {
    try {
      await deps.quarantine({
        id: receiptId,
        receivedAt: input.receivedAt,
        accountId: input.accountId,
        remoteAddress: input.remoteAddress,
        headers: input.headers,
        body: input.body,
        reason: parsed.reason,
      });
    } catch (error: unknown) {
      deps.logger.error('could not quarantine a refused body', {
        quarantineId: receiptId,
        error: error instanceof Error ? error.message : String(error),
      });
    }
    return { kind: 'malformed', reason: parsed.reason, quarantineId: receiptId };
  }
  const job: PersistNotificationJob = {
    receiptId,
    receivedAt: input.receivedAt.toISOString(),
    accountId: input.accountId,
    remoteAddress: input.remoteAddress,
    headers: input.headers,
    body: text,
  };
  try {
    await deps.enqueue(job);
  } catch (error: unknown) {
    const reason = error instanceof Error ? error.message : String(error);
    if (deps.spool) {
      try {
        // Still durable (fsync'd to local disk): the drainer re-enqueues it when the queue is back.
        await deps.spool(job);
        // debug, not warn: one line per callback during an outage is noise (the drainer warns once).
        deps.logger.debug('queue unreachable: notification spooled', { receiptId, error: reason });
        return { kind: 'accepted', receiptId };
      } catch (spoolError: unknown) {
        deps.logger.error('could not spool a notification', {
          receiptId,
          error: spoolError instanceof Error ? spoolError.message : String(spoolError),
        });
      }
    }
    deps.logger.error('could not make a notification durable', { receiptId, error: reason });
    return { kind: 'unavailable', reason: 'queue unavailable' };
  }
  return { kind: 'accepted', receiptId };
}
