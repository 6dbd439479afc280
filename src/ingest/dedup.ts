import { createHash } from 'node:crypto';
import type { BandwidthNotification } from '../domain/notification';

/**
 * The identity of a notification for deduplication. Bandwidth sends no event id, so two
 * deliveries are the same notification when every field that describes the change is equal:
 * subscription, order, type, event type, status, message, note, last-modified and numbers.
 * Stored in a unique column, so the database (not a time window) decides.
 */
export function dedupKeyOf(n: BandwidthNotification): string {
  const canonical = JSON.stringify([
    n.subscriptionId,
    n.orderId,
    n.orderType,
    n.eventType,
    n.customerOrderId,
    n.status,
    n.message,
    n.note,
    n.lastModifiedAt?.toISOString() ?? null,
    n.actualFocDate?.toISOString() ?? null,
    n.telephoneNumbers,
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}
