import { decideOrdering } from '../../src/domain/ordering';
import { isTerminalState } from '../../src/domain/order-types';
import { toE164 } from '../../src/domain/telephone';

const at = (iso: string) => new Date(iso);

describe('decideOrdering', () => {
  it('applies the first status of a new order', () => {
    expect(decideOrdering(null, { status: 'SUBMITTED', lastModifiedAt: null }, 'portins')).toEqual({
      applied: true,
      previousStatus: null,
    });
  });

  it('keeps the newest by LastModifiedDate', () => {
    const current = { orderType: 'portins', status: 'FOC', lastModifiedAt: at('2024-01-02T00:00:00Z') };
    expect(
      decideOrdering(current, { status: 'SUBMITTED', lastModifiedAt: at('2024-01-01T00:00:00Z') }, 'portins'),
    ).toEqual({
      applied: false,
      previousStatus: 'FOC',
    });
    expect(
      decideOrdering(current, { status: 'COMPLETE', lastModifiedAt: at('2024-01-03T00:00:00Z') }, 'portins').applied,
    ).toBe(true);
  });

  it('never replaces a terminal state with a non-terminal one', () => {
    const current = { orderType: 'portins', status: 'COMPLETE', lastModifiedAt: null };
    expect(decideOrdering(current, { status: 'FOC', lastModifiedAt: null }, 'portins').applied).toBe(false);
  });

  it('does not change status for note-only events', () => {
    const current = { orderType: 'portins', status: 'FOC', lastModifiedAt: null };
    expect(decideOrdering(current, { status: null, lastModifiedAt: null }, 'portins')).toEqual({
      applied: false,
      previousStatus: 'FOC',
    });
  });
});

describe('order type table', () => {
  it('knows terminal states per type and guesses for unknown types', () => {
    expect(isTerminalState('orders', 'PARTIAL')).toBe(true);
    expect(isTerminalState('portins', 'FOC')).toBe(false);
    expect(isTerminalState('bulkPortins', 'COMPLETED')).toBe(true);
    expect(isTerminalState('somethingNew', 'COMPLETE')).toBe(true);
  });
});

describe('toE164', () => {
  it('stores E.164', () => {
    expect(toE164('9195551234')).toBe('+19195551234');
    expect(toE164('+441632960961')).toBe('+441632960961');
    expect(toE164(' 19195551234 ')).toBe('+19195551234');
  });
});
