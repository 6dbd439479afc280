import http from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { basicAuth, eventually, exampleFiles, readExample } from '../support/harness';
import { postRaw, useService } from './support';
import type { FuzzKind } from './fuzz-corpus';
import { createRandom, generateBody } from './fuzz-corpus';

/**
 * Fuzz the real app over real HTTP: at least 10,000 generated bodies (mutated corpus bodies,
 * random bytes, truncated XML, huge attributes, deep nesting, invalid UTF-8, entity bombs,
 * wrong roots, valid notifications, oversized bodies). Every answer must be 200, 400 or 413,
 * every 400 must have its quarantine row and every 200 its notification row, the process
 * stays up, and live memory (heap + Buffers) after the run is within 50 MB of before.
 * FUZZ_BODIES (>= 10,000) and FUZZ_SEED replay or widen a run.
 */
const BODIES = Math.max(10_000, Number(process.env['FUZZ_BODIES'] ?? 10_000));
const SEED = Number(process.env['FUZZ_SEED'] ?? 20261122);
const CONCURRENCY = 8;
const BODY_LIMIT = 1024 * 1024;
const MB = 1024 * 1024;

/** A full collection between measurements, so the comparison is of live memory, not garbage. */
setFlagsFromString('--expose-gc');
const gcFunction: unknown = runInNewContext('gc');
const collect = (): void => {
  if (typeof gcFunction !== 'function') return;
  // Twice: V8 frees the backing stores of dead ArrayBuffers (every body is a Buffer) in a sweep
  // that the next collection completes, and only then does `external` drop. After one, up to
  // ~40 MB of bodies already found dead still counted as live; a buffer still referenced
  // survives both collections and is counted as before.
  (gcFunction as () => void)();
  (gcFunction as () => void)();
};

describe('callback fuzz', () => {
  const service = useService({
    queue: 'redis',
    // Every body comes from one address: the rate limit is not what this test is about.
    env: { CALLBACK_RATE_LIMIT: '0', CALLBACK_BODY_LIMIT_BYTES: String(BODY_LIMIT) },
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  afterAll(() => agent.destroy());

  const post = (body: Buffer, requestId: string, contentType: string | null) =>
    postRaw(service(), agent, '/callbacks/bandwidth/fuzz-account', body, {
      Authorization: basicAuth(),
      'X-Request-Id': requestId,
      ...(contentType === null ? {} : { 'Content-Type': contentType }),
    });

  it(`answers ${BODIES} generated bodies with 200, 400 or 413 only`, async () => {
    const corpus = exampleFiles().map((f) => Buffer.from(readExample(f)));
    // One generator per body, derived from the seed and its serial: a body does not depend on
    // how concurrent requests interleave, so FUZZ_SEED replays a run exactly.
    const randomFor = (serial: number) => createRandom((SEED ^ Math.imul(serial + 1, 0x9e3779b1)) >>> 0);
    const contentTypes = ['application/xml; charset=utf-8', 'text/xml', 'application/octet-stream', null];

    // Warm up (JIT, pools, first queries) so that the memory baseline is a steady state.
    for (let i = 0; i < 100; i += 1) {
      const serial = BODIES + i;
      await post(
        generateBody(randomFor(serial), serial, { corpus, bodyLimitBytes: BODY_LIMIT }).body,
        `warmup-${i}`,
        'text/xml',
      );
    }
    collect();
    const before = process.memoryUsage();

    const byStatus = new Map<number, number>();
    const byKind = new Map<FuzzKind, Map<number, number>>();
    const badRequests = new Set<string>();
    const accepted = new Set<string>();
    const unexpected: { id: string; kind: FuzzKind; status: number; error?: string; head: string }[] = [];
    let next = 0;
    const started = Date.now();

    const worker = async (): Promise<void> => {
      while (next < BODIES) {
        const serial = next;
        next += 1;
        const random = randomFor(serial);
        const { kind, body } = generateBody(random, serial, { corpus, bodyLimitBytes: BODY_LIMIT });
        const id = `fuzz-${SEED}-${serial}`;
        const answer = await post(body, id, random.pick(contentTypes));
        byStatus.set(answer.status, (byStatus.get(answer.status) ?? 0) + 1);
        const kindCounts = byKind.get(kind) ?? new Map<number, number>();
        kindCounts.set(answer.status, (kindCounts.get(answer.status) ?? 0) + 1);
        byKind.set(kind, kindCounts);
        if (answer.status === 400) badRequests.add(id);
        else if (answer.status === 200) accepted.add(id);
        else if (answer.status !== 413) {
          unexpected.push({
            id,
            kind,
            status: answer.status,
            error: answer.error,
            head: body.subarray(0, 120).toString('latin1'),
          });
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));

    const sendSeconds = (Date.now() - started) / 1000;
    // The process is up and still does its job.
    const health = await new Promise<number>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: service().port, path: '/healthz', agent }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on('error', reject);
    });
    expect(health).toBe(200);

    // Every 400 left its body in quarantine (matched by the request id kept with it).
    const quarantined = await service().db.$queryRaw<{ id: string }[]>`
      SELECT headers->>'x-request-id' AS id FROM quarantined_notifications
      WHERE headers->>'x-request-id' LIKE 'fuzz-%'`;
    const quarantinedIds = new Set(quarantined.map((r) => r.id));
    const missingQuarantine = [...badRequests].filter((id) => !quarantinedIds.has(id));

    // Every 200 becomes a notification row once the worker has drained the queue (nothing acked is lost).
    const persisted = await eventually(async () => {
      const rows = await service().db.$queryRaw<{ n: bigint }[]>`
        SELECT count(*)::bigint AS n FROM notifications WHERE headers->>'x-request-id' LIKE 'fuzz-%'`;
      const n = Number(rows[0]?.n);
      return n >= accepted.size ? n : undefined;
    }, 120_000).catch(() => -1);

    collect();
    const after = process.memoryUsage();
    // Live memory: the JS heap plus memory held outside it (Buffers: every body is one). RSS is
    // reported but not asserted: the allocator keeps freed pages, so it measures high-water marks.
    const liveDelta = after.heapUsed + after.external - (before.heapUsed + before.external);

    const counts = {
      seed: SEED,
      sent: BODIES,
      status200: byStatus.get(200) ?? 0,
      status400: byStatus.get(400) ?? 0,
      status413: byStatus.get(413) ?? 0,
      status5xx: [...byStatus].filter(([s]) => s >= 500).reduce((n, [, c]) => n + c, 0),
      other: unexpected.length,
      quarantined: quarantinedIds.size,
      persisted,
      liveMemoryDeltaMB: Number((liveDelta / MB).toFixed(1)),
      heapDeltaMB: Number(((after.heapUsed - before.heapUsed) / MB).toFixed(1)),
      externalDeltaMB: Number(((after.external - before.external) / MB).toFixed(1)),
      arrayBuffersDeltaMB: Number(((after.arrayBuffers - before.arrayBuffers) / MB).toFixed(1)),
      rssDeltaMB: Number(((after.rss - before.rss) / MB).toFixed(1)),
      gc: typeof gcFunction === 'function',
      // Reported, not asserted (no timing in tests): how long sending and draining took.
      sendSeconds,
      drainSeconds: (Date.now() - started) / 1000 - sendSeconds,
      byKind: Object.fromEntries([...byKind].map(([k, m]) => [k, Object.fromEntries(m)])),
    };
    console.log(`fuzz counts ${JSON.stringify(counts)}`);

    expect(unexpected.slice(0, 5)).toEqual([]);
    expect(counts.status5xx).toBe(0);
    expect(counts.status200 + counts.status400 + counts.status413).toBe(BODIES);
    expect(missingQuarantine.slice(0, 5)).toEqual([]);
    expect(quarantinedIds.size).toBe(counts.status400);
    expect(persisted).toBe(accepted.size);
    // Every kind of body was exercised, and all three answers occurred.
    expect(byKind.size).toBe(11);
    expect(counts.status200).toBeGreaterThan(0);
    expect(counts.status400).toBeGreaterThan(0);
    expect(counts.status413).toBeGreaterThan(0);
    expect(liveDelta).toBeLessThan(50 * MB);
  }, 600_000);
});
