import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { requestContext } from '../observability/logger';

const VALID_ID = /^[A-Za-z0-9._-]{1,128}$/;

function assignRequestId(req: Request, res: Response): string {
  const supplied = req.get('x-request-id');
  const id = supplied !== undefined && VALID_ID.test(supplied) ? supplied : randomUUID();
  res.locals['requestId'] = id;
  res.setHeader('X-Request-Id', id);
  return id;
}

/** Every request gets an id (the caller's X-Request-Id when sane) on its response and logs. */
export function requestId(req: Request, res: Response, next: NextFunction): void {
  requestContext.run({ requestId: assignRequestId(req, res) }, next);
}

/**
 * The id on the response only, without the logging context: for a worker process, which
 * serves nothing but the ops routes. The first `AsyncLocalStorage.run` switches on Node 20's
 * async hooks for the whole process, and from then on every promise of every job pays for
 * them (about 20 µs of worker CPU per notification in a profile), for the sake of a readiness
 * probe's log lines.
 */
export function requestIdWithoutContext(req: Request, res: Response, next: NextFunction): void {
  assignRequestId(req, res);
  next();
}

export function requestIdOf(res: Response): string {
  const id: unknown = res.locals['requestId'];
  return typeof id === 'string' ? id : 'unknown';
}
