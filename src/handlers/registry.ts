import type { Handler, HandlerMatch } from './types';

export interface RetryPolicy {
  /** Total attempts, the first included. */
  readonly attempts: number;
  /** Base delay of the exponential backoff (doubles each attempt, +-50% jitter). */
  readonly backoffMs: number;
}

export interface RegisteredHandler {
  readonly handler: Handler;
  readonly match: HandlerMatch;
  readonly retry: RetryPolicy;
  /** The worker aborts the handler's signal after this long (the attempt then counts as failed). */
  readonly timeoutMs: number;
}

/** The fields `match` looks at. */
export interface MatchSubject {
  readonly orderType: string | null;
  readonly status: string | null;
  readonly eventType: string | null;
  readonly note: string | null;
}

/**
 * A handler's subscription. Absent lists match everything; a present list must contain the
 * notification's value (case-insensitive: Bandwidth's casing of order types varies).
 */
export function matches(match: HandlerMatch, n: MatchSubject): boolean {
  const inList = (list: readonly string[] | undefined, value: string | null): boolean =>
    list === undefined || (value !== null && list.some((v) => v.toLowerCase() === value.toLowerCase()));
  return (
    inList(match.orderTypes, n.orderType) &&
    inList(match.statuses, n.status) &&
    inList(match.eventTypes, n.eventType) &&
    (match.notes === undefined || match.notes === (n.note !== null))
  );
}

export interface HandlerRegistry {
  /** In config order. */
  readonly all: readonly RegisteredHandler[];
  get(name: string): RegisteredHandler | undefined;
  /** The handlers whose `match` accepts this notification. */
  subscribers(n: MatchSubject): RegisteredHandler[];
}

export function createHandlerRegistry(handlers: readonly RegisteredHandler[]): HandlerRegistry {
  const byName = new Map<string, RegisteredHandler>();
  for (const h of handlers) {
    if (byName.has(h.handler.name)) throw new Error(`two handlers are named "${h.handler.name}"`);
    byName.set(h.handler.name, h);
  }
  return {
    all: handlers,
    get: (name) => byName.get(name),
    subscribers: (n) => handlers.filter((h) => matches(h.match, n)),
  };
}
