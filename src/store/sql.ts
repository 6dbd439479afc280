import { createHash } from 'node:crypto';
import { Pool } from 'pg';
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

/** An int8 (bigint) column: bigint from Prisma, a decimal string from pg; read it with `Number()`. */
export type Int8 = bigint | string;

export interface SqlPoolOptions {
  readonly url: string;
  /** Connections; shared with Prisma when the pool is handed to `createDatabase`. */
  readonly max?: number;
  readonly logger: Logger;
}

/**
 * The service's one PostgreSQL pool. The error listener is required: an idle connection that
 * the server drops (restart, failover) emits `error`, which would otherwise crash the process.
 * The pool reconnects on the next query.
 */
export function createSqlPool(options: SqlPoolOptions): Pool {
  const pool = new Pool({ connectionString: options.url, max: options.max ?? 10 });
  pool.on('error', (error) => {
    options.logger.warn('idle PostgreSQL connection failed; the pool replaces it', { error: error.message });
  });
  return pool;
}

/**
 * Runs `Prisma.sql` statements straight on a node-postgres pool. Row values come back as pg
 * parses them: the same as Prisma's `$queryRaw` for text, numbers, booleans, timestamps, arrays
 * and JSON, except int8, which pg returns as a string (Prisma: bigint), so callers read counts
 * with `Number()`.
 */
export function sqlOverPool(pool: Pool): SqlClient {
  // Tagged-template calls (db.$queryRaw`...`) arrive as strings + values, as with Prisma.
  const statement = (query: TemplateStringsArray | Prisma.Sql, values: unknown[]): Prisma.Sql =>
    query instanceof Prisma.Sql ? query : Prisma.sql(query, ...values);
  // Named (prepared) statements: PostgreSQL parses and plans each statement text once per
  // connection instead of on every call. The read routes' statements are few and fixed (one
  // text per filter combination), and planning the order detail's three subqueries cost more
  // than running them (bench EXPLAIN: planning 2.1 ms, execution 0.7 ms on a cold connection).
  const names = new Map<string, string>();
  const prepared = (sql: Prisma.Sql) => {
    let name = names.get(sql.text);
    if (name === undefined) {
      name = `q_${createHash('sha1').update(sql.text).digest('hex').slice(0, 16)}`;
      // Bounded: the texts come from code, not from input; the cap only guards a future mistake.
      if (names.size < 1000) names.set(sql.text, name);
    }
    return { name, text: sql.text, values: sql.values };
  };
  return {
    async $queryRaw<T = unknown>(query: TemplateStringsArray | Prisma.Sql, ...values: unknown[]): Promise<T> {
      const result = await pool.query(prepared(statement(query, values)));
      // pg types rows as any[]; the statement's SELECT list is the contract, as with $queryRaw<T>.
      return result.rows as T;
    },
    async $executeRaw(query: TemplateStringsArray | Prisma.Sql, ...values: unknown[]): Promise<number> {
      const result = await pool.query(prepared(statement(query, values)));
      return result.rowCount ?? 0;
    },
  };
}
