import type { ServerOptions } from 'node:http';
import express from 'express';
import type { NextFunction, Request, RequestHandler, Response, Router } from 'express';
import rateLimit from 'express-rate-limit';
import helmet from 'helmet';
import ipaddr from 'ipaddr.js';
import type { Logger } from 'winston';
import type { ApiKey } from '../config';
import type { Metrics } from '../observability/metrics';
import { requireApiKey } from './api-auth';
import { authFailureOf } from './auth-failure';
import { sendError } from './errors';

/**
 * Controls in front of the routes (docs/security.md): the source allowlist and rate limit on
 * the callback route, security headers and rate limit on the API and admin paths, and the
 * observer that counts and logs every refused authentication. createApp puts `callback` in
 * front of the callback route's own handlers and mounts `router` before every other router.
 */
export interface SecurityDeps {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly apiKeys: readonly ApiKey[];
  /** Empty: any source may call the callback route (Bandwidth publishes no address ranges). */
  readonly callbackAllowedCidrs: readonly string[];
  readonly rateLimitWindowMs: number;
  /** Requests per source address per window; 0: no limit. */
  readonly callbackRateLimit: number;
  readonly apiRateLimit: number;
  /** What the admin security report shows besides the above (never secrets). */
  readonly callbackCredentialPairs: number;
  readonly trustProxy: false | number | string;
}

export const CALLBACK_PATH = '/callbacks/bandwidth';
export const API_PATH = '/api/v1';
export const ADMIN_PATH = '/admin';

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

function toRange(entry: string): Range {
  if (entry.includes('/')) return ipaddr.parseCIDR(entry);
  const address = ipaddr.parse(entry);
  return [address, address.kind() === 'ipv4' ? 32 : 128];
}

/**
 * `address` -> allowed? IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, what a dual-stack
 * socket reports) are matched as IPv4. Fail closed: an address that cannot be parsed is refused.
 */
export function createSourceAllowlist(cidrs: readonly string[]): (address: string | undefined) => boolean {
  const ranges = cidrs.map(toRange);
  return (address) => {
    if (address === undefined || !ipaddr.isValid(address)) return false;
    const parsed = ipaddr.process(address);
    return ranges.some(([range, bits]) => range.kind() === parsed.kind() && parsed.match(range, bits));
  };
}

/** HTTP server limits against slow clients (slowloris): whole request and headers must arrive in time. */
export function httpServerOptions(limits: {
  readonly httpRequestTimeoutMs: number;
  readonly httpHeadersTimeoutMs: number;
  readonly httpKeepAliveTimeoutMs: number;
}): ServerOptions {
  return {
    requestTimeout: limits.httpRequestTimeoutMs,
    headersTimeout: limits.httpHeadersTimeoutMs,
    keepAliveTimeout: limits.httpKeepAliveTimeoutMs,
    // Node checks the two timeouts on this interval (default 30 s): keep it well below them.
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(limits.httpHeadersTimeoutMs / 4))),
  };
}

/** Counts (`bw_auth_failures_total`) and logs every request a guard refused, once answered. */
function observeAuthFailures(deps: SecurityDeps): RequestHandler {
  return (req: Request, res: Response, next: NextFunction): void => {
    res.on('finish', () => {
      const failure = authFailureOf(res);
      if (failure === undefined) return;
      deps.metrics.authFailures.inc({ route: failure.route, reason: failure.reason });
      const fields = {
        route: failure.route,
        reason: failure.reason,
        status: res.statusCode,
        remoteAddress: req.ip,
        path: req.path,
        ...failure.detail,
      };
      // Bandwidth's first, credential-less POST is the normal challenge: not worth a warning.
      if (failure.route === 'callback' && failure.reason === 'missing') {
        deps.logger.debug('callback challenged: no credentials', fields);
      } else {
        deps.logger.warn('request refused: authentication failed', fields);
      }
    });
    next();
  };
}

function limiter(
  deps: SecurityDeps,
  route: 'callback' | 'api',
  limit: number,
  answer: (res: Response) => void,
): RequestHandler | undefined {
  if (limit <= 0) return undefined;
  return rateLimit({
    windowMs: deps.rateLimitWindowMs,
    limit,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    // X-Forwarded-For is honoured only through the explicit trust-proxy setting (req.ip).
    validate: { xForwardedForHeader: false },
    handler: (req: Request, res: Response) => {
      deps.metrics.requestsRefused.inc({ route, reason: 'rate_limited' });
      deps.logger.warn('request refused: rate limited', { route, remoteAddress: req.ip });
      answer(res);
    },
  });
}

export interface SecurityControls {
  /**
   * In front of `POST /callbacks/bandwidth[/:accountId]` (the hot path, a route of its own on
   * the app): the observer, then the source allowlist (cheapest, no body read), then the rate
   * limit.
   */
  readonly callback: readonly RequestHandler[];
  /** Every other request: the same observer and callback controls (one rate-limit budget), the API's. */
  readonly router: Router;
}

export function securityControls(deps: SecurityDeps): SecurityControls {
  const router = express.Router();
  const observe = observeAuthFailures(deps);
  router.use(observe);

  const callbackRefusals: RequestHandler[] = [];
  if (deps.callbackAllowedCidrs.length > 0) {
    const allowed = createSourceAllowlist(deps.callbackAllowedCidrs);
    callbackRefusals.push((req: Request, res: Response, next: NextFunction) => {
      if (allowed(req.ip)) {
        next();
        return;
      }
      deps.metrics.requestsRefused.inc({ route: 'callback', reason: 'source_not_allowed' });
      deps.logger.warn('callback refused: source address not allowed', { remoteAddress: req.ip });
      res.setHeader('Connection', 'close');
      res.status(403).type('text/plain').send('Forbidden');
    });
  }
  const callbackLimit = limiter(deps, 'callback', deps.callbackRateLimit, (res) => {
    res.status(429).type('text/plain').send('Too Many Requests');
  });
  if (callbackLimit) callbackRefusals.push(callbackLimit);
  if (callbackRefusals.length > 0) router.use(CALLBACK_PATH, ...callbackRefusals);

  // API and admin paths share one budget per source address.
  const apiHeaders = helmet({
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
  });
  router.use(API_PATH, apiHeaders);
  const apiLimit = limiter(deps, 'api', deps.apiRateLimit, (res) => {
    sendError(res, 429, 'rate_limited', 'too many requests, retry after the time in Retry-After');
  });
  if (apiLimit) router.use([API_PATH, ADMIN_PATH], apiLimit);

  // What is switched on, for operators (admin scope; no secrets, only names and counts).
  router.get(`${API_PATH}/admin/security`, requireApiKey(deps.apiKeys, 'admin'), (_req: Request, res: Response) => {
    res.json({
      callbackAuth: { enabled: deps.callbackCredentialPairs > 0, credentialPairs: deps.callbackCredentialPairs },
      callbackAllowedCidrs: deps.callbackAllowedCidrs,
      trustProxy: deps.trustProxy,
      rateLimits: {
        windowMs: deps.rateLimitWindowMs,
        callback: deps.callbackRateLimit,
        api: deps.apiRateLimit,
      },
      apiKeys: deps.apiKeys.map((k) => ({ name: k.name, scope: k.scope })),
    });
  });
  return { callback: [observe, ...callbackRefusals], router };
}
