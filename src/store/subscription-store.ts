import type { Database } from './prisma';

/**
 * The `subscriptions` table: Bandwidth subscriptions that point at this service, with what
 * the keep-alive last learned about them. Never holds credentials (the callback password
 * comes from CALLBACK_BASIC_AUTH each time a subscription is written to Bandwidth).
 */
export interface StoredSubscription {
  readonly id: string;
  readonly accountId: string;
  readonly orderType: string | null;
  readonly eventType: string | null;
  readonly orderId: string | null;
  readonly callbackUrl: string | null;
  readonly numberFormat: string | null;
  readonly expirySeconds: number | null;
  readonly expiresAt: Date | null;
  readonly lastStatus: string | null;
  readonly lastStatusOk: boolean | null;
  readonly lastCheckedAt: Date | null;
  readonly renewedAt: Date | null;
  readonly createdAt: Date;
}

export interface SubscriptionToSave {
  readonly id: string;
  readonly accountId: string;
  readonly orderType: string | null;
  readonly eventType: string | null;
  readonly orderId: string | null;
  readonly callbackUrl: string;
  readonly numberFormat: string;
  readonly expirySeconds: number;
  readonly expiresAt: Date;
}

const SELECT = {
  id: true,
  accountId: true,
  orderType: true,
  eventType: true,
  orderId: true,
  callbackUrl: true,
  numberFormat: true,
  expirySeconds: true,
  expiresAt: true,
  lastStatus: true,
  lastStatusOk: true,
  lastCheckedAt: true,
  renewedAt: true,
  createdAt: true,
} as const;

/** Insert, or overwrite after an update/renewal (PUT replaces the whole subscription). */
export async function saveSubscription(db: Database, s: SubscriptionToSave, renewedAt?: Date): Promise<void> {
  const fields = {
    accountId: s.accountId,
    orderType: s.orderType,
    eventType: s.eventType,
    orderId: s.orderId,
    callbackUrl: s.callbackUrl,
    numberFormat: s.numberFormat,
    expirySeconds: s.expirySeconds,
    expiresAt: s.expiresAt,
    updatedAt: new Date(),
    ...(renewedAt ? { renewedAt } : {}),
  };
  await db.subscription.upsert({ where: { id: s.id }, create: { id: s.id, ...fields }, update: fields });
}

export async function listStoredSubscriptions(db: Database, accountId: string): Promise<StoredSubscription[]> {
  return db.subscription.findMany({ where: { accountId }, select: SELECT, orderBy: { createdAt: 'asc' } });
}

export async function findStoredSubscription(db: Database, id: string): Promise<StoredSubscription | null> {
  return db.subscription.findUnique({ where: { id }, select: SELECT });
}

export interface SubscriptionCheck {
  readonly id: string;
  readonly expiresAt: Date | null;
  readonly lastStatus: string | null;
  readonly lastStatusOk: boolean | null;
  readonly checkedAt: Date;
}

/** What Bandwidth said about a subscription when the keep-alive (or `list`) read it. */
export async function recordSubscriptionCheck(db: Database, check: SubscriptionCheck): Promise<void> {
  await db.subscription.updateMany({
    where: { id: check.id },
    data: {
      expiresAt: check.expiresAt,
      lastStatus: check.lastStatus,
      lastStatusOk: check.lastStatusOk,
      lastCheckedAt: check.checkedAt,
      updatedAt: check.checkedAt,
    },
  });
}

export async function deleteStoredSubscription(db: Database, id: string): Promise<boolean> {
  const { count } = await db.subscription.deleteMany({ where: { id } });
  return count > 0;
}
