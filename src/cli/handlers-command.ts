import { USAGE as HANDLERS_USAGE, UsageError as HandlersUsageError, runHandlersCommand } from './handlers';
import type { CliCommand } from './types';
import { UsageError } from './types';

/**
 * `npm run cli -- handlers <dead-letters|replay> ...`: the same commands as
 * `npm run handlers -- ...` (src/cli/handlers.ts), as a group of the general CLI.
 */
export const handlersCommand: CliCommand = {
  summary: 'handler dead letters (list, retry) and replay to handlers',
  usage: HANDLERS_USAGE.replace('usage: npm run handlers -- <command>', '  handlers <command>').replace(
    /\n {2}/g,
    '\n  handlers ',
  ),
  async run(args, ctx) {
    const { databaseUrl } = await ctx.queueOptions();
    try {
      const result = await runHandlersCommand(args, ctx.config, databaseUrl, ctx.logger);
      ctx.print(JSON.stringify(result.output, null, 2));
      return result.exitCode;
    } catch (error: unknown) {
      if (error instanceof HandlersUsageError) throw new UsageError(error.message);
      throw error;
    }
  },
};
