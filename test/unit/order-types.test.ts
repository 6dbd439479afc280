import { ORDER_TYPES, isKnownState, isTerminalState, unknownFieldOf } from '../../src/domain/order-types';

/** The table of ORDER_TYPES.md, row by row: every notified state is known; terminal ones end the order. */
describe('order-type table', () => {
  const rows = Object.entries(ORDER_TYPES).flatMap(([type, def]) =>
    def.states.map((state) => [type, state, (def.terminal as readonly string[]).includes(state)] as const),
  );

  it.each(rows)('%s %s is known (terminal: %s)', (type, state, terminal) => {
    expect(isKnownState(type, state)).toBe(true);
    expect(isTerminalState(type, state)).toBe(terminal);
    expect(unknownFieldOf({ orderType: type, status: state, eventType: null })).toBeNull();
  });

  it('marks the documented terminal states of ORDER_TYPES.md', () => {
    expect(ORDER_TYPES.portins.terminal).toEqual(['COMPLETE', 'CANCELLED']);
    expect(ORDER_TYPES.disconnects.terminal).toEqual(ORDER_TYPES.disconnects.states);
    expect(ORDER_TYPES.bulkPortins.terminal).toEqual(['PARTIAL', 'COMPLETED', 'CANCELLED']);
    expect(isTerminalState('bulkPortins', 'COMPLETE')).toBe(false);
    expect(ORDER_TYPES.tollfreePortingValidations.terminal).toEqual([]);
  });

  it('names which part of a notification is unknown', () => {
    expect(unknownFieldOf({ orderType: 'OrderId', status: 'COMPLETE', eventType: null })).toBe('order_type');
    expect(unknownFieldOf({ orderType: 'orders', status: 'ON_HOLD', eventType: null })).toBe('status');
    expect(unknownFieldOf({ orderType: 'portins', status: null, eventType: null })).toBeNull();
    expect(unknownFieldOf({ orderType: null, status: null, eventType: 'MESSAGING_LOST' })).toBeNull();
    expect(unknownFieldOf({ orderType: null, status: null, eventType: 'NUMBER_RECYCLED' })).toBe('event_type');
    expect(unknownFieldOf({ orderType: null, status: 'COMPLETE', eventType: null })).toBe('order_type');
  });
});
