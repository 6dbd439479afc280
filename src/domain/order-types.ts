/**
 * Bandwidth order types and the states they notify (shared/bandwidth/ORDER_TYPES.md), as data
 * in one place. Unknown types and states are accepted everywhere; this table only tells
 * whether something is known and whether a state is terminal.
 */

export interface OrderTypeDefinition {
  /** States Bandwidth documents (or is seen to send) for this type. */
  readonly states: readonly string[];
  /** States after which the order never changes again. */
  readonly terminal: readonly string[];
}

export const ORDER_TYPES = {
  portins: {
    states: [
      'PENDING_DOCUMENTS',
      'SUBMITTED',
      'FOC',
      'REQUESTED_SUPP',
      'EXCEPTION',
      'SNAPBACK',
      'REQUESTED_CANCEL',
      'COMPLETE',
      'CANCELLED',
    ],
    terminal: ['COMPLETE', 'CANCELLED'],
  },
  orders: {
    states: ['SUBMITTED', 'BACKORDERED', 'PARTIAL', 'COMPLETE', 'FAILED'],
    terminal: ['PARTIAL', 'COMPLETE', 'FAILED'],
  },
  portouts: { states: ['COMPLETE'], terminal: ['COMPLETE'] },
  disconnects: { states: ['COMPLETE', 'PARTIAL', 'FAILED'], terminal: ['COMPLETE', 'PARTIAL', 'FAILED'] },
  dldas: {
    states: ['RECEIVED', 'PROCESSING', 'COMPLETE', 'PARTIAL', 'FAILED'],
    terminal: ['COMPLETE', 'PARTIAL', 'FAILED'],
  },
  lsrorders: {
    states: ['PENDING', 'FOC', 'EXCEPTION', 'COMPLETE', 'CANCELLED', 'PARTIAL', 'FAILED'],
    terminal: ['COMPLETE', 'CANCELLED', 'PARTIAL', 'FAILED'],
  },
  e911s: {
    states: ['RECEIVED', 'PROCESSING', 'COMPLETE', 'ADJUSTED_COMPLETE', 'PARTIAL', 'ADJUSTED_PARTIAL', 'FAILED'],
    terminal: ['COMPLETE', 'ADJUSTED_COMPLETE', 'PARTIAL', 'ADJUSTED_PARTIAL', 'FAILED'],
  },
  tnoptions: {
    states: ['RECEIVED', 'PROCESSING', 'COMPLETE', 'PARTIAL', 'FAILED'],
    terminal: ['COMPLETE', 'PARTIAL', 'FAILED'],
  },
  externalTns: { states: ['COMPLETE', 'PARTIAL', 'FAILED'], terminal: ['COMPLETE', 'PARTIAL', 'FAILED'] },
  lidb: { states: ['PROCESSING', 'COMPLETE', 'PARTIAL', 'FAILED'], terminal: ['COMPLETE', 'PARTIAL', 'FAILED'] },
  bulkPortins: {
    states: [
      'DRAFT',
      'VALID_DRAFT_TNS',
      'INVALID_DRAFT_TNS',
      'IN_PROGRESS',
      'NEEDS_ATTENTION',
      'PARTIAL',
      'COMPLETED',
      'CANCELLED',
    ],
    terminal: ['PARTIAL', 'COMPLETED', 'CANCELLED'],
  },
  importtnorders: {
    states: ['PROCESSING', 'COMPLETE', 'PARTIAL', 'FAILED', 'EXCEPTION'],
    terminal: ['COMPLETE', 'PARTIAL', 'FAILED'],
  },
  importVoiceTnOrders: {
    states: ['COMPLETE', 'PARTIAL', 'FAILED', 'EXCEPTION'],
    terminal: ['COMPLETE', 'PARTIAL', 'FAILED'],
  },
  removeImportedTnOrders: {
    states: ['PROCESSING', 'COMPLETE', 'PARTIAL', 'FAILED'],
    terminal: ['COMPLETE', 'PARTIAL', 'FAILED'],
  },
  removeImportedVoiceTnOrders: {
    states: ['PROCESSING', 'COMPLETE', 'PARTIAL', 'FAILED'],
    terminal: ['COMPLETE', 'PARTIAL', 'FAILED'],
  },
  emergencyNotificationGroup: { states: ['COMPLETE', 'FAILED'], terminal: ['COMPLETE', 'FAILED'] },
  emergencyEndpointGroup: { states: ['COMPLETE', 'FAILED'], terminal: ['COMPLETE', 'FAILED'] },
  csrs: { states: ['COMPLETE', 'FAILED', 'ACTION_REQUIRED'], terminal: ['COMPLETE', 'FAILED'] },
  tollfreePortingValidations: { states: [], terminal: [] },
} as const satisfies Record<string, OrderTypeDefinition>;

export type KnownOrderType = keyof typeof ORDER_TYPES;

/** Account event types (no order). */
export const EVENT_TYPES = ['MESSAGING_LOST', 'ADDRESS_STATUS_CHANGED'] as const;

/**
 * States that end an order whatever its type. Used for unknown order types so that a late
 * non-terminal event still cannot overwrite what is obviously a final state.
 */
const GENERIC_TERMINAL = new Set(['COMPLETE', 'COMPLETED', 'CANCELLED', 'FAILED', 'PARTIAL']);

function definitionOf(orderType: string): OrderTypeDefinition | undefined {
  return Object.prototype.hasOwnProperty.call(ORDER_TYPES, orderType)
    ? ORDER_TYPES[orderType as KnownOrderType]
    : undefined;
}

export function isKnownOrderType(orderType: string): boolean {
  return definitionOf(orderType) !== undefined;
}

export function isKnownState(orderType: string, status: string): boolean {
  const definition = definitionOf(orderType);
  return definition !== undefined && definition.states.includes(status);
}

export function isKnownEventType(eventType: string): boolean {
  return (EVENT_TYPES as readonly string[]).includes(eventType);
}

export function isTerminalState(orderType: string, status: string | null | undefined): boolean {
  if (!status) return false;
  const definition = definitionOf(orderType);
  if (definition === undefined) return GENERIC_TERMINAL.has(status);
  return definition.terminal.includes(status);
}

/** Which part of a notification is not in the table (a metric label and an API flag). */
export type UnknownField = 'order_type' | 'status' | 'event_type';

/**
 * Fails open: an unknown value is reported here and the notification is still stored and
 * dispatched. A notification with neither OrderType nor EventType cannot be classified and
 * counts as an unknown order type; so does the documentation's `<OrderType>OrderId</OrderType>`.
 */
export function unknownFieldOf(n: {
  readonly orderType: string | null;
  readonly status: string | null;
  readonly eventType: string | null;
}): UnknownField | null {
  if (n.orderType !== null) {
    if (!isKnownOrderType(n.orderType)) return 'order_type';
    return n.status !== null && !isKnownState(n.orderType, n.status) ? 'status' : null;
  }
  if (n.eventType !== null) return isKnownEventType(n.eventType) ? null : 'event_type';
  return 'order_type';
}
