/**
 * Where the current status of an order lives, per order type (shared/bandwidth/FACTS.md,
 * "Order status look-ups"): the path segment under /accounts/{accountId}/ and the element
 * that holds the status in the answer. Keys are the `OrderType` values notifications carry.
 *
 * Types without a documented look-up (importVoiceTnOrders, removeImportedVoiceTnOrders,
 * emergencyEndpointGroup, tollfreePortingValidations) are absent: the reconciler skips them
 * rather than guess an endpoint (fail closed: never record a status we did not read).
 */
export interface OrderEndpoint {
  readonly path: string;
  /** Candidate element names for the status, most specific first. */
  readonly statusElements: readonly string[];
}

const PROCESSING_STATUS = ['ProcessingStatus', 'OrderStatus', 'Status'] as const;

export const ORDER_ENDPOINTS: Readonly<Record<string, OrderEndpoint>> = {
  orders: { path: 'orders', statusElements: ['OrderStatus', 'Status'] },
  // Use ProcessingStatus, not history, for the current status of a port-in (history lags).
  portins: { path: 'portins', statusElements: ['ProcessingStatus'] },
  portouts: { path: 'portouts', statusElements: ['PortOutStatus', 'ProcessingStatus'] },
  disconnects: { path: 'disconnects', statusElements: ['OrderStatus', 'ProcessingStatus'] },
  lsrorders: { path: 'lsrorders', statusElements: ['OrderStatus', 'ProcessingStatus'] },
  csrs: { path: 'csrs', statusElements: ['Status', 'OrderStatus'] },
  tnoptions: { path: 'tnoptions', statusElements: PROCESSING_STATUS },
  e911s: { path: 'e911s', statusElements: PROCESSING_STATUS },
  dldas: { path: 'dldas', statusElements: PROCESSING_STATUS },
  lidb: { path: 'lidbs', statusElements: PROCESSING_STATUS },
  importtnorders: { path: 'importTnOrders', statusElements: PROCESSING_STATUS },
  removeImportedTnOrders: { path: 'removeImportedTnOrders', statusElements: PROCESSING_STATUS },
  externalTns: { path: 'externalTns', statusElements: PROCESSING_STATUS },
  bulkPortins: { path: 'bulkPortins', statusElements: PROCESSING_STATUS },
  emergencyNotificationGroup: { path: 'emergencyNotificationGroupOrders', statusElements: PROCESSING_STATUS },
};

export function orderEndpointOf(orderType: string): OrderEndpoint | undefined {
  return Object.prototype.hasOwnProperty.call(ORDER_ENDPOINTS, orderType) ? ORDER_ENDPOINTS[orderType] : undefined;
}

/** Order types whose status can be looked up (for SQL filters). */
export const RECONCILABLE_ORDER_TYPES: readonly string[] = Object.keys(ORDER_ENDPOINTS);
