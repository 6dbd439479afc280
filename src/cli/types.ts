import type { Logger } from 'winston';
import type { DispatchReconciled } from '../bandwidth/reconcile';
import type { Config } from '../config';
import type { QueueBackendOptions } from '../queue/backend';
import type { Database } from '../store/prisma';

/** What every command gets from the dispatcher. Resources open lazily and close at the end. */
export interface CliContext {
  readonly config: Config;
  /** Diagnostics (stderr). */
  readonly logger: Logger;
  /** Command output (stdout), one line at a time. */
  readonly print: (line: string) => void;
  /** The service database, migrated; opened once, closed when the command ends. */
  database(): Promise<Database>;
  /** The queue backend settings of the service (prepared, so jobs can be added). */
  queueOptions(): Promise<QueueBackendOptions>;
  /** Registers a cleanup to run when the command ends (last registered, first run). */
  onClose(action: () => Promise<void>): void;
  /** Hands `source=reconcile` notifications to the handlers (no-op unless wired). */
  readonly dispatchReconciled: DispatchReconciled;
}

/** One command group (`npm run cli -- <group> ...`). */
export interface CliCommand {
  readonly summary: string;
  readonly usage: string;
  /** Returns the exit code. Expected failures print a message and return non-zero. */
  run(args: readonly string[], ctx: CliContext): Promise<number>;
}

/** A usage error: the dispatcher prints the message and the group's usage, exit code 64. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
