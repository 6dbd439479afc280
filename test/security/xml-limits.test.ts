import { checkXmlLimits } from '../../src/ingest/xml-limits';
import { parseNotificationXml } from '../../src/ingest/parse';
import { exampleFiles, readExample } from '../support/harness';

const limits = { maxDepth: 4, maxElements: 10, maxTextLength: 20, maxTagLength: 60 };

describe('XML limits (checked before any parser runs)', () => {
  it('lets every documented Bandwidth example through with the default limits', async () => {
    for (const file of exampleFiles()) {
      const text = readExample(file);
      expect({ file, refused: checkXmlLimits(text) }).toEqual({ file, refused: null });
      expect((await parseNotificationXml(text)).ok).toBe(true);
    }
  });

  it.each([
    ['internal DTD', '<?xml version="1.0"?><!DOCTYPE n [<!ENTITY a "b">]><Notification>&a;</Notification>'],
    ['external entity', '<!DOCTYPE n SYSTEM "file:///etc/passwd"><Notification/>'],
    ['lower-case doctype', '<!doctype n><Notification/>'],
    ['bare ENTITY declaration', '<Notification><!ENTITY x "y"></Notification>'],
  ])('refuses a document type declaration: %s', (_name, text) => {
    expect(checkXmlLimits(text)).toEqual({ ok: false, reason: 'document type declarations are not accepted' });
  });

  it('refuses nesting deeper than the limit, counting only open elements', () => {
    expect(checkXmlLimits('<a><b><c><d/></c></b></a>', limits)).toBeNull();
    expect(checkXmlLimits('<a><b><c><d></d></c></b></a>', limits)).toBeNull();
    expect(checkXmlLimits('<a><b><c><d><e/></d></c></b></a>', limits)).toBeNull();
    expect(checkXmlLimits('<a><b><c><d><e></e></d></c></b></a>', limits)?.reason).toMatch(/nested deeper than 4/);
  });

  it('refuses more elements than the limit', () => {
    expect(checkXmlLimits(`<a>${'<b/>'.repeat(9)}</a>`, limits)).toBeNull();
    expect(checkXmlLimits(`<a>${'<b/>'.repeat(10)}</a>`, limits)?.reason).toMatch(/more than 10 elements/);
  });

  it('refuses long text, long CDATA and huge attributes', () => {
    expect(checkXmlLimits(`<a>${'x'.repeat(20)}</a>`, limits)).toBeNull();
    expect(checkXmlLimits(`<a>${'x'.repeat(21)}</a>`, limits)?.reason).toMatch(/text longer than 20/);
    expect(checkXmlLimits(`<a><![CDATA[${'x'.repeat(21)}]]></a>`, limits)?.reason).toMatch(/text longer/);
    expect(checkXmlLimits(`<a b="${'x'.repeat(100)}"/>`, limits)?.reason).toMatch(/tag longer than 60/);
  });

  it('reads quoted attribute values, comments and processing instructions without miscounting', () => {
    expect(checkXmlLimits('<?xml version="1.0"?><!-- <x><y><z> --><a b="1>2" c=\'<q>\'><b/></a>', limits)).toBeNull();
  });

  it('refuses characters XML forbids, raw or as character references', () => {
    expect(checkXmlLimits('<a>\u0000</a>')?.reason).toMatch(/U\+0000/);
    expect(checkXmlLimits('<a>\u001b</a>')?.reason).toMatch(/U\+001B/);
    expect(checkXmlLimits('<a>&#0;</a>')?.reason).toMatch(/&#0;/);
    expect(checkXmlLimits('<a>&#x1F;</a>')?.reason).toMatch(/&#x1F;/);
    expect(checkXmlLimits('<a>&#x110000;</a>')?.reason).toMatch(/not allowed/);
    expect(checkXmlLimits('<a>&#233;&#x9;&#xA;\t\r\n</a>')).toBeNull();
  });

  it('leaves malformed-but-bounded input to the parser', async () => {
    expect(checkXmlLimits('<Notification><Status>COMPLETE</Status')).toBeNull();
    const parsed = await parseNotificationXml('<Notification><Status>COMPLETE</Status');
    expect(parsed).toMatchObject({ ok: false, reason: expect.stringMatching(/malformed/) });
  });
});
