import express from 'express';
import type { NextFunction, Request, Response, Router } from 'express';
import { z } from 'zod';
import type { ApiKey } from '../config';
import { toE164 } from '../domain/telephone';
import { releaseQuarantined } from '../ingest/release';
import type { Metrics } from '../observability/metrics';
import type { PersistNotificationJob } from '../queue/catalog';
import type { NotificationKey, OrderDetailView } from '../store/order-read-store';
import {
  findByTelephoneNumber,
  findNotification,
  listNotifications,
  listOrders,
  readStats,
} from '../store/order-read-store';
import type { Database } from '../store/prisma';
import type { SqlClient } from '../store/sql';
import { findQuarantined, listQuarantined, markReleased } from '../store/quarantine-admin-store';
import { requireApiKey } from './api-auth';
import { sendError } from './errors';
import { docsPage, openApiDocument } from './openapi';
import { requestIdOf } from './request-id';

export interface ApiRouteDeps {
  readonly apiKeys: readonly ApiKey[];
  /** The order detail as JSON text (`findOrderDetailJson`): sent as it is, never re-serialized. */
  readonly findOrderJson: (orderId: string) => Promise<string | null>;
  /** Prisma: the admin quarantine routes. */
  readonly db: Database;
  /** Plain SQL on the pool (no Prisma query compiler): lists, look-ups, stats. */
  readonly sql: SqlClient;
  /** Queue depth for /stats; absent when this process has no producer. */
  readonly queueCounts?: () => Promise<Record<string, number>>;
  /** Makes a released quarantined payload durable; absent: release answers 503. */
  readonly enqueue?: (job: PersistNotificationJob) => Promise<void>;
  readonly metrics?: Metrics;
}

/* ---------------------------- query validation (zod) ---------------------------- */

const MAX_LIMIT = 500;
const limit = z.coerce
  .number({ error: 'must be a number' })
  .int('must be a whole number')
  .min(1, 'must be at least 1')
  .max(MAX_LIMIT, `must be at most ${MAX_LIMIT}`)
  .default(50);
const nonEmpty = z.string({ error: 'must be given once, as text' }).trim().min(1, 'must not be empty').max(256);
const booleanText = z.enum(['true', 'false'], { error: 'must be true or false' }).transform((v) => v === 'true');
const isoDateTime = z
  .string({ error: 'must be given once, as text' })
  .refine((v) => /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(v) && !Number.isNaN(Date.parse(v)), {
    message: 'must be an ISO 8601 date-time, e.g. 2024-02-22T20:40:47.539Z',
  })
  .transform((v) => new Date(v));
/** Numbers arrive E.164 or 10-digit (LEGACY); stored E.164. */
const telephoneNumber = z
  .string({ error: 'must be given once, as text' })
  .trim()
  .refine((v) => /^\+?[\d\s().-]{10,20}$/.test(v) && /^\+[1-9]\d{6,14}$/.test(toE164(v) ?? ''), {
    message: 'must be an E.164 (+19195551234) or 10-digit (9195551234) number',
  })
  .transform((v) => toE164(v) ?? v);

/** Cursors are opaque to clients: base64url JSON of the last key, validated on the way back. */
const orderCursor = z.object({ o: z.string() });
const notificationCursor = z.object({ t: z.string(), i: z.uuid() });
const encodeCursor = (value: unknown): string => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
const cursorOf = <T>(schema: z.ZodType<T>) =>
  z.string({ error: 'must be given once, as text' }).transform((raw, ctx): T => {
    try {
      const parsed = schema.safeParse(JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')));
      if (parsed.success) return parsed.data;
    } catch {
      // fall through: not base64url JSON
    }
    ctx.addIssue({ code: 'custom', message: 'is not a cursor this API returned' });
    return z.NEVER;
  });

const ordersQuery = z.strictObject({
  orderType: nonEmpty.optional(),
  status: nonEmpty.optional(),
  customerOrderId: nonEmpty.optional(),
  tn: telephoneNumber.optional(),
  terminal: booleanText.optional(),
  updatedSince: isoDateTime.optional(),
  limit,
  cursor: cursorOf(orderCursor).optional(),
});

const notificationsQuery = z.strictObject({
  orderId: nonEmpty.optional(),
  since: isoDateTime.optional(),
  status: nonEmpty.optional(),
  limit,
  cursor: cursorOf(notificationCursor).optional(),
});

const limitOnlyQuery = z.strictObject({ limit });
const emptyQuery = z.strictObject({});
const quarantineQuery = z.strictObject({ released: booleanText.optional(), limit });
const uuidParam = z.uuid({ error: 'must be a UUID' });

/** 400 naming the offending parameter (the first one; the message lists them all). */
function sendInvalid(res: Response, error: z.ZodError, where: 'query' | 'path'): void {
  const problems = error.issues.map((issue) => {
    const name = issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : issue.path.map(String).join('.') || where;
    const message = issue.code === 'unrecognized_keys' ? 'is not a known parameter' : issue.message;
    return { parameter: name, message: `${where} parameter "${name}" ${message}` };
  });
  const first = problems[0];
  res.status(400).json({
    error: {
      code: 'invalid_parameter',
      message: problems.map((p) => p.message).join('; '),
      requestId: requestIdOf(res),
      ...(first ? { parameter: first.parameter } : {}),
    },
  });
}

function parseQuery<T>(schema: z.ZodType<T>, req: Request, res: Response): T | undefined {
  const parsed = schema.safeParse(req.query);
  if (parsed.success) return parsed.data;
  sendInvalid(res, parsed.error, 'query');
  return undefined;
}

function parseUuidParam(req: Request, res: Response, name: string): string | undefined {
  const parsed = uuidParam.safeParse(req.params[name]);
  if (parsed.success) return parsed.data;
  sendInvalid(res, new z.ZodError(parsed.error.issues.map((issue) => ({ ...issue, path: [name] }))), 'path');
  return undefined;
}

/* ---------------------------------- routes ---------------------------------- */

/** `/api/v1`: the read API (SPEC 3.3) and the admin quarantine routes. */
export function apiRouter(deps: ApiRouteDeps): Router {
  const router = express.Router();
  const metrics = deps.metrics;
  if (metrics) {
    router.use((req: Request, res: Response, next: NextFunction) => {
      const started = process.hrtime.bigint();
      res.on('finish', () => {
        // The matched pattern (/orders/:orderId), never the URL: ids must not become labels.
        const pattern: unknown = (req.route as { path?: unknown } | undefined)?.path;
        const route = typeof pattern === 'string' ? `${req.baseUrl}${pattern}` : 'unmatched';
        metrics.apiRequestDuration.observe(
          { route, method: req.method, status: String(res.statusCode) },
          Number(process.hrtime.bigint() - started) / 1e9,
        );
      });
      next();
    });
  }

  // The contract is not a secret: served without a key so tools and people can read it.
  router.get('/openapi.json', (_req: Request, res: Response) => {
    res.json(openApiDocument());
  });
  router.get('/docs', (_req: Request, res: Response) => {
    res.type('html').send(docsPage());
  });

  router.use(requireApiKey(deps.apiKeys, 'read'));

  router.get('/orders', async (req: Request, res: Response) => {
    const q = parseQuery(ordersQuery, req, res);
    if (q === undefined) return;
    const { limit: pageSize, cursor, ...filter } = q;
    const page = await listOrders(deps.sql, filter, { limit: pageSize, after: cursor?.o ?? null });
    res.json({ data: page.data, nextCursor: page.next === null ? null : encodeCursor({ o: page.next }) });
  });

  /** The order named by the path as JSON text, or undefined once a 400/404 has been sent. */
  const orderOf = async (req: Request, res: Response): Promise<string | undefined> => {
    if (parseQuery(emptyQuery, req, res) === undefined) return undefined;
    const orderId = String(req.params['orderId']);
    const order = await deps.findOrderJson(orderId);
    if (order === null) sendError(res, 404, 'order_not_found', `no order ${orderId}`);
    return order ?? undefined;
  };

  router.get('/orders/:orderId', async (req: Request, res: Response) => {
    const order = await orderOf(req, res);
    // PostgreSQL wrote it as JSON.stringify would (compact, OrderDetailView's key order): the
    // same bytes as res.json, without a parse and a stringify per request.
    if (order !== undefined) res.type('json').send(order);
  });

  router.get('/orders/:orderId/history', async (req: Request, res: Response) => {
    const order = await orderOf(req, res);
    if (order !== undefined) res.json({ data: (JSON.parse(order) as OrderDetailView).history });
  });

  router.get('/telephone-numbers/:tn/orders', async (req: Request, res: Response) => {
    const q = parseQuery(limitOnlyQuery, req, res);
    if (q === undefined) return;
    const tn = telephoneNumber.safeParse(req.params['tn']);
    if (!tn.success) {
      sendInvalid(res, new z.ZodError(tn.error.issues.map((issue) => ({ ...issue, path: ['tn'] }))), 'path');
      return;
    }
    const found = await findByTelephoneNumber(deps.sql, tn.data, q.limit);
    res.json({ telephoneNumber: tn.data, data: found.orders, events: found.events });
  });

  router.get('/notifications', async (req: Request, res: Response) => {
    const q = parseQuery(notificationsQuery, req, res);
    if (q === undefined) return;
    const { limit: pageSize, cursor, ...filter } = q;
    const after: NotificationKey | null =
      cursor === undefined ? null : { receivedAt: new Date(cursor.t), id: cursor.i };
    const page = await listNotifications(deps.sql, filter, { limit: pageSize, after });
    res.json({
      data: page.data,
      nextCursor:
        page.nextKey === null ? null : encodeCursor({ t: page.nextKey.receivedAt.toISOString(), i: page.nextKey.id }),
    });
  });

  router.get('/notifications/:id', async (req: Request, res: Response) => {
    if (parseQuery(emptyQuery, req, res) === undefined) return;
    const id = parseUuidParam(req, res, 'id');
    if (id === undefined) return;
    const notification = await findNotification(deps.sql, id);
    if (notification === null) {
      sendError(res, 404, 'notification_not_found', `no notification ${id}`);
      return;
    }
    res.json(notification);
  });

  router.get('/stats', async (req: Request, res: Response) => {
    if (parseQuery(emptyQuery, req, res) === undefined) return;
    const [stats, queue] = await Promise.all([
      readStats(deps.sql),
      // Stats still answer when the queue is down: its depth is then unknown (null).
      deps.queueCounts ? deps.queueCounts().catch(() => null) : Promise.resolve(null),
    ]);
    res.json({
      orders: { total: stats.ordersTotal, byTypeAndStatus: stats.orders },
      notifications: { byOutcome: Object.fromEntries(stats.notifications.map((n) => [n.outcome, n.count])) },
      queue,
      deadLetters: stats.deadLetters,
      quarantinedPending: stats.quarantinedPending,
    });
  });

  router.use('/admin', adminRouter(deps));
  router.use((_req: Request, res: Response) => sendError(res, 404, 'not_found', 'no such API route'));
  return router;
}

/** `/api/v1/admin/quarantine`: admin scope only (dead letters and replay live in their own file). */
function adminRouter(deps: ApiRouteDeps): Router {
  const router = express.Router();
  router.use(requireApiKey(deps.apiKeys, 'admin'));

  router.get('/quarantine', async (req: Request, res: Response) => {
    const q = parseQuery(quarantineQuery, req, res);
    if (q === undefined) return;
    res.json({ data: await listQuarantined(deps.db, { limit: q.limit, released: q.released }) });
  });

  router.get('/quarantine/:id', async (req: Request, res: Response) => {
    if (parseQuery(emptyQuery, req, res) === undefined) return;
    const id = parseUuidParam(req, res, 'id');
    if (id === undefined) return;
    const found = await findQuarantined(deps.db, id);
    if (found === null) {
      sendError(res, 404, 'quarantine_not_found', `no quarantined payload ${id}`);
      return;
    }
    res.json(found.view);
  });

  router.post('/quarantine/:id/release', async (req: Request, res: Response) => {
    if (parseQuery(emptyQuery, req, res) === undefined) return;
    const id = parseUuidParam(req, res, 'id');
    if (id === undefined) return;
    const enqueue = deps.enqueue;
    const outcome = await releaseQuarantined(
      {
        load: async (key) => {
          const found = await findQuarantined(deps.db, key);
          return found === null
            ? null
            : {
                id: found.view.id,
                receivedAt: found.receivedAt,
                accountId: found.view.accountId,
                remoteAddress: found.view.remoteAddress,
                headers: found.view.headers,
                body: found.body,
                releasedAt: found.view.releasedAt,
              };
        },
        enqueue: enqueue ?? (() => Promise.reject(new Error('this process has no queue producer'))),
        markReleased: (key) => markReleased(deps.db, key),
      },
      id,
    );
    switch (outcome.kind) {
      case 'released':
        res.status(202).json({ id, receiptId: outcome.receiptId, status: 'released' });
        return;
      case 'not_found':
        sendError(res, 404, 'quarantine_not_found', `no quarantined payload ${id}`);
        return;
      case 'already_released':
        sendError(res, 409, 'already_released', `payload ${id} was already released`);
        return;
      case 'still_malformed':
        sendError(res, 422, 'still_malformed', `payload ${id} still does not parse: ${outcome.reason}`);
        return;
      case 'unavailable':
        sendError(res, 503, 'queue_unavailable', 'the queue is unavailable; try again');
        return;
      default: {
        const exhaustive: never = outcome;
        throw new Error(`unhandled release outcome ${JSON.stringify(exhaustive)}`);
      }
    }
  });
  return router;
}
