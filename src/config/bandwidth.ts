import { z } from 'zod';
import { emptyAsUndefined, integer } from './env-helpers';

/**
 * Settings of the Bandwidth Numbers API integration (issue #9): client credentials, the
 * callback URL we register, and the keep-alive / reconciliation schedule. Merged into the
 * env schema of ./index.ts; parsed once like everything else.
 */

export type NumberFormat = 'E164' | 'LEGACY';

export interface BandwidthConfig {
  readonly accountId: string;
  readonly username: string;
  readonly password: string;
  /** No trailing slash. */
  readonly apiBaseUrl: string;
  /** The URL Bandwidth should POST to (this service's /callbacks/bandwidth route, public). */
  readonly publicCallbackUrl: string | undefined;
  readonly requestTimeoutMs: number;
  /** Total attempts per request, first one included (429, 5xx, timeouts and network errors retry). */
  readonly maxAttempts: number;
  readonly retryBaseDelayMs: number;
  /** Spacing between two reconciliation look-ups (rate limit towards Bandwidth). */
  readonly minRequestIntervalMs: number;
  readonly subscriptionExpirySeconds: number;
  readonly numberFormat: NumberFormat;
  /** Renew a subscription when fewer seconds than this remain. */
  readonly renewBeforeSeconds: number;
  readonly keepAliveIntervalMs: number;
  readonly reconcileIntervalMs: number;
  /** A non-terminal order with no event for this long is reconciled. */
  readonly reconcileIdleSeconds: number;
  /** Minimum time between two look-ups of one order. */
  readonly reconcileRecheckSeconds: number;
  /** Orders looked up per reconciliation run at most. */
  readonly reconcileBatchSize: number;
}

const optionalText = z.preprocess(emptyAsUndefined, z.string().trim().optional());

const httpUrl = z
  .string()
  .trim()
  .refine((value) => /^https?:\/\/[^\s]+$/.test(value), 'must be an http:// or https:// URL');

/** Env variables of the integration; spread into the env schema of ./index.ts. */
export const bandwidthEnvShape = {
  BANDWIDTH_ACCOUNT_ID: optionalText,
  BANDWIDTH_USERNAME: optionalText,
  BANDWIDTH_PASSWORD: z.preprocess(emptyAsUndefined, z.string().optional()),
  BANDWIDTH_API_BASE_URL: z.preprocess(emptyAsUndefined, httpUrl.default('https://dashboard.bandwidth.com/api')),
  PUBLIC_CALLBACK_URL: z.preprocess(emptyAsUndefined, httpUrl.optional()),
  BANDWIDTH_TIMEOUT_MS: integer(10_000, 100, 120_000),
  BANDWIDTH_MAX_ATTEMPTS: integer(4, 1, 10),
  BANDWIDTH_RETRY_BASE_MS: integer(500, 1, 60_000),
  BANDWIDTH_MIN_REQUEST_INTERVAL_MS: integer(250, 0, 60_000),
  SUBSCRIPTION_EXPIRY_SECONDS: integer(86_400, 60, 31_536_000),
  SUBSCRIPTION_NUMBER_FORMAT: z.preprocess(emptyAsUndefined, z.enum(['E164', 'LEGACY']).default('E164')),
  SUBSCRIPTION_RENEW_BEFORE_SECONDS: integer(6 * 3600, 1, 31_536_000),
  SUBSCRIPTION_KEEPALIVE_INTERVAL_MS: integer(15 * 60_000, 100, 24 * 3600_000),
  RECONCILE_INTERVAL_MS: integer(5 * 60_000, 100, 24 * 3600_000),
  RECONCILE_IDLE_SECONDS: integer(3600, 0, 365 * 86_400),
  RECONCILE_RECHECK_SECONDS: integer(3600, 0, 365 * 86_400),
  RECONCILE_BATCH_SIZE: integer(50, 1, 10_000),
};

type Shape = typeof bandwidthEnvShape;
export type BandwidthEnv = z.output<z.ZodObject<Shape>>;

export type BandwidthConfigResult =
  | { readonly ok: true; readonly config: BandwidthConfig | undefined }
  | { readonly ok: false; readonly problems: readonly string[] };

/**
 * The integration is on only when account, username and password are all set; a partial set
 * is a configuration error (fail closed: never half-configured).
 */
export function bandwidthConfigOf(e: BandwidthEnv): BandwidthConfigResult {
  const { BANDWIDTH_ACCOUNT_ID: accountId, BANDWIDTH_USERNAME: username, BANDWIDTH_PASSWORD: password } = e;
  const given = [accountId, username, password].filter((v) => v !== undefined).length;
  if (given === 0) return { ok: true, config: undefined };
  if (accountId === undefined || username === undefined || password === undefined) {
    const missing = [
      accountId === undefined ? 'BANDWIDTH_ACCOUNT_ID' : null,
      username === undefined ? 'BANDWIDTH_USERNAME' : null,
      password === undefined ? 'BANDWIDTH_PASSWORD' : null,
    ].filter((v): v is string => v !== null);
    return {
      ok: false,
      problems: missing.map((name) => `${name}: required when any BANDWIDTH_ACCOUNT_ID/USERNAME/PASSWORD is set`),
    };
  }
  return {
    ok: true,
    config: {
      accountId,
      username,
      password,
      apiBaseUrl: e.BANDWIDTH_API_BASE_URL.replace(/\/+$/, ''),
      publicCallbackUrl: e.PUBLIC_CALLBACK_URL,
      requestTimeoutMs: e.BANDWIDTH_TIMEOUT_MS,
      maxAttempts: e.BANDWIDTH_MAX_ATTEMPTS,
      retryBaseDelayMs: e.BANDWIDTH_RETRY_BASE_MS,
      minRequestIntervalMs: e.BANDWIDTH_MIN_REQUEST_INTERVAL_MS,
      subscriptionExpirySeconds: e.SUBSCRIPTION_EXPIRY_SECONDS,
      numberFormat: e.SUBSCRIPTION_NUMBER_FORMAT,
      renewBeforeSeconds: e.SUBSCRIPTION_RENEW_BEFORE_SECONDS,
      keepAliveIntervalMs: e.SUBSCRIPTION_KEEPALIVE_INTERVAL_MS,
      reconcileIntervalMs: e.RECONCILE_INTERVAL_MS,
      reconcileIdleSeconds: e.RECONCILE_IDLE_SECONDS,
      reconcileRecheckSeconds: e.RECONCILE_RECHECK_SECONDS,
      reconcileBatchSize: e.RECONCILE_BATCH_SIZE,
    },
  };
}
