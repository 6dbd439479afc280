import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { requestContext } from '../observability/logger';

const VALID_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** Every request gets an id (the caller's X-Request-Id when sane) on its response and logs. */
export function requestId(req: Request, res: Response, next: NextFunction): void {
  const supplied = req.get('x-request-id');
  const id = supplied !== undefined && VALID_ID.test(supplied) ? supplied : randomUUID();
  res.locals['requestId'] = id;
  res.setHeader('X-Request-Id', id);
  requestContext.run({ requestId: id }, next);
}

export function requestIdOf(res: Response): string {
  const id: unknown = res.locals['requestId'];
  return typeof id === 'string' ? id : 'unknown';
}
