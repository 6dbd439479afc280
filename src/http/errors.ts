import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'winston';
import { requestIdOf } from './request-id';

/** SPEC 3.3 error body: `{ error: { code, message, requestId } }`. */
export function sendError(res: Response, status: number, code: string, message: string): void {
  res.status(status).json({ error: { code, message, requestId: requestIdOf(res) } });
}

export function notFoundHandler(_req: Request, res: Response): void {
  sendError(res, 404, 'not_found', 'no such route');
}

/** Last resort: a bug or broken infrastructure. Logged with the request id; no details leak. */
export function errorHandler(logger: Logger) {
  return (error: unknown, _req: Request, res: Response, next: NextFunction): void => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const status = typeof error === 'object' && error !== null && 'status' in error ? Number(error.status) : 500;
    if (status >= 400 && status < 500) {
      sendError(res, status, 'bad_request', error instanceof Error ? error.message : 'bad request');
      return;
    }
    logger.error('unhandled error', { error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    sendError(res, 500, 'internal', 'internal error');
  };
}
