import { decideOrdering, replayOrderHistory } from '../../src/domain/ordering';
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

describe('replayOrderHistory', () => {
  const ev = (status: string | null, lmd: string | null, received: number, focDate: string | null = null) => ({
    status,
    lastModifiedAt: lmd === null ? null : at(lmd),
    actualFocDate: focDate === null ? null : at(focDate),
    receivedAt: new Date(Date.UTC(2024, 0, 1, 0, 0, received)),
    arrivalKey: `r${received}`,
  });

  it('marks late events not applied, with the status that was current when they arrived', () => {
    const submitted = ev('SUBMITTED', '2024-01-01T00:00:00Z', 3);
    const foc = ev('FOC', '2024-01-02T00:00:00Z', 1, '2024-01-05T00:00:00Z');
    const complete = ev('COMPLETE', '2024-01-03T00:00:00Z', 2);
    const replay = replayOrderHistory('portins', [submitted, foc, complete]);
    expect(replay.events.map((e) => [e.event.status, e.applied, e.previousStatus])).toEqual([
      ['FOC', true, null],
      ['COMPLETE', true, 'FOC'],
      ['SUBMITTED', false, 'COMPLETE'],
    ]);
    expect(replay).toMatchObject({
      status: 'COMPLETE',
      isTerminal: true,
      lastModifiedAt: at('2024-01-03T00:00:00Z'),
      actualFocDate: at('2024-01-05T00:00:00Z'),
    });
  });

  it('breaks equal LastModifiedDates the same way whatever the arrival order', () => {
    const a = ev('EXCEPTION', '2024-01-02T00:00:00Z', 1);
    const b = ev('FOC', '2024-01-02T00:00:00Z', 2);
    expect(replayOrderHistory('portins', [a, b]).status).toBe('FOC');
    expect(replayOrderHistory('portins', [{ ...a, receivedAt: b.receivedAt, arrivalKey: 'z' }, b]).status).toBe('FOC');
  });

  it('uses arrival order without LastModifiedDate, but keeps a terminal state', () => {
    expect(replayOrderHistory('orders', [ev('SUBMITTED', null, 1), ev('BACKORDERED', null, 2)]).status).toBe(
      'BACKORDERED',
    );
    const replay = replayOrderHistory('orders', [ev('COMPLETE', null, 1), ev('SUBMITTED', null, 2)]);
    expect(replay.status).toBe('COMPLETE');
    expect(replay.events[1]).toMatchObject({ applied: false, previousStatus: 'COMPLETE' });
  });

  it('keeps note-only events in history without changing the status', () => {
    const replay = replayOrderHistory('portins', [ev('FOC', null, 1), ev(null, null, 2)]);
    expect(replay.status).toBe('FOC');
    expect(replay.events[1]).toMatchObject({ applied: false, previousStatus: 'FOC' });
  });
});
