import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';

/**
 * Metrics of the Bandwidth API integration, registered in the service's registry. Labels
 * carry operations, outcomes and order types, never ids.
 *
 * Alerts: `bw_subscription_callback_failures_total` grows and `bw_subscriptions_failing` is
 * non-zero when Bandwidth reports failed callbacks (its <Status> is not 2xx), i.e. we lost
 * notifications; `bw_subscription_keepalive_runs_total{result="error"}` when we cannot even ask.
 */
export interface BandwidthMetrics {
  readonly apiRequests: Counter<'operation' | 'outcome'>;
  readonly callbackFailures: Counter<'order_type'>;
  readonly subscriptionsFailing: Gauge;
  readonly keepAliveRuns: Counter<'result'>;
  readonly renewals: Counter<'result'>;
  readonly reconciledOrders: Counter<'result'>;
}

export function createBandwidthMetrics(registry: Registry): BandwidthMetrics {
  const registers = [registry];
  return {
    apiRequests: new Counter({
      name: 'bw_bandwidth_api_requests_total',
      help: 'HTTP attempts towards the Bandwidth Numbers API, by operation and outcome (ok or error kind)',
      labelNames: ['operation', 'outcome'],
      registers,
    }),
    callbackFailures: new Counter({
      name: 'bw_subscription_callback_failures_total',
      help: 'Keep-alive checks where Bandwidth reported a failed last callback for a subscription',
      labelNames: ['order_type'],
      registers,
    }),
    subscriptionsFailing: new Gauge({
      name: 'bw_subscriptions_failing',
      help: 'Subscriptions whose last callback Bandwidth reports as failed (as of the last keep-alive)',
      registers,
    }),
    keepAliveRuns: new Counter({
      name: 'bw_subscription_keepalive_runs_total',
      help: 'Subscription keep-alive runs by result (ok, error)',
      labelNames: ['result'],
      registers,
    }),
    renewals: new Counter({
      name: 'bw_subscription_renewals_total',
      help: 'Subscription renewals by result (renewed, recreated, error)',
      labelNames: ['result'],
      registers,
    }),
    reconciledOrders: new Counter({
      name: 'bw_reconcile_orders_total',
      help: 'Orders looked up by the reconciler, by result (unchanged, recorded, not_applied, not_found, error)',
      labelNames: ['result'],
      registers,
    }),
  };
}
