import net from 'node:net';
import { basicAuth } from '../support/harness';
import { countRows, useService } from './support';

/** Slow clients (slowloris) are cut off by the configured header and request timeouts. */
describe('HTTP timeouts against slow clients', () => {
  const service = useService({
    queue: 'redis',
    env: { HTTP_HEADERS_TIMEOUT_MS: '300', HTTP_REQUEST_TIMEOUT_MS: '600' },
  });

  /** Writes `data`, never finishes the request, and returns what the server sent before closing. */
  const stall = (data: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = net.connect(service().port, '127.0.0.1', () => socket.write(data));
      let received = '';
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1');
      });
      socket.on('error', reject);
      socket.on('close', () => resolve(received));
    });

  it('closes a connection whose headers never finish with 408', async () => {
    const answer = await stall('POST /callbacks/bandwidth HTTP/1.1\r\nHost: localhost\r\nX-Slow: ');
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('closes a connection whose body never finishes, and keeps nothing of it', async () => {
    const answer = await stall(
      'POST /callbacks/bandwidth HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/xml\r\n' +
        `Authorization: ${basicAuth()}\r\nContent-Length: 500\r\n\r\n<Notification><Status>`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(await countRows(service(), 'notifications')).toBe(0);
    expect(await countRows(service(), 'quarantined_notifications')).toBe(0);
  });
});
