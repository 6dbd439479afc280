import { isoOfUtcText } from '../../src/store/order-read-store';

/** The list's timestamps: PostgreSQL's text of a UTC timestamp, written as toISOString writes it. */
describe('isoOfUtcText', () => {
  it('writes every fraction length as toISOString does', () => {
    for (const [text, iso] of [
      ['2026-03-04 05:06:07', '2026-03-04T05:06:07.000Z'],
      ['2026-03-04 05:06:07.1', '2026-03-04T05:06:07.100Z'],
      ['2026-03-04 05:06:07.12', '2026-03-04T05:06:07.120Z'],
      ['2026-03-04 05:06:07.123', '2026-03-04T05:06:07.123Z'],
    ] as const) {
      expect(isoOfUtcText(text)).toBe(iso);
      expect(isoOfUtcText(text)).toBe(new Date(iso).toISOString());
    }
  });

  it('keeps null, and lets Date read any other shape', () => {
    expect(isoOfUtcText(null)).toBeNull();
    expect(isoOfUtcText('2026-03-04 05:06:07.123456')).toBe('2026-03-04T05:06:07.123Z');
  });
});
