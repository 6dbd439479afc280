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

/**
 * XML -> BandwidthNotification. Fails (as a value, not an exception) on malformed XML, a
 * document type declaration (fail closed: no DTD or entity expansion is ever attempted), or a
 * root other than `<Notification>`.
 */
export async function parseNotificationXml(input: string): Promise<ParseResult> {
  // A byte-order mark that survived decoding (a caller passing text) is not content.
  const text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  const refused = checkXmlLimits(text); // before any parser: no DTD, bounded depth, elements, text
  if (refused) return refused;
  if (text.trim() === '') return { ok: false, reason: 'empty body' };
  if (/<!DOCTYPE/i.test(text) || /<!ENTITY/i.test(text)) {
    return { ok: false, reason: 'document type declarations are not accepted' };
  }
  let document: unknown;
  try {
    document = await createParser().parseStringPromise(text);
  } catch (error: unknown) {
    const detail = error instanceof Error ? error.message.split('\n')[0] : 'parse error';
    return { ok: false, reason: `malformed XML: ${detail}` };
  }
  if (!isNode(document)) return { ok: false, reason: 'malformed XML: no root element' };
  const rootName = Object.keys(document)[0];
  if (rootName !== 'Notification') {
    return { ok: false, reason: `root element must be <Notification>, got <${rootName ?? '?'}>` };
  }
  const root = document['Notification'];
  // `<Notification/>` parses to the empty string.
  const node: XmlNode = isNode(root) ? root : {};
  return { ok: true, notification: toNotification(node) };
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
