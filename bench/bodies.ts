/**
 * Realistic, mixed Bandwidth `<Notification>` bodies for the load generator.
 *
 * The mix follows what a busy account sends: mostly order state changes walking each order
 * type's real state sequence (several notifications per order, so the worker's order-row
 * upsert and ordering rules are exercised, not just inserts), plus notes, orders without
 * `OrderId` (bulkPortins drafts), account events (MESSAGING_LOST), one-line and indented
 * documents, LEGACY 10-digit and E.164 numbers, and a small share of exact re-deliveries
 * (duplicates). Deterministic for a given seed so that two runs offer the same work.
 */

import { prng } from '../src/cli/simulator';

// The simulator's seedable PRNG (mulberry32): the load generator and the simulator share one.
export { prng };

/** Order types with the state sequence one order walks, and their share of the traffic. */
const ORDER_FLOWS: ReadonlyArray<{ type: string; weight: number; states: readonly string[] }> = [
  { type: 'orders', weight: 30, states: ['SUBMITTED', 'COMPLETE'] },
  { type: 'portins', weight: 25, states: ['SUBMITTED', 'FOC', 'COMPLETE'] },
  { type: 'disconnects', weight: 15, states: ['COMPLETE'] },
  { type: 'tnoptions', weight: 8, states: ['RECEIVED', 'PROCESSING', 'COMPLETE'] },
  { type: 'e911s', weight: 6, states: ['RECEIVED', 'PROCESSING', 'COMPLETE'] },
  { type: 'importtnorders', weight: 4, states: ['PROCESSING', 'COMPLETE'] },
  { type: 'lsrorders', weight: 3, states: ['PENDING', 'FOC', 'COMPLETE'] },
  { type: 'csrs', weight: 2, states: ['COMPLETE'] },
];
const FLOW_WEIGHT = ORDER_FLOWS.reduce((sum, f) => sum + f.weight, 0);

const SUBSCRIPTIONS = [
  '9a434012-501b-4d7f-989d-fb64a4fcb74b',
  '23bba4e1-50f1-4461-94b1-33d223e886dc',
  '4025131f-a05f-4269-8ad6-f38efbf23cea',
];

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

function hex(rand: () => number, length: number): string {
  let out = '';
  while (out.length < length)
    out += Math.floor(rand() * 0x100000000)
      .toString(16)
      .padStart(8, '0');
  return out.slice(0, length);
}

function uuid(rand: () => number): string {
  const h = hex(rand, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

type Field = readonly [name: string, value: string];

/** Serialises fields as Bandwidth does: one line with a standalone declaration, or indented. */
function render(fields: readonly Field[], numbers: readonly string[], numberList: string, oneLine: boolean): string {
  const items = numbers.map((tn) => `<TelephoneNumber>${tn}</TelephoneNumber>`);
  if (oneLine) {
    const list = numbers.length > 0 ? `<${numberList}>${items.join('')}</${numberList}>` : '';
    return (
      '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Notification>' +
      fields.map(([k, v]) => `<${k}>${v}</${k}>`).join('') +
      list +
      '</Notification>'
    );
  }
  const lines = ['<?xml version="1.0"?>', '<Notification>'];
  for (const [k, v] of fields) lines.push(`    <${k}>${v}</${k}>`);
  if (numbers.length > 0) {
    lines.push(`    <${numberList}>`);
    for (const item of items) lines.push(`        ${item}`);
    lines.push(`    </${numberList}>`);
  }
  lines.push('</Notification>');
  return lines.join('\n');
}

interface LiveOrder {
  readonly id: string;
  readonly flow: (typeof ORDER_FLOWS)[number];
  readonly customerOrderId: string | null;
  readonly numbers: readonly string[];
  step: number;
}

export interface BodyGenerator {
  /** The next body to offer. */
  next(): string;
}

/**
 * @param seed   PRNG seed; use a different one per run phase so phases do not collide on
 *               dedup keys (each phase should offer new work, not duplicates of the last).
 */
export function createBodyGenerator(seed: number): BodyGenerator {
  const rand = prng(seed);
  // Orders in flight: a new notification usually advances one of them; this gives ~2 events
  // per order on average, interleaved like real traffic.
  const live: LiveOrder[] = [];
  const recent: string[] = [];
  let clock = Date.UTC(2026, 0, 1) + seed * 1000;

  const newOrder = (): LiveOrder => {
    let pick = rand() * FLOW_WEIGHT;
    let flow = ORDER_FLOWS[0]!;
    for (const candidate of ORDER_FLOWS) {
      pick -= candidate.weight;
      if (pick < 0) {
        flow = candidate;
        break;
      }
    }
    const count = rand() < 0.85 ? 1 : 1 + Math.floor(rand() * 20);
    const legacy = rand() < 0.7;
    const numbers = Array.from({ length: count }, () => {
      const ten = `${2 + Math.floor(rand() * 8)}${pad(Math.floor(rand() * 1e9), 9)}`;
      return legacy ? ten : `+1${ten}`;
    });
    return {
      id: uuid(rand),
      flow,
      customerOrderId: rand() < 0.4 ? `cust-${hex(rand, 10)}` : null,
      numbers,
      step: 0,
    };
  };

  const orderBody = (): string => {
    let order: LiveOrder;
    if (live.length < 64 || rand() < 0.35) {
      order = newOrder();
      live.push(order);
    } else {
      const index = Math.floor(rand() * live.length);
      order = live[index]!;
    }
    const status = order.flow.states[order.step] ?? 'COMPLETE';
    order.step += 1;
    const isLast = order.step >= order.flow.states.length;
    if (isLast) {
      const at = live.indexOf(order);
      if (at >= 0) live.splice(at, 1);
    }
    clock += 1 + Math.floor(rand() * 50);
    const fields: Field[] = [
      ['SubscriptionId', SUBSCRIPTIONS[Math.floor(rand() * SUBSCRIPTIONS.length)]!],
      ['OrderType', order.flow.type],
      ['OrderId', order.id],
    ];
    if (order.customerOrderId !== null) fields.push(['CustomerOrderId', order.customerOrderId]);
    fields.push(['Status', status]);
    if (status === 'COMPLETE') {
      fields.push(['Message', `Created a new number order for ${order.numbers.length} number(s)`]);
    }
    if (status === 'FOC') fields.push(['ActualFocDate', new Date(clock + 2 * 86_400_000).toISOString()]);
    if (rand() < 0.08) fields.push(['Note', `Customer contacted about order ${order.id.slice(0, 8)}`]);
    fields.push(['LastModifiedDate', new Date(clock).toISOString()]);
    // Real bodies put elements in varying order.
    if (rand() < 0.3) fields.reverse();
    const numbers = isLast || status === 'COMPLETE' ? order.numbers : [];
    return render(fields, numbers, 'CompletedTelephoneNumbers', rand() < 0.6);
  };

  const eventBody = (): string => {
    const numbers = [`${2 + Math.floor(rand() * 8)}${pad(Math.floor(rand() * 1e9), 9)}`];
    clock += 1;
    return render(
      [
        ['SubscriptionId', SUBSCRIPTIONS[2]!],
        ['EventType', 'MESSAGING_LOST'],
        // Without a distinguishing field two events for one number would be duplicates.
        ['Message', `Messaging lost at ${new Date(clock).toISOString()}`],
      ],
      numbers,
      'ImpactedTelephoneNumbers',
      rand() < 0.5,
    );
  };

  const orderlessBody = (): string => {
    clock += 1;
    return render(
      [
        ['SubscriptionId', SUBSCRIPTIONS[1]!],
        ['OrderType', 'bulkPortins'],
        ['CustomerOrderId', `bulk-${hex(rand, 12)}`],
        ['Status', rand() < 0.5 ? 'VALID_DRAFT_TNS' : 'DRAFT'],
        ['LastModifiedDate', new Date(clock).toISOString()],
      ],
      [],
      'CompletedTelephoneNumbers',
      rand() < 0.5,
    );
  };

  return {
    next() {
      const roll = rand();
      let body: string;
      if (roll < 0.02 && recent.length > 0) {
        // An exact re-delivery of a recent notification: stored as a duplicate.
        body = recent[Math.floor(rand() * recent.length)]!;
      } else if (roll < 0.05) {
        body = eventBody();
      } else if (roll < 0.07) {
        body = orderlessBody();
      } else {
        body = orderBody();
      }
      recent.push(body);
      if (recent.length > 256) recent.shift();
      return body;
    },
  };
}

/** A minimal `portins SUBMITTED` body for one probe order (end-to-end lag). */
export function probeBody(orderId: string, at: Date): string {
  return render(
    [
      ['SubscriptionId', SUBSCRIPTIONS[0]!],
      ['OrderType', 'portins'],
      ['OrderId', orderId],
      ['Status', 'SUBMITTED'],
      ['LastModifiedDate', at.toISOString()],
    ],
    [],
    'CompletedTelephoneNumbers',
    true,
  );
}
