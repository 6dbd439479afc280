import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HandlersConfigError, buildHandlerRegistry, loadHandlerRegistry } from '../../src/handlers/config';
import { classifyStatus, signatureOf, verifySignature } from '../../src/handlers/http-forward';
import { matches } from '../../src/handlers/registry';
import { silentLogger } from '../support/harness';

const EXAMPLES = path.resolve(__dirname, '..', '..', 'examples', 'handlers');

const build = (document: unknown) =>
  buildHandlerRegistry(document, { source: 'test.json', baseDir: EXAMPLES, logger: silentLogger() });

const forward = { name: 'fwd', type: 'http-forward', url: 'http://127.0.0.1:1/x', secret: 'a-secret-of-16-chars' };

describe('HANDLERS_CONFIG', () => {
  it('defaults to one log handler', async () => {
    const registry = await loadHandlerRegistry(undefined, silentLogger());
    expect(registry.all.map((h) => h.handler.name)).toEqual(['log']);
    expect(registry.all[0]?.retry).toEqual({ attempts: 5, backoffMs: 1000 });
  });

  it('loads the example file, its custom module included', async () => {
    const registry = await loadHandlerRegistry(path.join(EXAMPLES, 'handlers.json'), silentLogger());
    expect(registry.all.map((h) => h.handler.name)).toEqual(['log', 'port-in-alert', 'provisioning']);
    expect(registry.get('port-in-alert')?.retry).toEqual({ attempts: 8, backoffMs: 2000 });
  });

  it.each([
    [{ handlers: [{ name: 'x', type: 'carrier-pigeon' }] }, /handlers\.0\.type/],
    [{ handlers: [{ name: 'x' }] }, /either a built-in "type".*or a "module"/],
    [{ handlers: [{ name: 'x', type: 'log', module: './port-in-alert.ts' }] }, /either a built-in "type"/],
    [{ handlers: [{ ...forward, url: 'ftp://nope' }] }, /"fwd".*url/],
    [{ handlers: [{ ...forward, secret: 'short' }] }, /"fwd".*secret must be at least 16/],
    [{ handlers: [forward, forward] }, /two handlers are named "fwd"/],
    [{ handlers: [{ name: 'x', module: './missing.js' }] }, /"x".*cannot load module .*missing\.js/],
    [{ handlers: [{ name: 'a', module: './port-in-alert.ts' }] }, /"a".*webhookUrl/],
    [{ handlers: [{ ...forward, retry: { attempts: 0, backoffMs: 10 } }] }, /retry\.attempts/],
    [{ handlers: [{ ...forward, match: { statuses: 'FOC' } }] }, /match\.statuses/],
    [{ handler: [] }, /handlers/],
  ])('refuses a bad file with a message naming the problem (%#)', async (document, message) => {
    const error: unknown = await build(document).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(HandlersConfigError);
    expect((error as Error).message).toMatch(/^Invalid handlers configuration \(test\.json\)/);
    expect((error as Error).message).toMatch(message);
  });

  it('refuses a file that is not JSON, naming the file', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'handlers-config-'));
    const file = path.join(dir, 'broken.json');
    writeFileSync(file, '{ "handlers": [');
    await expect(loadHandlerRegistry(file, silentLogger())).rejects.toThrow(
      /Invalid handlers configuration .*broken\.json/,
    );
  });

  it('keeps the example config valid JSON for the docs', () => {
    expect(() => JSON.parse(readFileSync(path.join(EXAMPLES, 'handlers.json'), 'utf8')) as unknown).not.toThrow();
  });
});

describe('match', () => {
  const n = { orderType: 'portins', status: 'FOC', eventType: null, note: null };
  it('filters by order type, status, event type and notes', () => {
    expect(matches({}, n)).toBe(true);
    expect(matches({ orderTypes: ['portins'], statuses: ['FOC'] }, n)).toBe(true);
    expect(matches({ orderTypes: ['PortIns'] }, n)).toBe(true);
    expect(matches({ orderTypes: ['portins'], statuses: ['COMPLETE'] }, n)).toBe(false);
    expect(matches({ eventTypes: ['MESSAGING_LOST'] }, n)).toBe(false);
    expect(matches({ eventTypes: ['MESSAGING_LOST'] }, { ...n, orderType: null, eventType: 'MESSAGING_LOST' })).toBe(
      true,
    );
    expect(matches({ notes: true }, n)).toBe(false);
    expect(matches({ notes: true }, { ...n, note: 'LOA attached' })).toBe(true);
    expect(matches({ notes: false }, n)).toBe(true);
  });
});

describe('http-forward signature and retryability', () => {
  it('signs timestamp + "." + body with HMAC-SHA256 (known vector)', () => {
    // echo -n '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'secret'
    expect(signatureOf('secret', '1700000000', '{"a":1}')).toBe(
      'sha256=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686',
    );
    const sig = signatureOf('secret', '1700000000', '{"a":1}');
    expect(verifySignature('secret', '1700000000', '{"a":1}', sig)).toBe(true);
    expect(verifySignature('secret', '1700000001', '{"a":1}', sig)).toBe(false);
    expect(verifySignature('secret', '1700000000', '{"a":2}', sig)).toBe(false);
  });

  it('retries 408, 429 and 5xx; other 4xx are permanent', () => {
    expect(classifyStatus(204).kind).toBe('delivered');
    expect([408, 429, 500, 502, 503].map((s) => classifyStatus(s).kind)).toEqual(Array(5).fill('retry'));
    expect([301, 400, 401, 404, 410, 422].map((s) => classifyStatus(s).kind)).toEqual(Array(6).fill('reject'));
  });
});
