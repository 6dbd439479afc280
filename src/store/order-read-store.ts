import type { Database } from './prisma';

/** The API shapes of SPEC 3.3. Timestamps are ISO 8601 strings. */
export interface OrderView {
  orderId: string;
  orderType: string;
  customerOrderId: string | null;
  status: string | null;
  isTerminal: boolean;
  known: boolean;
  lastModifiedAt: string | null;
  actualFocDate: string | null;
  firstSeenAt: string;
  lastEventAt: string;
  eventCount: number;
  telephoneNumbers: string[];
  accountId: string | null;
}

export interface StatusEventView {
  id: string;
  status: string | null;
  previousStatus: string | null;
  message: string | null;
  errorCode: string | null;
  note: string | null;
  subscriptionId: string | null;
  telephoneNumbers: string[];
  lastModifiedAt: string | null;
  receivedAt: string;
  applied: boolean;
  source: string;
  notificationId: string | null;
}

export interface NoteView {
  id: string;
  note: string;
  lastModifiedAt: string | null;
  receivedAt: string;
  eventId: string | null;
}

export interface OrderDetailView extends OrderView {
  history: StatusEventView[];
  notes: NoteView[];
}

const iso = (date: Date | null): string | null => (date === null ? null : date.toISOString());

/** Read side of the order store: the few queries the API needs (STYLE: narrow ports). */
export async function findOrderDetail(db: Database, orderId: string): Promise<OrderDetailView | null> {
  const order = await db.order.findUnique({
    where: { orderId },
    include: {
      telephoneNumbers: { orderBy: { telephoneNumber: 'asc' } },
      events: { orderBy: [{ receivedAt: 'asc' }, { id: 'asc' }] },
      notes: { orderBy: { id: 'asc' } },
    },
  });
  if (order === null) return null;
  const history = [...order.events].sort(
    (a, b) =>
      (a.lastModifiedAt ?? a.receivedAt).getTime() - (b.lastModifiedAt ?? b.receivedAt).getTime() ||
      Number(a.id - b.id),
  );
  return {
    orderId: order.orderId,
    orderType: order.orderType,
    customerOrderId: order.customerOrderId,
    status: order.status,
    isTerminal: order.isTerminal,
    known: order.known,
    lastModifiedAt: iso(order.lastModifiedAt),
    actualFocDate: iso(order.actualFocDate),
    firstSeenAt: order.firstSeenAt.toISOString(),
    lastEventAt: order.lastEventAt.toISOString(),
    eventCount: order.eventCount,
    telephoneNumbers: order.telephoneNumbers.map((t) => t.telephoneNumber),
    accountId: order.accountId,
    history: history.map((e) => ({
      id: e.id.toString(),
      status: e.status,
      previousStatus: e.previousStatus,
      message: e.message,
      errorCode: e.errorCode,
      note: e.note,
      subscriptionId: e.subscriptionId,
      telephoneNumbers: e.telephoneNumbers,
      lastModifiedAt: iso(e.lastModifiedAt),
      receivedAt: e.receivedAt.toISOString(),
      applied: e.applied,
      source: e.source,
      notificationId: e.notificationId,
    })),
    notes: order.notes.map((n) => ({
      id: n.id.toString(),
      note: n.note,
      lastModifiedAt: iso(n.lastModifiedAt),
      receivedAt: n.receivedAt.toISOString(),
      eventId: n.eventId === null ? null : n.eventId.toString(),
    })),
  };
}

export async function pingDatabase(db: Database): Promise<void> {
  await db.$queryRaw`SELECT 1`;
}
