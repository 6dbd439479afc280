import { createHash } from 'node:crypto';
import { Pool } from 'pg';
import type { PoolClient } from 'pg';
import type { Logger } from 'winston';
import { Prisma } from '../generated/prisma/client';

/**
 * The raw-SQL subset of PrismaClient that the read-side repositories use. PrismaClient
 * satisfies it as it is, and so does `sqlOverPool` (node-postgres, no Prisma): the repositories
 * build their statements with `Prisma.sql` either way and do not know which one runs them.
 *
 * Why two: every Prisma query, `$queryRaw` included, goes through Prisma 7's WebAssembly query
 * compiler, which costs ~90 MB of RSS the first time it is loaded and a fixed overhead per
 * query. The API process serves its hot paths (callback quarantine, readiness, scrape gauges,
 * read API) through the pool so that it never loads the compiler for them (issue #8).
 */
export interface SqlClient {
  $queryRaw<T = unknown>(query: TemplateStringsArray | Prisma.Sql, ...values: unknown[]): Promise<T>;
  $executeRaw(query: TemplateStringsArray | Prisma.Sql, ...values: unknown[]): Promise<number>;
}

/**
 * `SqlClient` plus transactions: what the worker's persistence needs. PrismaClient satisfies it
 * (its interactive `$transaction`), and so does `sqlOverPool`, whose transactions run on one
 * checked-out pool connection without the query compiler (issue #8: the worker's hot path).
 */
export interface SqlDatabase extends SqlClient {
  /**
   * Runs `work` in one transaction: committed when it resolves, rolled back when it throws.
   * `timeout` (ms) bounds each statement of it (pool) or the whole transaction (Prisma).
   */
  $transaction<T>(work: (tx: SqlClient) => Promise<T>, options?: { readonly timeout?: number }): Promise<T>;
}

/** An int8 (bigint) column: bigint from Prisma, a decimal string from pg; read it with `Number()`. */
export type Int8 = bigint | string;

export interface SqlPoolOptions {
  readonly url: string;
  /** Connections (DATABASE_POOL_SIZE); shared with Prisma when the pool is handed to `createDatabase`. */
  readonly max: number;
  readonly logger: Logger;
}

/**
 * The service's one PostgreSQL pool. The error listener is required: an idle connection that
 * the server drops (restart, failover) emits `error`, which would otherwise crash the process.
 * The pool reconnects on the next query.
 *
 * Connections are kept once opened (`idleTimeoutMillis: 0`; node-postgres closes a connection
 * idle for 10 s by default). Opening one costs the authentication exchange, a new PostgreSQL
 * backend and the first planning of each named statement on it: 37-101 ms measured under read
 * load (issue #8), and always when load rises again after a lull, as Bandwidth's bursts do.
 * The requests queued behind it were part of the read API's tail at moderate rates. TCP
 * keepalive lets the kernel notice a peer that vanished while a connection sat idle.
 */
export function createSqlPool(options: SqlPoolOptions): Pool {
  const pool = new Pool({ connectionString: options.url, max: options.max, idleTimeoutMillis: 0, keepAlive: true });
  pool.on('error', (error) => {
    options.logger.warn('idle PostgreSQL connection failed; the pool replaces it', { error: error.message });
  });
  return pool;
}

/**
 * Runs `Prisma.sql` statements straight on a node-postgres pool. Row values come back as pg
 * parses them: the same as Prisma's `$queryRaw` for text, numbers, booleans, timestamps, arrays
 * and JSON, except int8, which pg returns as a string (Prisma: bigint), so callers read counts
 * with `Number()` and ids with `BigInt()`.
 *
 * `named: false` runs every statement unnamed, planned on each call as Prisma runs them. The
 * worker needs that: after five runs PostgreSQL may keep a named statement's generic plan, and
 * the one it kept for the delivery read (now `claimDeliveries`), planned while the tables were
 * still small, cost 3.3 ms of PostgreSQL CPU per notification instead of 0.11 ms
 * (bench/worker-drain.ts --notifications 10000 --statements, with and without
 * PGOPTIONS=-c plan_cache_mode=force_custom_plan). The read API's statements run on large,
 * settled tables, where the generic plan saves the planning.
 */
export function sqlOverPool(pool: Pool, options: { readonly named?: boolean } = {}): SqlDatabase {
  const named = options.named ?? true;
  // Tagged-template calls (db.$queryRaw`...`) arrive as strings + values, as with Prisma.
  const statement = (query: TemplateStringsArray | Prisma.Sql, values: unknown[]): Prisma.Sql =>
    query instanceof Prisma.Sql ? query : Prisma.sql(query, ...values);
  // Named (prepared) statements: PostgreSQL parses and plans each statement text once per
  // connection instead of on every call. The read routes' statements are few and fixed (one
  // text per filter combination), and planning the order detail's three subqueries cost more
  // than running them (bench EXPLAIN: planning 2.1 ms, execution 0.7 ms on a cold connection).
  // The worker's statements are fixed texts too: their lists travel as array or JSON parameters,
  // never as a text that grows with the batch.
  const names = new Map<string, string>();
  const prepared = (sql: Prisma.Sql) => {
    if (!named) return { text: sql.text, values: sql.values };
    let name = names.get(sql.text);
    if (name === undefined) {
      // Bounded: the texts come from code, not from input. Past the cap (a future mistake that
      // builds texts from data) statements run unnamed, so neither this map nor each
      // connection's prepared statements grow without end.
      if (names.size >= 1000) return { text: sql.text, values: sql.values };
      name = `q_${createHash('sha1').update(sql.text).digest('hex').slice(0, 16)}`;
      names.set(sql.text, name);
    }
    return { name, text: sql.text, values: sql.values };
  };
  const over = (runner: Pool | PoolClient): SqlClient => ({
    async $queryRaw<T = unknown>(query: TemplateStringsArray | Prisma.Sql, ...values: unknown[]): Promise<T> {
      const result = await runner.query(prepared(statement(query, values)));
      // pg types rows as any[]; the statement's SELECT list is the contract, as with $queryRaw<T>.
      return result.rows as T;
    },
    async $executeRaw(query: TemplateStringsArray | Prisma.Sql, ...values: unknown[]): Promise<number> {
      const result = await runner.query(prepared(statement(query, values)));
      return result.rowCount ?? 0;
    },
  });
  return {
    ...over(pool),
    async $transaction<T>(work: (tx: SqlClient) => Promise<T>, options?: { readonly timeout?: number }) {
      const client = await pool.connect();
      // A checked-out client has no idle error listener: without this one, a connection lost
      // mid-transaction would crash the process. Its queries fail with the error anyway.
      let broken: Error | undefined;
      const onError = (error: Error): void => {
        broken = error;
      };
      client.on('error', onError);
      try {
        // One round trip: SET LOCAL lasts until COMMIT/ROLLBACK, then the pool's default is back.
        const timeout = options?.timeout;
        await client.query(
          timeout === undefined ? 'BEGIN' : `BEGIN; SET LOCAL statement_timeout = ${Math.max(1, Math.floor(timeout))}`,
        );
        const result = await work(over(client));
        await client.query('COMMIT');
        return result;
      } catch (error: unknown) {
        // Fail closed: nothing of a failed transaction is kept. A connection that cannot even
        // roll back is destroyed instead of going back to the pool.
        await client.query('ROLLBACK').catch((rollback: unknown) => {
          broken ??= rollback instanceof Error ? rollback : new Error(String(rollback));
        });
        throw error;
      } finally {
        client.off('error', onError);
        client.release(broken);
      }
    },
  };
}
