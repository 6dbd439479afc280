import type { Logger } from 'winston';
import type { Config } from '../config';
import { ConfigError, loadConfig } from '../config';
import { loadHandlerRegistry } from '../handlers/config';
import { createLogger } from '../observability/logger';
import { createQueueBackend } from '../queue/backend';
import type { EmbeddedPostgres } from '../store/embedded-postgres';
import { startEmbeddedPostgres } from '../store/embedded-postgres';
import { listDeadLetters } from '../store/handler-delivery-store';
import type { ReplaySelection } from '../store/handler-delivery-store';
import { migrate } from '../store/migrator';
import { createDatabase } from '../store/prisma';
import { createDispatcher } from '../worker/dispatch';

/**
 * `npm run handlers -- <command>`: dead letters and replay from a shell, with the same
 * environment as the service (same database, queue and HANDLERS_CONFIG).
 *
 *   dead-letters list [--handler NAME] [--limit N]
 *   dead-letters retry <deliveryId>
 *   replay --order <orderId> [--handler NAME]
 *   replay --from <ISO time> --to <ISO time> [--handler NAME]
 *
 * Prints one JSON document on stdout; exit code 0 on success, 1 when refused, 2 on bad usage.
 */
export const USAGE = `usage: npm run handlers -- <command>
  dead-letters list [--handler NAME] [--limit N]
  dead-letters retry <deliveryId>
  replay --order <orderId> [--handler NAME]
  replay --from <ISO time> --to <ISO time> [--handler NAME]`;

export class UsageError extends Error {}

function flags(args: readonly string[]): { positional: string[]; named: Map<string, string> } {
  const positional: string[] = [];
  const named = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg.startsWith('--')) {
      const value = args[i + 1];
      if (value === undefined || value.startsWith('--')) throw new UsageError(`${arg} needs a value`);
      named.set(arg.slice(2), value);
      i++;
    } else {
      positional.push(arg);
    }
  }
  return { positional, named };
}

function date(value: string | undefined, flag: string): Date {
  const parsed = value === undefined ? NaN : Date.parse(value);
  if (Number.isNaN(parsed)) throw new UsageError(`--${flag} must be an ISO 8601 time`);
  return new Date(parsed);
}

export interface CliResult {
  readonly exitCode: number;
  readonly output: unknown;
}

/** Runs one command against an already-migrated database (callers own the process). */
export async function runHandlersCommand(
  args: readonly string[],
  config: Config,
  databaseUrl: string,
  logger: Logger,
): Promise<CliResult> {
  const { positional, named } = flags(args);
  const [group, action, target] = positional;
  const handler = named.get('handler');

  const registry = await loadHandlerRegistry(config.handlersConfig, logger);
  const db = createDatabase({ url: databaseUrl, poolSize: 2 });
  const backend = createQueueBackend({ redisUrl: config.redisUrl, databaseUrl, prefix: config.queuePrefix, logger });
  await backend.prepare();
  const producer = backend.createJobProducer('handlerDeliveries');
  const dispatcher = createDispatcher({ db, registry, producer, logger });
  try {
    if (group === 'dead-letters' && action === 'list') {
      const limit = Number(named.get('limit') ?? '50');
      if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new UsageError('--limit must be 1..500');
      const page = await listDeadLetters(db, { limit, ...(handler !== undefined ? { handler } : {}) });
      return { exitCode: 0, output: { data: page.data, more: page.nextCursor !== null } };
    }
    if (group === 'dead-letters' && action === 'retry') {
      if (target === undefined) throw new UsageError('dead-letters retry needs a delivery id');
      const result = await dispatcher.retryDeadLetter(target);
      return { exitCode: result.kind === 'requeued' ? 0 : 1, output: result };
    }
    if (group === 'replay') {
      const order = named.get('order');
      const selection: ReplaySelection =
        order !== undefined
          ? { orderId: order }
          : { from: date(named.get('from'), 'from'), to: date(named.get('to'), 'to') };
      if ('from' in selection && selection.from >= selection.to) throw new UsageError('--from must be before --to');
      const result = await dispatcher.replay(selection, handler);
      return { exitCode: result.kind === 'replayed' ? 0 : 1, output: result };
    }
    throw new UsageError(`unknown command: ${positional.join(' ') || '(none)'}`);
  } finally {
    await producer.close();
    await db.$disconnect();
  }
}

async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (error: unknown) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    throw error;
  }
  // Logs go to stderr (winston Console writes error/warn there; keep info quiet): stdout is the result.
  const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
  let embedded: EmbeddedPostgres | undefined;
  let databaseUrl = config.databaseUrl;
  if (databaseUrl === undefined) {
    // Embedded mode: reuses the running service's PostgreSQL when there is one.
    embedded = await startEmbeddedPostgres(config.dataDir, config.embeddedPostgresPort, logger);
    databaseUrl = embedded.url;
  }
  try {
    await migrate(databaseUrl, logger);
    const result = await runHandlersCommand(argv, config, databaseUrl, logger);
    process.stdout.write(`${JSON.stringify(result.output, null, 2)}\n`);
    return result.exitCode;
  } catch (error: unknown) {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n${USAGE}\n`);
      return 2;
    }
    throw error;
  } finally {
    await embedded?.stop();
  }
}

if (require.main === module) {
  // Entry point (like main.ts): the one place this command reads the environment.
  // eslint-disable-next-line no-restricted-syntax
  main(process.argv.slice(2), process.env).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
