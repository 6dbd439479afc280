import { parseArgs } from 'node:util';
import type { NumberFormat } from '../config/bandwidth';
import type { SubscriptionTarget } from '../bandwidth/client';
import type { SubscriptionListing } from '../bandwidth/subscriptions';
import {
  createCallbackSubscription,
  deleteCallbackSubscription,
  keepSubscriptionsAlive,
  listCallbackSubscriptions,
  updateCallbackSubscription,
} from '../bandwidth/subscriptions';
import { createBandwidthQueue } from '../queue/bandwidth-queue';
import { QUEUES } from '../queue/catalog';
import { subscriptionDepsOf } from './bandwidth-context';
import type { CliCommand, CliContext } from './types';
import { UsageError } from './types';

const USAGE = `  subscriptions list
  subscriptions create --order-type <type> [--order-id <id>] [options]
  subscriptions create --event-type <type> [options]
  subscriptions update <id> [options]
  subscriptions delete <id>
  subscriptions keepalive              renew and check now (the scheduler does it on its own)
options: --url <callback url> (default PUBLIC_CALLBACK_URL), --expiry <seconds>, --number-format E164|LEGACY
The callback credentials sent are the last pair of CALLBACK_BASIC_AUTH.`;

const OPTIONS = {
  'order-type': { type: 'string' },
  'order-id': { type: 'string' },
  'event-type': { type: 'string' },
  url: { type: 'string' },
  expiry: { type: 'string' },
  'number-format': { type: 'string' },
} as const;

function parse(args: readonly string[]) {
  try {
    return parseArgs({ args: [...args], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error: unknown) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

function expiryOf(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (!Number.isInteger(seconds) || seconds < 60) throw new UsageError('--expiry must be whole seconds, at least 60');
  return seconds;
}

function numberFormatOf(value: string | undefined): NumberFormat | undefined {
  if (value === undefined) return undefined;
  if (value !== 'E164' && value !== 'LEGACY') throw new UsageError('--number-format must be E164 or LEGACY');
  return value;
}

export function formatDuration(seconds: number | null): string {
  if (seconds === null) return '?';
  if (seconds <= 0) return 'expired';
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return d > 0 ? `${d}d ${h}h ${m}m` : h > 0 ? `${h}h ${m}m` : `${m}m ${seconds % 60}s`;
}

function printListing(ctx: CliContext, rows: readonly SubscriptionListing[]): void {
  if (rows.length === 0) {
    ctx.print('no subscriptions');
    return;
  }
  const table = rows.map((r) => [
    r.id,
    r.target,
    formatDuration(r.expiresInSeconds),
    r.lastStatus ?? '-',
    r.lastStatusOk === false ? 'FAILING' : !r.atBandwidth ? 'gone at Bandwidth' : !r.stored ? 'not ours' : '',
  ]);
  const header = ['ID', 'TARGET', 'EXPIRES IN', 'LAST STATUS', 'NOTE'];
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => (row[i] ?? '').length)));
  for (const row of [header, ...table]) {
    ctx.print(
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    );
  }
}

async function create(ctx: CliContext, args: readonly string[]): Promise<number> {
  const { values } = parse(args);
  let target: SubscriptionTarget;
  if (values['event-type'] !== undefined) {
    if (values['order-type'] !== undefined || values['order-id'] !== undefined) {
      throw new UsageError('--event-type cannot be combined with --order-type/--order-id');
    }
    target = { eventType: values['event-type'] };
  } else if (values['order-type'] !== undefined) {
    target = { orderType: values['order-type'], orderId: values['order-id'] };
  } else {
    throw new UsageError('give --order-type (optionally with --order-id) or --event-type');
  }
  const deps = await subscriptionDepsOf(ctx);
  const created = await createCallbackSubscription(deps, {
    target,
    url: values.url,
    expirySeconds: expiryOf(values.expiry),
    numberFormat: numberFormatOf(values['number-format']),
  });
  ctx.print(`created subscription ${created.id} (expires in ${formatDuration(created.expirySeconds)})`);
  if (target.orderId !== undefined && target.orderType !== undefined) {
    // Bandwidth advises checking the order right after subscribing to it: its first state
    // changes may predate the subscription. The worker does it (and dispatches to handlers).
    const queue = createBandwidthQueue(await ctx.queueOptions());
    ctx.onClose(() => queue.close());
    await queue.enqueue(
      { task: 'reconcile-order', orderId: target.orderId, orderType: target.orderType },
      QUEUES.bandwidth.reconcileOrderJobId(target.orderId, created.id),
    );
    ctx.print(`queued a status check of ${target.orderType}/${target.orderId}`);
  }
  return 0;
}

async function run(args: readonly string[], ctx: CliContext): Promise<number> {
  const [action, ...rest] = args;
  switch (action) {
    case 'list': {
      parse(rest);
      printListing(ctx, await listCallbackSubscriptions(await subscriptionDepsOf(ctx)));
      return 0;
    }
    case 'create':
      return create(ctx, rest);
    case 'update': {
      const { values, positionals } = parse(rest);
      const id = positionals[0];
      if (id === undefined) throw new UsageError('update needs a subscription id');
      await updateCallbackSubscription(await subscriptionDepsOf(ctx), id, {
        url: values.url,
        expirySeconds: expiryOf(values.expiry),
        numberFormat: numberFormatOf(values['number-format']),
      });
      ctx.print(`updated subscription ${id}`);
      return 0;
    }
    case 'delete': {
      const id = parse(rest).positionals[0];
      if (id === undefined) throw new UsageError('delete needs a subscription id');
      const result = await deleteCallbackSubscription(await subscriptionDepsOf(ctx), id);
      ctx.print(result === 'deleted' ? `deleted subscription ${id}` : `subscription ${id} not found`);
      return result === 'deleted' ? 0 : 1;
    }
    case 'keepalive': {
      const summary = await keepSubscriptionsAlive(await subscriptionDepsOf(ctx));
      ctx.print(
        `checked ${summary.checked}, renewed ${summary.renewed}, recreated ${summary.recreated}, ` +
          `ended ${summary.ended}, failing ${summary.failing}, errors ${summary.errors}`,
      );
      return summary.errors > 0 || summary.failing > 0 ? 1 : 0;
    }
    default:
      throw new UsageError(action === undefined ? 'missing action' : `unknown action "${action}"`);
  }
}

export const subscriptionsCommand: CliCommand = {
  summary: 'list, create, update, delete or keep alive Bandwidth callback subscriptions',
  usage: USAGE,
  run,
};
