import { ORDER_TYPES } from '../domain/order-types';
import type { KnownOrderType } from '../domain/order-types';

/**
 * Traffic simulator: realistic Bandwidth notification streams for demos, dashboards, benchmarks
 * and the read-API acceptance test. `planTraffic` is pure and seeded (same seed, same bytes);
 * `sendTraffic` plays a plan against a running receiver over HTTP, with Bandwidth's Basic-auth
 * challenge/response.
 */

export interface TrafficOptions {
  /** Orders to play a life cycle for. */
  readonly orders: number;
  readonly seed?: number;
  /** Share of deliveries sent twice (Bandwidth may duplicate). Default 0.05. */
  readonly duplicateRate?: number;
  /** Share of orders whose last two notifications are swapped (late delivery). Default 0.1. */
  readonly outOfOrderRate?: number;
  /** Share of orders left in a non-terminal state (in flight / stuck). Default 0.15. */
  readonly inFlightRate?: number;
  /** Account events (MESSAGING_LOST) and order-less bulkPortins drafts per 100 orders. Default 3. */
  readonly extrasPer100?: number;
  /** Id prefix so that several runs against one database never collide. Default "sim". */
  readonly runId?: string;
  /** First LastModifiedDate. Default now minus one hour. */
  readonly start?: Date;
}

export interface PlannedDelivery {
  readonly xml: string;
  /** Bandwidth account in the callback URL (/callbacks/bandwidth/:accountId), if any. */
  readonly accountId: string | null;
  readonly orderId: string | null;
  readonly kind: 'order' | 'note' | 'event' | 'orderless' | 'duplicate';
}

export interface PlannedOrder {
  readonly orderId: string;
  readonly orderType: string;
  readonly customerOrderId: string | null;
  /** The status the receiver must end with (ordering rules applied). */
  readonly finalStatus: string | null;
  readonly telephoneNumbers: readonly string[];
}

export interface TrafficPlan {
  readonly deliveries: readonly PlannedDelivery[];
  readonly orders: readonly PlannedOrder[];
}

/** mulberry32: small, fast, good enough for test data, and deterministic. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ERRORS = [
  '5005: The telephone number is unavailable for ordering',
  '7201: Losing carrier rejected the port: account number mismatch',
  '7518: Requested FOC date is not available',
  '12000: The subscriber name does not match the CSR',
];
const NOTES = [
  'Letter of authorization received and attached.',
  'Customer asked to move the FOC date.',
  'Losing carrier requested a supplement.',
  'Escalated to the porting team.',
];
const ACCOUNTS = ['9900001', '9900002', '9900003'];

const escapeXml = (value: string): string =>
  value.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c] ?? c);

interface NotificationFields {
  readonly subscriptionId: string;
  readonly orderType?: string;
  readonly orderId?: string;
  readonly customerOrderId?: string | null;
  readonly status?: string;
  readonly message?: string;
  readonly note?: string;
  readonly lastModifiedAt?: Date;
  readonly actualFocDate?: Date;
  readonly numbers?: readonly string[];
  readonly numbersElement?: 'CompletedTelephoneNumbers' | 'ImpactedTelephoneNumbers';
  readonly eventType?: string;
}

/** One `<Notification>`; element order shuffled and layout varied as Bandwidth's bodies are. */
export function notificationXml(fields: NotificationFields, random: () => number): string {
  const parts: string[] = [`<SubscriptionId>${fields.subscriptionId}</SubscriptionId>`];
  const add = (name: string, value: string | null | undefined): void => {
    if (value !== undefined && value !== null) parts.push(`<${name}>${escapeXml(value)}</${name}>`);
  };
  add('OrderType', fields.orderType);
  add('OrderId', fields.orderId);
  add('CustomerOrderId', fields.customerOrderId);
  add('EventType', fields.eventType);
  add('Status', fields.status);
  add('Message', fields.message);
  add('Note', fields.note);
  add('LastModifiedDate', fields.lastModifiedAt?.toISOString());
  add('ActualFocDate', fields.actualFocDate?.toISOString());
  if (fields.numbers !== undefined && fields.numbers.length > 0) {
    const list = fields.numbersElement ?? 'CompletedTelephoneNumbers';
    parts.push(`<${list}>${fields.numbers.map((n) => `<TelephoneNumber>${n}</TelephoneNumber>`).join('')}</${list}>`);
  }
  for (let i = parts.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [parts[i], parts[j]] = [parts[j] as string, parts[i] as string];
  }
  const pretty = random() < 0.5;
  const declaration =
    random() < 0.5 ? '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' : '<?xml version="1.0"?>';
  return pretty
    ? `${declaration}\n<Notification>\n    ${parts.join('\n    ')}\n</Notification>\n`
    : `${declaration}<Notification>${parts.join('')}</Notification>`;
}

const ORDER_TYPE_NAMES = Object.keys(ORDER_TYPES) as KnownOrderType[];

/** Plays each order through a plausible life cycle of its type, then interleaves all orders. */
export function planTraffic(options: TrafficOptions): TrafficPlan {
  const random = prng(options.seed ?? 42);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const duplicateRate = options.duplicateRate ?? 0.05;
  const outOfOrderRate = options.outOfOrderRate ?? 0.1;
  const inFlightRate = options.inFlightRate ?? 0.15;
  const extrasPer100 = options.extrasPer100 ?? 3;
  const runId = options.runId ?? 'sim';
  const start = (options.start ?? new Date(Date.now() - 3600_000)).getTime();
  const hex = (length: number): string => Array.from({ length }, () => Math.floor(random() * 16).toString(16)).join('');
  const uuid = (): string => `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`;
  const number10 = (): string =>
    `${pick(['919', '540', '212', '415', '312'])}${200 + Math.floor(random() * 799)}${String(Math.floor(random() * 10_000)).padStart(4, '0')}`;

  const perOrder: PlannedDelivery[][] = [];
  const orders: PlannedOrder[] = [];

  for (let i = 0; i < options.orders; i++) {
    const orderType = ORDER_TYPE_NAMES[i % ORDER_TYPE_NAMES.length] as KnownOrderType;
    const definition: { states: readonly string[]; terminal: readonly string[] } = ORDER_TYPES[orderType];
    const orderId = `${runId}-${String(i).padStart(6, '0')}-${uuid()}`;
    const subscriptionId = uuid();
    const accountId = random() < 0.7 ? pick(ACCOUNTS) : null;
    const customerOrderId = random() < 0.6 ? `cust-${runId}-${i % 97}` : null;
    // LEGACY (10-digit) or E164 number format, as the subscription says.
    const e164 = random() < 0.3;
    const numbers = Array.from({ length: 1 + Math.floor(random() * 3) }, () => (e164 ? `+1${number10()}` : number10()));
    const normalized = [...new Set(numbers.map((n) => (n.startsWith('+') ? n : `+1${n}`)))].sort();

    const states = definition.states.length > 0 ? definition.states : ['PROCESSING', 'COMPLETE'];
    const nonTerminal = states.filter((s) => !definition.terminal.includes(s));
    const path = nonTerminal.filter(() => random() < 0.5).slice(0, 3);
    const inFlight = random() < inFlightRate || definition.terminal.length === 0;
    if (!inFlight)
      path.push(definition.terminal.includes('COMPLETE') && random() < 0.7 ? 'COMPLETE' : pick(definition.terminal));
    if (path.length === 0) path.push(nonTerminal[0] ?? states[0] ?? 'PROCESSING');

    const deliveries: PlannedDelivery[] = [];
    let clock = start + Math.floor(random() * 3_000_000);
    path.forEach((status, step) => {
      clock += 1000 + Math.floor(random() * 60_000);
      const failed = status === 'FAILED' || status === 'EXCEPTION';
      const terminal = definition.terminal.includes(status);
      const xml = notificationXml(
        {
          subscriptionId,
          orderType,
          orderId,
          customerOrderId,
          status,
          message: failed ? pick(ERRORS) : step === 0 ? 'Order received' : undefined,
          lastModifiedAt: new Date(clock),
          actualFocDate: status === 'FOC' ? new Date(clock + 2 * 86_400_000) : undefined,
          numbers: terminal || failed ? numbers : undefined,
        },
        random,
      );
      deliveries.push({ xml, accountId, orderId, kind: 'order' });
      if (random() < 0.15) {
        clock += 500;
        const note = notificationXml(
          { subscriptionId, orderType, orderId, customerOrderId, note: pick(NOTES), lastModifiedAt: new Date(clock) },
          random,
        );
        deliveries.push({ xml: note, accountId, orderId, kind: 'note' });
      }
    });
    // Numbers are only known once a notification carries them.
    const carriesNumbers = deliveries.some((d) => d.xml.includes('TelephoneNumbers>'));
    if (deliveries.length >= 2 && random() < outOfOrderRate) {
      const last = deliveries.length - 1;
      [deliveries[last], deliveries[last - 1]] = [
        deliveries[last - 1] as PlannedDelivery,
        deliveries[last] as PlannedDelivery,
      ];
    }
    for (const delivery of [...deliveries]) {
      if (random() < duplicateRate) deliveries.push({ ...delivery, kind: 'duplicate' });
    }
    perOrder.push(deliveries);
    orders.push({
      orderId,
      orderType,
      customerOrderId,
      finalStatus: path[path.length - 1] ?? null,
      telephoneNumbers: carriesNumbers ? normalized : [],
    });
  }

  const extras: PlannedDelivery[] = [];
  const extraCount = Math.round((options.orders * extrasPer100) / 100);
  for (let i = 0; i < extraCount; i++) {
    const event = i % 2 === 0;
    extras.push({
      xml: notificationXml(
        event
          ? {
              subscriptionId: uuid(),
              eventType: 'MESSAGING_LOST',
              numbers: [number10()],
              numbersElement: random() < 0.5 ? 'ImpactedTelephoneNumbers' : 'CompletedTelephoneNumbers',
            }
          : {
              subscriptionId: uuid(),
              orderType: 'bulkPortins',
              customerOrderId: `bulk-${runId}-${i}`,
              status: pick(['DRAFT', 'VALID_DRAFT_TNS', 'INVALID_DRAFT_TNS']),
            },
        random,
      ),
      accountId: null,
      orderId: null,
      kind: event ? 'event' : 'orderless',
    });
  }

  // Interleave: take the next delivery of a random order until all are played, so the stream
  // looks like many orders progressing at once (per-order order kept, except the swaps above).
  const queues = perOrder.map((d) => [...d]);
  const deliveries: PlannedDelivery[] = [];
  let remaining = queues.reduce((n, q) => n + q.length, 0) + extras.length;
  while (remaining > 0) {
    if (extras.length > 0 && random() < extras.length / remaining) {
      deliveries.push(extras.pop() as PlannedDelivery);
    } else {
      const candidates = queues.filter((q) => q.length > 0);
      const next = pick(candidates).shift();
      if (next !== undefined) deliveries.push(next);
    }
    remaining--;
  }
  return { deliveries, orders };
}

export interface SendOptions {
  /** Receiver base URL, e.g. http://127.0.0.1:3000 */
  readonly baseUrl: string;
  /** Basic credentials; null sends without (open callback route). */
  readonly credentials: { readonly username: string; readonly password: string } | null;
  /** Notifications per second; 0 = as fast as `concurrency` allows. */
  readonly rate: number;
  readonly concurrency?: number;
  /** Play Bandwidth's challenge: first POST without credentials, expect 401, then with. */
  readonly challenge?: boolean;
  readonly onProgress?: (sent: number, total: number) => void;
}

export interface SendReport {
  readonly sent: number;
  readonly byStatus: Record<string, number>;
  readonly failures: number;
  readonly seconds: number;
}

/** Plays a plan against a running receiver. Never throws for HTTP answers: it counts them. */
export async function sendTraffic(plan: TrafficPlan, options: SendOptions): Promise<SendReport> {
  const started = Date.now();
  const byStatus: Record<string, number> = {};
  let failures = 0;
  let next = 0;
  const total = plan.deliveries.length;
  const authorization =
    options.credentials === null
      ? undefined
      : `Basic ${Buffer.from(`${options.credentials.username}:${options.credentials.password}`).toString('base64')}`;

  const post = async (delivery: PlannedDelivery, withAuth: boolean): Promise<number> => {
    const url = `${options.baseUrl.replace(/\/$/, '')}/callbacks/bandwidth${delivery.accountId ? `/${delivery.accountId}` : ''}`;
    const headers: Record<string, string> = { 'Content-Type': 'application/xml; charset=utf-8' };
    if (withAuth && authorization !== undefined) headers['Authorization'] = authorization;
    const response = await fetch(url, { method: 'POST', headers, body: delivery.xml });
    await response.arrayBuffer();
    return response.status;
  };

  const deliver = async (delivery: PlannedDelivery): Promise<void> => {
    try {
      if (options.challenge !== false && authorization !== undefined) {
        const first = await post(delivery, false);
        if (first !== 401) {
          byStatus[`challenge_${first}`] = (byStatus[`challenge_${first}`] ?? 0) + 1;
        }
      }
      const status = await post(delivery, true);
      byStatus[String(status)] = (byStatus[String(status)] ?? 0) + 1;
      if (status !== 200) failures++;
    } catch {
      failures++;
      byStatus['network_error'] = (byStatus['network_error'] ?? 0) + 1;
    }
  };

  const worker = async (): Promise<void> => {
    for (;;) {
      const index = next++;
      const delivery = plan.deliveries[index];
      if (delivery === undefined) return;
      if (options.rate > 0) {
        const due = started + (index * 1000) / options.rate;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      }
      await deliver(delivery);
      options.onProgress?.(index + 1, total);
    }
  };
  const concurrency = Math.max(1, options.concurrency ?? 8);
  await Promise.all(Array.from({ length: concurrency }, () => worker()));
  return { sent: total, byStatus, failures, seconds: (Date.now() - started) / 1000 };
}
