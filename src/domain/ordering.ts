import { isTerminalState } from './order-types';

/**
 * Ordering rules: Bandwidth gives no ordering guarantee, so the current status of an order
 * is decided here, never by arrival alone.
 *
 * Invariants:
 * - the current status never regresses to an older event (by LastModifiedDate when both sides
 *   carry one; otherwise by arrival);
 * - a terminal state is never replaced by a non-terminal one;
 * - an event without a status (note-only) never changes the status.
 */

export interface CurrentOrderState {
  readonly orderType: string;
  readonly status: string | null;
  readonly lastModifiedAt: Date | null;
}

export interface IncomingOrderEvent {
  readonly status: string | null;
  readonly lastModifiedAt: Date | null;
}

export interface OrderingDecision {
  /** True when the event becomes (or confirms) the current status. */
  readonly applied: boolean;
  /** The status that was current when the event was considered. */
  readonly previousStatus: string | null;
}

export function decideOrdering(
  current: CurrentOrderState | null,
  incoming: IncomingOrderEvent,
  orderType: string,
): OrderingDecision {
  if (current === null || current.status === null) {
    return { applied: incoming.status !== null, previousStatus: null };
  }
  const previousStatus = current.status;
  if (incoming.status === null) return { applied: false, previousStatus };

  const currentTerminal = isTerminalState(orderType, current.status);
  const incomingTerminal = isTerminalState(orderType, incoming.status);
  if (currentTerminal && !incomingTerminal) return { applied: false, previousStatus };

  if (current.lastModifiedAt !== null && incoming.lastModifiedAt !== null) {
    const delta = incoming.lastModifiedAt.getTime() - current.lastModifiedAt.getTime();
    if (delta < 0) return { applied: false, previousStatus };
    if (delta === 0 && currentTerminal && incoming.status !== current.status) {
      // Same instant, two different final states: keep the first one seen (stable).
      return { applied: false, previousStatus };
    }
    return { applied: true, previousStatus };
  }
  // No comparable timestamps: arrival order decides (terminal guard above still holds).
  return { applied: true, previousStatus };
}
