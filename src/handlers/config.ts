import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'winston';
import { z } from 'zod';
import { createHttpForwardHandler } from './http-forward';
import { createLogHandler } from './log-handler';
import type { HandlerRegistry, RegisteredHandler } from './registry';
import { createHandlerRegistry } from './registry';
import type { Handler, HandlerFactory, HandlerFactoryInput } from './types';

/**
 * HANDLERS_CONFIG: a JSON file `{ "handlers": [ { name, type | module, match?, retry?, ...options } ] }`.
 * Unset: one `log` handler. Fail closed: any problem stops the start with a message naming the
 * entry, never a half-loaded registry.
 */

export type BuiltInType = 'log' | 'http-forward';

/** The type system, not a runtime scan, tells you a built-in is missing (STYLE 7). */
const BUILT_INS: Record<BuiltInType, (input: HandlerFactoryInput) => Handler> = {
  log: createLogHandler,
  'http-forward': createHttpForwardHandler,
};

export const DEFAULT_RETRY = { attempts: 5, backoffMs: 1000 } as const;
export const DEFAULT_HANDLER_TIMEOUT_MS = 60_000;

export class HandlersConfigError extends Error {
  constructor(source: string, problem: string) {
    super(`Invalid handlers configuration (${source}): ${problem}`);
    this.name = 'HandlersConfigError';
    // An operator's mistake, not a bug: main prints the stack of fatal errors, so keep it to the message.
    this.stack = this.message;
  }
}

const nameList = z.array(z.string().min(1)).min(1);

const entrySchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'name: letters, digits, _ . - (up to 63)'),
    type: z.enum(['log', 'http-forward', 'custom']).optional(),
    module: z.string().min(1).optional(),
    match: z
      .object({
        orderTypes: nameList.optional(),
        statuses: nameList.optional(),
        eventTypes: nameList.optional(),
        notes: z.boolean().optional(),
      })
      .strict()
      .optional(),
    retry: z
      .object({
        attempts: z.number().int().min(1).max(100),
        backoffMs: z.number().int().min(1).max(3_600_000),
      })
      .strict()
      .optional(),
    timeoutMs: z.number().int().min(1).max(600_000).optional(),
  })
  .passthrough()
  .refine(
    (e) =>
      e.module !== undefined
        ? e.type === undefined || e.type === 'custom'
        : e.type !== undefined && e.type !== 'custom',
    { message: 'give either a built-in "type" (log, http-forward) or a "module" path (type "custom")' },
  );

const fileSchema = z.object({ handlers: z.array(entrySchema) }).strict();

type Entry = z.infer<typeof entrySchema>;

const GENERIC_KEYS = new Set(['name', 'type', 'module', 'match', 'retry']);

function optionsOf(entry: Entry): Record<string, unknown> {
  return Object.fromEntries(Object.entries(entry).filter(([key]) => !GENERIC_KEYS.has(key)));
}

function isHandler(value: unknown): value is Handler {
  return (
    typeof value === 'object' &&
    value !== null &&
    'name' in value &&
    typeof value.name === 'string' &&
    'handle' in value &&
    typeof value.handle === 'function'
  );
}

function factoryOf(exports: unknown): HandlerFactory | undefined {
  if (typeof exports !== 'object' || exports === null) return undefined;
  const candidate =
    'createHandler' in exports ? exports.createHandler : 'default' in exports ? exports.default : undefined;
  return typeof candidate === 'function' ? (candidate as HandlerFactory) : undefined;
}

function loadModule(file: string): unknown {
  // require, not import(): under ts-jest and tsx it loads TypeScript modules too, and the build
  // is CommonJS. A plain `node dist/main.js` needs a .js module (docs/handlers.md).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(file) as unknown;
}

async function build(entry: Entry, baseDir: string, logger: Logger): Promise<Handler> {
  const input: HandlerFactoryInput = { name: entry.name, options: optionsOf(entry), logger };
  let factory: HandlerFactory;
  if (entry.module !== undefined) {
    const file = path.resolve(baseDir, entry.module);
    let exports: unknown;
    try {
      exports = loadModule(file);
    } catch (error: unknown) {
      throw new Error(`cannot load module ${file}: ${error instanceof Error ? error.message : String(error)}`);
    }
    const found = factoryOf(exports);
    if (found === undefined) throw new Error(`module ${file} exports no createHandler function (nor a default one)`);
    factory = found;
  } else {
    factory = BUILT_INS[entry.type as BuiltInType];
  }
  const handler: unknown = await factory(input);
  if (!isHandler(handler)) throw new Error('the factory did not return a handler ({ name, handle })');
  if (handler.name !== entry.name)
    throw new Error(`the handler calls itself "${handler.name}", expected "${entry.name}"`);
  return handler;
}

export async function buildHandlerRegistry(
  document: unknown,
  options: { readonly source: string; readonly baseDir: string; readonly logger: Logger },
): Promise<HandlerRegistry> {
  const parsed = fileSchema.safeParse(document);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(file)'}: ${i.message}`);
    throw new HandlersConfigError(options.source, problems.join('; '));
  }
  const registered: RegisteredHandler[] = [];
  for (const [index, entry] of parsed.data.handlers.entries()) {
    let handler: Handler;
    try {
      handler = await build(entry, options.baseDir, options.logger);
    } catch (error: unknown) {
      // A factory validating its options with zod (as the example does) gets readable messages.
      const reason =
        error instanceof z.ZodError
          ? error.issues.map((i) => `${i.path.join('.') || 'options'}: ${i.message}`).join('; ')
          : error instanceof Error
            ? error.message
            : String(error);
      throw new HandlersConfigError(options.source, `handlers.${index} ("${entry.name}"): ${reason}`);
    }
    registered.push({
      handler,
      match: entry.match ?? {},
      retry: entry.retry ?? DEFAULT_RETRY,
      timeoutMs: entry.timeoutMs ?? DEFAULT_HANDLER_TIMEOUT_MS,
    });
  }
  try {
    return createHandlerRegistry(registered);
  } catch (error: unknown) {
    throw new HandlersConfigError(options.source, error instanceof Error ? error.message : String(error));
  }
}

/** Reads HANDLERS_CONFIG (a path; module paths inside are relative to the file's directory). */
export async function loadHandlerRegistry(file: string | undefined, logger: Logger): Promise<HandlerRegistry> {
  if (file === undefined) {
    return buildHandlerRegistry(
      { handlers: [{ name: 'log', type: 'log' }] },
      { source: 'default', baseDir: process.cwd(), logger },
    );
  }
  const absolute = path.resolve(file);
  let document: unknown;
  try {
    document = JSON.parse(await readFile(absolute, 'utf8'));
  } catch (error: unknown) {
    throw new HandlersConfigError(absolute, error instanceof Error ? error.message : String(error));
  }
  return buildHandlerRegistry(document, { source: absolute, baseDir: path.dirname(absolute), logger });
}
