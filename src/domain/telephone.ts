/**
 * Bandwidth sends numbers in the subscription's NumberFormat: LEGACY (US numbers as 10 digits,
 * others E.164) or E164. We store E.164 only.
 */
export function toE164(raw: string): string | undefined {
  const trimmed = raw.trim();
  if (trimmed === '') return undefined;
  const digits = trimmed.replace(/[\s().-]/g, '');
  if (/^\+[1-9]\d{6,14}$/.test(digits)) return digits;
  if (/^\d{10}$/.test(digits)) return `+1${digits}`;
  if (/^1\d{10}$/.test(digits)) return `+${digits}`;
  // Unrecognised shapes are kept as sent rather than dropped: nothing the carrier said is lost.
  return trimmed;
}

/** E.164 numbers, deduplicated, in a stable (sorted) order. */
export function normalizeNumbers(raw: readonly string[]): string[] {
  const set = new Set<string>();
  for (const value of raw) {
    const e164 = toE164(value);
    if (e164 !== undefined) set.add(e164);
  }
  return [...set].sort();
}
