import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { migrate, readMigrations } from '../../src/store/migrator';
import { createDatabase } from '../../src/store/prisma';
import type { TestDatabase } from '../support/harness';
import { createTestDatabase, silentLogger } from '../support/harness';

/**
 * schema.prisma and the SQL migrations must describe the same database: the generated
 * client's model (tables, columns, types) is compared with what the migrator built, and
 * nullability with the `?` markers of schema.prisma.
 */

interface RuntimeField {
  name: string;
  kind: string;
  type: string;
  dbName?: string;
}
interface RuntimeModel {
  dbName: string | null;
  fields: RuntimeField[];
}

function isRuntimeDataModel(value: unknown): value is { models: Record<string, RuntimeModel> } {
  return typeof value === 'object' && value !== null && 'models' in value;
}

/** Prisma scalar type -> PostgreSQL udt names it may map to. */
const TYPE_MAP: Record<string, string[]> = {
  String: ['text', 'uuid', 'varchar'],
  DateTime: ['timestamptz', 'timestamp'],
  Boolean: ['bool'],
  Int: ['int4'],
  BigInt: ['int8'],
  Json: ['jsonb', 'json'],
  Bytes: ['bytea'],
};

function optionalFieldsFromSchema(): Map<string, Set<string>> {
  const text = readFileSync(path.resolve(__dirname, '..', '..', 'prisma', 'schema.prisma'), 'utf8');
  const result = new Map<string, Set<string>>();
  for (const block of text.matchAll(/model\s+(\w+)\s*\{([\s\S]*?)\n\}/g)) {
    const optional = new Set<string>();
    for (const line of (block[2] ?? '').split('\n')) {
      const m = /^\s*(\w+)\s+\w+(\[\])?(\?)?/.exec(line);
      if (m?.[1] && (m[3] === '?' || m[2] === '[]')) optional.add(m[1]);
    }
    result.set(block[1] ?? '', optional);
  }
  return result;
}

describe('schema.prisma and migrations agree', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
    await migrate(db.url, silentLogger());
  });
  afterAll(async () => db?.drop());

  it('has every model column in the migrated database with a compatible type and nullability', async () => {
    const prisma = createDatabase({ url: db.url });
    const runtime: unknown = (prisma as unknown as { _runtimeDataModel: unknown })._runtimeDataModel;
    await prisma.$disconnect();
    if (!isRuntimeDataModel(runtime)) throw new Error('generated client exposes no runtime data model');

    const client = new Client({ connectionString: db.url });
    await client.connect();
    const { rows } = await client.query<{
      table_name: string;
      column_name: string;
      udt_name: string;
      is_nullable: string;
    }>(
      `SELECT table_name, column_name, udt_name, is_nullable FROM information_schema.columns
        WHERE table_schema = 'public' AND table_name <> '_prisma_migrations'`,
    );
    const { rows: views } = await client.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.views WHERE table_schema = 'public'`,
    );
    await client.end();
    const viewNames = new Set(views.map((v) => v.table_name));
    const columns = new Map(rows.map((r) => [`${r.table_name}.${r.column_name}`, r]));
    const optional = optionalFieldsFromSchema();

    const modelColumns = new Set<string>();
    for (const [modelName, model] of Object.entries(runtime.models)) {
      const table = model.dbName ?? modelName;
      for (const field of model.fields.filter((f) => f.kind === 'scalar')) {
        const column = field.dbName ?? field.name;
        const key = `${table}.${column}`;
        modelColumns.add(key);
        const actual = columns.get(key);
        expect({ key, exists: actual !== undefined }).toEqual({ key, exists: true });
        if (!actual) continue;
        const udt = actual.udt_name.replace(/^_/, '');
        expect({ key, type: TYPE_MAP[field.type]?.includes(udt) ?? false }).toEqual({ key, type: true });
        const nullable = actual.is_nullable === 'YES';
        const declaredOptional = optional.get(modelName)?.has(field.name) ?? false;
        expect({ key, nullable }).toEqual({ key, nullable: declaredOptional });
      }
    }
    // And nothing in the database that the model does not know (views excluded).
    const extra = [...columns.keys()].filter((k) => !modelColumns.has(k) && !viewNames.has(k.split('.')[0] ?? ''));
    expect(extra).toEqual([]);
  });

  it('keeps room on handler_deliveries pages for HOT updates (fillfactor, which schema.prisma cannot say)', async () => {
    const client = new Client({ connectionString: db.url });
    await client.connect();
    const { rows } = await client.query<{ reloptions: string[] | null }>(
      `SELECT reloptions FROM pg_class WHERE oid = 'handler_deliveries'::regclass`,
    );
    await client.end();
    expect(rows[0]?.reloptions).toEqual(['fillfactor=70']);
  });

  it('records migrations as Prisma does and is idempotent', async () => {
    const again = await migrate(db.url, silentLogger());
    expect(again.applied).toEqual([]);
    const client = new Client({ connectionString: db.url });
    await client.connect();
    const { rows } = await client.query<{ migration_name: string; checksum: string; finished_at: Date | null }>(
      'SELECT migration_name, checksum, finished_at FROM _prisma_migrations ORDER BY migration_name',
    );
    await client.end();
    const files = await readMigrations();
    expect(rows.map((r) => [r.migration_name, r.checksum])).toEqual(files.map((m) => [m.name, m.checksum]));
    expect(rows.every((r) => r.finished_at !== null)).toBe(true);
  });

  it('lets concurrent starters migrate once (advisory lock)', async () => {
    const fresh = await createTestDatabase();
    try {
      const results = await Promise.all([1, 2, 3].map(() => migrate(fresh.url, silentLogger())));
      const appliedTotal = results.reduce((sum, r) => sum + r.applied.length, 0);
      expect(appliedTotal).toBe((await readMigrations()).length);
    } finally {
      await fresh.drop();
    }
  });
});
