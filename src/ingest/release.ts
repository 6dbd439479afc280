import type { PersistNotificationJob } from '../queue/catalog';
import type { QuarantineRecord } from '../store/quarantine-store';
import { decodeBody, parseNotificationXml } from './parse';

/** Expected outcomes of releasing a quarantined payload (STYLE 4: values, not exceptions). */
export type ReleaseOutcome =
  | { readonly kind: 'released'; readonly receiptId: string }
  | { readonly kind: 'not_found' }
  | { readonly kind: 'already_released' }
  | { readonly kind: 'still_malformed'; readonly reason: string }
  | { readonly kind: 'unavailable'; readonly reason: string };

export interface QuarantinedPayload extends Omit<QuarantineRecord, 'reason'> {
  readonly releasedAt: string | null;
}

export interface ReleaseDeps {
  readonly load: (id: string) => Promise<QuarantinedPayload | null>;
  readonly enqueue: (job: PersistNotificationJob) => Promise<void>;
  readonly markReleased: (id: string) => Promise<boolean>;
}

/**
 * Sends a quarantined body down the normal path once it parses (e.g. after a parser fix).
 * The quarantine id becomes the receipt id, so releasing twice, or a redelivered job, persists
 * it once (deterministic job id + primary key). Marked released only after it is durable
 * (fail closed: a payload is never marked released without having been queued).
 */
export async function releaseQuarantined(deps: ReleaseDeps, id: string): Promise<ReleaseOutcome> {
  const payload = await deps.load(id);
  if (payload === null) return { kind: 'not_found' };
  if (payload.releasedAt !== null) return { kind: 'already_released' };
  const text = decodeBody(payload.body);
  const parsed = await parseNotificationXml(text);
  if (!parsed.ok) return { kind: 'still_malformed', reason: parsed.reason };
  try {
    await deps.enqueue({
      receiptId: payload.id,
      receivedAt: payload.receivedAt.toISOString(),
      accountId: payload.accountId,
      remoteAddress: payload.remoteAddress,
      headers: payload.headers,
      body: text,
    });
  } catch (error: unknown) {
    return { kind: 'unavailable', reason: error instanceof Error ? error.message : String(error) };
  }
  await deps.markReleased(payload.id);
  return { kind: 'released', receiptId: payload.id };
}
