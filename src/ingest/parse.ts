import { parser as saxParser } from 'sax';
import { Parser } from 'xml2js';
import type { BandwidthNotification } from '../domain/notification';
import { errorCodeOf } from '../domain/notification';
import { unknownFieldOf } from '../domain/order-types';
import { normalizeNumbers } from '../domain/telephone';
import { checkXmlLimits } from './xml-limits';

export type ParseResult =
  { readonly ok: true; readonly notification: BandwidthNotification } | { readonly ok: false; readonly reason: string };

/** Number lists Bandwidth uses (LEGACY and the E.164 variants of unmerged spec drafts). */
const NUMBER_LISTS: ReadonlyArray<readonly [list: string, item: string]> = [
  ['CompletedTelephoneNumbers', 'TelephoneNumber'],
  ['ImpactedTelephoneNumbers', 'TelephoneNumber'],
  ['CompletedE164TelephoneNumbers', 'E164TelephoneNumber'],
  ['ImpactedE164TelephoneNumbers', 'E164TelephoneNumber'],
];

type XmlNode = Record<string, unknown>;

function isNode(value: unknown): value is XmlNode {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Text of an element parsed with explicitArray: a string, or `{_: text}` when it has attributes. */
function textOf(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (isNode(value) && typeof value['_'] === 'string') return value['_'];
  return null;
}

function firstText(node: XmlNode, name: string): string | null {
  const values = node[name];
  if (!Array.isArray(values)) return null;
  const text = textOf(values[0]);
  if (text === null) return null;
  const trimmed = text.trim();
  return trimmed === '' ? null : trimmed;
}

function allTexts(node: XmlNode, list: string, item: string): string[] {
  const out: string[] = [];
  const lists = node[list];
  if (!Array.isArray(lists)) return out;
  for (const listNode of lists) {
    if (!isNode(listNode)) continue;
    const items = listNode[item];
    if (!Array.isArray(items)) continue;
    for (const entry of items) {
      const text = textOf(entry);
      if (text !== null) out.push(text);
    }
  }
  return out;
}

/**
 * ISO 8601 date or date-time (Bandwidth: `2024-02-22T20:40:47.539Z`). A time without an offset
 * is read as UTC, never as the server's local time. Anything else is null (the raw body keeps it).
 */
const ISO_TIMESTAMP = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)(Z|[+-]\d{2}:?\d{2})?)?$/i;

export function parseTimestamp(value: string | null): Date | null {
  if (value === null) return null;
  const match = ISO_TIMESTAMP.exec(value.trim());
  if (match === null) return null;
  const [, day, time, zone] = match;
  // JavaScript keeps milliseconds only: longer fractions are cut, not rounded.
  const clock = time === undefined ? '00:00:00' : time.replace(/(\.\d{3})\d+$/, '$1');
  const offset = zone === undefined ? 'Z' : zone.toUpperCase().replace(/^([+-]\d{2})(\d{2})$/, '$1:$2');
  const date = new Date(`${day}T${clock}${offset}`);
  return Number.isNaN(date.getTime()) ? null : date;
}

/**
 * Decodes the raw body: strips a UTF-8 byte-order mark and honours an ISO-8859-1 declaration.
 * Everything else is read as UTF-8 (Bandwidth declares UTF-8 or nothing).
 */
export function decodeBody(body: Buffer): string {
  let bytes = body;
  if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    bytes = bytes.subarray(3);
  }
  const head = bytes.subarray(0, 200).toString('latin1');
  const declared = /^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']/.exec(head)?.[1];
  if (declared && /^(iso-8859-1|latin-?1|us-ascii)$/i.test(declared)) return bytes.toString('latin1');
  return bytes.toString('utf8');
}

function createParser(): Parser {
  return new Parser({
    explicitArray: true,
    explicitRoot: true,
    trim: false,
    normalize: false,
    strict: true,
    async: false,
    emptyTag: '',
  });
}

/** xml2js with `async: false` calls back before `parseString` returns: no promise, no extra turn. */
function parseXmlSync(text: string): { ok: true; document: unknown } | { ok: false; error: unknown } {
  let result: { ok: true; document: unknown } | { ok: false; error: unknown } = {
    ok: false,
    error: new Error('xml2js did not call back'),
  };
  try {
    createParser().parseString(text, (error: unknown, document: unknown) => {
      result = error ? { ok: false, error } : { ok: true, document };
    });
  } catch (error: unknown) {
    result = { ok: false, error };
  }
  return result;
}

type Refusal = { readonly ok: false; readonly reason: string };

/**
 * The checks before any XML parser, shared by the callback route and the worker: XML limits
 * and no document type declaration (fail closed: no DTD or entity expansion is ever attempted).
 */
function preParseChecks(input: string): { readonly ok: true; readonly text: string } | Refusal {
  // A byte-order mark that survived decoding (a caller passing text) is not content.
  const text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  const refused = checkXmlLimits(text); // before any parser: no DTD, bounded depth, elements, text
  if (refused) return refused;
  if (text.trim() === '') return { ok: false, reason: 'empty body' };
  if (/<!DOCTYPE/i.test(text) || /<!ENTITY/i.test(text)) {
    return { ok: false, reason: 'document type declarations are not accepted' };
  }
  return { ok: true, text };
}

const firstLine = (error: unknown): string =>
  (error instanceof Error ? error.message.split('\n')[0] : undefined) ?? 'parse error';

const rootRefusal = (rootName: string | undefined): Refusal => ({
  ok: false,
  reason: `root element must be <Notification>, got <${rootName ?? '?'}>`,
});

/** Thrown by the tokenizer's handler to stop at the end of the root element (never escapes). */
const ROOT_CLOSED = new Error('root element closed');

/**
 * The callback route's check: would the worker parse this body? The same checks as
 * `parseNotificationXml`, but the XML is only tokenized, by sax in strict mode: the tokenizer
 * xml2js runs underneath (with the options xml2js gives it), and the only source of xml2js's
 * parse errors. No object tree is built: the route does not need one (the job carries the raw
 * body, which the worker parses with xml2js), and building it was most of the route's parse
 * cost. test/unit/edge-check.test.ts holds the two to the same verdict on the corpus and on fuzz.
 */
export function checkNotificationXml(input: string): { readonly ok: true } | Refusal {
  const checked = preParseChecks(input);
  if (!checked.ok) return checked;
  const tokenizer = saxParser(true, { trim: false, normalize: false, xmlns: false });
  let firstError: Error | null = null;
  let rootName: string | undefined;
  let depth = 0;
  tokenizer.onerror = (error: Error) => {
    firstError ??= error;
    // As xml2js does: record the first error and let sax go on.
    tokenizer.resume();
  };
  tokenizer.onopentag = (tag) => {
    rootName ??= tag.name;
    depth += 1;
  };
  tokenizer.onclosetag = () => {
    depth -= 1;
    // xml2js returns its result when the root element closes and ignores whatever follows
    // (trailing text, even broken markup): so must this check. Stop reading here.
    if (depth === 0) throw ROOT_CLOSED;
  };
  try {
    tokenizer.write(checked.text).close();
  } catch (error: unknown) {
    if (error !== ROOT_CLOSED) firstError ??= error instanceof Error ? error : new Error(String(error));
  }
  if (firstError !== null) return { ok: false, reason: `malformed XML: ${firstLine(firstError)}` };
  if (rootName === undefined) return { ok: false, reason: 'malformed XML: no root element' };
  return rootName === 'Notification' ? { ok: true } : rootRefusal(rootName);
}

/** XML -> BandwidthNotification. Fails (as a value, not an exception) on whatever the checks above refuse. */
export function parseNotificationXml(input: string): Promise<ParseResult> {
  const checked = preParseChecks(input);
  if (!checked.ok) return Promise.resolve(checked);
  const parsed = parseXmlSync(checked.text);
  if (!parsed.ok) return Promise.resolve({ ok: false, reason: `malformed XML: ${firstLine(parsed.error)}` });
  const document = parsed.document;
  if (!isNode(document)) return Promise.resolve({ ok: false, reason: 'malformed XML: no root element' });
  const rootName = Object.keys(document)[0];
  if (rootName !== 'Notification') return Promise.resolve(rootRefusal(rootName));
  const root = document['Notification'];
  // `<Notification/>` parses to the empty string.
  return Promise.resolve({ ok: true, notification: toNotification(isNode(root) ? root : {}) });
}

function toNotification(node: XmlNode): BandwidthNotification {
  const orderType = firstText(node, 'OrderType');
  const status = firstText(node, 'Status');
  const eventType = firstText(node, 'EventType');
  const message = firstText(node, 'Message');
  const numbers = NUMBER_LISTS.flatMap(([list, item]) => allTexts(node, list, item));

  return {
    subscriptionId: firstText(node, 'SubscriptionId'),
    orderType,
    orderId: firstText(node, 'OrderId'),
    customerOrderId: firstText(node, 'CustomerOrderId'),
    status,
    message,
    errorCode: errorCodeOf(message),
    note: firstText(node, 'Note'),
    eventType,
    telephoneNumbers: normalizeNumbers(numbers),
    lastModifiedAt: parseTimestamp(firstText(node, 'LastModifiedDate')),
    actualFocDate: parseTimestamp(firstText(node, 'ActualFocDate')),
    known: unknownFieldOf({ orderType, status, eventType }) === null,
  };
}
