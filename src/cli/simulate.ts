import { parseArgs } from 'node:util';
import { planTraffic, sendTraffic } from './simulator';

/**
 * `npm run simulate -- --orders N --rate R [--url http://127.0.0.1:3000] [--auth user:password]`
 * Plays realistic order life cycles (every order type, notes, errors, duplicates, out-of-order
 * deliveries, account events) against a running receiver, with Basic auth challenge/response.
 */
const USAGE = `usage: npm run simulate -- --orders N --rate R [options]
  --orders N         orders to simulate (default 100)
  --rate R           notifications per second, 0 = as fast as possible (default 20)
  --url URL          receiver base URL (default http://127.0.0.1:3000)
  --auth user:pass   callback Basic credentials (CALLBACK_BASIC_AUTH of the receiver); omit if open
  --concurrency C    parallel requests (default 8)
  --seed S           random seed (default: time based); same seed, same traffic
  --duplicates P     share of deliveries sent twice (default 0.05)
  --out-of-order P   share of orders with their last two notifications swapped (default 0.1)
  --no-challenge     send credentials on the first request (skip the 401 challenge)
  --run-id ID        order id prefix (default: sim-<time>)`;

function number(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0) throw new Error(`--${name} must be a non-negative number`);
  return parsed;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      orders: { type: 'string' },
      rate: { type: 'string' },
      url: { type: 'string' },
      auth: { type: 'string' },
      concurrency: { type: 'string' },
      seed: { type: 'string' },
      duplicates: { type: 'string' },
      'out-of-order': { type: 'string' },
      'no-challenge': { type: 'boolean' },
      'run-id': { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const auth = values.auth;
  const colon = auth?.indexOf(':') ?? -1;
  if (auth !== undefined && colon <= 0) throw new Error('--auth must be user:password');
  const seed = number(values.seed, Date.now() % 2 ** 31, 'seed');
  const plan = planTraffic({
    orders: Math.floor(number(values.orders, 100, 'orders')),
    seed,
    duplicateRate: number(values.duplicates, 0.05, 'duplicates'),
    outOfOrderRate: number(values['out-of-order'], 0.1, 'out-of-order'),
    runId: values['run-id'] ?? `sim-${Date.now().toString(36)}`,
  });
  const total = plan.deliveries.length;
  process.stdout.write(`simulating ${plan.orders.length} orders as ${total} notifications (seed ${seed})\n`);
  let lastShown = 0;
  const report = await sendTraffic(plan, {
    baseUrl: values.url ?? 'http://127.0.0.1:3000',
    credentials: auth === undefined ? null : { username: auth.slice(0, colon), password: auth.slice(colon + 1) },
    rate: number(values.rate, 20, 'rate'),
    concurrency: Math.floor(number(values.concurrency, 8, 'concurrency')),
    challenge: values['no-challenge'] !== true,
    onProgress: (sent) => {
      if (sent - lastShown >= Math.max(1, Math.floor(total / 10))) {
        lastShown = sent;
        process.stdout.write(`  ${sent}/${total}\n`);
      }
    },
  });
  process.stdout.write(
    `done: ${report.sent} notifications in ${report.seconds.toFixed(1)} s ` +
      `(${(report.sent / Math.max(report.seconds, 0.001)).toFixed(1)}/s); answers ${JSON.stringify(report.byStatus)}\n`,
  );
  if (report.failures > 0) process.exitCode = 1;
}

main().catch((error: unknown) => {
  process.stderr.write(`simulate: ${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
  process.exitCode = 2;
});
