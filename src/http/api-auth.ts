import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { ApiKey, ApiScope } from '../config';
import { sendError } from './errors';

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/**
 * Bearer API keys with scopes. Fail closed: with no keys configured every request is refused.
 * Keys are compared as digests in constant time and never logged; the key's name is.
 */
export function requireApiKey(keys: readonly ApiKey[], scope: ApiScope) {
  const known = keys.map((k) => ({ ...k, digest: digest(k.key) }));
  return (req: Request, res: Response, next: NextFunction): void => {
    const header = req.get('authorization');
    const match = header === undefined ? null : /^\s*Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match?.[1]) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="api"');
      sendError(res, 401, 'unauthorized', 'missing bearer API key');
      return;
    }
    const supplied = digest(match[1]);
    let found: (typeof known)[number] | undefined;
    for (const candidate of known) {
      if (timingSafeEqual(candidate.digest, supplied)) found = candidate;
    }
    if (found === undefined) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="api", error="invalid_token"');
      sendError(res, 401, 'unauthorized', 'invalid API key');
      return;
    }
    if (scope === 'admin' && found.scope !== 'admin') {
      sendError(res, 403, 'forbidden', 'this route needs an admin-scoped key');
      return;
    }
    res.locals['apiKeyName'] = found.name;
    next();
  };
}
