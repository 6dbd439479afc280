import type { Pool } from 'pg';
import { createSqlPool } from '../../src/store/sql';
import type { TestDatabase } from '../support/harness';
import { createTestDatabase, silentLogger } from '../support/harness';

/**
 * The service's pool keeps the connections it opened through a lull (issue #8): node-postgres
 * closes a connection idle for 10 s by default, and opening it again when the load comes back
 * (a new backend, authentication, every named statement planned afresh) cost 37-101 ms under
 * read load, which the requests queued behind it paid.
 */
describe('createSqlPool', () => {
  let testDb: TestDatabase;
  let pool: Pool;

  beforeAll(async () => {
    testDb = await createTestDatabase();
    pool = createSqlPool({ url: testDb.url, max: 10, logger: silentLogger() });
  });

  afterAll(async () => {
    await pool.end();
    await testDb?.drop();
  });

  /** The backends of three queries run at once (the pool opens one connection for each). */
  const threeBackends = async (): Promise<number[]> => {
    const pids = await Promise.all(
      [1, 2, 3].map(async () => {
        const { rows } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid, pg_sleep(0.05)');
        return rows[0]?.pid ?? 0;
      }),
    );
    return pids.sort((a, b) => a - b);
  };

  it('keeps its connections through a lull longer than node-postgres idle timeout', async () => {
    const before = await threeBackends();
    expect(new Set(before).size).toBe(3);
    await new Promise((resolve) => setTimeout(resolve, 11_000));
    expect(pool.totalCount).toBe(3);
    expect(await threeBackends()).toEqual(before);
  }, 30_000);
});
