/**
 * The normalized form of one Bandwidth `<Notification>`. Everything is optional because
 * Bandwidth sends different subsets per order type and event type.
 */
export interface BandwidthNotification {
  readonly subscriptionId: string | null;
  readonly orderType: string | null;
  readonly orderId: string | null;
  readonly customerOrderId: string | null;
  readonly status: string | null;
  readonly message: string | null;
  /** The numeric prefix of `Message` (`5005` from `5005: The telephone number ...`). */
  readonly errorCode: string | null;
  readonly note: string | null;
  readonly eventType: string | null;
  /** E.164, sorted, deduplicated; from every known number list of the payload. */
  readonly telephoneNumbers: readonly string[];
  readonly lastModifiedAt: Date | null;
  readonly actualFocDate: Date | null;
  /** False when the order type, state or event type is not in our table (still stored). */
  readonly known: boolean;
}

export function errorCodeOf(message: string | null): string | null {
  if (message === null) return null;
  const match = /^\s*(\d{3,6})\s*:/.exec(message);
  return match?.[1] ?? null;
}
