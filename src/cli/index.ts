import { COMMANDS } from './commands';
import { runCli } from './run';

/** `npm run cli -- <command> [args]`: the command-line entry point. Nothing imports this file. */
runCli(
  COMMANDS,
  process.argv.slice(2),
  // eslint-disable-next-line no-restricted-syntax -- an entry point, like main.ts: hands the environment to loadConfig
  process.env,
  {
    print: (line) => process.stdout.write(`${line}\n`),
    printError: (line) => process.stderr.write(`${line}\n`),
  },
).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`fatal: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
