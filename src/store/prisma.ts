import { PrismaPg } from '@prisma/adapter-pg';
import type { Pool } from 'pg';
import { PrismaClient } from '../generated/prisma/client';

export type Database = PrismaClient;

export interface DatabaseOptions {
  readonly url: string;
  /** Pool size of the pg driver under Prisma (ignored with `pool`). */
  readonly poolSize?: number;
  /**
   * Run Prisma on this pool instead of its own (the service shares one pool between Prisma and
   * `sqlOverPool`). `$disconnect` leaves it open: its owner ends it.
   */
  readonly pool?: Pool;
}

/** Prisma 7 with the node-postgres driver adapter (no Rust engine). */
export function createDatabase(options: DatabaseOptions): Database {
  const adapter = new PrismaPg(options.pool ?? { connectionString: options.url, max: options.poolSize ?? 10 });
  return new PrismaClient({ adapter });
}
