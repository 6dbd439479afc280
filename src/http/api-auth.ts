import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { ApiKey, ApiScope } from '../config';
import { decodeBasicAuthorization } from '../ingest/auth';
import type { AuthRoute } from './auth-failure';
import { recordAuthFailure } from './auth-failure';
import { sendError } from './errors';

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

export interface ApiKeyGuardOptions {
  /**
   * Also accept the key as the password of `Authorization: Basic` (any user name), and
   * challenge with `WWW-Authenticate: Basic`, so that a browser can open an admin page such
   * as the queue UI: it prompts for the key instead of needing a Bearer header.
   */
  readonly browserLogin?: boolean;
  /** Label on `bw_auth_failures_total`; defaults to `admin` for the admin scope, else `api`. */
  readonly route?: AuthRoute;
}

/**
 * Bearer API keys with scopes, usable on any path (`/api/v1`, `/admin/...`):
 * no or unknown key -> 401, a key without the scope -> 403, JSON errors per SPEC.
 * Fail closed: with no keys configured every request is refused.
 * Keys are compared as digests in constant time and never logged; the key's name is.
 */
export function requireApiKey(keys: readonly ApiKey[], scope: ApiScope, options: ApiKeyGuardOptions = {}) {
  const known = keys.map((k) => ({ ...k, digest: digest(k.key) }));
  const route: AuthRoute = options.route ?? (scope === 'admin' ? 'admin' : 'api');
  const challenge = (error?: string): string =>
    options.browserLogin
      ? `Basic realm="${route}", charset="UTF-8"`
      : `Bearer realm="${route}"${error ? `, error="${error}"` : ''}`;

  const suppliedKey = (header: string | undefined): string | null => {
    if (header === undefined) return null;
    const bearer = /^\s*Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
    if (bearer) return bearer;
    if (options.browserLogin) return decodeBasicAuthorization(header)?.password || null;
    return null;
  };

  return (req: Request, res: Response, next: NextFunction): void => {
    const key = suppliedKey(req.get('authorization'));
    if (key === null) {
      recordAuthFailure(res, { route, reason: 'missing' });
      res.setHeader('WWW-Authenticate', challenge());
      sendError(res, 401, 'unauthorized', 'missing bearer API key');
      return;
    }
    const supplied = digest(key);
    let found: (typeof known)[number] | undefined;
    for (const candidate of known) {
      if (timingSafeEqual(candidate.digest, supplied)) found = candidate;
    }
    if (found === undefined) {
      recordAuthFailure(res, { route, reason: 'invalid' });
      res.setHeader('WWW-Authenticate', challenge('invalid_token'));
      sendError(res, 401, 'unauthorized', 'invalid API key');
      return;
    }
    if (scope === 'admin' && found.scope !== 'admin') {
      recordAuthFailure(res, { route, reason: 'forbidden', detail: { keyName: found.name } });
      sendError(res, 403, 'forbidden', 'this route needs an admin-scoped key');
      return;
    }
    res.locals['apiKeyName'] = found.name;
    next();
  };
}
