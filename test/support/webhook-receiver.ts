import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import { eventually } from './harness';

/** A real local HTTP receiver standing in for the systems handlers forward to. */
export interface ReceivedRequest {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** Date.now() on arrival (for humans reading a failure; tests do not assert timings). */
  readonly receivedAt: number;
}

/** Status to answer, or 'hang' to never answer (the connection stays open until closed). */
export type Answer = number | 'hang';

export interface WebhookReceiver {
  readonly url: string;
  readonly received: ReceivedRequest[];
  /** Requests received on one path, in arrival order. */
  on(path: string): ReceivedRequest[];
  /** How to answer a path from now on; the function form sees the request. */
  answer(path: string, answer: Answer | ((request: ReceivedRequest) => Answer)): void;
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: ReceivedRequest[] = [];
  const answers = new Map<string, (request: ReceivedRequest) => Answer>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = {
        path: req.url ?? '/',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        receivedAt: Date.now(),
      };
      received.push(request);
      const answer = answers.get(request.path)?.(request) ?? 200;
      if (answer === 'hang') return;
      res.writeHead(answer, { 'content-type': 'text/plain' }).end(answer < 300 ? 'ok' : 'no');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    on: (path) => received.filter((r) => r.path === path),
    answer(path, answer) {
      answers.set(path, typeof answer === 'function' ? answer : () => answer);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export const header = (request: ReceivedRequest, name: string): string => {
  const value = request.headers[name.toLowerCase()];
  return Array.isArray(value) ? (value[0] ?? '') : (value ?? '');
};

/** `eventually` for synchronous probes (the receiver's request list). */
export function until<T>(probe: () => T | undefined, timeoutMs?: number): Promise<T> {
  return eventually(() => Promise.resolve(probe()), timeoutMs);
}
