import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createMetrics } from '../../src/observability/metrics';

/** The ops dashboard must only query metrics the service exports and views the schema has. */
const DASHBOARD = path.resolve(__dirname, '..', '..', 'ops', 'grafana', 'bandwidth-receiver.json');
const SCHEMA_MD = path.resolve(__dirname, '..', '..', 'docs', 'schema.md');

interface Target {
  expr?: string;
  rawSql?: string;
}
interface Panel {
  type: string;
  title: string;
  targets?: Target[];
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[]; uid: string };
const targets = dashboard.panels.flatMap((p) => p.targets ?? []);

describe('ops/grafana dashboard', () => {
  it('queries only metrics the service registers', async () => {
    const metrics = createMetrics();
    const families = (await metrics.registry.getMetricsAsJSON()).map((m) => ({ name: m.name, type: String(m.type) }));
    const exported = new Set(
      families.flatMap(({ name, type }) =>
        type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name],
      ),
    );
    const used = new Set(
      targets.flatMap((t) =>
        [...(t.expr ?? '').matchAll(/\b((?:bw|process|nodejs)_[a-z0-9_]+)\b/g)].map((m) => m[1] ?? ''),
      ),
    );
    expect(used.size).toBeGreaterThanOrEqual(10);
    expect([...used].filter((name) => !exported.has(name))).toEqual([]);
  });

  it('reads the documented views', () => {
    const schema = readFileSync(SCHEMA_MD, 'utf8');
    const views = new Set(
      targets.flatMap((t) => [...(t.rawSql ?? '').matchAll(/\b(v_[a-z_]+)\b/g)].map((m) => m[1] ?? '')),
    );
    expect([...views].sort()).toEqual(
      ['v_daily_status_counts', 'v_handler_failures', 'v_order_current_status', 'v_orders_stuck'].sort(),
    );
    for (const view of views) expect(schema).toContain(`### \`${view}\``);
  });
});
