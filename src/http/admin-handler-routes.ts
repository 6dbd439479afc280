import express from 'express';
import type { Request, Response, Router } from 'express';
import { z } from 'zod';
import type { ApiKey } from '../config';
import type { DeadLetterView, ReplaySelection } from '../store/handler-delivery-store';
import type { ReplayResult, RetryResult } from '../worker/dispatch';
import { requireApiKey } from './api-auth';
import { sendError } from './errors';

/**
 * `/api/v1/admin` handler operations (admin scope): dead letters and replay. Thin adapters
 * (STYLE 3): validate, call one core function, map its outcome with an exhaustive switch.
 */
export interface DeadLetterPage {
  readonly data: DeadLetterView[];
  readonly nextCursor: { finishedAt: Date; id: string } | null;
}

export interface AdminHandlerRouteDeps {
  readonly apiKeys: readonly ApiKey[];
  readonly listDeadLetters: (query: {
    handler?: string;
    limit: number;
    cursor?: { finishedAt: Date; id: string };
  }) => Promise<DeadLetterPage>;
  readonly retryDeadLetter: (deliveryId: string) => Promise<RetryResult>;
  readonly replay: (selection: ReplaySelection, handler?: string) => Promise<ReplayResult>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const cursorSchema = z.object({ t: z.iso.datetime(), id: z.string().regex(UUID) });

function encodeCursor(cursor: { finishedAt: Date; id: string } | null): string | null {
  if (cursor === null) return null;
  return Buffer.from(JSON.stringify({ t: cursor.finishedAt.toISOString(), id: cursor.id })).toString('base64url');
}

function decodeCursor(value: string): { finishedAt: Date; id: string } | null {
  try {
    const parsed = cursorSchema.safeParse(JSON.parse(Buffer.from(value, 'base64url').toString('utf8')));
    return parsed.success ? { finishedAt: new Date(parsed.data.t), id: parsed.data.id } : null;
  } catch {
    return null;
  }
}

const listQuery = z.object({
  handler: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().min(1).optional(),
});

const replayBody = z.union([
  z.object({ orderId: z.string().min(1), handler: z.string().min(1).optional() }).strict(),
  z
    .object({
      from: z.iso.datetime({ offset: true }),
      to: z.iso.datetime({ offset: true }),
      handler: z.string().min(1).optional(),
    })
    .strict()
    .refine((b) => new Date(b.from) < new Date(b.to), 'from must be before to'),
]);

function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  return issue ? `${issue.path.join('.') || 'body'}: ${issue.message}` : 'invalid input';
}

function sendReplay(res: Response, result: ReplayResult): void {
  switch (result.kind) {
    case 'replayed':
      res.status(202).json({ notifications: result.notifications, deliveries: result.deliveries });
      return;
    case 'handler_unknown':
      sendError(res, 404, 'handler_not_found', `no handler named ${result.handler}`);
      return;
  }
}

export function adminHandlerRouter(deps: AdminHandlerRouteDeps): Router {
  const router = express.Router();
  router.use(requireApiKey(deps.apiKeys, 'admin'));
  router.use(express.json({ limit: '16kb' }));

  router.get('/dead-letters', async (req: Request, res: Response) => {
    const query = listQuery.safeParse(req.query);
    if (!query.success) {
      sendError(res, 400, 'invalid_query', firstIssue(query.error));
      return;
    }
    const cursor = query.data.cursor === undefined ? undefined : decodeCursor(query.data.cursor);
    if (cursor === null) {
      sendError(res, 400, 'invalid_query', 'cursor: not a cursor from this API');
      return;
    }
    const page = await deps.listDeadLetters({
      limit: query.data.limit,
      ...(query.data.handler !== undefined ? { handler: query.data.handler } : {}),
      ...(cursor !== undefined ? { cursor } : {}),
    });
    res.json({ data: page.data, nextCursor: encodeCursor(page.nextCursor) });
  });

  router.post('/dead-letters/:id/retry', async (req: Request, res: Response) => {
    const id = String(req.params['id']);
    if (!UUID.test(id)) {
      sendError(res, 404, 'delivery_not_found', `no delivery ${id}`);
      return;
    }
    const result = await deps.retryDeadLetter(id);
    switch (result.kind) {
      case 'requeued':
        res.status(202).json({ id: result.deliveryId, handler: result.handler, status: 'pending' });
        return;
      case 'not_found':
        sendError(res, 404, 'delivery_not_found', `no delivery ${id}`);
        return;
      case 'not_dead':
        sendError(res, 409, 'delivery_not_dead', `delivery ${id} is ${result.status}, not dead`);
        return;
      case 'handler_unknown':
        sendError(res, 409, 'handler_not_configured', `handler ${result.handler} is not configured any more`);
        return;
    }
  });

  router.post('/replay', async (req: Request, res: Response) => {
    const body = replayBody.safeParse(req.body ?? {});
    if (!body.success) {
      sendError(
        res,
        400,
        'invalid_body',
        `${firstIssue(body.error)} (send { orderId } or { from, to }, and optionally handler)`,
      );
      return;
    }
    const b = body.data;
    const selection: ReplaySelection =
      'orderId' in b ? { orderId: b.orderId } : { from: new Date(b.from), to: new Date(b.to) };
    sendReplay(res, await deps.replay(selection, b.handler));
  });

  router.post('/orders/:orderId/replay', async (req: Request, res: Response) => {
    const handler = typeof req.query['handler'] === 'string' ? req.query['handler'] : undefined;
    sendReplay(res, await deps.replay({ orderId: String(req.params['orderId']) }, handler));
  });

  return router;
}
