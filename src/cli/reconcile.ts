import { parseArgs } from 'node:util';
import { bandwidthClientOf } from '../bandwidth/integration';
import type { ReconcilerDeps } from '../bandwidth/reconcile';
import { reconcileOrder, reconcileStuckOrders } from '../bandwidth/reconcile';
import { requireBandwidth } from './bandwidth-context';
import type { CliCommand, CliContext } from './types';
import { UsageError } from './types';

const USAGE = `  reconcile                                   one pass over stuck orders (as the scheduler does)
  reconcile --order-type <type> --order-id <id>   look one order up now
  options: --idle-seconds <n>, --limit <n> (defaults: RECONCILE_IDLE_SECONDS, RECONCILE_BATCH_SIZE)`;

function wholeNumber(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a whole number`);
  return n;
}

async function run(args: readonly string[], ctx: CliContext): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        'order-type': { type: 'string' },
        'order-id': { type: 'string' },
        'idle-seconds': { type: 'string' },
        limit: { type: 'string' },
      },
      strict: true,
    }));
  } catch (error: unknown) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const config = requireBandwidth(ctx);
  const deps: ReconcilerDeps = {
    db: await ctx.database(),
    client: bandwidthClientOf(config, ctx.logger, undefined),
    logger: ctx.logger,
    metrics: undefined,
    dispatch: ctx.dispatchReconciled,
  };
  const orderId = values['order-id'];
  const orderType = values['order-type'];
  if (orderId !== undefined || orderType !== undefined) {
    if (orderId === undefined || orderType === undefined) throw new UsageError('give both --order-type and --order-id');
    const result = await reconcileOrder(deps, { orderId, orderType, status: null });
    ctx.print(`${orderType}/${orderId}: ${result}`);
    return result === 'error' ? 1 : 0;
  }
  const summary = await reconcileStuckOrders(deps, {
    idleSeconds: wholeNumber('idle-seconds', values['idle-seconds']) ?? config.reconcileIdleSeconds,
    // An operator asking explicitly wants an answer now, not after the recheck interval.
    recheckSeconds: 0,
    limit: wholeNumber('limit', values.limit) ?? config.reconcileBatchSize,
    minRequestIntervalMs: config.minRequestIntervalMs,
  });
  const { checked, ...byResult } = summary;
  const details = Object.entries(byResult)
    .map(([result, n]) => `${result} ${n}`)
    .join(', ');
  ctx.print(`checked ${checked} order${checked === 1 ? '' : 's'}${details ? `: ${details}` : ''}`);
  return (summary.error ?? 0) > 0 ? 1 : 0;
}

export const reconcileCommand: CliCommand = {
  summary: 'ask Bandwidth for the current status of stuck orders (or of one order) and record differences',
  usage: USAGE,
  run,
};
