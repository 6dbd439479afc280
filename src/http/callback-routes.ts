import express from 'express';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'winston';
import type { BasicCredential } from '../config';
import type { CallbackOutcome, IncomingCallback } from '../ingest/accept';
import { keptHeaders } from '../ingest/accept';
import { createBasicAuthChecker } from '../ingest/auth';
import { recordAuthFailure } from './auth-failure';
import type { Metrics } from '../observability/metrics';

export const CALLBACK_REALM = 'bandwidth-callbacks';

export interface CallbackRouteDeps {
  readonly credentials: readonly BasicCredential[];
  readonly bodyLimitBytes: number;
  readonly accept: (input: IncomingCallback) => Promise<CallbackOutcome>;
  readonly logger: Logger;
  readonly metrics?: Metrics;
}

/** The paths of the callback route (POST). */
export const CALLBACK_ROUTES = ['/callbacks/bandwidth', '/callbacks/bandwidth/:accountId'];

/**
 * `POST /callbacks/bandwidth[/:accountId]`. A thin adapter: authenticate (before the body is
 * read), read the raw bytes whatever the Content-Type, hand them to ingest, map the outcome.
 * Returns the route's handlers: createApp mounts them as a route of the app itself, ahead of
 * every router, because each router a request passes through unmatched costs it a matching
 * pass and an event-loop turn on the way out (issue #8: the callback must cost little more
 * than the HTTP stack).
 */
export function callbackHandlers(deps: CallbackRouteDeps): RequestHandler[] {
  const checkAuth = deps.credentials.length > 0 ? createBasicAuthChecker(deps.credentials) : undefined;

  const reply = (res: Response, outcome: CallbackOutcome): void => {
    if (deps.metrics) {
      deps.metrics.notificationsReceived.inc({ outcome: outcome.kind });
      const started: unknown = res.locals['callbackStartedAt'];
      if (typeof started === 'bigint') {
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        deps.metrics.callbackDuration.observe({ outcome: outcome.kind }, seconds);
      }
    }
    res.type('text/plain');
    switch (outcome.kind) {
      case 'accepted':
        // `end`, not `send`: no ETag (a SHA-1 of "OK" on every notification) and no freshness check.
        res.status(200).end('OK');
        return;
      case 'unauthorized':
        // Bandwidth only sends credentials after a 401 that carries this header.
        res.setHeader('WWW-Authenticate', `Basic realm="${CALLBACK_REALM}", charset="UTF-8"`);
        res.status(401).send('Unauthorized');
        return;
      case 'malformed':
        res.status(400).send(`Bad Request: ${outcome.reason}`);
        return;
      case 'too_large':
        res.status(413).send(`Payload Too Large: limit is ${outcome.limitBytes} bytes`);
        return;
      case 'unavailable':
        res.status(503).send('Service Unavailable');
        return;
      default: {
        const exhaustive: never = outcome;
        throw new Error(`unhandled callback outcome ${JSON.stringify(exhaustive)}`);
      }
    }
  };

  // Fail closed: an unauthenticated body is never read, parsed, stored or dispatched.
  const authenticate = (req: Request, res: Response, next: NextFunction): void => {
    res.locals['callbackStartedAt'] = process.hrtime.bigint();
    if (checkAuth === undefined) {
      next();
      return;
    }
    const { result, knownUser } = checkAuth(req.get('authorization'));
    if (result === 'ok') {
      next();
      return;
    }
    // Counted and logged (never the password) by the observer in security.ts.
    recordAuthFailure(res, { route: 'callback', reason: result, detail: { knownUser } });
    // A small declared body is discarded by Node after the answer, keeping the connection open
    // so the 401 reliably reaches Bandwidth, which then retries on it with credentials. Any
    // other body (chunked, or over the limit) is not read at all: the connection is closed.
    const declared = Number(req.get('content-length'));
    if (!(Number.isSafeInteger(declared) && declared <= deps.bodyLimitBytes)) res.setHeader('Connection', 'close');
    reply(res, { kind: 'unauthorized', reason: result });
  };

  const rawBody = express.raw({ type: () => true, limit: deps.bodyLimitBytes });
  const readBody = (req: Request, res: Response, next: NextFunction): void => {
    rawBody(req, res, (error?: unknown) => {
      if (error === undefined) {
        next();
        return;
      }
      const type = typeof error === 'object' && error !== null && 'type' in error ? error.type : undefined;
      if (type === 'entity.too.large') {
        res.setHeader('Connection', 'close');
        reply(res, { kind: 'too_large', limitBytes: deps.bodyLimitBytes });
        return;
      }
      next(error);
    });
  };

  const handle = async (req: Request, res: Response): Promise<void> => {
    const body: unknown = req.body;
    const accountId = typeof req.params['accountId'] === 'string' ? req.params['accountId'] : null;
    const outcome = await deps.accept({
      body: Buffer.isBuffer(body) ? body : Buffer.alloc(0),
      headers: keptHeaders(req.headers),
      accountId,
      remoteAddress: req.ip ?? null,
      receivedAt: new Date(),
    });
    reply(res, outcome);
  };

  return [authenticate, readBody, handle];
}
