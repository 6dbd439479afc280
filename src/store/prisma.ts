import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client';

export type Database = PrismaClient;

export interface DatabaseOptions {
  readonly url: string;
  /** Pool size of the pg driver under Prisma. */
  readonly poolSize?: number;
}

/** Prisma 7 with the node-postgres driver adapter (no Rust engine). */
export function createDatabase(options: DatabaseOptions): Database {
  const adapter = new PrismaPg({ connectionString: options.url, max: options.poolSize ?? 10 });
  return new PrismaClient({ adapter });
}
