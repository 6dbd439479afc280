import { appendFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openSpool } from '../../src/ingest/spool';
import type { PersistNotificationJob } from '../../src/queue/catalog';
import { attemptsForWindow, retryDelayMs } from '../../src/queue/catalog';
import { silentLogger } from '../support/harness';

const job = (n: number): PersistNotificationJob => ({
  receiptId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
  receivedAt: new Date(1_700_000_000_000 + n).toISOString(),
  accountId: null,
  remoteAddress: '127.0.0.1',
  headers: { 'content-type': 'application/xml' },
  body: `<Notification><OrderId>o-${n}</OrderId></Notification>`,
});

describe('spool', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bw-spool-unit-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps appended records across a restart and drains each exactly once', async () => {
    const first = await openSpool({ dir, logger: silentLogger() });
    await Promise.all([1, 2, 3, 4, 5].map((n) => first.append(job(n))));
    expect(first.stats().pending).toBe(5);
    await first.close();

    const second = await openSpool({ dir, logger: silentLogger() });
    expect(second.stats().pending).toBe(5);
    const seen: string[] = [];
    expect(await second.drain((j) => Promise.resolve(void seen.push(j.receiptId)))).toBe(5);
    expect(seen.sort()).toEqual([1, 2, 3, 4, 5].map((n) => job(n).receiptId));
    expect(second.stats()).toMatchObject({ pending: 0, oldestAgeSeconds: 0 });
    expect((await readdir(dir)).filter((f) => f.endsWith('.jsonl'))).toEqual([]);
    await second.close();
  });

  it('keeps records whose enqueue failed and sends them on the next drain', async () => {
    const spool = await openSpool({ dir, logger: silentLogger(), drainConcurrency: 1 });
    for (const n of [1, 2, 3]) await spool.append(job(n));
    let calls = 0;
    await expect(
      spool.drain(() => (++calls === 2 ? Promise.reject(new Error('redis down')) : Promise.resolve())),
    ).rejects.toThrow('redis down');
    expect(spool.stats().pending).toBe(2);
    // New records keep arriving while the queue is down.
    await spool.append(job(4));
    const sent: string[] = [];
    expect(await spool.drain((j) => Promise.resolve(void sent.push(j.receiptId)))).toBe(3);
    expect(sent).toEqual([2, 3, 4].map((n) => job(n).receiptId));
    expect(spool.stats().pending).toBe(0);
    await spool.close();
  });

  it('skips a torn last line (a write that was never acknowledged)', async () => {
    const spool = await openSpool({ dir, logger: silentLogger() });
    await spool.append(job(1));
    await spool.close();
    const [segment] = (await readdir(dir)).filter((f) => f.endsWith('.jsonl'));
    await appendFile(path.join(dir, segment ?? 'missing'), '{"spooledAt":1,"job":{"receiptId":"tor');
    const reopened = await openSpool({ dir, logger: silentLogger() });
    expect(reopened.stats().pending).toBe(1);
    const sent: string[] = [];
    await reopened.drain((j) => Promise.resolve(void sent.push(j.receiptId)));
    expect(sent).toEqual([job(1).receiptId]);
    await reopened.close();
  });

  it('refuses an append after close (the caller then answers 503)', async () => {
    const spool = await openSpool({ dir, logger: silentLogger() });
    await spool.close();
    await expect(spool.append(job(1))).rejects.toThrow(/closed/);
  });
});

describe('retry policy', () => {
  const policy = { windowMs: 15 * 60_000, baseDelayMs: 1000, maxDelayMs: 30_000 };

  it('caps the delay and spans the whole outage window with its attempts', () => {
    expect([1, 2, 3, 6, 20].map((n) => retryDelayMs(policy, n))).toEqual([1000, 2000, 4000, 30_000, 30_000]);
    const attempts = attemptsForWindow(policy);
    let total = 0;
    for (let n = 1; n < attempts; n += 1) total += retryDelayMs(policy, n);
    expect(total).toBeGreaterThanOrEqual(policy.windowMs);
    // And not absurdly more (a genuinely dead job still ends up in the failed set).
    expect(total).toBeLessThan(policy.windowMs + 3 * policy.maxDelayMs);
  });
});
