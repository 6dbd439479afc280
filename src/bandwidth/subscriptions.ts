import type { Logger } from 'winston';
import type { BasicCredential } from '../config';
import type { BandwidthConfig, NumberFormat } from '../config/bandwidth';
import type { BandwidthMetrics } from '../observability/bandwidth-metrics';
import type { Database } from '../store/prisma';
import type { StoredSubscription } from '../store/subscription-store';
import {
  deleteStoredSubscription,
  findStoredSubscription,
  listStoredSubscriptions,
  recordSubscriptionCheck,
  saveSubscription,
} from '../store/subscription-store';
import type { BandwidthClient, CallbackSubscriptionSpec, RemoteSubscription, SubscriptionTarget } from './client';

/**
 * Our callback subscriptions at Bandwidth: create, list, update, delete, and the keep-alive
 * that renews them before they expire and records Bandwidth's last callback <Status>.
 * The `subscriptions` table mirrors what we registered; Bandwidth stays the source of truth.
 */

export interface SubscriptionDeps {
  readonly db: Database;
  readonly client: BandwidthClient;
  readonly config: BandwidthConfig;
  /** CALLBACK_BASIC_AUTH: the last pair is the one registered (add a new pair last to rotate). */
  readonly callbackCredentials: readonly BasicCredential[];
  readonly logger: Logger;
  readonly metrics?: BandwidthMetrics | undefined;
}

export interface CreateSubscriptionInput {
  readonly target: SubscriptionTarget;
  readonly url?: string | undefined;
  readonly expirySeconds?: number | undefined;
  readonly numberFormat?: NumberFormat | undefined;
}

/** `200 OK` and friends; null when Bandwidth reports no callback yet. */
export function isCallbackStatusOk(status: string | null): boolean | null {
  if (status === null || status.trim() === '') return null;
  return /^\s*2\d\d\b/.test(status);
}

function callbackUrlOf(deps: SubscriptionDeps, url: string | undefined): string {
  const resolved = url ?? deps.config.publicCallbackUrl;
  if (resolved === undefined) throw new Error('PUBLIC_CALLBACK_URL is not set (or pass --url)');
  return resolved;
}

function specOf(
  deps: SubscriptionDeps,
  target: SubscriptionTarget,
  url: string,
  expirySeconds: number,
  numberFormat: NumberFormat,
): CallbackSubscriptionSpec {
  if (deps.callbackCredentials.length === 0) {
    deps.logger.warn('CALLBACK_BASIC_AUTH is not set: the subscription carries no callback credentials');
  }
  return { target, url, expirySeconds, numberFormat, credentials: deps.callbackCredentials.at(-1) };
}

function targetOf(s: Pick<StoredSubscription, 'orderType' | 'orderId' | 'eventType'>): SubscriptionTarget {
  if (s.eventType !== null) return { eventType: s.eventType };
  return { orderType: s.orderType ?? '', orderId: s.orderId ?? undefined };
}

function numberFormatOf(value: string | null, fallback: NumberFormat): NumberFormat {
  return value === 'E164' || value === 'LEGACY' ? value : fallback;
}

export async function createCallbackSubscription(
  deps: SubscriptionDeps,
  input: CreateSubscriptionInput,
): Promise<StoredSubscription> {
  const url = callbackUrlOf(deps, input.url);
  const expirySeconds = input.expirySeconds ?? deps.config.subscriptionExpirySeconds;
  const numberFormat = input.numberFormat ?? deps.config.numberFormat;
  const id = await deps.client.createSubscription(specOf(deps, input.target, url, expirySeconds, numberFormat));
  const now = new Date();
  await saveSubscription(deps.db, {
    id,
    accountId: deps.client.accountId,
    orderType: input.target.orderType ?? null,
    eventType: input.target.eventType ?? null,
    orderId: input.target.orderId ?? null,
    callbackUrl: url,
    numberFormat,
    expirySeconds,
    expiresAt: new Date(now.getTime() + expirySeconds * 1000),
  });
  deps.logger.info('subscription created', { subscriptionId: id, ...input.target });
  const stored = await findStoredSubscription(deps.db, id);
  if (stored === null) throw new Error(`subscription ${id} vanished after it was stored`);
  return stored;
}

export interface UpdateSubscriptionInput {
  readonly url?: string | undefined;
  readonly expirySeconds?: number | undefined;
  readonly numberFormat?: NumberFormat | undefined;
}

/** PUT replaces the whole subscription at Bandwidth, so every field is sent again. */
export async function updateCallbackSubscription(
  deps: SubscriptionDeps,
  id: string,
  input: UpdateSubscriptionInput,
  renewal = false,
): Promise<void> {
  const stored = await findStoredSubscription(deps.db, id);
  const remote = stored === null ? await deps.client.getSubscription(id) : null;
  const base = stored ?? (remote ? { ...remote, numberFormat: null, expirySeconds: null } : null);
  if (base === null) throw new Error(`subscription ${id} is unknown here and at Bandwidth`);
  const url = callbackUrlOf(deps, input.url ?? base.callbackUrl ?? undefined);
  const expirySeconds = input.expirySeconds ?? base.expirySeconds ?? deps.config.subscriptionExpirySeconds;
  const numberFormat = input.numberFormat ?? numberFormatOf(base.numberFormat, deps.config.numberFormat);
  const target = targetOf(base);
  await deps.client.updateSubscription(id, specOf(deps, target, url, expirySeconds, numberFormat));
  const now = new Date();
  await saveSubscription(
    deps.db,
    {
      id,
      accountId: deps.client.accountId,
      orderType: target.orderType ?? null,
      eventType: target.eventType ?? null,
      orderId: target.orderId ?? null,
      callbackUrl: url,
      numberFormat,
      expirySeconds,
      expiresAt: new Date(now.getTime() + expirySeconds * 1000),
    },
    renewal ? now : undefined,
  );
}

export async function deleteCallbackSubscription(deps: SubscriptionDeps, id: string): Promise<'deleted' | 'not_found'> {
  const remote = await deps.client.deleteSubscription(id);
  const local = await deleteStoredSubscription(deps.db, id);
  return remote === 'deleted' || local ? 'deleted' : 'not_found';
}

export interface SubscriptionListing {
  readonly id: string;
  readonly target: string;
  readonly callbackUrl: string | null;
  readonly expiresInSeconds: number | null;
  readonly lastStatus: string | null;
  readonly lastStatusOk: boolean | null;
  /** False: exists at Bandwidth but was not created through this service. */
  readonly stored: boolean;
  /** False: stored here but Bandwidth no longer has it. */
  readonly atBandwidth: boolean;
}

function describeTarget(s: Pick<RemoteSubscription, 'orderType' | 'orderId' | 'eventType' | 'email'>): string {
  if (s.eventType !== null) return `event ${s.eventType}`;
  if (s.orderId !== null) return `order ${s.orderType ?? '?'}/${s.orderId}`;
  if (s.orderType !== null) return `type ${s.orderType}`;
  return s.email !== null ? `email ${s.email}` : '?';
}

/** Reads Bandwidth's list, records expiry and last status of ours, and merges both views. */
export async function listCallbackSubscriptions(deps: SubscriptionDeps): Promise<SubscriptionListing[]> {
  const remote = await deps.client.listSubscriptions();
  const stored = await listStoredSubscriptions(deps.db, deps.client.accountId);
  const storedIds = new Set(stored.map((s) => s.id));
  const now = new Date();
  const listing: SubscriptionListing[] = [];
  for (const r of remote) {
    const ok = isCallbackStatusOk(r.lastStatus);
    if (storedIds.has(r.id)) {
      await recordSubscriptionCheck(deps.db, {
        id: r.id,
        expiresAt: r.expirySecondsRemaining === null ? null : new Date(now.getTime() + r.expirySecondsRemaining * 1000),
        lastStatus: r.lastStatus,
        lastStatusOk: ok,
        checkedAt: now,
      });
    }
    listing.push({
      id: r.id,
      target: describeTarget(r),
      callbackUrl: r.callbackUrl,
      expiresInSeconds: r.expirySecondsRemaining,
      lastStatus: r.lastStatus,
      lastStatusOk: ok,
      stored: storedIds.has(r.id),
      atBandwidth: true,
    });
  }
  const remoteIds = new Set(remote.map((r) => r.id));
  for (const s of stored) {
    if (remoteIds.has(s.id)) continue;
    listing.push({
      id: s.id,
      target: describeTarget({ ...s, email: null }),
      callbackUrl: s.callbackUrl,
      expiresInSeconds: 0,
      lastStatus: s.lastStatus,
      lastStatusOk: s.lastStatusOk,
      stored: true,
      atBandwidth: false,
    });
  }
  return listing;
}

export interface KeepAliveSummary {
  readonly checked: number;
  readonly renewed: number;
  readonly recreated: number;
  readonly ended: number;
  readonly failing: number;
  readonly errors: number;
}

/**
 * The keep-alive pass: for each subscription we registered, record Bandwidth's last callback
 * <Status> (alert when it is a failure: Bandwidth does not retry, so that notification is
 * lost and the reconciler must heal it), and renew it when less than the renew window
 * remains. A per-order subscription that Bandwidth dropped ended with its order; any other
 * one that vanished (expired while we were down) is created again.
 */
export async function keepSubscriptionsAlive(deps: SubscriptionDeps): Promise<KeepAliveSummary> {
  const { db, logger, metrics, config } = deps;
  const remote = new Map((await deps.client.listSubscriptions()).map((r) => [r.id, r]));
  const stored = await listStoredSubscriptions(db, deps.client.accountId);
  const now = new Date();
  let renewed = 0;
  let recreated = 0;
  let ended = 0;
  let failing = 0;
  let errors = 0;

  for (const s of stored) {
    const r = remote.get(s.id);
    try {
      if (r === undefined) {
        if (s.orderId !== null) {
          await deleteStoredSubscription(db, s.id);
          ended += 1;
          logger.info('per-order subscription ended at Bandwidth (order final); forgotten', {
            subscriptionId: s.id,
            orderId: s.orderId,
          });
          continue;
        }
        const replacement = await createCallbackSubscription(deps, {
          target: targetOf(s),
          url: s.callbackUrl ?? undefined,
          expirySeconds: s.expirySeconds ?? undefined,
          numberFormat: numberFormatOf(s.numberFormat, config.numberFormat),
        });
        await deleteStoredSubscription(db, s.id);
        recreated += 1;
        metrics?.renewals.inc({ result: 'recreated' });
        logger.error('subscription had vanished at Bandwidth (expired?): created it again', {
          subscriptionId: s.id,
          newSubscriptionId: replacement.id,
        });
        continue;
      }

      const ok = isCallbackStatusOk(r.lastStatus);
      const remaining = r.expirySecondsRemaining;
      await recordSubscriptionCheck(db, {
        id: s.id,
        expiresAt: remaining === null ? null : new Date(now.getTime() + remaining * 1000),
        lastStatus: r.lastStatus,
        lastStatusOk: ok,
        checkedAt: now,
      });
      if (ok === false) {
        failing += 1;
        metrics?.callbackFailures.inc({ order_type: s.orderType ?? s.eventType ?? 'none' });
        logger.error('Bandwidth reports a failed callback for a subscription: notifications were lost', {
          subscriptionId: s.id,
          orderType: s.orderType,
          eventType: s.eventType,
          lastStatus: r.lastStatus,
        });
      }
      const expirySeconds = s.expirySeconds ?? config.subscriptionExpirySeconds;
      // Never a window wider than half the expiry: a short-lived subscription would else be
      // renewed on every run.
      const window = Math.min(config.renewBeforeSeconds, expirySeconds / 2);
      if (remaining === null || remaining < window) {
        await updateCallbackSubscription(deps, s.id, { expirySeconds }, true);
        renewed += 1;
        metrics?.renewals.inc({ result: 'renewed' });
        logger.info('subscription renewed', { subscriptionId: s.id, remainingSeconds: remaining });
      }
    } catch (error: unknown) {
      errors += 1;
      metrics?.renewals.inc({ result: 'error' });
      logger.error('subscription keep-alive failed', {
        subscriptionId: s.id,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
  metrics?.subscriptionsFailing.set(failing);
  return { checked: stored.length, renewed, recreated, ended, failing, errors };
}
