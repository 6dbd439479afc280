import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { migrate } from '../../src/store/migrator';
import type { TestDatabase } from '../support/harness';
import { createTestDatabase, silentLogger } from '../support/harness';

/**
 * docs/schema.md must describe the migrated database: every table and view under a
 * `### \`name\`` heading, every column as a `| \`column\` |` row of that section, every index
 * by name in its table's section; and nothing documented may be missing from the database.
 * A branch that adds a table or column without documenting it fails here, on purpose.
 */
const SCHEMA_MD = path.resolve(__dirname, '..', '..', 'docs', 'schema.md');

function documentedSections(): Map<string, string> {
  const text = readFileSync(SCHEMA_MD, 'utf8');
  const sections = new Map<string, string>();
  const headings = [...text.matchAll(/^###\s+`([^`]+)`\s*$/gm)];
  headings.forEach((heading, i) => {
    const start = (heading.index ?? 0) + heading[0].length;
    const next = headings[i + 1]?.index ?? text.length;
    const body = text.slice(start, next);
    const end = body.search(/^##\s/m);
    sections.set(heading[1] ?? '', end === -1 ? body : body.slice(0, end));
  });
  return sections;
}

const documentedColumns = (section: string): string[] =>
  [...section.matchAll(/^\|\s*`([^`]+)`\s*\|/gm)].map((m) => m[1] ?? '');

describe('docs/schema.md', () => {
  let db: TestDatabase;
  let relations: Map<string, { kind: 'table' | 'view'; columns: string[] }>;
  let indexes: { table: string; name: string }[];

  beforeAll(async () => {
    db = await createTestDatabase();
    await migrate(db.url, silentLogger());
    const client = new Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ name: string; kind: string; columns: string[] }>(`
        SELECT c.relname AS name, CASE c.relkind WHEN 'v' THEN 'view' ELSE 'table' END AS kind,
               array_agg(a.attname::text ORDER BY a.attnum) AS columns
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'p', 'm')
        GROUP BY c.relname, c.relkind`);
      relations = new Map(rows.map((r) => [r.name, { kind: r.kind as 'table' | 'view', columns: r.columns }]));
      indexes = (
        await client.query<{ table: string; name: string }>(
          `SELECT tablename AS table, indexname AS name FROM pg_indexes WHERE schemaname = 'public'`,
        )
      ).rows;
    } finally {
      await client.end();
    }
  });
  afterAll(async () => db?.drop());

  it('has the four dashboard views', () => {
    for (const view of ['v_order_current_status', 'v_orders_stuck', 'v_daily_status_counts', 'v_handler_failures']) {
      expect({ view, kind: relations.get(view)?.kind }).toEqual({ view, kind: 'view' });
    }
  });

  it('documents every table, view and column of the database', () => {
    const sections = documentedSections();
    const missing: string[] = [];
    for (const [name, relation] of relations) {
      const section = sections.get(name);
      if (section === undefined) {
        missing.push(`${relation.kind} ${name}`);
        continue;
      }
      const columns = new Set(documentedColumns(section));
      for (const column of relation.columns) if (!columns.has(column)) missing.push(`column ${name}.${column}`);
    }
    expect(missing).toEqual([]);
  });

  it('documents every index in its table section', () => {
    const sections = documentedSections();
    const missing = indexes
      .filter(({ table, name }) => !(sections.get(table) ?? '').includes(`\`${name}\``))
      .map(({ table, name }) => `${table}: ${name}`);
    expect(missing).toEqual([]);
  });

  it('documents nothing that the database does not have', () => {
    const stale: string[] = [];
    for (const [name, section] of documentedSections()) {
      const relation = relations.get(name);
      if (relation === undefined) {
        stale.push(name);
        continue;
      }
      for (const column of documentedColumns(section)) {
        if (column !== 'column' && !relation.columns.includes(column)) stale.push(`${name}.${column}`);
      }
    }
    expect(stale).toEqual([]);
  });
});
