import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { EVENT_TYPES, ORDER_TYPES, unknownFieldOf } from '../../src/domain/order-types';
import { decodeBody, parseNotificationXml } from '../../src/ingest/parse';

/**
 * The conformance corpus: every body under test/fixtures/notifications/ (raw bytes, as they
 * would arrive) next to the normalized result it must parse to. The corpus has to cover every
 * order type and event type of ORDER_TYPES.md and every payload variant of FACTS.md.
 */
const CORPUS_DIR = path.resolve(__dirname, '..', 'fixtures', 'notifications');

interface Expectation {
  readonly variants: readonly string[];
  readonly expected: Record<string, unknown>;
}

function isExpectation(value: unknown): value is Expectation {
  return (
    typeof value === 'object' &&
    value !== null &&
    'variants' in value &&
    Array.isArray(value.variants) &&
    'expected' in value &&
    typeof value.expected === 'object' &&
    value.expected !== null
  );
}

const bodies = readdirSync(CORPUS_DIR)
  .filter((f) => f.endsWith('.xml'))
  .sort();

function expectationOf(file: string): Expectation {
  const json: unknown = JSON.parse(readFileSync(path.join(CORPUS_DIR, file.replace(/\.xml$/, '.json')), 'utf8'));
  if (!isExpectation(json)) throw new Error(`${file}: expectation must have "variants" and "expected"`);
  return json;
}

/** The variants the issue lists; each must be exercised by at least one body. */
const REQUIRED_VARIANTS = [
  'one-line',
  'indented',
  'element-order',
  'declaration-no-encoding',
  'no-declaration',
  'iso-8859-1',
  'utf8-bom',
  'cdata',
  'entities',
  'whitespace',
  'zero-numbers',
  'one-number',
  'many-numbers',
  'impacted-numbers',
  'completed-e164-numbers',
  'impacted-e164-numbers',
  'legacy-numbers',
  'e164-numbers',
  'unknown-elements',
  'order-type-typo',
  'unknown-order-type',
  'unknown-state',
  'unknown-event-type',
  'no-order-id',
  'note-only',
  'error-code',
  'last-modified',
  'actual-foc-date',
];

describe('conformance corpus', () => {
  it('holds at least 40 bodies, each with its expected result', () => {
    expect(bodies.length).toBeGreaterThanOrEqual(40);
    for (const file of bodies) expect(() => expectationOf(file)).not.toThrow();
  });

  it.each(bodies)('%s parses to its expected normalized result', async (file) => {
    const raw = readFileSync(path.join(CORPUS_DIR, file));
    const result = await parseNotificationXml(decodeBody(raw));
    if (!result.ok) throw new Error(`${file} was refused: ${result.reason}`);
    const n = result.notification;
    expect({
      ...n,
      lastModifiedAt: n.lastModifiedAt?.toISOString() ?? null,
      actualFocDate: n.actualFocDate?.toISOString() ?? null,
      unknownField: unknownFieldOf(n),
    }).toEqual(expectationOf(file).expected);
  });

  it('covers every order type and event type of ORDER_TYPES.md', () => {
    const seen = new Set(bodies.flatMap((file) => expectationOf(file).variants));
    const types = [
      ...Object.keys(ORDER_TYPES).map((t) => `order-type:${t}`),
      ...EVENT_TYPES.map((t) => `event-type:${t}`),
    ];
    expect(types.filter((t) => !seen.has(t))).toEqual([]);
    // The tags are checked against the parsed bodies, so a mislabelled fixture fails.
    for (const file of bodies) {
      const { variants, expected } = expectationOf(file);
      for (const tag of variants) {
        if (tag.startsWith('order-type:'))
          expect({ file, type: expected['orderType'] }).toEqual({ file, type: tag.slice(11) });
        if (tag.startsWith('event-type:'))
          expect({ file, type: expected['eventType'] }).toEqual({ file, type: tag.slice(11) });
      }
    }
  });

  it('covers every payload variant of FACTS.md', () => {
    const seen = new Set(bodies.flatMap((file) => expectationOf(file).variants));
    expect(REQUIRED_VARIANTS.filter((v) => !seen.has(v))).toEqual([]);
  });
});
