import fc from 'fast-check';
import { replayOrderHistory } from '../../src/domain/ordering';
import { isTerminalState } from '../../src/domain/order-types';
import type { GeneratedEvent } from '../support/order-scenarios';
import { entryOf, historyOf, orderScenario, receiptsOf } from '../support/order-scenarios';

/**
 * Property: for random event sequences of one order (with LastModifiedDate, ties included,
 * note-only events included), any delivery order and any number of duplicates give the same
 * final status and the same set of history entries; `applied` is false exactly on the events
 * that arrived after a newer one. Duplicates are recognised by the dedup key, as in the store.
 */
const NUM_RUNS = 300;

const scenario = orderScenario();

/** Independent oracle: the key every rule reduces to when every event has a LastModifiedDate. */
function newer(orderType: string, a: GeneratedEvent, b: GeneratedEvent): boolean {
  const ta = isTerminalState(orderType, a.status);
  const tb = isTerminalState(orderType, b.status);
  if (ta !== tb) return ta;
  if (a.lmdSeconds !== b.lmdSeconds) return a.lmdSeconds > b.lmdSeconds;
  return (a.status ?? '') > (b.status ?? '');
}

describe('ordering property: delivery order and duplicates do not change the outcome', () => {
  it(`holds for ${NUM_RUNS} generated cases`, () => {
    fc.assert(
      fc.property(scenario, ({ orderType, events, a, b }) => {
        const replayA = replayOrderHistory(orderType, historyOf(receiptsOf(orderType, 'order-1', a)));
        const replayB = replayOrderHistory(orderType, historyOf(receiptsOf(orderType, 'order-1', b)));

        // Same final status and same set of history entries, one per distinct notification.
        expect(replayA.status).toBe(replayB.status);
        const entriesA = replayA.events.map((e) => entryOf(e.event.source)).sort();
        expect(entriesA).toEqual(replayB.events.map((e) => entryOf(e.event.source)).sort());
        expect(entriesA).toEqual(events.map(entryOf).sort());

        // The final status is the newest status event's (oracle), or null with notes only.
        const withStatus = events.filter((e) => e.status !== null);
        const newest = withStatus.find((e) => withStatus.every((o) => !newer(orderType, o, e)));
        expect(replayA.status).toBe(newest?.status ?? null);

        // applied=false exactly on the events that arrived after a newer one (and on notes).
        replayA.events.forEach((entry, i) => {
          const earlier = replayA.events.slice(0, i).filter((p) => p.event.status !== null);
          const late = earlier.some((p) => newer(orderType, p.event.source, entry.event.source));
          expect(entry.applied).toBe(entry.event.status !== null && !late);
        });
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
