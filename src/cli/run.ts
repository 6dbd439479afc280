import type { Logger } from 'winston';
import winston from 'winston';
import { noDispatch } from '../bandwidth/reconcile';
import type { DispatchReconciled } from '../bandwidth/reconcile';
import type { Config } from '../config';
import { ConfigError, loadConfig } from '../config';
import type { QueueBackendOptions } from '../queue/backend';
import { createQueueBackend } from '../queue/backend';
import { startEmbeddedPostgres } from '../store/embedded-postgres';
import { migrate } from '../store/migrator';
import type { Database } from '../store/prisma';
import { createDatabase } from '../store/prisma';
import type { CliCommand, CliContext } from './types';
import { UsageError } from './types';

export interface CliIo {
  readonly print: (line: string) => void;
  readonly printError: (line: string) => void;
  /** Defaults to JSON lines on stderr at LOG_LEVEL. */
  readonly logger?: Logger;
  readonly dispatchReconciled?: DispatchReconciled;
}

function stderrLogger(level: string): Logger {
  return winston.createLogger({
    level,
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    transports: [new winston.transports.Console({ stderrLevels: Object.keys(winston.config.npm.levels) })],
  });
}

function helpText(commands: Readonly<Record<string, CliCommand>>): string {
  const lines = ['usage: npm run cli -- <command> [args]', '', 'commands:'];
  for (const [name, command] of Object.entries(commands)) lines.push(`  ${name.padEnd(16)} ${command.summary}`);
  return lines.join('\n');
}

/** The command dispatcher: config -> context -> one command group -> cleanup. Returns the exit code. */
export async function runCli(
  commands: Readonly<Record<string, CliCommand>>,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  io: CliIo,
): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    io.print(helpText(commands));
    return name === undefined ? 64 : 0;
  }
  const command = Object.prototype.hasOwnProperty.call(commands, name) ? commands[name] : undefined;
  if (command === undefined) {
    io.printError(`unknown command "${name}"\n\n${helpText(commands)}`);
    return 64;
  }

  let config: Config;
  try {
    config = loadConfig(env);
  } catch (error: unknown) {
    if (error instanceof ConfigError) {
      io.printError(error.message);
      return 78;
    }
    throw error;
  }
  const logger = io.logger ?? stderrLogger(config.logLevel);
  const cleanups: (() => Promise<void>)[] = [];
  let databaseUrl: Promise<string> | undefined;
  let database: Promise<Database> | undefined;
  let queueOptions: Promise<QueueBackendOptions> | undefined;

  const resolveDatabaseUrl = (): Promise<string> => {
    databaseUrl ??= (async () => {
      let url = config.databaseUrl;
      if (url === undefined) {
        // Embedded mode: reuses the service's PostgreSQL when it runs, else starts it.
        const embedded = await startEmbeddedPostgres(config.dataDir, config.embeddedPostgresPort, logger);
        cleanups.push(() => embedded.stop());
        url = embedded.url;
      }
      await migrate(url, logger);
      return url;
    })();
    return databaseUrl;
  };

  const context: CliContext = {
    config,
    logger,
    print: io.print,
    dispatchReconciled: io.dispatchReconciled ?? noDispatch,
    database: () => {
      database ??= resolveDatabaseUrl().then((url) => {
        const db = createDatabase({ url, poolSize: 2 });
        cleanups.push(() => db.$disconnect());
        return db;
      });
      return database;
    },
    queueOptions: () => {
      queueOptions ??= resolveDatabaseUrl().then(async (url) => {
        const options = { redisUrl: config.redisUrl, databaseUrl: url, prefix: config.queuePrefix, logger };
        await createQueueBackend(options).prepare();
        return options;
      });
      return queueOptions;
    },
    onClose: (action) => cleanups.push(action),
  };

  try {
    return await command.run(args, context);
  } catch (error: unknown) {
    if (error instanceof UsageError) {
      io.printError(`${error.message}\n\nusage:\n${command.usage}`);
      return 64;
    }
    io.printError(`${name} failed: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error: unknown) {
        logger.warn('cleanup failed', { error: error instanceof Error ? error.message : String(error) });
      }
    }
  }
}
