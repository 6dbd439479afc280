import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { checkNotificationXml, decodeBody, parseNotificationXml } from '../../src/ingest/parse';
import { createRandom, generateBody } from '../security/fuzz-corpus';
import { exampleFiles, readExample } from '../support/harness';

/**
 * The callback route only tokenizes (checkNotificationXml, sax); the worker parses with
 * xml2js (parseNotificationXml). A body the route answers 200 for must be one the worker can
 * parse, and a body the worker refuses must have been refused (400) by the route: the two
 * must give the same verdict on every input.
 */

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'notifications');

async function expectSameVerdict(text: string): Promise<boolean> {
  const edge = checkNotificationXml(text);
  const worker = await parseNotificationXml(text);
  // The verdict must agree; the wording of a refusal may differ (sax's message, or xml2js's).
  expect({ text, ok: edge.ok }).toEqual({ text, ok: worker.ok });
  return edge.ok;
}

describe('checkNotificationXml agrees with parseNotificationXml', () => {
  it('on every example and every corpus body', async () => {
    const corpus = readdirSync(FIXTURES).filter((f) => f.endsWith('.xml'));
    const texts = [
      ...exampleFiles().map(readExample),
      ...corpus.map((f) => decodeBody(readFileSync(path.join(FIXTURES, f)))),
    ];
    for (const text of texts) expect(await expectSameVerdict(text)).toBe(true);
  });

  it('on hand-picked edge cases', async () => {
    const cases = [
      '',
      '   ',
      '<Notification/>',
      '<Notification></Notification>',
      '<?xml version="1.0"?><Notification><Status>COMPLETE</Status></Notification>',
      '<Other/>',
      '<!-- only a comment -->',
      '<Notification><Status>COMPLETE</Status>',
      '<Notification><Status>COMPLETE</Notification>',
      '<Notification></Notification><Notification></Notification>',
      'text before <Notification/>',
      '<Notification/> trailing text',
      '<Notification a="1" a="2"/>',
      '<Notification><![CDATA[x]]></Notification>',
      '<Notification>&unknown;</Notification>',
      '<Notification>&amp;&#x41;&#65;</Notification>',
      '<Notification><Note>a < b</Note></Notification>',
      '<ns:Notification xmlns:ns="urn:x"/>',
      '<Notification xmlns="urn:x"><Status>x</Status></Notification>',
      '\ufeff<Notification/>',
      '<?xml version="1.0"?>',
      '<Notification><?pi data?></Notification>',
      '<Notification><__proto__>x</__proto__></Notification>',
      // xml2js stops at the end of the root element and ignores what follows.
      '<Notification/> trailing text',
      '<Notification/><!-- c --> <bad',
      '<Notification/></Notification>',
      '<Notification/>&amp;',
      '<Notification/><Other>',
      '<a/><Notification/>',
    ];
    for (const text of cases) await expectSameVerdict(text);
  });

  it('on 2,000 generated hostile and valid bodies', async () => {
    const corpus = exampleFiles().map((f) => Buffer.from(readExample(f)));
    const random = createRandom(20261122);
    let accepted = 0;
    for (let i = 0; i < 2000; i++) {
      const { body } = generateBody(random, i, { corpus, bodyLimitBytes: 64 * 1024 });
      if (await expectSameVerdict(decodeBody(body))) accepted += 1;
    }
    // Both verdicts are exercised, not only refusals.
    expect(accepted).toBeGreaterThan(40);
  });
});
