import type { Logger } from 'winston';

/**
 * What a handler sees of one stored notification. Built from the `notifications` row, so a
 * replay or a reconcile result looks exactly like a callback. Dates are ISO 8601 strings:
 * this is also the JSON the http-forward handler sends.
 */
export interface DispatchedNotification {
  /** notifications.id (the receipt id). */
  readonly id: string;
  readonly source: DispatchSource;
  readonly receivedAt: string;
  readonly accountId: string | null;
  readonly subscriptionId: string | null;
  readonly orderId: string | null;
  readonly orderType: string | null;
  readonly eventType: string | null;
  readonly status: string | null;
  readonly customerOrderId: string | null;
  readonly message: string | null;
  readonly errorCode: string | null;
  readonly note: string | null;
  readonly lastModifiedAt: string | null;
  readonly actualFocDate: string | null;
  readonly telephoneNumbers: readonly string[];
  readonly known: boolean;
}

/** Why a notification is dispatched: first arrival, a reconcile result, or an operator's replay. */
export type DispatchSource = 'callback' | 'reconcile' | 'replay';

/** The stored order a notification belongs to (its current state when the handler runs). */
export interface DispatchedOrder {
  readonly orderId: string;
  readonly orderType: string;
  readonly customerOrderId: string | null;
  readonly status: string | null;
  readonly isTerminal: boolean;
  readonly lastModifiedAt: string | null;
  readonly actualFocDate: string | null;
  readonly firstSeenAt: string;
  readonly lastEventAt: string;
  readonly eventCount: number;
  readonly telephoneNumbers: readonly string[];
  readonly accountId: string | null;
}

export interface HandlerContext {
  /** handler_deliveries.id: the same on every attempt of this delivery (use it to deduplicate). */
  readonly deliveryId: string;
  /** 1 on the first attempt; counts every attempt of this delivery, operator retries included. */
  readonly attempt: number;
  readonly order: DispatchedOrder | null;
  /** Already tagged with the handler name and delivery id. */
  readonly logger: Logger;
  /** Aborted on the handler's timeout or when the worker shuts down: stop and return. */
  readonly signal: AbortSignal;
}

/**
 * Expected outcomes are values (STYLE 4): `retry` is retried with the handler's backoff and
 * dead-lettered after its last attempt; `reject` is dead at once (retrying cannot help, e.g.
 * a 400 from the receiver). A thrown error counts as `retry`.
 */
export type HandlerOutcome =
  | { readonly kind: 'delivered'; readonly detail?: string }
  | { readonly kind: 'retry'; readonly reason: string }
  | { readonly kind: 'reject'; readonly reason: string };

/** Which notifications a handler wants. An absent list matches everything. */
export interface HandlerMatch {
  readonly orderTypes?: readonly string[];
  readonly statuses?: readonly string[];
  readonly eventTypes?: readonly string[];
  /** true: only notifications carrying a note; false: only those without one. */
  readonly notes?: boolean;
}

export interface Handler {
  readonly name: string;
  handle(notification: DispatchedNotification, ctx: HandlerContext): Promise<HandlerOutcome>;
}

/** What a handler module gets to build its handler: its config entry and shared services. */
export interface HandlerFactoryInput {
  readonly name: string;
  /** The config entry without the generic keys (name, type, module, match, retry). */
  readonly options: Readonly<Record<string, unknown>>;
  readonly logger: Logger;
}

/**
 * A custom handler module exports `createHandler` (or a default export) of this type; it may
 * throw to refuse bad options (start-up stops with its message).
 */
export type HandlerFactory = (input: HandlerFactoryInput) => Handler | Promise<Handler>;
