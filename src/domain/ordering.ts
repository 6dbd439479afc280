import { isTerminalState } from './order-types';

/**
 * Ordering rules: Bandwidth gives no ordering guarantee and no event id, so the current status
 * of an order is decided here, never by the order in which workers happen to process receipts.
 *
 * Invariants:
 * - a terminal state is never replaced by a non-terminal one (whatever the dates: a terminal
 *   order does not change again, so a non-terminal event beside it is the late one);
 * - otherwise, when both sides carry a LastModifiedDate, the newest wins; equal dates are broken
 *   by comparing the status strings (arbitrary but deterministic), and an equal status confirms;
 * - when either side has no LastModifiedDate, arrival order decides (the later arrival wins);
 * - an event without a status (note-only) never changes the status.
 *
 * With LastModifiedDate on every event, "supersedes" is "has a greater or equal key
 * (terminal, LastModifiedDate, status)", a total preorder: the final status is the maximum and so
 * does not depend on arrival order at all.
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
  /** The status that was current when the event arrived (what it replaced, or would have). */
  readonly previousStatus: string | null;
}

/** True when `incoming` (a status change) takes over from `current`, which arrived earlier. */
export function supersedes(orderType: string, current: IncomingOrderEvent, incoming: IncomingOrderEvent): boolean {
  if (incoming.status === null) return false;
  if (current.status === null) return true;
  const currentTerminal = isTerminalState(orderType, current.status);
  const incomingTerminal = isTerminalState(orderType, incoming.status);
  if (currentTerminal !== incomingTerminal) return incomingTerminal;
  if (current.lastModifiedAt !== null && incoming.lastModifiedAt !== null) {
    const delta = incoming.lastModifiedAt.getTime() - current.lastModifiedAt.getTime();
    if (delta !== 0) return delta > 0;
    return incoming.status >= current.status;
  }
  // No comparable timestamps: arrival order decides (the terminal guard above still holds).
  return true;
}

/** The decision for one event that arrives after `current` (null: the order has no status yet). */
export function decideOrdering(
  current: CurrentOrderState | null,
  incoming: IncomingOrderEvent,
  orderType: string,
): OrderingDecision {
  const previousStatus = current?.status ?? null;
  if (incoming.status === null) return { applied: false, previousStatus };
  if (current === null || current.status === null) return { applied: true, previousStatus };
  return { applied: supersedes(orderType, current, incoming), previousStatus };
}

/** One history entry as the replay needs it. */
export interface OrderHistoryEvent {
  readonly status: string | null;
  readonly lastModifiedAt: Date | null;
  readonly actualFocDate: Date | null;
  /** When the receipt reached us (earliest copy when Bandwidth sent it more than once). */
  readonly receivedAt: Date;
  /**
   * Breaks ties between equal `receivedAt` (millisecond clock) deterministically, e.g. the
   * receipt id: never the processing order, which concurrent workers do not fix.
   */
  readonly arrivalKey: string;
}

export interface ReplayedEvent<E extends OrderHistoryEvent> extends OrderingDecision {
  readonly event: E;
}

export interface ReplayedOrder<E extends OrderHistoryEvent> {
  /** Every event, in arrival order, with its decision. */
  readonly events: readonly ReplayedEvent<E>[];
  readonly status: string | null;
  readonly isTerminal: boolean;
  /** Arrival time of the event that made the current status current. */
  readonly statusChangedAt: Date | null;
  /** The newest LastModifiedDate Bandwidth sent for the order (notes included). */
  readonly lastModifiedAt: Date | null;
  /** ActualFocDate of the newest event carrying one (by LastModifiedDate, else arrival). */
  readonly actualFocDate: Date | null;
}

export function compareArrival(a: OrderHistoryEvent, b: OrderHistoryEvent): number {
  const delta = a.receivedAt.getTime() - b.receivedAt.getTime();
  if (delta !== 0) return delta;
  return a.arrivalKey < b.arrivalKey ? -1 : a.arrivalKey > b.arrivalKey ? 1 : 0;
}

/**
 * Replays an order's whole history in arrival order and returns every event's decision and
 * the resulting order state. A pure function of the set of events: whichever worker stored
 * which event first, replaying the same set gives the same history and the same status. The
 * store re-runs it (under the order's row lock) each time an event is added.
 */
export function replayOrderHistory<E extends OrderHistoryEvent>(
  orderType: string,
  events: readonly E[],
): ReplayedOrder<E> {
  const ordered = [...events].sort(compareArrival);
  const replayed: ReplayedEvent<E>[] = [];
  let current: E | null = null;
  let statusChangedAt: Date | null = null;
  let lastModifiedAt: Date | null = null;
  let foc: E | null = null;
  for (const event of ordered) {
    const decision = decideOrdering(
      current === null ? null : { orderType, status: current.status, lastModifiedAt: current.lastModifiedAt },
      event,
      orderType,
    );
    replayed.push({ event, ...decision });
    if (decision.applied) {
      if (current === null || current.status !== event.status) statusChangedAt = event.receivedAt;
      current = event;
    }
    if (event.lastModifiedAt !== null && (lastModifiedAt === null || event.lastModifiedAt > lastModifiedAt)) {
      lastModifiedAt = event.lastModifiedAt;
    }
    if (event.actualFocDate !== null && (foc === null || !isOlder(event, foc))) foc = event;
  }
  const status = current?.status ?? null;
  return {
    events: replayed,
    status,
    isTerminal: isTerminalState(orderType, status),
    statusChangedAt,
    lastModifiedAt,
    actualFocDate: foc?.actualFocDate ?? null,
  };
}

/** True when `event` (arrived later) is older than `than` by LastModifiedDate. */
function isOlder(event: OrderHistoryEvent, than: OrderHistoryEvent): boolean {
  return event.lastModifiedAt !== null && than.lastModifiedAt !== null && event.lastModifiedAt < than.lastModifiedAt;
}
