/**
 * The OpenAPI 3.1 document of the whole HTTP surface, served at GET /api/v1/openapi.json.
 * One module on purpose: other routes (dead letters, replay, ...) append their paths to
 * `OPENAPI_PATHS` and their schemas to `OPENAPI_SCHEMAS`. The tests validate real responses
 * against these schemas (ajv, JSON Schema 2020-12), so a drift fails CI.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const nullable = (type: string, extra: JsonObject = {}): JsonObject => ({ type: [type, 'null'], ...extra });
const ref = (name: string): JsonObject => ({ $ref: `#/components/schemas/${name}` });
const isoDate = (nullableValue: boolean): JsonObject =>
  nullableValue ? nullable('string', { format: 'date-time' }) : { type: 'string', format: 'date-time' };

const closed = (properties: JsonObject, required = Object.keys(properties)): JsonObject => ({
  type: 'object',
  additionalProperties: false,
  required,
  properties,
});

const ORDER_PROPERTIES: JsonObject = {
  orderId: { type: 'string' },
  orderType: { type: 'string', description: 'Bandwidth order type (portins, orders, disconnects, ...)' },
  customerOrderId: nullable('string'),
  status: nullable('string', { description: 'Current status; null when only notes were received' }),
  isTerminal: { type: 'boolean' },
  known: { type: 'boolean', description: 'False when the order type or a state is not in the known table' },
  lastModifiedAt: isoDate(true),
  actualFocDate: isoDate(true),
  firstSeenAt: isoDate(false),
  lastEventAt: isoDate(false),
  eventCount: { type: 'integer', minimum: 0 },
  telephoneNumbers: { type: 'array', items: { type: 'string' } },
  accountId: nullable('string'),
};

const NOTIFICATION_PROPERTIES: JsonObject = {
  id: { type: 'string', format: 'uuid' },
  receivedAt: isoDate(false),
  processedAt: isoDate(true),
  outcome: { type: 'string', enum: ['accepted', 'duplicate'] },
  duplicateOf: nullable('string', { format: 'uuid' }),
  accountId: nullable('string'),
  remoteAddress: nullable('string'),
  subscriptionId: nullable('string'),
  orderId: nullable('string'),
  orderType: nullable('string'),
  eventType: nullable('string'),
  status: nullable('string'),
  customerOrderId: nullable('string'),
  message: nullable('string'),
  errorCode: nullable('string'),
  note: nullable('string'),
  lastModifiedAt: isoDate(true),
  actualFocDate: isoDate(true),
  telephoneNumbers: { type: 'array', items: { type: 'string' } },
  known: { type: 'boolean' },
};

const QUARANTINED_PROPERTIES: JsonObject = {
  id: { type: 'string', format: 'uuid' },
  receivedAt: isoDate(false),
  accountId: nullable('string'),
  remoteAddress: nullable('string'),
  reason: { type: 'string' },
  releasedAt: isoDate(true),
  sizeBytes: { type: 'integer', minimum: 0 },
};

export const OPENAPI_SCHEMAS: Record<string, JsonObject> = {
  SecuritySettings: closed({
    callbackAuth: closed({ enabled: { type: 'boolean' }, credentialPairs: { type: 'integer', minimum: 0 } }),
    callbackAllowedCidrs: { type: 'array', items: { type: 'string' } },
    trustProxy: { type: ['boolean', 'integer', 'string'] },
    rateLimits: closed({
      windowMs: { type: 'integer' },
      callback: { type: 'integer', minimum: 0 },
      api: { type: 'integer', minimum: 0 },
    }),
    apiKeys: {
      type: 'array',
      items: closed({ name: { type: 'string' }, scope: { type: 'string', enum: ['read', 'admin'] } }),
    },
  }),
  DeadLetter: closed({
    id: { type: 'string', format: 'uuid', description: 'Delivery id (also sent as X-Webhook-Id)' },
    notificationId: { type: 'string', format: 'uuid' },
    handler: { type: 'string' },
    source: { type: 'string', enum: ['callback', 'reconcile', 'replay'] },
    orderId: nullable('string'),
    attempts: { type: 'integer', minimum: 0 },
    retries: { type: 'integer', minimum: 0 },
    lastError: nullable('string'),
    createdAt: isoDate(false),
    lastAttemptAt: isoDate(true),
    finishedAt: isoDate(true),
  }),
  DeadLetterList: closed({
    data: { type: 'array', items: ref('DeadLetter') },
    nextCursor: nullable('string'),
  }),
  DeadLetterRetry: closed({
    id: { type: 'string', format: 'uuid' },
    handler: { type: 'string' },
    status: { type: 'string', enum: ['pending'] },
  }),
  ReplayResult: closed({
    notifications: { type: 'integer', minimum: 0 },
    deliveries: { type: 'integer', minimum: 0 },
  }),
  Error: closed({
    error: closed(
      {
        code: { type: 'string' },
        message: { type: 'string' },
        requestId: { type: 'string' },
        parameter: { type: 'string', description: 'On 400 invalid_parameter: the (first) offending parameter' },
      },
      ['code', 'message', 'requestId'],
    ),
  }),
  Order: closed(ORDER_PROPERTIES),
  StatusEvent: closed({
    id: { type: 'string', description: 'Numeric id (string: 64-bit)' },
    status: nullable('string'),
    previousStatus: nullable('string'),
    message: nullable('string'),
    errorCode: nullable('string', { description: 'Numeric prefix of Message, e.g. 5005' }),
    note: nullable('string'),
    subscriptionId: nullable('string'),
    telephoneNumbers: { type: 'array', items: { type: 'string' } },
    lastModifiedAt: isoDate(true),
    receivedAt: isoDate(false),
    applied: { type: 'boolean', description: 'False when the event arrived out of order and did not change status' },
    source: { type: 'string', enum: ['callback', 'reconcile', 'replay'] },
    notificationId: nullable('string', { format: 'uuid' }),
  }),
  Note: closed({
    id: { type: 'string' },
    note: { type: 'string' },
    lastModifiedAt: isoDate(true),
    receivedAt: isoDate(false),
    eventId: nullable('string'),
  }),
  OrderDetail: closed({
    ...ORDER_PROPERTIES,
    history: { type: 'array', items: ref('StatusEvent'), description: 'Oldest first' },
    notes: { type: 'array', items: ref('Note') },
  }),
  OrderPage: closed({
    data: { type: 'array', items: ref('Order') },
    nextCursor: nullable('string'),
  }),
  History: closed({ data: { type: 'array', items: ref('StatusEvent') } }),
  TelephoneNumberOrders: closed({
    telephoneNumber: { type: 'string', description: 'The number in E.164' },
    data: { type: 'array', items: ref('Order') },
    events: {
      type: 'array',
      items: ref('Notification'),
      description: 'Notifications without an order (account events such as MESSAGING_LOST) naming this number',
    },
  }),
  Notification: closed(NOTIFICATION_PROPERTIES),
  NotificationDetail: closed({
    ...NOTIFICATION_PROPERTIES,
    headers: { type: 'object', additionalProperties: { type: 'string' } },
    body: { type: 'string', description: 'The raw XML as received' },
  }),
  NotificationPage: closed({
    data: { type: 'array', items: ref('Notification') },
    nextCursor: nullable('string'),
  }),
  Stats: closed({
    orders: closed({
      total: { type: 'integer', minimum: 0 },
      byTypeAndStatus: {
        type: 'array',
        items: closed({
          orderType: { type: 'string' },
          status: nullable('string'),
          isTerminal: { type: 'boolean' },
          count: { type: 'integer', minimum: 0 },
        }),
      },
    }),
    notifications: closed({
      byOutcome: { type: 'object', additionalProperties: { type: 'integer', minimum: 0 } },
    }),
    queue: nullable('object', { additionalProperties: { type: 'integer', minimum: 0 } }),
    deadLetters: { type: 'integer', minimum: 0 },
    quarantinedPending: { type: 'integer', minimum: 0 },
  }),
  Quarantined: closed(QUARANTINED_PROPERTIES),
  QuarantinedDetail: closed({
    ...QUARANTINED_PROPERTIES,
    headers: { type: 'object', additionalProperties: { type: 'string' } },
    body: { type: 'string' },
    bodyBase64: { type: 'string', contentEncoding: 'base64' },
  }),
  QuarantinedList: closed({ data: { type: 'array', items: ref('Quarantined') } }),
  ReleaseResult: closed({
    id: { type: 'string', format: 'uuid' },
    receiptId: { type: 'string', format: 'uuid' },
    status: { type: 'string', enum: ['released'] },
  }),
};

const json = (schema: JsonObject, description: string): JsonObject => ({
  description,
  content: { 'application/json': { schema } },
});
const text = (description: string): JsonObject => ({
  description,
  content: { 'text/plain': { schema: { type: 'string' } } },
});
const errorResponse = (description: string): JsonObject => json(ref('Error'), description);

const query = (name: string, schema: JsonObject, description: string): JsonObject => ({
  name,
  in: 'query',
  required: false,
  schema,
  description,
});
const pathParam = (name: string, description: string, schema: JsonObject = { type: 'string' }): JsonObject => ({
  name,
  in: 'path',
  required: true,
  schema,
  description,
});

const LIMIT = query('limit', { type: 'integer', minimum: 1, maximum: 500, default: 50 }, 'Page size');
const CURSOR = query('cursor', { type: 'string' }, 'nextCursor of the previous page (opaque)');
const READ_ERRORS: JsonObject = {
  '400': errorResponse('A query parameter is invalid (the message names it)'),
  '401': errorResponse('Missing or invalid API key'),
};
const ADMIN_ERRORS: JsonObject = { ...READ_ERRORS, '403': errorResponse('The key is not admin-scoped') };
const bearer: Json = [{ bearer: [] }];

/** GET of one thing by a path id: 200 with `schema`, 404 when unknown. */
const getOne = (
  operationId: string,
  summary: string,
  param: JsonObject,
  schema: string,
  errors: JsonObject = READ_ERRORS,
): JsonObject => ({
  get: {
    operationId,
    summary,
    security: bearer,
    parameters: [param],
    responses: { '200': json(ref(schema), 'Found'), '404': errorResponse('Unknown id'), ...errors },
  },
});
const ORDER_ID = pathParam('orderId', 'Bandwidth OrderId');
const UUID_ID = (description: string): JsonObject => pathParam('id', description, { type: 'string', format: 'uuid' });

export const OPENAPI_PATHS: Record<string, JsonObject> = {
  '/api/v1/orders': {
    get: {
      operationId: 'listOrders',
      summary: 'Orders, filtered, in orderId order, with stable cursor pagination',
      security: bearer,
      parameters: [
        query('orderType', { type: 'string' }, 'Bandwidth order type, e.g. portins'),
        query('status', { type: 'string' }, 'Current status, e.g. FOC'),
        query('customerOrderId', { type: 'string' }, 'Your CustomerOrderId'),
        query('tn', { type: 'string' }, 'A telephone number on the order, E.164 or 10-digit'),
        query('terminal', { type: 'string', enum: ['true', 'false'] }, 'Only orders in (or not in) a final state'),
        query('updatedSince', { type: 'string', format: 'date-time' }, 'Orders changed at or after (ISO 8601)'),
        LIMIT,
        CURSOR,
      ],
      responses: { '200': json(ref('OrderPage'), 'A page of orders'), ...READ_ERRORS },
    },
  },
  '/api/v1/orders/{orderId}': getOne(
    'getOrder',
    'One order with its status history (oldest first) and notes',
    ORDER_ID,
    'OrderDetail',
  ),
  '/api/v1/orders/{orderId}/history': getOne(
    'getOrderHistory',
    'Status history of one order, oldest first',
    ORDER_ID,
    'History',
  ),
  '/api/v1/telephone-numbers/{tn}/orders': {
    get: {
      operationId: 'ordersByTelephoneNumber',
      summary: 'Orders (most recent first) and account events that carried a number',
      security: bearer,
      parameters: [pathParam('tn', 'E.164 (+19195551234) or 10-digit (9195551234)'), LIMIT],
      responses: { '200': json(ref('TelephoneNumberOrders'), 'Orders and events'), ...READ_ERRORS },
    },
  },
  '/api/v1/notifications': {
    get: {
      operationId: 'listNotifications',
      summary: 'Raw receipts (duplicates included), oldest first, with stable cursor pagination',
      description:
        'Ordered by (receivedAt, id). A receipt is listed once the worker has persisted it, so while ' +
        'the queue lags one can appear behind a cursor already passed: to follow the stream, re-read ' +
        'with `since` set a little (the queue lag) before the last receivedAt seen.',
      security: bearer,
      parameters: [
        query('orderId', { type: 'string' }, 'Only receipts about this order'),
        query('since', { type: 'string', format: 'date-time' }, 'Received at or after (ISO 8601)'),
        query('status', { type: 'string' }, 'Status carried by the notification'),
        LIMIT,
        CURSOR,
      ],
      responses: { '200': json(ref('NotificationPage'), 'A page of receipts'), ...READ_ERRORS },
    },
  },
  '/api/v1/notifications/{id}': getOne(
    'getNotification',
    'One receipt, including the raw XML and the kept request headers',
    UUID_ID('Receipt id'),
    'NotificationDetail',
  ),
  '/api/v1/stats': {
    get: {
      operationId: 'getStats',
      summary: 'Counts by order type and status, receipts by outcome, queue depth, dead letters',
      security: bearer,
      responses: { '200': json(ref('Stats'), 'Current counts'), ...READ_ERRORS },
    },
  },
  '/api/v1/admin/quarantine': {
    get: {
      operationId: 'listQuarantined',
      summary: 'Bodies refused on the callback route (malformed XML), newest first. Admin scope.',
      security: bearer,
      parameters: [
        query('released', { type: 'string', enum: ['true', 'false'] }, 'Only released / pending payloads'),
        LIMIT,
      ],
      responses: { '200': json(ref('QuarantinedList'), 'Quarantined payloads'), ...ADMIN_ERRORS },
    },
  },
  '/api/v1/admin/quarantine/{id}': getOne(
    'getQuarantined',
    'One quarantined payload with its body. Admin scope.',
    UUID_ID('Quarantine id'),
    'QuarantinedDetail',
    ADMIN_ERRORS,
  ),
  '/api/v1/admin/quarantine/{id}/release': {
    post: {
      operationId: 'releaseQuarantined',
      summary: 'Send a quarantined payload down the normal path if it now parses. Admin scope.',
      security: bearer,
      parameters: [UUID_ID('Quarantine id')],
      responses: {
        '202': json(ref('ReleaseResult'), 'Queued for persistence; marked released'),
        '404': errorResponse('Unknown id'),
        '409': errorResponse('Already released'),
        '422': errorResponse('Still does not parse'),
        '503': errorResponse('Queue unavailable'),
        ...ADMIN_ERRORS,
      },
    },
  },
  '/api/v1/admin/security': {
    get: {
      operationId: 'getSecuritySettings',
      summary: 'Which receiver protections are switched on (names and counts only, never secrets). Admin scope.',
      security: bearer,
      responses: { '200': json(ref('SecuritySettings'), 'Current security settings'), ...ADMIN_ERRORS },
    },
  },
  '/api/v1/admin/dead-letters': {
    get: {
      operationId: 'listDeadLetters',
      summary: 'Handler deliveries that exhausted their attempts (dead), newest first. Admin scope.',
      security: bearer,
      parameters: [query('handler', { type: 'string' }, 'Only this handler'), LIMIT, CURSOR],
      responses: { '200': json(ref('DeadLetterList'), 'Dead-lettered deliveries'), ...ADMIN_ERRORS },
    },
  },
  '/api/v1/admin/dead-letters/{id}/retry': {
    post: {
      operationId: 'retryDeadLetter',
      summary: 'Queue a dead delivery again, with the same delivery id. Admin scope.',
      security: bearer,
      parameters: [UUID_ID('Delivery id')],
      responses: {
        '202': json(ref('DeadLetterRetry'), 'Re-queued; status back to pending'),
        '404': errorResponse('Unknown delivery'),
        '409': errorResponse('Not dead, or its handler is no longer configured'),
        ...ADMIN_ERRORS,
      },
    },
  },
  '/api/v1/admin/replay': {
    post: {
      operationId: 'replay',
      summary:
        'Re-dispatch stored notifications to one or all handlers: body { orderId } or { from, to } (ISO 8601), optional handler. History is unchanged; deliveries are marked source=replay. Admin scope.',
      security: bearer,
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: {
              oneOf: [
                closed({ orderId: { type: 'string' }, handler: { type: 'string' } }, ['orderId']),
                closed(
                  {
                    from: { type: 'string', format: 'date-time' },
                    to: { type: 'string', format: 'date-time' },
                    handler: { type: 'string' },
                  },
                  ['from', 'to'],
                ),
              ],
            },
          },
        },
      },
      responses: {
        '202': json(ref('ReplayResult'), 'Deliveries queued'),
        '400': errorResponse('Invalid body'),
        '404': errorResponse('Unknown handler'),
        ...ADMIN_ERRORS,
      },
    },
  },
  '/api/v1/admin/orders/{orderId}/replay': {
    post: {
      operationId: 'replayOrder',
      summary: "Re-dispatch one order's notifications to all handlers (or ?handler=). Admin scope.",
      security: bearer,
      parameters: [
        { name: 'orderId', in: 'path', required: true, schema: { type: 'string' } },
        query('handler', { type: 'string' }, 'Only this handler'),
      ],
      responses: {
        '202': json(ref('ReplayResult'), 'Deliveries queued'),
        '404': errorResponse('Unknown handler'),
        ...ADMIN_ERRORS,
      },
    },
  },
  '/api/v1/openapi.json': {
    get: {
      operationId: 'getOpenApi',
      summary: 'This document (no key needed)',
      security: [],
      responses: { '200': { description: 'OpenAPI 3.1 document', content: { 'application/json': {} } } },
    },
  },
  '/api/v1/docs': {
    get: {
      operationId: 'getDocs',
      summary: 'Human-readable API documentation (no key needed)',
      security: [],
      responses: { '200': { description: 'HTML page', content: { 'text/html': { schema: { type: 'string' } } } } },
    },
  },
  '/admin/queues': {
    get: {
      operationId: 'queueDashboard',
      summary: 'Queue UI (@bull-board). Admin key as Bearer, or as the password of Basic auth (browsers).',
      security: [{ bearer: [] }, { adminBasic: [] }],
      responses: {
        '200': { description: 'HTML page', content: { 'text/html': { schema: { type: 'string' } } } },
        '401': errorResponse('Missing or invalid admin key'),
        '403': errorResponse('The key is not admin-scoped'),
      },
    },
  },
  '/callbacks/bandwidth': {
    post: {
      operationId: 'bandwidthCallback',
      summary: 'Bandwidth order/event notification (XML). 200 only once durable.',
      security: [{ callbackBasic: [] }],
      requestBody: { required: true, content: { 'application/xml': { schema: { type: 'string' } } } },
      responses: {
        '200': text('Durable (queued), or a duplicate'),
        '400': text('Malformed XML or not a <Notification>; body quarantined'),
        '401': text('Missing or wrong Basic credentials (carries WWW-Authenticate)'),
        '413': text('Body over the limit'),
        '503': text('Could not be made durable'),
      },
    },
  },
  '/callbacks/bandwidth/{accountId}': {
    post: {
      operationId: 'bandwidthCallbackForAccount',
      summary: 'As /callbacks/bandwidth, recording the account id from the URL',
      security: [{ callbackBasic: [] }],
      parameters: [pathParam('accountId', 'Bandwidth account id')],
      requestBody: { required: true, content: { 'application/xml': { schema: { type: 'string' } } } },
      responses: {
        '200': text('Durable (queued), or a duplicate'),
        '400': text('Malformed'),
        '401': text('Unauthorized'),
        '413': text('Too large'),
        '503': text('Unavailable'),
      },
    },
  },
  '/healthz': {
    get: { operationId: 'healthz', summary: 'Liveness', security: [], responses: { '200': { description: 'Alive' } } },
  },
  '/readyz': {
    get: {
      operationId: 'readyz',
      summary: 'Readiness: database and queue reachable, not shutting down',
      security: [],
      responses: { '200': { description: 'Ready' }, '503': { description: 'Not ready' } },
    },
  },
  '/metrics': {
    get: {
      operationId: 'metrics',
      summary: 'Prometheus metrics (text format)',
      security: [],
      responses: { '200': text('Prometheus exposition format') },
    },
  },
};

export function openApiDocument(): JsonObject {
  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'Bandwidth order-notification receiver',
      version: '1',
      description:
        'Receives Bandwidth Numbers API order notifications and serves the order history. ' +
        'Read routes need `Authorization: Bearer <key>`; admin routes an admin-scoped key. ' +
        'Errors are `{ "error": { "code", "message", "requestId" } }`.',
    },
    servers: [{ url: '/' }],
    components: {
      schemas: OPENAPI_SCHEMAS,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'API_KEYS entry' },
        adminBasic: { type: 'http', scheme: 'basic', description: 'Any user name, an admin API key as password' },
        callbackBasic: { type: 'http', scheme: 'basic', description: 'CALLBACK_BASIC_AUTH credentials' },
      },
    },
    paths: OPENAPI_PATHS,
  };
}

const textOf = (value: Json | undefined): string => (typeof value === 'string' ? value : '');

const escapeHtml = (value: string): string =>
  value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

/** A self-contained page (no CDN: the service may run without internet access). */
export function docsPage(): string {
  const rows: string[] = [];
  for (const [path, operations] of Object.entries(OPENAPI_PATHS)) {
    for (const [method, operation] of Object.entries(operations)) {
      const op = operation as JsonObject;
      const params = Array.isArray(op['parameters'])
        ? op['parameters']
            .map((p) => {
              const param = p as JsonObject;
              return `<code>${escapeHtml(textOf(param['name']))}</code> (${escapeHtml(textOf(param['in']))}): ${escapeHtml(textOf(param['description']))}`;
            })
            .join('<br>')
        : '';
      const statuses = Object.keys((op['responses'] as JsonObject | undefined) ?? {}).join(', ');
      rows.push(
        `<tr><td><b>${method.toUpperCase()}</b></td><td><code>${escapeHtml(path)}</code></td>` +
          `<td>${escapeHtml(textOf(op['summary']))}</td><td>${params}</td><td>${statuses}</td></tr>`,
      );
    }
  }
  const schemas = Object.entries(OPENAPI_SCHEMAS)
    .map(([name, schema]) => `<h3 id="${name}">${name}</h3><pre>${escapeHtml(JSON.stringify(schema, null, 2))}</pre>`)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Bandwidth receiver API</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:80rem}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.3rem .5rem;vertical-align:top;text-align:left}pre{background:#f6f6f6;padding:.5rem;overflow:auto}</style>
</head><body>
<h1>Bandwidth order-notification receiver API</h1>
<p>Machine-readable: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a> (OpenAPI 3.1).
Send <code>Authorization: Bearer &lt;key&gt;</code>. Lists page with <code>limit</code> and the
<code>nextCursor</code> of the previous answer passed as <code>cursor</code>.</p>
<table><thead><tr><th>Method</th><th>Path</th><th>What</th><th>Parameters</th><th>Statuses</th></tr></thead>
<tbody>${rows.join('\n')}</tbody></table>
<h2>Schemas</h2>
${schemas}
</body></html>`;
}
