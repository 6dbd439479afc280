import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Parser } from 'xml2js';

/**
 * A stub of Bandwidth's Numbers API over real HTTP, for tests. It speaks the documented shapes
 * (shared/bandwidth/FACTS.md): subscriptions (POST -> 201 + Location, 409 on an existing
 * target, GET lists with the *remaining* Expiry and the last callback <Status>, PUT overwrites,
 * DELETE), order look-ups per type (OrderResponse/OrderStatus, LnpOrderResponse/
 * ProcessingStatus, CsrResponse/Status, ...), notes (204 when none) and history.
 *
 * Failure modes on demand (`fail`): any status (401, 404, 409, 429 with Retry-After, 500) or a
 * slow answer, for the next N matching requests. Wrong API credentials always get 401.
 */

export interface StubFault {
  readonly method?: string;
  /** Matched against the path after /api/accounts/{accountId}. */
  readonly path: RegExp;
  readonly status?: number;
  readonly retryAfter?: string;
  /** Delay before answering (a slow Bandwidth). */
  readonly delayMs?: number;
  /** How many matching requests this fault applies to. */
  readonly times: number;
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly authorization: string | undefined;
  readonly body: string;
}

export interface StubSubscription {
  id: string;
  orderType: string | null;
  orderId: string | null;
  eventType: string | null;
  url: string | null;
  numberFormat: string | null;
  username: string | null;
  password: string | null;
  expirySeconds: number;
  /** When the current expiry started counting (create or PUT). */
  setAt: number;
  /** Last callback result shown in <Status>. */
  status: string | null;
}

export interface StubOrder {
  status: string;
  customerOrderId?: string;
  lastModifiedDate?: string;
  notes?: { id: string; userId: string; description: string; lastDateModifier: string }[];
  history?: { orderDate: string; note: string; author: string; status: string }[];
}

const ROOTS: Record<string, { root: string; status: string }> = {
  orders: { root: 'OrderResponse', status: 'OrderStatus' },
  portins: { root: 'LnpOrderResponse', status: 'ProcessingStatus' },
  portouts: { root: 'LnpOrderResponse', status: 'PortOutStatus' },
  disconnects: { root: 'DisconnectTelephoneNumberOrderResponse', status: 'OrderStatus' },
  lsrorders: { root: 'LsrOrder', status: 'OrderStatus' },
  csrs: { root: 'CsrResponse', status: 'Status' },
};

const escapeXml = (value: string): string =>
  value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const element = (name: string, value: string | number | null | undefined): string =>
  value === null || value === undefined ? '' : `<${name}>${escapeXml(String(value))}</${name}>`;

function errorXml(code: number, description: string): string {
  return `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><ErrorResponse><ResponseStatus><ErrorCode>${code}</ErrorCode><Description>${escapeXml(description)}</Description></ResponseStatus></ErrorResponse>`;
}

type XmlTree = Record<string, unknown>;

function first(node: unknown, ...path: string[]): string | null {
  let current: unknown = node;
  for (const name of path) {
    if (typeof current !== 'object' || current === null) return null;
    const values = (current as XmlTree)[name];
    if (!Array.isArray(values)) return null;
    current = values[0];
  }
  return typeof current === 'string' ? current : null;
}

export class BandwidthStub {
  readonly accountId = '9900001';
  readonly username = 'stub-api-user';
  readonly password = 'stub-api-password-S3cret';
  readonly subscriptions = new Map<string, StubSubscription>();
  /** Keyed by `${pathSegment}/${orderId}`, e.g. `portins/abc`. */
  readonly orders = new Map<string, StubOrder>();
  readonly requests: RecordedRequest[] = [];
  private readonly faults: { fault: StubFault; left: number }[] = [];
  private server: Server | undefined;
  private port = 0;

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}/api`;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        res.statusCode = 500;
        res.end(errorXml(9999, error instanceof Error ? error.message : String(error)));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    this.port = typeof address === 'object' && address !== null ? address.port : 0;
    this.server = server;
    return this;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  fail(fault: StubFault): void {
    this.faults.push({ fault, left: fault.times });
  }

  setOrder(pathSegment: string, orderId: string, order: StubOrder): void {
    this.orders.set(`${pathSegment}/${orderId}`, order);
  }

  requestsTo(method: string, path: RegExp): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && path.test(r.path));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://stub');
    const prefix = `/api/accounts/${this.accountId}`;
    const path = url.pathname.startsWith(prefix) ? url.pathname.slice(prefix.length) : url.pathname;
    const method = req.method ?? 'GET';
    this.requests.push({ method, path, authorization: req.headers.authorization, body });

    const send = (status: number, xml?: string, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { ...(xml !== undefined ? { 'Content-Type': 'application/xml' } : {}), ...headers });
      res.end(xml);
    };

    const expected = `Basic ${Buffer.from(`${this.username}:${this.password}`).toString('base64')}`;
    if (req.headers.authorization !== expected) return send(401, errorXml(401, 'Authentication failed'));

    const active = this.faults.find(
      (f) => f.left > 0 && f.fault.path.test(path) && (f.fault.method === undefined || f.fault.method === method),
    );
    if (active) {
      active.left -= 1;
      const { delayMs, status, retryAfter } = active.fault;
      if (delayMs !== undefined) await new Promise((resolve) => setTimeout(resolve, delayMs));
      if (res.destroyed) return;
      if (status !== undefined) {
        return send(status, errorXml(status, `stub fault ${status}`), retryAfter ? { 'Retry-After': retryAfter } : {});
      }
    }
    if (!url.pathname.startsWith(prefix)) return send(404, errorXml(404, 'unknown account'));

    const subscriptionMatch = /^\/subscriptions(?:\/([^/]+))?$/.exec(path);
    if (subscriptionMatch) return this.subscriptionsRoute(method, subscriptionMatch[1], body, url, send);

    const orderMatch = /^\/([A-Za-z]+)\/([^/]+)(?:\/(notes|history))?$/.exec(path);
    if (orderMatch && method === 'GET') {
      const [, segment = '', orderId = '', sub] = orderMatch;
      const order = this.orders.get(`${segment}/${orderId}`);
      if (!order) return send(404, errorXml(5087, `Order ${orderId} not found`));
      if (sub === 'notes') {
        if (!order.notes || order.notes.length === 0) return send(204);
        return send(
          200,
          `<Notes>${order.notes
            .map(
              (n) =>
                `<Note>${element('Id', n.id)}${element('UserId', n.userId)}${element('Description', n.description)}${element('LastDateModifier', n.lastDateModifier)}</Note>`,
            )
            .join('')}</Notes>`,
        );
      }
      if (sub === 'history') {
        return send(
          200,
          `<OrderHistoryWrapper>${(order.history ?? [])
            .map(
              (h) =>
                `<OrderHistory>${element('OrderDate', h.orderDate)}${element('Note', h.note)}${element('Author', h.author)}${element('Status', h.status)}</OrderHistory>`,
            )
            .join('')}</OrderHistoryWrapper>`,
        );
      }
      const shape = ROOTS[segment] ?? { root: `${segment}Response`, status: 'ProcessingStatus' };
      return send(
        200,
        `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><${shape.root}>${element('CustomerOrderId', order.customerOrderId)}${element('OrderId', orderId)}${element(shape.status, order.status)}${element('LastModifiedDate', order.lastModifiedDate)}</${shape.root}>`,
      );
    }
    return send(404, errorXml(404, `no route ${method} ${path}`));
  }

  private subscriptionXml(s: StubSubscription): string {
    const remaining = Math.max(0, Math.floor(s.expirySeconds - (Date.now() - s.setAt) / 1000));
    return (
      `<Subscription>${element('SubscriptionId', s.id)}${element('OrderType', s.orderType)}${element('OrderId', s.orderId)}${element('EventType', s.eventType)}` +
      `<CallbackSubscription>${element('URL', s.url)}${element('User', s.username)}${element('Expiry', remaining)}${element('Status', s.status)}</CallbackSubscription></Subscription>`
    );
  }

  private async subscriptionsRoute(
    method: string,
    id: string | undefined,
    body: string,
    url: URL,
    send: (status: number, xml?: string, headers?: Record<string, string>) => void,
  ): Promise<void> {
    if (id === undefined && method === 'GET') {
      const orderType = url.searchParams.get('orderType');
      const list = [...this.subscriptions.values()].filter((s) => orderType === null || s.orderType === orderType);
      return send(
        200,
        `<SubscriptionsResponse><Subscriptions>${list.map((s) => this.subscriptionXml(s)).join('')}</Subscriptions></SubscriptionsResponse>`,
      );
    }
    if (id === undefined && method === 'POST') {
      const parsed = await this.parseSubscription(body);
      if (!parsed) return send(400, errorXml(12000, 'invalid subscription'));
      const exists = [...this.subscriptions.values()].some(
        (s) => s.orderType === parsed.orderType && s.orderId === parsed.orderId && s.eventType === parsed.eventType,
      );
      if (exists) return send(409, errorXml(12009, 'A subscription for this target already exists'));
      const subscription = { ...parsed, id: randomUUID() };
      this.subscriptions.set(subscription.id, subscription);
      return send(201, undefined, {
        Location: `${this.baseUrl}/accounts/${this.accountId}/subscriptions/${subscription.id}`,
      });
    }
    const existing = id === undefined ? undefined : this.subscriptions.get(id);
    if (!existing) return send(404, errorXml(12404, `Subscription ${id ?? ''} not found`));
    if (method === 'GET') {
      return send(
        200,
        `<SubscriptionsResponse><Subscriptions>${this.subscriptionXml(existing)}</Subscriptions></SubscriptionsResponse>`,
      );
    }
    if (method === 'PUT') {
      const parsed = await this.parseSubscription(body);
      if (!parsed) return send(400, errorXml(12000, 'invalid subscription'));
      // PUT overwrites the whole subscription; the last callback status stays.
      this.subscriptions.set(existing.id, { ...parsed, id: existing.id, status: existing.status });
      return send(200);
    }
    if (method === 'DELETE') {
      this.subscriptions.delete(existing.id);
      return send(200);
    }
    return send(405, errorXml(405, 'method not allowed'));
  }

  private async parseSubscription(body: string): Promise<Omit<StubSubscription, 'id'> | null> {
    let doc: unknown;
    try {
      doc = await new Parser({ explicitArray: true }).parseStringPromise(body);
    } catch {
      return null;
    }
    const root = (doc as XmlTree | null)?.['Subscription'];
    if (root === undefined) return null;
    const expiry = Number(first(root, 'CallbackSubscription', 'Expiry') ?? 86400);
    return {
      orderType: first(root, 'OrderType'),
      orderId: first(root, 'OrderId'),
      eventType: first(root, 'EventType'),
      url: first(root, 'CallbackSubscription', 'URL'),
      numberFormat: first(root, 'CallbackSubscription', 'NumberFormat'),
      username: first(root, 'CallbackSubscription', 'CallbackCredentials', 'BasicAuthentication', 'Username'),
      password: first(root, 'CallbackSubscription', 'CallbackCredentials', 'BasicAuthentication', 'Password'),
      expirySeconds: expiry,
      setAt: Date.now(),
      status: null,
    };
  }
}

export async function startBandwidthStub(): Promise<BandwidthStub> {
  return new BandwidthStub().start();
}
