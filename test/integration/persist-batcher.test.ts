import { randomUUID } from 'node:crypto';
import type { PersistOutcome, ReceiptToPersist } from '../../src/store/notification-store';
import type { Database } from '../../src/store/prisma';
import { createHandlerRegistry } from '../../src/handlers/registry';
import type { JobProducer } from '../../src/queue/backend';
import type { HandlerDeliveriesJob } from '../../src/queue/catalog';
import { deliveryIdsOf } from '../../src/queue/catalog';
import { createDispatcher, deliveryIdOf } from '../../src/worker/dispatch';
import { createPersistBatcher } from '../../src/worker/persist-batcher';
import { PersistBacklog } from '../../src/worker/persist-first';
import { persistReceipts } from '../../src/store/notification-store';
import type { MigratedDatabase } from '../support/harness';
import { createMigratedDatabase, silentLogger, uniqueName } from '../support/harness';
import { receiptToPersist, receiptsOf } from '../support/order-scenarios';

/**
 * The worker's group commit against a real PostgreSQL: receipts handed in together are
 * written in one transaction and each caller gets its own outcome; a poison receipt (a NUL
 * character, which PostgreSQL refuses) fails the batch, and then only its own caller.
 */
describe('persist batcher', () => {
  let migrated: MigratedDatabase;
  let db: Database;

  beforeAll(async () => {
    migrated = await createMigratedDatabase();
    db = migrated.db;
  });

  afterAll(async () => {
    await migrated?.close();
  });

  const receipts = (count: number, note: (i: number) => string | null = () => null): ReceiptToPersist[] =>
    receiptsOf(
      'portins',
      uniqueName('order'),
      Array.from({ length: count }, (_, i) => ({ status: 'SUBMITTED', lmdSeconds: i, message: null, note: note(i) })),
    ).map(receiptToPersist);

  const settle = (p: Promise<PersistOutcome>) =>
    p.then(
      (outcome) => ({ ok: true as const, outcome }),
      (error: unknown) => ({ ok: false as const, error }),
    );

  it('writes receipts handed in together as one batch and gives each its own outcome', async () => {
    const batches: [number, string][] = [];
    const persist = createPersistBatcher(
      { db, logger: silentLogger(), onBatch: (size, mode) => batches.push([size, mode]) },
      { maxBatch: 50, lingerMs: 0 },
    );
    const batch = receipts(6);
    const copy = { ...batch[2]!, receiptId: randomUUID() };
    const results = await Promise.all([...batch, copy].map((r) => persist(r)));

    expect(batches).toEqual([[7, 'batch']]);
    expect(results.slice(0, 6).every((o) => o.kind === 'stored')).toBe(true);
    expect(results[6]).toEqual({ kind: 'duplicate', duplicateOf: batch[2]!.receiptId });
    const orderId = batch[0]!.notification.orderId!;
    expect(await db.orderEvent.count({ where: { orderId } })).toBe(6);
    expect(await db.notification.count({ where: { orderId, outcome: 'duplicate' } })).toBe(1);
  });

  it('isolates a poison receipt: the others of its batch are stored, only it fails', async () => {
    const batches: [number, string][] = [];
    const persist = createPersistBatcher(
      { db, logger: silentLogger(), onBatch: (size, mode) => batches.push([size, mode]) },
      { maxBatch: 50, lingerMs: 5 },
    );
    const batch = receipts(5, (i) => (i === 2 ? 'bad\u0000note' : 'LOA received'));
    const results = await Promise.all(batch.map((r) => settle(persist(r))));

    expect(batches).toEqual([[5, 'fallback']]);
    expect(results.map((r) => r.ok)).toEqual([true, true, false, true, true]);
    const orderId = batch[0]!.notification.orderId!;
    const stored = await db.notification.findMany({ where: { orderId }, select: { id: true } });
    expect(stored.map((r) => r.id).sort()).toEqual(
      batch
        .filter((_, i) => i !== 2)
        .map((r) => r.receiptId)
        .sort(),
    );
    expect(await db.orderNote.count({ where: { orderId } })).toBe(4);
  });

  it('never writes more than maxBatch receipts in one transaction', async () => {
    const batches: [number, string][] = [];
    const persist = createPersistBatcher(
      { db, logger: silentLogger(), onBatch: (size, mode) => batches.push([size, mode]) },
      { maxBatch: 4, lingerMs: 0 },
    );
    const results = await Promise.all(receipts(10).map((r) => persist(r)));
    expect(results.every((o) => o.kind === 'stored')).toBe(true);
    expect(batches.map(([size]) => size).sort()).toEqual([2, 4, 4]);
  });

  it('writes a second batch while one is in flight, holding back the receipts of orders it touches', async () => {
    const sizes: number[] = [];
    const persist = createPersistBatcher(
      { db, logger: silentLogger(), onBatch: (size) => sizes.push(size) },
      { maxBatch: 50, lingerMs: 0, inFlight: 2 },
    );
    const a = receipts(3);
    const b = receipts(2);
    const first = persist(a[0]!);
    // The first batch (a0 alone) is now being written: a1 and a2 name its order and wait for
    // it; b0 and b1 go out at once, in a second batch beside it.
    await new Promise((resolve) => setImmediate(resolve));
    const rest = [a[1]!, b[0]!, a[2]!, b[1]!].map((r) => persist(r));
    const results = await Promise.all([first, ...rest]);

    expect(results.every((o) => o.kind === 'stored')).toBe(true);
    expect(sizes).toHaveLength(3);
    expect([...sizes].sort()).toEqual([1, 2, 2]);
    expect(sizes[sizes.length - 1]).toBe(2); // a1 and a2, after a0's batch
    const events = await db.orderEvent.findMany({
      where: { orderId: a[0]!.notification.orderId! },
      orderBy: { id: 'asc' },
      select: { notificationId: true },
    });
    expect(events.map((e) => e.notificationId)).toEqual(a.map((r) => r.receiptId));
  });

  it('with one batch in flight, everything that arrives meanwhile waits for it', async () => {
    const sizes: number[] = [];
    const persist = createPersistBatcher(
      { db, logger: silentLogger(), onBatch: (size) => sizes.push(size) },
      { maxBatch: 50, lingerMs: 0 },
    );
    const [a0, a1] = receipts(2);
    const [b0] = receipts(1);
    const first = persist(a0!);
    await new Promise((resolve) => setImmediate(resolve));
    await Promise.all([first, persist(a1!), persist(b0!)]);
    expect(sizes).toEqual([1, 2]);
  });

  it('reports the receipts it holds, waiting or being written, to the persist backlog', async () => {
    const backlog = new PersistBacklog(4, 10_000, 20);
    const persist = createPersistBatcher({ db, logger: silentLogger(), backlog }, { maxBatch: 50, lingerMs: 0 });
    const burst = receipts(6);
    const written = Promise.all(burst.map((r) => persist(r)));
    expect(backlog.backlogged).toBe(true);
    // A delivery job waits until the batch is written and the batcher stays empty for 20 ms.
    const waited = backlog.yieldTo();
    let released = false;
    void waited.then(() => (released = true));
    await written;
    expect(released).toBe(false);
    expect(await waited).toBeGreaterThan(0);
    expect(backlog.backlogged).toBe(false);
  });

  it('stores a notification once when two batches in flight both hold a copy of it', async () => {
    const [first, second, third] = receipts(3);
    const copy = { ...second!, receiptId: randomUUID(), receivedAt: new Date(second!.receivedAt.getTime() + 1) };
    const [a, b] = await Promise.all([persistReceipts(db, [first!, second!]), persistReceipts(db, [copy, third!])]);
    const kinds = [a[1]?.kind, b[0]?.kind].sort();
    expect(kinds).toEqual(['duplicate', 'stored']);
    expect(a[0]?.kind).toBe('stored');
    expect(b[1]?.kind).toBe('stored');
    const orderId = first!.notification.orderId!;
    expect(await db.orderEvent.count({ where: { orderId } })).toBe(3);
    const original = await db.notification.findFirstOrThrow({
      where: { orderId, outcome: 'accepted', duplicateCount: 1 },
    });
    expect([second!.receiptId, copy.receiptId]).toContain(original.id);
  });

  describe('with the handler fan-out', () => {
    const added: { jobId: string; deliveryIds: string[] }[][] = [];
    let failNextBulk = false;
    const producer: JobProducer<HandlerDeliveriesJob> = {
      add: () => Promise.reject(new Error('the batcher queues with addBulk')),
      addBulk: (jobs) => {
        if (failNextBulk) {
          failNextBulk = false;
          return Promise.reject(new Error('queue unavailable'));
        }
        added.push(
          jobs.map((j) => ({
            jobId: j.options.jobId,
            deliveryIds: deliveryIdsOf(j.data),
          })),
        );
        return Promise.resolve();
      },
      counts: () => Promise.resolve({}),
      close: () => Promise.resolve(),
    };
    const registry = createHandlerRegistry([
      {
        handler: { name: 'audit', handle: () => Promise.resolve({ kind: 'delivered' }) },
        match: {},
        retry: { attempts: 3, backoffMs: 100 },
        timeoutMs: 1000,
      },
    ]);

    const fanOutBatcher = () => {
      const dispatcher = createDispatcher({ db, registry, producer, logger: silentLogger() });
      return createPersistBatcher(
        {
          db,
          logger: silentLogger(),
          fanOut: {
            plan: dispatcher.batchFanOut,
            enqueue: (q) => dispatcher.enqueue(q),
            dispatch: dispatcher.dispatchNotification,
          },
        },
        { maxBatch: 50, lingerMs: 0 },
      );
    };

    const deliveriesOf = (orderId: string) =>
      db.$queryRaw<{ id: string; notification_id: string; status: string; position: bigint; event_id: bigint }[]>`
        SELECT d.id::text, d.notification_id::text, d.status, d.position, e.id AS event_id
          FROM handler_deliveries d JOIN order_events e ON e.notification_id = d.notification_id
         WHERE d.order_id = ${orderId} ORDER BY d.position`;

    it('writes the rows and markers of a batch in its transaction and queues them as one batch job', async () => {
      added.length = 0;
      const persist = fanOutBatcher();
      const batch = receipts(4);
      const results = await Promise.all(batch.map((r) => persist(r)));
      expect(results.every((o) => o.kind === 'stored')).toBe(true);

      const orderId = batch[0]!.notification.orderId!;
      const rows = await deliveriesOf(orderId);
      expect(rows.map((r) => r.notification_id)).toEqual(batch.map((r) => r.receiptId));
      expect(rows.every((r) => r.status === 'pending' && r.position === r.event_id)).toBe(true);
      expect(rows.map((r) => r.id)).toEqual(batch.map((r) => deliveryIdOf(r.receiptId, 'audit')));
      const marked = await db.notificationDispatch.count({
        where: { notificationId: { in: batch.map((r) => r.receiptId) } },
      });
      expect(marked).toBe(4);
      // One handler, four deliveries: one batch job, in persistence order.
      expect(added).toEqual([[{ jobId: `deliveries-${rows[0]!.id}-0-4`, deliveryIds: rows.map((r) => r.id) }]]);
    });

    it('fails the jobs of a batch whose addBulk failed; their retries queue the deliveries again', async () => {
      added.length = 0;
      const persist = fanOutBatcher();
      const batch = receipts(3);
      failNextBulk = true;
      const first = await Promise.all(batch.map((r) => settle(persist(r))));
      expect(first.map((r) => r.ok)).toEqual([false, false, false]);
      // Committed with the receipts: nothing is lost, the rows wait for their jobs.
      const orderId = batch[0]!.notification.orderId!;
      expect((await deliveriesOf(orderId)).map((r) => r.status)).toEqual(['pending', 'pending', 'pending']);

      const retried = await Promise.all(batch.map((r) => persist(r)));
      expect(retried.every((o) => o.kind === 'already_persisted')).toBe(true);
      const queued = added.flat().flatMap((j) => j.deliveryIds);
      expect(queued.sort()).toEqual(batch.map((r) => deliveryIdOf(r.receiptId, 'audit')).sort());
    });
  });
});
