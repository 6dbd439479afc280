/**
 * Generators of hostile and broken callback bodies for the fuzz test. Deterministic for a seed,
 * so a failing run can be replayed with FUZZ_SEED.
 */

export type FuzzKind =
  | 'mutated'
  | 'random-bytes'
  | 'truncated'
  | 'huge-attribute'
  | 'deep-nesting'
  | 'invalid-utf8'
  | 'entity-bomb'
  | 'wrong-root'
  | 'generated-valid'
  | 'unicode'
  | 'oversized';

export interface FuzzBody {
  readonly kind: FuzzKind;
  readonly body: Buffer;
}

/** mulberry32: small, fast, good enough to spread inputs. */
export function createRandom(seed: number) {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (maxExclusive: number): number => Math.floor(next() * maxExclusive);
  const pick = <T>(items: readonly T[]): T => {
    const item = items[int(items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  };
  const bytes = (length: number): Buffer => {
    const out = Buffer.alloc(length);
    for (let i = 0; i < length; i += 1) out[i] = int(256);
    return out;
  };
  return { next, int, pick, bytes };
}

type Random = ReturnType<typeof createRandom>;

const TOKENS = [
  '<',
  '>',
  '&',
  '&amp;',
  '&lt;',
  '&#x41;',
  '&#0;',
  '&#xD800;',
  '&unknown;',
  '"',
  "'",
  ']]>',
  '<![CDATA[',
  '<!--',
  '-->',
  '<?pi x?>',
  '</Notification>',
  '<Notification>',
  '<Status>',
  '</Status>',
  '<TelephoneNumber>9195551234</TelephoneNumber>',
  '<!DOCTYPE x>',
  '<!ENTITY a "b">',
  '\u0000',
  '\r\n',
  '\t',
  '\uFEFF',
  'xmlns="urn:x"',
];

function mutate(random: Random, corpus: readonly Buffer[]): Buffer {
  let body = Buffer.from(random.pick(corpus));
  const rounds = 1 + random.int(8);
  for (let r = 0; r < rounds; r += 1) {
    const at = random.int(body.length + 1);
    switch (random.int(6)) {
      case 0: {
        if (body.length === 0) break;
        const copy = Buffer.from(body);
        copy[Math.min(at, body.length - 1)] = random.int(256);
        body = copy;
        break;
      }
      case 1:
        body = Buffer.concat([body.subarray(0, at), body.subarray(Math.min(body.length, at + 1 + random.int(40)))]);
        break;
      case 2: {
        const length = 1 + random.int(60);
        body = Buffer.concat([body.subarray(0, at + length), body.subarray(at)]);
        break;
      }
      case 3:
        body = Buffer.concat([body.subarray(0, at), random.bytes(1 + random.int(16)), body.subarray(at)]);
        break;
      case 4:
        body = Buffer.concat([body.subarray(0, at), Buffer.from(random.pick(TOKENS)), body.subarray(at)]);
        break;
      default: {
        const other = random.pick(corpus);
        const from = random.int(other.length);
        body = Buffer.concat([body.subarray(0, at), other.subarray(from, from + random.int(200)), body.subarray(at)]);
      }
    }
  }
  return body;
}

const INVALID_UTF8 = [
  [0xc3, 0x28],
  [0xa0, 0xa1],
  [0xe2, 0x28, 0xa1],
  [0xf0, 0x28, 0x8c, 0xbc],
  [0xc0, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xff],
  [0xfe, 0xff],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
];

function invalidUtf8(random: Random, corpus: readonly Buffer[]): Buffer {
  let body = Buffer.from(random.pick(corpus));
  for (let n = 1 + random.int(4); n > 0; n -= 1) {
    const at = random.int(body.length + 1);
    body = Buffer.concat([body.subarray(0, at), Buffer.from(random.pick(INVALID_UTF8)), body.subarray(at)]);
  }
  return body;
}

function entityBomb(random: Random): string {
  const levels = 2 + random.int(9);
  const fanout = 2 + random.int(12);
  const defs: string[] = ['<!ENTITY e0 "lol">'];
  for (let i = 1; i < levels; i += 1) defs.push(`<!ENTITY e${i} "${`&e${i - 1};`.repeat(fanout)}">`);
  const forms = [
    `<?xml version="1.0"?><!DOCTYPE Notification [${defs.join('')}]><Notification><Note>&e${levels - 1};</Note></Notification>`,
    `<!DOCTYPE Notification [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><Notification><Note>&xxe;</Note></Notification>`,
    `<!DOCTYPE Notification [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;]><Notification/>`,
    `<!DOCTYPE Notification SYSTEM "file:///dev/random"><Notification/>`,
    `<!DOCTYPE Notification [<!ENTITY big "${'x'.repeat(1000 + random.int(20_000))}">]><Notification><Note>${'&big;'.repeat(1 + random.int(500))}</Note></Notification>`,
    `<!doctype notification [<!element Notification ANY>]><Notification/>`,
    `<Notification><Note>${'&amp;'.repeat(random.int(20_000))}</Note></Notification>`,
  ];
  return random.pick(forms);
}

const ROOTS = [
  'Order',
  'notification',
  'NOTIFICATION',
  'Notifications',
  'ns:Notification',
  'x',
  'Response',
  'Envelope',
];

function wrongRoot(random: Random, corpus: readonly Buffer[]): string {
  const example = random.pick(corpus).toString('utf8');
  switch (random.int(5)) {
    case 0:
      return example.replace(/Notification/g, random.pick(ROOTS));
    case 1:
      return `${example}${example}`;
    case 2:
      return `<${random.pick(ROOTS)}>${example.replace(/<\?xml[^>]*\?>/, '')}</${random.pick(ROOTS)}>`;
    case 3:
      return JSON.stringify({ OrderId: 'x', Status: 'COMPLETE' });
    default:
      return `<Notification xmlns="urn:x" a="1" b='2'>${'<Status>COMPLETE</Status>'.repeat(random.int(4))}</Notification>`;
  }
}

const ORDER_TYPES = ['orders', 'portins', 'portouts', 'disconnects', 'e911s', 'tnoptions', 'bulkPortins', 'madeUpType'];
const STATUSES = ['COMPLETE', 'FAILED', 'RECEIVED', 'FOC', 'PARTIAL', 'CANCELLED', 'VALID_DRAFT_TNS', 'WHATEVER'];

function generatedValid(random: Random, serial: number): string {
  const fields = [
    `<SubscriptionId>fuzz-sub-${random.int(5)}</SubscriptionId>`,
    `<OrderType>${random.pick(ORDER_TYPES)}</OrderType>`,
    random.next() < 0.9 ? `<OrderId>fuzz-order-${random.int(300)}</OrderId>` : '',
    `<Status>${random.pick(STATUSES)}</Status>`,
    random.next() < 0.3 ? `<Message>${random.int(9999)}: fuzz message ${serial}</Message>` : '',
    random.next() < 0.3 ? `<Note>note ${serial} &amp; &lt;ok&gt; é 漢字 🙂</Note>` : '',
    random.next() < 0.5
      ? `<LastModifiedDate>2024-02-22T20:40:${String(random.int(60)).padStart(2, '0')}.${String(serial % 1000).padStart(3, '0')}Z</LastModifiedDate>`
      : '',
    `<CompletedTelephoneNumbers>${Array.from({ length: random.int(4) }, () => `<TelephoneNumber>${random.pick(['+1', ''])}919${String(1_000_000 + random.int(8_999_999))}</TelephoneNumber>`).join('')}</CompletedTelephoneNumbers>`,
  ];
  // Element order is not fixed in real bodies.
  for (let i = fields.length - 1; i > 0; i -= 1) {
    const j = random.int(i + 1);
    const a = fields[i] ?? '';
    fields[i] = fields[j] ?? '';
    fields[j] = a;
  }
  const declaration = random.pick([
    '',
    '<?xml version="1.0"?>',
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>',
  ]);
  return `${declaration}<Notification>${fields.join(random.pick(['', '\n  ']))}</Notification>`;
}

function unicode(random: Random, serial: number): Buffer {
  const texts = [
    '🙂🙃',
    'ﷺ',
    'e\u0301',
    '\u202Eevil',
    '\uD83D\uDE00',
    'Ω≈ç√',
    '\u00A0',
    'A'.repeat(random.int(60_000)),
  ];
  const xml = `<Notification><OrderType>orders</OrderType><OrderId>uni-${serial}</OrderId><Status>COMPLETE</Status><Note>${random.pick(texts)}</Note></Notification>`;
  switch (random.int(3)) {
    case 0:
      return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(xml)]);
    case 1:
      return Buffer.from(
        `<?xml version="1.0" encoding="ISO-8859-1"?>${Array.from(xml, (c) => ((c.codePointAt(0) ?? 0) > 0xff ? 'é' : c)).join('')}`,
        'latin1',
      );
    default:
      return Buffer.from(xml);
  }
}

export interface CorpusOptions {
  readonly corpus: readonly Buffer[];
  readonly bodyLimitBytes: number;
}

/** One body: mostly hostile, some valid, a few over the size limit. */
export function generateBody(random: Random, serial: number, options: CorpusOptions): FuzzBody {
  const roll = random.int(1000);
  if (roll < 3) {
    return { kind: 'oversized', body: Buffer.alloc(options.bodyLimitBytes + 1 + random.int(4096), 0x41) };
  }
  const kinds: Exclude<FuzzKind, 'oversized'>[] = [
    'mutated',
    'mutated',
    'mutated',
    'random-bytes',
    'truncated',
    'huge-attribute',
    'deep-nesting',
    'invalid-utf8',
    'entity-bomb',
    'wrong-root',
    'generated-valid',
    'unicode',
  ];
  const kind = random.pick(kinds);
  const example = random.pick(options.corpus);
  switch (kind) {
    case 'mutated':
      return { kind, body: mutate(random, options.corpus) };
    case 'random-bytes':
      return { kind, body: random.bytes(random.int(2048)) };
    case 'truncated':
      return { kind, body: example.subarray(0, random.int(example.length)) };
    case 'huge-attribute': {
      const size = random.int(2) === 0 ? random.int(8000) : 8000 + random.int(200_000);
      return {
        kind,
        body: Buffer.from(`<Notification attr="${'a'.repeat(size)}"><Status>COMPLETE</Status></Notification>`),
      };
    }
    case 'deep-nesting': {
      const depth = random.int(2) === 0 ? 1 + random.int(40) : 40 + random.int(20_000);
      return { kind, body: Buffer.from(`<Notification>${'<a>'.repeat(depth)}x${'</a>'.repeat(depth)}</Notification>`) };
    }
    case 'invalid-utf8':
      return { kind, body: invalidUtf8(random, options.corpus) };
    case 'entity-bomb':
      return { kind, body: Buffer.from(entityBomb(random)) };
    case 'wrong-root':
      return { kind, body: Buffer.from(wrongRoot(random, options.corpus)) };
    case 'generated-valid':
      return { kind, body: Buffer.from(generatedValid(random, serial)) };
    case 'unicode':
      return { kind, body: unicode(random, serial) };
    default: {
      const exhaustive: never = kind;
      throw new Error(`unknown kind ${String(exhaustive)}`);
    }
  }
}
