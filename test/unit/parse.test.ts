import { readExample } from '../support/harness';
import { decodeBody, parseNotificationXml } from '../../src/ingest/parse';
import { dedupKeyOf } from '../../src/ingest/dedup';

describe('parseNotificationXml', () => {
  it('parses a one-line new-number order', async () => {
    const result = await parseNotificationXml(readExample('orders-complete-oneline.xml'));
    expect(result).toEqual({
      ok: true,
      notification: {
        subscriptionId: '9a434012-501b-4d7f-989d-fb64a4fcb74b',
        orderType: 'orders',
        orderId: '31d06aea-651b-42ba-a338-4e629800368d',
        customerOrderId: null,
        status: 'COMPLETE',
        message: 'Created a new number order for 1 number from Unknown RC, Unknown State',
        errorCode: null,
        note: null,
        eventType: null,
        telephoneNumbers: ['+18338760878'],
        lastModifiedAt: new Date('2024-02-22T20:40:47.539Z'),
        actualFocDate: null,
        known: true,
      },
    });
  });

  it('reads the numeric error code from Message', async () => {
    const result = await parseNotificationXml(readExample('orders-failed.xml'));
    expect(result.ok && result.notification.errorCode).toBe('5005');
  });

  it('turns one or many TelephoneNumber into a list of E.164 numbers', async () => {
    const one = await parseNotificationXml(readExample('event-messaging-lost.xml'));
    expect(one.ok && one.notification.telephoneNumbers).toEqual(['+19192345678']);
    const many = await parseNotificationXml(readExample('disconnects-complete.xml'));
    expect(many.ok && many.notification.telephoneNumbers).toEqual(['+19195551234', '+19195551235']);
  });

  it('flags unknown types and states without rejecting them', async () => {
    const result = await parseNotificationXml(
      '<Notification><OrderType>OrderId</OrderType><OrderId>x</OrderId><Status>WHATEVER</Status></Notification>',
    );
    expect(result.ok && result.notification.known).toBe(false);
  });

  it('refuses malformed XML, other roots and DTDs as values', async () => {
    expect(await parseNotificationXml('<Notification>')).toMatchObject({ ok: false });
    expect(await parseNotificationXml('<Foo/>')).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/Notification/),
    });
    expect(
      await parseNotificationXml('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><Notification>&a;</Notification>'),
    ).toMatchObject({ ok: false, reason: expect.stringMatching(/document type/) });
    expect(await parseNotificationXml('')).toMatchObject({ ok: false });
  });

  it('decodes a UTF-8 BOM and an ISO-8859-1 declaration', () => {
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('<Notification/>')]);
    expect(decodeBody(bom)).toBe('<Notification/>');
    const latin = Buffer.from(
      '<?xml version="1.0" encoding="ISO-8859-1"?><Notification><Note>caf\xe9</Note></Notification>',
      'latin1',
    );
    expect(decodeBody(latin)).toContain('café');
  });

  it('gives equal dedup keys to equal notifications whatever the layout', async () => {
    const pretty = await parseNotificationXml(readExample('orders-complete.xml'));
    const oneLine = await parseNotificationXml(readExample('orders-complete.xml').replace(/>\s+</g, '><'));
    if (!pretty.ok || !oneLine.ok) throw new Error('examples must parse');
    expect(dedupKeyOf(pretty.notification)).toBe(dedupKeyOf(oneLine.notification));
    const other = await parseNotificationXml(readExample('orders-failed.xml'));
    if (!other.ok) throw new Error('example must parse');
    expect(dedupKeyOf(other.notification)).not.toBe(dedupKeyOf(pretty.notification));
  });
});
