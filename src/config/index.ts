import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import type { BandwidthConfig } from './bandwidth';
import { bandwidthConfigOf, bandwidthEnvShape } from './bandwidth';
import { emptyAsUndefined, integer, optionalInteger } from './env-helpers';

/**
 * The one place that reads the environment (STYLE: config is parsed once).
 * `loadConfig` returns a typed Config or throws ConfigError naming every bad variable.
 */

export type Role = 'all' | 'api' | 'worker';
export type ApiScope = 'read' | 'admin';

export interface BasicCredential {
  readonly username: string;
  readonly password: string;
}

export interface ApiKey {
  readonly name: string;
  readonly key: string;
  readonly scope: ApiScope;
}

export interface Config {
  readonly port: number;
  readonly host: string;
  /** Unset: an embedded PostgreSQL under `dataDir` is started. */
  readonly databaseUrl: string | undefined;
  /** Unset: BullMQ runs on its PostgreSQL backend in the same database. */
  readonly redisUrl: string | undefined;
  /** Connections of the process's one node-postgres pool (Prisma and the plain-SQL paths). */
  readonly databasePoolSize: number;
  readonly role: Role;
  /** Empty: the callback route is open (a loud warning is logged at start). */
  readonly callbackCredentials: readonly BasicCredential[];
  /** Undefined: no keys configured (fail closed, or a generated key in embedded mode). */
  readonly apiKeys: readonly ApiKey[] | undefined;
  readonly logLevel: string;
  readonly dataDir: string;
  readonly embeddedPostgresPort: number;
  readonly callbackBodyLimitBytes: number;
  readonly queuePrefix: string;
  readonly workerConcurrency: number;
  readonly shutdownTimeoutMs: number;
  /** Path of the handlers JSON file; undefined: one built-in `log` handler. */
  readonly handlersConfig: string | undefined;
  /** Handler deliveries run in parallel per worker process. */
  readonly handlerConcurrency: number;
  /** BullMQ lock of a running handler job; a crashed worker's job is retried after it expires. */
  readonly handlerLockDurationMs: number;
  /** How often a worker looks for stalled handler jobs (crashed workers). */
  readonly handlerStalledIntervalMs: number;
  /** How long a delivery waits before re-checking when an earlier one of its order is unfinished. */
  readonly handlerOrderWaitMs: number;
  /** Most receipts the callback route writes to the queue in one addBulk; 1 = one add each. */
  readonly enqueueBatchMax: number;
  /** Source addresses allowed on the callback route (CIDR strings); empty: any source. */
  readonly callbackAllowedCidrs: readonly string[];
  /** Express `trust proxy`: false (X-Forwarded-For ignored), a hop count, or proxy addresses. */
  readonly trustProxy: false | number | string;
  /** Rate-limit window shared by the callback route and the API. */
  readonly rateLimitWindowMs: number;
  /** Callback requests per source address per window; 0 turns the limit off. */
  readonly callbackRateLimit: number;
  /** API requests per source address per window; 0 turns the limit off. */
  readonly apiRateLimit: number;
  /** Slow-client limits of the HTTP server. */
  readonly httpRequestTimeoutMs: number;
  readonly httpHeadersTimeoutMs: number;
  readonly httpKeepAliveTimeoutMs: number;
  /** Where the receiver spools notifications while the queue is unreachable (one directory per API process). */
  readonly spoolDir: string;
  /** How long a callback waits on the queue before it spools instead. */
  readonly spoolEnqueueTimeoutMs: number;
  /** How often the drainer re-enqueues spooled notifications. */
  readonly spoolDrainIntervalMs: number;
  /** Database outages shorter than this never dead-letter a notification. */
  readonly workerRetryWindowMs: number;
  /** First retry delay; doubles per attempt up to `workerRetryMaxDelayMs`. */
  readonly workerRetryBaseDelayMs: number;
  readonly workerRetryMaxDelayMs: number;
  /** Attempts after which a notification that fails for a non-infrastructure reason is quarantined. */
  readonly workerPoisonAttempts: number;
  /** BullMQ lock duration: a crashed worker's jobs are recovered after about this long. */
  readonly workerLockDurationMs: number;
  /** Raw receipts (notifications rows) older than this are purged; order history is kept. */
  readonly rawRetentionDays: number;
  readonly retentionIntervalMs: number;
  /** On SIGTERM, readiness is false for this long before the listener closes. */
  readonly shutdownReadinessDelayMs: number;
  /** Bandwidth Numbers API integration; undefined unless its credentials are set. */
  readonly bandwidth: BandwidthConfig | undefined;
  /** Most receipts the worker persists in one transaction (group commit); 1 = one each. */
  readonly persistBatchMax: number;
  /** How long the worker waits for more receipts before writing a batch; 0 = one event-loop turn. */
  readonly persistBatchLingerMs: number;
  /** Persist batches a worker writes at once; batches in flight never share an order. */
  readonly persistBatchesInFlight: number;
  /**
   * Longest a handler delivery job waits for the worker's persist backlog to clear before it
   * starts (a burst's history first); 0 (the default) = deliveries never wait. Off by default:
   * under CPU contention it doubled the steady-rate lag p99 in the bench (bench/RESULTS.md).
   */
  readonly persistFirstMaxWaitMs: number;
  /** Receipts held by the worker's persist batcher from which it counts as backlogged. */
  readonly persistFirstBacklog: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const LOG_LEVELS = ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] as const;

const postgresUrl = z
  .string()
  .trim()
  .refine((value) => /^postgres(ql)?:\/\/.+/.test(value), 'must be a postgres:// or postgresql:// URL');

const redisUrl = z
  .string()
  .trim()
  .refine((value) => /^rediss?:\/\/.+/.test(value), 'must be a redis:// or rediss:// URL');

const credentialList = z.string().transform((value, ctx): BasicCredential[] => {
  const pairs = value
    .split(',')
    .map((pair) => pair.trim())
    .filter((pair) => pair !== '');
  const credentials: BasicCredential[] = [];
  for (const pair of pairs) {
    const colon = pair.indexOf(':');
    if (colon <= 0 || colon === pair.length - 1) {
      // Never echo the value: it holds passwords.
      ctx.addIssue({ code: 'custom', message: 'each entry must be user:password (non-empty both)' });
      return z.NEVER;
    }
    credentials.push({ username: pair.slice(0, colon), password: pair.slice(colon + 1) });
  }
  return credentials;
});

const apiKeyList = z.string().transform((value, ctx): ApiKey[] => {
  const keys: ApiKey[] = [];
  for (const entry of value
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '')) {
    const [name, key, scope = 'read', ...rest] = entry.split(':');
    if (!name || !key || rest.length > 0 || (scope !== 'read' && scope !== 'admin')) {
      ctx.addIssue({ code: 'custom', message: 'each entry must be name:key or name:key:read|admin' });
      return z.NEVER;
    }
    if (key.length < 16) {
      ctx.addIssue({ code: 'custom', message: `key "${name}" must be at least 16 characters` });
      return z.NEVER;
    }
    keys.push({ name, key, scope });
  }
  return keys;
});

const isAddressOrCidr = (value: string): boolean =>
  ipaddr.IPv4.isValidFourPartDecimal(value) ||
  ipaddr.IPv4.isValidCIDRFourPartDecimal(value) ||
  ipaddr.IPv6.isValid(value) ||
  ipaddr.IPv6.isValidCIDR(value);

const cidrList = z.string().transform((value, ctx): string[] => {
  const entries = value
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  for (const entry of entries) {
    if (!isAddressOrCidr(entry)) {
      ctx.addIssue({ code: 'custom', message: `"${entry}" is not an IP address or CIDR range` });
      return z.NEVER;
    }
  }
  return entries;
});

/** Explicit on purpose: `true` (trust every hop) would let any client forge its address. */
const PROXY_NAMES = ['loopback', 'linklocal', 'uniquelocal'];
const trustProxySetting = z.string().transform((value, ctx): false | number | string => {
  const text = value.trim();
  if (text === 'false' || text === '0') return false;
  if (/^[0-9]+$/.test(text)) return Number(text);
  const entries = text
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  const bad = entries.find((e) => !PROXY_NAMES.includes(e) && !isAddressOrCidr(e));
  if (bad !== undefined || entries.length === 0) {
    ctx.addIssue({
      code: 'custom',
      message: 'must be false, a hop count, or comma-separated proxy addresses/CIDRs/loopback/linklocal/uniquelocal',
    });
    return z.NEVER;
  }
  return entries.join(',');
});

const envSchema = z.object({
  // Per-feature settings, merged (src/config/<feature>.ts).
  ...bandwidthEnvShape,
  PORT: integer(3000, 0, 65535),
  HOST: z.preprocess(emptyAsUndefined, z.string().default('0.0.0.0')),
  DATABASE_URL: z.preprocess(emptyAsUndefined, postgresUrl.optional()),
  REDIS_URL: z.preprocess(emptyAsUndefined, redisUrl.optional()),
  DATABASE_POOL_SIZE: integer(10, 1, 1000),
  ROLE: z.preprocess(emptyAsUndefined, z.enum(['all', 'api', 'worker']).default('all')),
  CALLBACK_BASIC_AUTH: z.preprocess(emptyAsUndefined, credentialList.optional()),
  API_KEYS: z.preprocess(emptyAsUndefined, apiKeyList.optional()),
  LOG_LEVEL: z.preprocess(emptyAsUndefined, z.enum(LOG_LEVELS).default('info')),
  DATA_DIR: z.preprocess(emptyAsUndefined, z.string().default('./.data')),
  EMBEDDED_PG_PORT: integer(54329, 1024, 65535),
  CALLBACK_BODY_LIMIT_BYTES: integer(1024 * 1024, 1024, 64 * 1024 * 1024),
  HANDLERS_CONFIG: z.preprocess(emptyAsUndefined, z.string().optional()),
  HANDLER_CONCURRENCY: optionalInteger(1, 256),
  HANDLER_LOCK_DURATION_MS: integer(30_000, 500, 600_000),
  HANDLER_STALLED_INTERVAL_MS: integer(30_000, 200, 600_000),
  HANDLER_ORDER_WAIT_MS: integer(1000, 10, 600_000),
  QUEUE_PREFIX: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .regex(/^[a-zA-Z0-9_-]+$/, 'letters, digits, _ and - only')
      .default('bw'),
  ),
  ENQUEUE_BATCH_MAX: integer(100, 1, 1000),
  WORKER_CONCURRENCY: optionalInteger(1, 256),
  SHUTDOWN_TIMEOUT_MS: integer(7000, 100, 600_000),
  CALLBACK_ALLOWED_CIDRS: z.preprocess(emptyAsUndefined, cidrList.optional()),
  TRUST_PROXY: z.preprocess(emptyAsUndefined, trustProxySetting.optional()),
  RATE_LIMIT_WINDOW_MS: integer(60_000, 1000, 3_600_000),
  CALLBACK_RATE_LIMIT: integer(6000, 0, 1_000_000),
  API_RATE_LIMIT: integer(600, 0, 1_000_000),
  HTTP_REQUEST_TIMEOUT_MS: integer(30_000, 100, 600_000),
  HTTP_HEADERS_TIMEOUT_MS: integer(10_000, 100, 600_000),
  HTTP_KEEP_ALIVE_TIMEOUT_MS: integer(5_000, 0, 600_000),
  SPOOL_DIR: z.preprocess(emptyAsUndefined, z.string().optional()),
  SPOOL_ENQUEUE_TIMEOUT_MS: integer(200, 10, 60_000),
  SPOOL_DRAIN_INTERVAL_MS: integer(1000, 10, 600_000),
  WORKER_RETRY_WINDOW_MS: integer(15 * 60_000, 1000, 7 * 24 * 3600_000),
  WORKER_RETRY_BASE_DELAY_MS: integer(1000, 1, 600_000),
  WORKER_RETRY_MAX_DELAY_MS: integer(30_000, 1, 3600_000),
  WORKER_POISON_ATTEMPTS: integer(5, 1, 1000),
  WORKER_LOCK_DURATION_MS: integer(30_000, 1000, 600_000),
  RAW_RETENTION_DAYS: integer(90, 1, 36_500),
  RETENTION_INTERVAL_MS: integer(3600_000, 1000, 7 * 24 * 3600_000),
  SHUTDOWN_READINESS_DELAY_MS: integer(0, 0, 600_000),
  PERSIST_BATCH_MAX: integer(1000, 1, 1000),
  PERSIST_BATCH_LINGER_MS: integer(2, 0, 1000),
  PERSIST_BATCHES_IN_FLIGHT: integer(2, 1, 8),
  PERSIST_FIRST_MAX_WAIT_MS: integer(0, 0, 600_000),
  PERSIST_FIRST_BACKLOG: integer(200, 1, 100_000),
});

export function loadConfig(env: NodeJS.ProcessEnv): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const variable = issue.path.join('.') || '(environment)';
      return `${variable}: ${issue.message}`;
    });
    throw new ConfigError(problems);
  }
  const e = parsed.data;
  // Jobs in flight per worker process. On Redis a job in flight costs nothing but memory, and
  // the worker's group commits grow with it: a persist batch holds at most WORKER_CONCURRENCY
  // receipts, the delivery statements at most HANDLER_CONCURRENCY deliveries (bench/RESULTS.md:
  // 128 persist jobs cost 2.7 ms of CPU per notification against 3.7 ms at 32). Handlers stay
  // at 32: that is also how many calls a worker makes at once to a forward handler's receiver.
  // On BullMQ's PostgreSQL backend every unit is a queue connection, so both stay at 8 there.
  const onRedis = e.REDIS_URL !== undefined;
  if (e.HTTP_HEADERS_TIMEOUT_MS > e.HTTP_REQUEST_TIMEOUT_MS) {
    throw new ConfigError(['HTTP_HEADERS_TIMEOUT_MS: must not exceed HTTP_REQUEST_TIMEOUT_MS']);
  }
  const bandwidth = bandwidthConfigOf(e);
  if (!bandwidth.ok) throw new ConfigError(bandwidth.problems);
  return {
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.REDIS_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    role: e.ROLE,
    callbackCredentials: e.CALLBACK_BASIC_AUTH ?? [],
    apiKeys: e.API_KEYS,
    logLevel: e.LOG_LEVEL,
    dataDir: e.DATA_DIR,
    embeddedPostgresPort: e.EMBEDDED_PG_PORT,
    callbackBodyLimitBytes: e.CALLBACK_BODY_LIMIT_BYTES,
    queuePrefix: e.QUEUE_PREFIX,
    workerConcurrency: e.WORKER_CONCURRENCY ?? (onRedis ? 128 : 8),
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    handlersConfig: e.HANDLERS_CONFIG,
    handlerConcurrency: e.HANDLER_CONCURRENCY ?? (onRedis ? 32 : 8),
    handlerLockDurationMs: e.HANDLER_LOCK_DURATION_MS,
    handlerStalledIntervalMs: e.HANDLER_STALLED_INTERVAL_MS,
    handlerOrderWaitMs: e.HANDLER_ORDER_WAIT_MS,
    enqueueBatchMax: e.ENQUEUE_BATCH_MAX,
    callbackAllowedCidrs: e.CALLBACK_ALLOWED_CIDRS ?? [],
    trustProxy: e.TRUST_PROXY ?? false,
    rateLimitWindowMs: e.RATE_LIMIT_WINDOW_MS,
    callbackRateLimit: e.CALLBACK_RATE_LIMIT,
    apiRateLimit: e.API_RATE_LIMIT,
    httpRequestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_MS,
    httpHeadersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_MS,
    httpKeepAliveTimeoutMs: e.HTTP_KEEP_ALIVE_TIMEOUT_MS,
    spoolDir: e.SPOOL_DIR ?? `${e.DATA_DIR}/spool`,
    spoolEnqueueTimeoutMs: e.SPOOL_ENQUEUE_TIMEOUT_MS,
    spoolDrainIntervalMs: e.SPOOL_DRAIN_INTERVAL_MS,
    workerRetryWindowMs: e.WORKER_RETRY_WINDOW_MS,
    workerRetryBaseDelayMs: e.WORKER_RETRY_BASE_DELAY_MS,
    workerRetryMaxDelayMs: e.WORKER_RETRY_MAX_DELAY_MS,
    workerPoisonAttempts: e.WORKER_POISON_ATTEMPTS,
    workerLockDurationMs: e.WORKER_LOCK_DURATION_MS,
    rawRetentionDays: e.RAW_RETENTION_DAYS,
    retentionIntervalMs: e.RETENTION_INTERVAL_MS,
    shutdownReadinessDelayMs: e.SHUTDOWN_READINESS_DELAY_MS,
    bandwidth: bandwidth.config,
    persistBatchMax: e.PERSIST_BATCH_MAX,
    persistBatchLingerMs: e.PERSIST_BATCH_LINGER_MS,
    persistBatchesInFlight: e.PERSIST_BATCHES_IN_FLIGHT,
    persistFirstMaxWaitMs: e.PERSIST_FIRST_MAX_WAIT_MS,
    persistFirstBacklog: e.PERSIST_FIRST_BACKLOG,
  };
}
