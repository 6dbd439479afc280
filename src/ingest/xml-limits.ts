/**
 * Structural limits checked on the decoded body before any XML parser sees it.
 *
 * Fail closed: a body that breaks a limit is refused (400, quarantined) without being parsed, so
 * no DTD is read, no entity is expanded, and no deep or huge document is ever built in memory.
 * A Bandwidth notification is a flat document three levels deep with short texts; the defaults
 * leave a wide margin above that (thousands of telephone numbers in one completed order).
 *
 * The scan is one linear pass with no backtracking regular expressions, so its cost is bounded
 * by the body size limit whatever the input. It does not judge well-formedness: an unterminated
 * tag or comment is left for the parser to report as malformed.
 */
export interface XmlLimits {
  /** Deepest element nesting (the root is depth 1). */
  readonly maxDepth: number;
  /** Elements in the whole document. */
  readonly maxElements: number;
  /** Characters in one run of text or one CDATA section. */
  readonly maxTextLength: number;
  /** Characters in one tag, attributes included (huge attributes). */
  readonly maxTagLength: number;
}

export const DEFAULT_XML_LIMITS: XmlLimits = {
  maxDepth: 32,
  maxElements: 20_000,
  maxTextLength: 65_536,
  maxTagLength: 8_192,
};

export interface XmlLimitRefusal {
  readonly ok: false;
  readonly reason: string;
}

const LT = 0x3c;
const GT = 0x3e;
const SLASH = 0x2f;
const QUOTE = 0x22;
const APOSTROPHE = 0x27;

/** Characters XML 1.0 forbids outright (and PostgreSQL cannot store NUL in text). */
// eslint-disable-next-line no-control-regex
const FORBIDDEN_CHARACTER = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;
const CHARACTER_REFERENCE = /&#(x[0-9a-fA-F]{1,8}|[0-9]{1,10});/g;

/** XML 1.0 `Char` production: what a character reference may produce. */
function isXmlChar(code: number): boolean {
  return (
    code === 0x9 ||
    code === 0xa ||
    code === 0xd ||
    (code >= 0x20 && code <= 0xd7ff) ||
    (code >= 0xe000 && code <= 0xfffd) ||
    (code >= 0x10000 && code <= 0x10ffff)
  );
}

const refuse = (reason: string): XmlLimitRefusal => ({ ok: false, reason });

/** Returns a refusal when `text` breaks a limit, else null (the parser decides the rest). */
export function checkXmlLimits(text: string, limits: XmlLimits = DEFAULT_XML_LIMITS): XmlLimitRefusal | null {
  const forbidden = FORBIDDEN_CHARACTER.exec(text);
  if (forbidden) {
    const code = forbidden[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
    return refuse(`character U+${code} is not allowed in XML`);
  }
  for (const match of text.matchAll(CHARACTER_REFERENCE)) {
    const ref = match[1] ?? '';
    const code = ref.startsWith('x') ? Number.parseInt(ref.slice(1), 16) : Number.parseInt(ref, 10);
    if (!isXmlChar(code)) return refuse(`character reference &#${ref}; is not allowed in XML`);
  }

  let depth = 0;
  let elements = 0;
  let textRun = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    if (text.charCodeAt(i) !== LT) {
      textRun += 1;
      if (textRun > limits.maxTextLength) return refuse(`text longer than ${limits.maxTextLength} characters`);
      i += 1;
      continue;
    }
    textRun = 0;
    if (text.startsWith('<!--', i)) {
      const end = text.indexOf('-->', i + 4);
      if (end < 0) return null;
      i = end + 3;
      continue;
    }
    if (text.startsWith('<![CDATA[', i)) {
      const end = text.indexOf(']]>', i + 9);
      if (end < 0) return null;
      if (end - (i + 9) > limits.maxTextLength) return refuse(`text longer than ${limits.maxTextLength} characters`);
      i = end + 3;
      continue;
    }
    // <!DOCTYPE, <!ENTITY, <!ELEMENT, <!ATTLIST: any markup declaration means a DTD.
    if (text.startsWith('<!', i)) return refuse('document type declarations are not accepted');
    if (text.startsWith('<?', i)) {
      const end = text.indexOf('?>', i + 2);
      if (end < 0) return null;
      if (end - i > limits.maxTagLength) return refuse(`processing instruction longer than ${limits.maxTagLength}`);
      i = end + 2;
      continue;
    }
    // A tag: find its closing '>' outside quoted attribute values.
    let j = i + 1;
    let quote = 0;
    while (j < n) {
      const c = text.charCodeAt(j);
      if (quote !== 0) {
        if (c === quote) quote = 0;
      } else if (c === QUOTE || c === APOSTROPHE) {
        quote = c;
      } else if (c === GT) {
        break;
      }
      j += 1;
      if (j - i > limits.maxTagLength) return refuse(`tag longer than ${limits.maxTagLength} characters`);
    }
    if (j >= n) return null;
    if (text.charCodeAt(i + 1) === SLASH) {
      depth = Math.max(0, depth - 1);
    } else {
      elements += 1;
      if (elements > limits.maxElements) return refuse(`more than ${limits.maxElements} elements`);
      if (text.charCodeAt(j - 1) !== SLASH) {
        depth += 1;
        if (depth > limits.maxDepth) return refuse(`elements nested deeper than ${limits.maxDepth}`);
      }
    }
    i = j + 1;
  }
  return null;
}
