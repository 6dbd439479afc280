import type { SqlClient } from '../store/sql';
import { readScrapeGauges } from '../store/order-read-store';
import type { CallbackOutcomeLabel, Metrics } from './metrics';

const OUTCOMES: readonly CallbackOutcomeLabel[] = [
  'accepted',
  'duplicate',
  'unauthorized',
  'malformed',
  'too_large',
  'unavailable',
];

/** Every callback outcome is exported from the first scrape (0), so rate() and alerts work at once. */
export function primeCallbackOutcomes(metrics: Metrics): void {
  for (const outcome of OUTCOMES) metrics.notificationsReceived.inc({ outcome }, 0);
}

export interface QueueProbe {
  readonly name: string;
  readonly counts: () => Promise<Record<string, number>>;
  readonly oldestWaitingAgeMs: () => Promise<number | null>;
}

/** Refreshes the gauges that are read at scrape time: queue depth/lag and database counts. */
export async function refreshScrapeGauges(
  metrics: Metrics,
  db: SqlClient,
  queues: readonly QueueProbe[],
): Promise<void> {
  await Promise.all([
    ...queues.map(async (queue) => {
      const [counts, oldest] = await Promise.all([queue.counts(), queue.oldestWaitingAgeMs()]);
      for (const [state, value] of Object.entries(counts)) metrics.queueJobs.set({ queue: queue.name, state }, value);
      metrics.queueOldestWaitingAge.set({ queue: queue.name }, (oldest ?? 0) / 1000);
    }),
    (async () => {
      const gauges = await readScrapeGauges(db);
      metrics.deadLetteredDeliveries.reset();
      for (const { handler, count } of gauges.deadLettersByHandler)
        metrics.deadLetteredDeliveries.set({ handler }, count);
      metrics.quarantinedPending.set(gauges.quarantinedPending);
    })(),
  ]);
}
