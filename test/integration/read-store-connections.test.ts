import type { Pool } from 'pg';
import { readScrapeGauges, readStats } from '../../src/store/order-read-store';
import { createSqlPool, sqlOverPool } from '../../src/store/sql';
import type { TestDatabase } from '../support/harness';
import { createTestDatabase, silentLogger } from '../support/harness';
import { migrate } from '../../src/store/migrator';

/**
 * An API process runs with a small pool (docker-compose.yml: DATABASE_POOL_SIZE=4). The
 * counts behind /stats and the /metrics gauges scan whole tables; run at once, they would hold
 * every connection while the read API waits. They run one after the other: a pool that only
 * ever opened one connection for them is the proof (it opens one per query waiting at once).
 */
describe('the counting reads hold one connection at a time', () => {
  let testDb: TestDatabase;
  let pool: Pool;

  beforeAll(async () => {
    testDb = await createTestDatabase();
    await migrate(testDb.url, silentLogger());
  });

  beforeEach(() => {
    pool = createSqlPool({ url: testDb.url, max: 10, logger: silentLogger() });
  });

  afterEach(async () => {
    await pool.end();
  });

  afterAll(async () => {
    await testDb?.drop();
  });

  it('readStats (/stats)', async () => {
    const stats = await readStats(sqlOverPool(pool));
    expect(stats.ordersTotal).toBe(0);
    expect(pool.totalCount).toBe(1);
  });

  it('readScrapeGauges (/metrics)', async () => {
    const gauges = await readScrapeGauges(sqlOverPool(pool));
    expect(gauges.quarantinedPending).toBe(0);
    expect(pool.totalCount).toBe(1);
  });
});
