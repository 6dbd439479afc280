import { AsyncLocalStorage } from 'node:async_hooks';
import winston from 'winston';

/**
 * winston JSON logs. A request id stored in AsyncLocalStorage is added to every line logged
 * while that request is being served, whichever module logs it.
 */
export const requestContext = new AsyncLocalStorage<{ requestId: string }>();

const addRequestId = winston.format((info) => {
  const requestId = requestContext.getStore()?.requestId;
  if (requestId !== undefined && info['requestId'] === undefined) info['requestId'] = requestId;
  return info;
});

export function createLogger(level: string, options: { silent?: boolean } = {}): winston.Logger {
  return winston.createLogger({
    level,
    silent: options.silent ?? false,
    format: winston.format.combine(addRequestId(), winston.format.timestamp(), winston.format.json()),
    defaultMeta: { service: 'bandwidth-receiver' },
    transports: [new winston.transports.Console()],
  });
}
