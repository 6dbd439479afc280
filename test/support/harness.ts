import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import type { Logger } from 'winston';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/observability/logger';
import type { RunningService, ServiceExtras } from '../../src/service';
import { startService } from '../../src/service';
import { migrate } from '../../src/store/migrator';
import type { Database } from '../../src/store/prisma';
import { createDatabase } from '../../src/store/prisma';
import type { SqlDatabase } from '../../src/store/sql';
import { createSqlPool, sqlOverPool } from '../../src/store/sql';

/** Shared test harness: real PostgreSQL and Redis from global-setup, isolated per test file. */

export const EXAMPLES_DIR = path.resolve(__dirname, '..', '..', '..', 'shared', 'bandwidth', 'examples');

export function exampleFiles(): string[] {
  return readdirSync(EXAMPLES_DIR)
    .filter((f) => f.endsWith('.xml'))
    .sort();
}

export function readExample(name: string): string {
  return readFileSync(path.join(EXAMPLES_DIR, name), 'utf8');
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests through jest (global-setup)`);
  return value;
}

export const redisUrl = (): string => required('TEST_REDIS_URL');

export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

export interface TestDatabase {
  readonly url: string;
  readonly name: string;
  drop(): Promise<void>;
}

/** A fresh, empty database on the shared test cluster. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = required('TEST_PG_ADMIN_URL');
  const name = uniqueName('bwtest');
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = adminUrl.replace(/\/postgres$/, `/${name}`);
  return {
    url,
    name,
    drop: async () => {
      const c = new Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export const silentLogger = (): Logger => createLogger('error', { silent: process.env['TEST_LOGS'] !== '1' });

export const CALLBACK_USER = 'bandwidth';
export const CALLBACK_PASSWORD = 'callback-secret';
export const READ_KEY = 'read-key-0123456789abcdef';
export const ADMIN_KEY = 'admin-key-0123456789abcdef';

/**
 * A fresh database with every migration applied (store tests): a small pool, with Prisma on it
 * (`db`) and the same pool without Prisma (`sql`, what the worker's hot paths run on), as the
 * service wires them.
 */
export interface MigratedDatabase {
  readonly db: Database;
  readonly sql: SqlDatabase;
  /** Disconnects the client, ends the pool and drops the database. */
  close(): Promise<void>;
}

export async function createMigratedDatabase(): Promise<MigratedDatabase> {
  const testDb = await createTestDatabase();
  await migrate(testDb.url, silentLogger());
  const pool = createSqlPool({ url: testDb.url, max: 2, logger: silentLogger() });
  const db = createDatabase({ url: testDb.url, pool });
  return {
    db,
    sql: sqlOverPool(pool),
    async close() {
      await db.$disconnect();
      await pool.end();
      await testDb.drop();
    },
  };
}

export function basicAuth(user = CALLBACK_USER, password = CALLBACK_PASSWORD): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

export interface BootOptions {
  readonly databaseUrl: string;
  readonly queue: 'redis' | 'postgres';
  readonly env?: Record<string, string>;
  /** Defaults to a silent logger; pass one to assert on what the service logs. */
  readonly logger?: Logger;
  /** Ports wired at the composition root (e.g. a recording handler dispatch). */
  readonly extras?: ServiceExtras;
}

/** Boots the real service in-process (port 0) against the given database and queue backend. */
export async function bootService(options: BootOptions): Promise<RunningService> {
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: options.databaseUrl,
    ...(options.queue === 'redis' ? { REDIS_URL: redisUrl() } : {}),
    QUEUE_PREFIX: uniqueName('q'),
    CALLBACK_BASIC_AUTH: `${CALLBACK_USER}:${CALLBACK_PASSWORD}`,
    API_KEYS: `reader:${READ_KEY}:read,ops:${ADMIN_KEY}:admin`,
    SHUTDOWN_TIMEOUT_MS: '5000',
    // Each service its own spool directory, so no test drains another's spooled receipts.
    SPOOL_DIR: path.join(tmpdir(), uniqueName('bw-spool')),
    ...options.env,
  });
  return startService(config, options.logger ?? silentLogger(), options.extras);
}

/** Polls until `probe` returns a value (not undefined) or the deadline passes. */
export async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error: unknown) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(
    `condition not met within ${timeoutMs} ms${lastError instanceof Error ? `: ${lastError.message}` : ''}`,
  );
}
