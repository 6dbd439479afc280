import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'winston';
import type { NumberFormat } from '../config/bandwidth';
import { orderEndpointOf } from './order-endpoints';
import type { XmlNode } from './xml';
import { buildXml, childText, children, findAll, findText, parseXml } from './xml';

/**
 * Typed client of Bandwidth's Numbers API ("Dashboard"/"Iris"): subscriptions, order status
 * look-ups, notes and history. XML in and out, Basic auth, a timeout per attempt, and retries
 * with exponential backoff (and Retry-After) on 429, 5xx, timeouts and network errors.
 *
 * Never logs credentials: not the API password, not the Authorization header, and not the
 * body of a subscription request (it carries our callback password).
 */

export interface BandwidthClientOptions {
  readonly baseUrl: string;
  readonly accountId: string;
  readonly username: string;
  readonly password: string;
  readonly timeoutMs: number;
  readonly maxAttempts: number;
  readonly retryBaseDelayMs: number;
  readonly logger: Logger;
  /** Called once per HTTP attempt (metrics). */
  readonly onAttempt?: (operation: string, outcome: string) => void;
}

export type BandwidthErrorKind =
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'rate_limited'
  | 'server_error'
  | 'client_error'
  | 'timeout'
  | 'network'
  | 'bad_response'
  | 'unsupported';

/** A failed call, after retries. The message says what failed and why, without secrets. */
export class BandwidthApiError extends Error {
  constructor(
    readonly kind: BandwidthErrorKind,
    readonly operation: string,
    readonly status: number | null,
    readonly attempts: number,
    readonly bandwidthCode: string | null,
    detail: string,
  ) {
    super(
      `Bandwidth API ${operation} failed: ${kind}${status !== null ? ` (HTTP ${status})` : ''}` +
        `${bandwidthCode !== null ? ` [${bandwidthCode}]` : ''} after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${detail}`,
    );
    this.name = 'BandwidthApiError';
  }

  get retryable(): boolean {
    return ['rate_limited', 'server_error', 'timeout', 'network'].includes(this.kind);
  }
}

export interface CallbackCredentials {
  readonly username: string;
  readonly password: string;
}

/** What a subscription targets: one order type, one event type, or one order. */
export type SubscriptionTarget =
  | { readonly orderType: string; readonly orderId?: string | undefined; readonly eventType?: undefined }
  | { readonly eventType: string; readonly orderType?: undefined; readonly orderId?: undefined };

export interface CallbackSubscriptionSpec {
  readonly target: SubscriptionTarget;
  readonly url: string;
  readonly expirySeconds: number;
  readonly numberFormat: NumberFormat;
  readonly credentials: CallbackCredentials | undefined;
}

export interface RemoteSubscription {
  readonly id: string;
  readonly orderType: string | null;
  readonly orderId: string | null;
  readonly eventType: string | null;
  readonly callbackUrl: string | null;
  /** Seconds remaining before the subscription expires (as Bandwidth reports it). */
  readonly expirySecondsRemaining: number | null;
  /** Last callback result, e.g. `200 OK`. */
  readonly lastStatus: string | null;
  readonly email: string | null;
}

export interface OrderStatusLookup {
  readonly orderType: string;
  readonly orderId: string;
  readonly status: string;
  readonly customerOrderId: string | null;
  readonly lastModifiedAt: Date | null;
  /** The answer body as Bandwidth returned it. */
  readonly body: string;
}

export interface OrderNoteEntry {
  readonly id: string | null;
  readonly userId: string | null;
  readonly description: string;
  readonly lastModifiedAt: Date | null;
}

export interface OrderHistoryEntry {
  readonly orderDate: Date | null;
  readonly status: string | null;
  readonly note: string | null;
  readonly author: string | null;
}

export interface BandwidthClient {
  readonly accountId: string;
  listSubscriptions(filter?: { orderType?: string; orderId?: string }): Promise<RemoteSubscription[]>;
  /** Null when Bandwidth has no such subscription (404). */
  getSubscription(id: string): Promise<RemoteSubscription | null>;
  /** Returns the new id, read from the `Location` header. 409 -> BandwidthApiError `conflict`. */
  createSubscription(spec: CallbackSubscriptionSpec): Promise<string>;
  /** PUT overwrites the whole subscription: every field is sent again. */
  updateSubscription(id: string, spec: CallbackSubscriptionSpec): Promise<void>;
  deleteSubscription(id: string): Promise<'deleted' | 'not_found'>;
  /** Null when Bandwidth does not know the order (404). */
  getOrderStatus(orderType: string, orderId: string): Promise<OrderStatusLookup | null>;
  getOrderNotes(orderType: string, orderId: string): Promise<OrderNoteEntry[]>;
  getOrderHistory(orderType: string, orderId: string): Promise<OrderHistoryEntry[]>;
}

interface RawResponse {
  readonly status: number;
  readonly location: string | null;
  readonly text: string;
}

const MAX_RETRY_AFTER_MS = 60_000;

function hasName(value: unknown): value is { name: unknown } {
  return typeof value === 'object' && value !== null && 'name' in value;
}

function parseDate(value: string | null): Date | null {
  if (value === null) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** Retry-After in seconds or as an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, MAX_RETRY_AFTER_MS);
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.min(Math.max(0, at - now), MAX_RETRY_AFTER_MS);
}

function kindOfStatus(status: number): BandwidthErrorKind {
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not_found';
  if (status === 409) return 'conflict';
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'server_error';
  return 'client_error';
}

function subscriptionXml(spec: CallbackSubscriptionSpec): string {
  const target = spec.target;
  return buildXml('Subscription', {
    OrderType: target.orderType,
    OrderId: target.orderId,
    EventType: target.eventType,
    CallbackSubscription: {
      URL: spec.url,
      Expiry: spec.expirySeconds,
      NumberFormat: spec.numberFormat,
      CallbackCredentials: spec.credentials
        ? { BasicAuthentication: { Username: spec.credentials.username, Password: spec.credentials.password } }
        : undefined,
    },
  });
}

function toRemoteSubscription(node: XmlNode): RemoteSubscription | null {
  const id = childText(node, 'SubscriptionId');
  if (id === null) return null;
  const callback = children(node, 'CallbackSubscription')[0];
  const email = children(node, 'EmailSubscription')[0];
  const expiry = callback ? childText(callback, 'Expiry') : null;
  const expiryNumber = expiry === null ? NaN : Number(expiry);
  return {
    id,
    orderType: childText(node, 'OrderType'),
    orderId: childText(node, 'OrderId'),
    eventType: childText(node, 'EventType'),
    callbackUrl: callback ? childText(callback, 'URL') : null,
    expirySecondsRemaining: Number.isFinite(expiryNumber) ? Math.max(0, Math.floor(expiryNumber)) : null,
    // Documented inside CallbackSubscription; tolerate it one level up too.
    lastStatus: (callback ? childText(callback, 'Status') : null) ?? childText(node, 'Status'),
    email: email ? childText(email, 'Email') : null,
  };
}

export function createBandwidthClient(options: BandwidthClientOptions): BandwidthClient {
  const { logger } = options;
  const authorization = `Basic ${Buffer.from(`${options.username}:${options.password}`).toString('base64')}`;
  const accountPath = `/accounts/${encodeURIComponent(options.accountId)}`;
  const segment = encodeURIComponent;

  async function call(operation: string, method: string, path: string, body?: string): Promise<RawResponse> {
    const url = `${options.baseUrl}${accountPath}${path}`;
    let lastError: BandwidthApiError | undefined;
    for (let attempt = 1; attempt <= options.maxAttempts; attempt++) {
      let waitMs: number | undefined;
      try {
        const response = await fetch(url, {
          method,
          headers: {
            Authorization: authorization,
            Accept: 'application/xml',
            ...(body !== undefined ? { 'Content-Type': 'application/xml; charset=utf-8' } : {}),
          },
          body,
          signal: AbortSignal.timeout(options.timeoutMs),
          redirect: 'error',
        });
        const text = await response.text();
        if (response.status < 400) {
          options.onAttempt?.(operation, 'ok');
          logger.debug('bandwidth api call', { operation, method, path, status: response.status, attempt });
          return { status: response.status, location: response.headers.get('location'), text };
        }
        const kind = kindOfStatus(response.status);
        options.onAttempt?.(operation, kind);
        const document = await parseXml(text);
        const code = document ? findText(document.root, ['ErrorCode', 'Code']) : null;
        const description = document ? findText(document.root, ['Description', 'Message']) : null;
        lastError = new BandwidthApiError(
          kind,
          operation,
          response.status,
          attempt,
          code,
          description ?? (response.statusText || 'no description'),
        );
        if (kind !== 'rate_limited' && kind !== 'server_error') throw lastError;
        waitMs = retryAfterMs(response.headers.get('retry-after'));
      } catch (error: unknown) {
        if (error instanceof BandwidthApiError) throw error;
        // Duck-typed: fetch's DOMException is not always an `instanceof Error` (other realms).
        const name = hasName(error) ? String(error.name) : '';
        const timedOut = name === 'TimeoutError' || name === 'AbortError';
        const kind: BandwidthErrorKind = timedOut ? 'timeout' : 'network';
        options.onAttempt?.(operation, kind);
        const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
        lastError = new BandwidthApiError(
          kind,
          operation,
          null,
          attempt,
          null,
          timedOut
            ? `no answer within ${options.timeoutMs} ms`
            : `${error instanceof Error ? error.message : String(error)}${cause}`,
        );
      }
      if (attempt < options.maxAttempts) {
        // Exponential backoff with full jitter on the upper half; Retry-After wins when sent.
        const exponential = options.retryBaseDelayMs * 2 ** (attempt - 1);
        const delay = waitMs ?? exponential / 2 + Math.random() * (exponential / 2);
        logger.warn('bandwidth api call failed; retrying', {
          operation,
          method,
          path,
          attempt,
          kind: lastError.kind,
          status: lastError.status,
          retryInMs: Math.round(delay),
        });
        await sleep(delay);
      }
    }
    // Unreachable with maxAttempts >= 1, but keeps the types honest.
    throw lastError ?? new BandwidthApiError('network', operation, null, 0, null, 'no attempt made');
  }

  async function document(operation: string, text: string): Promise<XmlNode> {
    const parsed = await parseXml(text);
    if (parsed === null) throw new BandwidthApiError('bad_response', operation, null, 1, null, 'answer is not XML');
    return parsed.root;
  }

  async function orNull<T>(promise: Promise<T>): Promise<T | null> {
    try {
      return await promise;
    } catch (error: unknown) {
      if (error instanceof BandwidthApiError && error.kind === 'not_found') return null;
      throw error;
    }
  }

  function endpoint(operation: string, orderType: string): string {
    const found = orderEndpointOf(orderType);
    if (found === undefined) {
      throw new BandwidthApiError('unsupported', operation, null, 0, null, `no look-up endpoint for "${orderType}"`);
    }
    return found.path;
  }

  return {
    accountId: options.accountId,

    async listSubscriptions(filter = {}) {
      const query = new URLSearchParams();
      if (filter.orderType) query.set('orderType', filter.orderType);
      if (filter.orderId) query.set('orderId', filter.orderId);
      const suffix = query.toString() !== '' ? `?${query.toString()}` : '';
      const response = await call('subscriptions.list', 'GET', `/subscriptions${suffix}`);
      const root = await document('subscriptions.list', response.text);
      return findAll(root, 'Subscription')
        .map(toRemoteSubscription)
        .filter((s): s is RemoteSubscription => s !== null);
    },

    async getSubscription(id) {
      const response = await orNull(call('subscriptions.get', 'GET', `/subscriptions/${segment(id)}`));
      if (response === null) return null;
      const root = await document('subscriptions.get', response.text);
      const node = findAll(root, 'Subscription')[0];
      return node ? toRemoteSubscription(node) : null;
    },

    async createSubscription(spec) {
      const response = await call('subscriptions.create', 'POST', '/subscriptions', subscriptionXml(spec));
      const id = response.location
        ?.split('/')
        .filter((part) => part !== '')
        .pop();
      if (!id) {
        throw new BandwidthApiError(
          'bad_response',
          'subscriptions.create',
          response.status,
          1,
          null,
          'no Location header',
        );
      }
      return decodeURIComponent(id);
    },

    async updateSubscription(id, spec) {
      await call('subscriptions.update', 'PUT', `/subscriptions/${segment(id)}`, subscriptionXml(spec));
    },

    async deleteSubscription(id) {
      const response = await orNull(call('subscriptions.delete', 'DELETE', `/subscriptions/${segment(id)}`));
      return response === null ? 'not_found' : 'deleted';
    },

    async getOrderStatus(orderType, orderId) {
      const operation = 'orders.status';
      const path = endpoint(operation, orderType);
      const response = await orNull(call(operation, 'GET', `/${path}/${segment(orderId)}`));
      if (response === null) return null;
      const root = await document(operation, response.text);
      const statusElements = orderEndpointOf(orderType)?.statusElements ?? [];
      // PortOutStatus may be a wrapper element: then its own status child is the answer.
      const status = findText(root, statusElements) ?? findText(root, ['ProcessingStatus', 'Status']);
      if (status === null) {
        throw new BandwidthApiError(
          'bad_response',
          operation,
          response.status,
          1,
          null,
          `no status in ${orderType} answer`,
        );
      }
      return {
        orderType,
        orderId,
        status,
        customerOrderId: findText(root, ['CustomerOrderId']),
        lastModifiedAt: parseDate(findText(root, ['LastModifiedDate'])),
        body: response.text,
      };
    },

    async getOrderNotes(orderType, orderId) {
      const operation = 'orders.notes';
      const response = await call(operation, 'GET', `/${endpoint(operation, orderType)}/${segment(orderId)}/notes`);
      if (response.status === 204 || response.text.trim() === '') return [];
      const root = await document(operation, response.text);
      return findAll(root, 'Note').flatMap((note) => {
        const description = childText(note, 'Description');
        if (description === null) return [];
        return [
          {
            id: childText(note, 'Id'),
            userId: childText(note, 'UserId'),
            description,
            lastModifiedAt: parseDate(childText(note, 'LastDateModifier')),
          },
        ];
      });
    },

    async getOrderHistory(orderType, orderId) {
      const operation = 'orders.history';
      const response = await call(operation, 'GET', `/${endpoint(operation, orderType)}/${segment(orderId)}/history`);
      const root = await document(operation, response.text);
      return findAll(root, 'OrderHistory').map((entry) => ({
        orderDate: parseDate(childText(entry, 'OrderDate')),
        status: childText(entry, 'Status'),
        note: childText(entry, 'Note'),
        author: childText(entry, 'Author'),
      }));
    },
  };
}
