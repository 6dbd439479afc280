import { z } from 'zod';
import type { BandwidthConfig } from './bandwidth';
import { bandwidthConfigOf, bandwidthEnvShape } from './bandwidth';
import { emptyAsUndefined, integer } from './env-helpers';

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
  /** Bandwidth Numbers API integration; undefined unless its credentials are set. */
  readonly bandwidth: BandwidthConfig | undefined;
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

const envSchema = z.object({
  // Per-feature settings, merged (src/config/<feature>.ts).
  ...bandwidthEnvShape,
  PORT: integer(3000, 0, 65535),
  HOST: z.preprocess(emptyAsUndefined, z.string().default('0.0.0.0')),
  DATABASE_URL: z.preprocess(emptyAsUndefined, postgresUrl.optional()),
  REDIS_URL: z.preprocess(emptyAsUndefined, redisUrl.optional()),
  ROLE: z.preprocess(emptyAsUndefined, z.enum(['all', 'api', 'worker']).default('all')),
  CALLBACK_BASIC_AUTH: z.preprocess(emptyAsUndefined, credentialList.optional()),
  API_KEYS: z.preprocess(emptyAsUndefined, apiKeyList.optional()),
  LOG_LEVEL: z.preprocess(emptyAsUndefined, z.enum(LOG_LEVELS).default('info')),
  DATA_DIR: z.preprocess(emptyAsUndefined, z.string().default('./.data')),
  EMBEDDED_PG_PORT: integer(54329, 1024, 65535),
  CALLBACK_BODY_LIMIT_BYTES: integer(1024 * 1024, 1024, 64 * 1024 * 1024),
  QUEUE_PREFIX: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .regex(/^[a-zA-Z0-9_-]+$/, 'letters, digits, _ and - only')
      .default('bw'),
  ),
  WORKER_CONCURRENCY: integer(8, 1, 256),
  SHUTDOWN_TIMEOUT_MS: integer(8000, 100, 600_000),
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
  const bandwidth = bandwidthConfigOf(e);
  if (!bandwidth.ok) throw new ConfigError(bandwidth.problems);
  return {
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.REDIS_URL,
    role: e.ROLE,
    callbackCredentials: e.CALLBACK_BASIC_AUTH ?? [],
    apiKeys: e.API_KEYS,
    logLevel: e.LOG_LEVEL,
    dataDir: e.DATA_DIR,
    embeddedPostgresPort: e.EMBEDDED_PG_PORT,
    callbackBodyLimitBytes: e.CALLBACK_BODY_LIMIT_BYTES,
    queuePrefix: e.QUEUE_PREFIX,
    workerConcurrency: e.WORKER_CONCURRENCY,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    bandwidth: bandwidth.config,
  };
}
