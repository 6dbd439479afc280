import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { basicAuth } from '../support/harness';
import { countRows, useService } from './support';

const BILLION_LAUGHS = `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Notification><Status>&lol9;</Status></Notification>`;

const XXE_FILE = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE Notification [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Notification><OrderType>orders</OrderType><OrderId>xxe-1</OrderId><Status>COMPLETE</Status><Note>&xxe;</Note></Notification>`;

/** XXE and entity bombs against the real app: refused with 400, kept in quarantine, nothing fetched. */
describe('XML hardening on the callback route', () => {
  const service = useService({ queue: 'redis' });
  let outside: http.Server;
  const outsideHits: string[] = [];

  beforeAll(async () => {
    // Stands for an attacker's server that an external entity would make us fetch.
    outside = http.createServer((req, res) => {
      outsideHits.push(req.url ?? '');
      res.end('<!ENTITY % leak "x">');
    });
    await new Promise<void>((resolve) => outside.listen(0, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    await new Promise((resolve) => outside?.close(resolve));
  });

  const post = (body: string | Buffer) =>
    request(service().app)
      .post('/callbacks/bandwidth')
      .set('Content-Type', 'application/xml')
      .set('Authorization', basicAuth())
      .send(body);

  const quarantined = async (): Promise<{ body: string; reason: string }[]> => {
    const rows = await service().db.$queryRaw<{ body: Buffer; reason: string }[]>`
      SELECT body, reason FROM quarantined_notifications ORDER BY received_at`;
    return rows.map((r) => ({ body: Buffer.from(r.body).toString('utf8'), reason: r.reason }));
  };

  it('refuses an XXE body with 400, reads no file and keeps the body byte for byte', async () => {
    const res = await post(XXE_FILE);
    expect(res.status).toBe(400);
    expect(res.text).toMatch(/document type declarations are not accepted/);
    expect(res.text).not.toMatch(/root:/);
    const rows = await quarantined();
    expect(rows.at(-1)).toEqual({ body: XXE_FILE, reason: 'document type declarations are not accepted' });
    expect(await countRows(service(), 'notifications')).toBe(0);
  });

  it('never fetches an external DTD or parameter entity', async () => {
    const port = (outside.address() as AddressInfo).port;
    const bodies = [
      `<!DOCTYPE Notification SYSTEM "http://127.0.0.1:${port}/dtd"><Notification/>`,
      `<!DOCTYPE x [<!ENTITY % p SYSTEM "http://127.0.0.1:${port}/param"> %p;]><Notification/>`,
      `<?xml version="1.0"?><!DOCTYPE x PUBLIC "-//x//y" "http://127.0.0.1:${port}/public"><Notification/>`,
    ];
    for (const body of bodies) expect((await post(body)).status).toBe(400);
    expect(outsideHits).toEqual([]);
  });

  it('refuses a billion-laughs bomb without expanding it', async () => {
    const before = process.memoryUsage().heapUsed;
    const res = await post(BILLION_LAUGHS);
    expect(res.status).toBe(400);
    // Expanded, lol9 is 3 GB of text; refused unparsed it costs nothing noticeable.
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(50 * 1024 * 1024);
    expect((await quarantined()).at(-1)?.body).toBe(BILLION_LAUGHS);
  });

  it('refuses deep nesting, element floods, huge attributes and forbidden characters with 400, each quarantined', async () => {
    const before = await countRows(service(), 'quarantined_notifications');
    const bodies: [string, RegExp][] = [
      [`<Notification>${'<a>'.repeat(5000)}${'</a>'.repeat(5000)}</Notification>`, /nested deeper/],
      [`<Notification>${'<a/>'.repeat(30_000)}</Notification>`, /more than \d+ elements/],
      [`<Notification a="${'x'.repeat(100_000)}"/>`, /tag longer/],
      [`<Notification><Note>${'x'.repeat(100_000)}</Note></Notification>`, /text longer/],
      ['<Notification><Note>a\u0000b</Note></Notification>', /U\+0000/],
      ['<Notification><Note>&#0;</Note></Notification>', /character reference/],
    ];
    for (const [body, reason] of bodies) {
      const res = await post(body);
      expect({ reason: res.text, status: res.status }).toEqual({ reason: expect.stringMatching(reason), status: 400 });
    }
    expect(await countRows(service(), 'quarantined_notifications')).toBe(before + bodies.length);
  });

  it('answers 413 above the body limit and still serves afterwards', async () => {
    const res = await post(Buffer.alloc(1024 * 1024 + 1, 0x61));
    expect(res.status).toBe(413);
    expect((await request(service().app).get('/healthz')).status).toBe(200);
  });
});
