import { handlersCommand } from './handlers-command';
import { reconcileCommand } from './reconcile';
import { subscriptionsCommand } from './subscriptions';
import type { CliCommand } from './types';

/**
 * Every command group of `npm run cli -- <group> ...`. Add yours with one line: the key is
 * the group name, the value a CliCommand (see ./types.ts).
 */
export const COMMANDS: Readonly<Record<string, CliCommand>> = {
  subscriptions: subscriptionsCommand,
  reconcile: reconcileCommand,
  handlers: handlersCommand,
};
