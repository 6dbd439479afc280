import { Counter, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';

/** Handler metrics, registered on the service's registry. Labels: handler names only (bounded by config). */
export interface HandlerMetrics {
  /** Attempts by handler and outcome: succeeded | failed (will retry) | dead. */
  readonly deliveries: Counter<'handler' | 'outcome'>;
  readonly duration: Histogram<'handler'>;
  /** Deliveries split off a batch job into jobs of their own, by reason (retry, wait, error). */
  readonly batchSplitOff: Counter<'handler' | 'reason'>;
  /** Delivery jobs that waited for the worker's persist backlog to clear, and for how long. */
  readonly persistFirstWait: Histogram;
}

export function createHandlerMetrics(registry: Registry): HandlerMetrics {
  return {
    deliveries: new Counter({
      name: 'bw_handler_deliveries_total',
      help: 'Handler delivery attempts by handler and outcome (succeeded, failed = will retry, dead)',
      labelNames: ['handler', 'outcome'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'bw_handler_duration_seconds',
      help: 'Time one handler attempt took',
      labelNames: ['handler'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    batchSplitOff: new Counter({
      name: 'bw_handler_batch_split_off_total',
      help: 'Deliveries split off a batch job into jobs of their own: retry (first attempt failed), wait (an earlier delivery of the order is open), error',
      labelNames: ['handler', 'reason'],
      registers: [registry],
    }),
    persistFirstWait: new Histogram({
      name: 'bw_handler_persist_first_wait_seconds',
      help: 'How long a delivery job waited for the worker to store its backlog of receipts first (PERSIST_FIRST_MAX_WAIT_MS)',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
  };
}
