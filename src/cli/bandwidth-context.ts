import type { BandwidthConfig } from '../config/bandwidth';
import { bandwidthClientOf } from '../bandwidth/integration';
import type { SubscriptionDeps } from '../bandwidth/subscriptions';
import type { CliContext } from './types';

/** The Bandwidth settings, or a clear error when the integration is not configured. */
export function requireBandwidth(ctx: CliContext): BandwidthConfig {
  const config = ctx.config.bandwidth;
  if (config === undefined) {
    throw new Error(
      'Bandwidth API is not configured: set BANDWIDTH_ACCOUNT_ID, BANDWIDTH_USERNAME, BANDWIDTH_PASSWORD',
    );
  }
  return config;
}

export async function subscriptionDepsOf(ctx: CliContext): Promise<SubscriptionDeps> {
  const config = requireBandwidth(ctx);
  return {
    db: await ctx.database(),
    client: bandwidthClientOf(config, ctx.logger, undefined),
    config,
    callbackCredentials: ctx.config.callbackCredentials,
    logger: ctx.logger,
  };
}
