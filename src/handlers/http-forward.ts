import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { Handler, HandlerFactoryInput, HandlerOutcome } from './types';

/**
 * Built-in `http-forward`: POSTs `{ deliveryId, attempt, notification, order }` as JSON, signed
 * so the receiver can tell it is us and that the body is intact:
 *   X-Webhook-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
 * The timestamp (X-Webhook-Timestamp, unix seconds) is signed too, so receivers can refuse old
 * replays. 2xx: delivered; 408, 429, 5xx, network errors, timeouts: retried; other 4xx: dead.
 */
export const httpForwardOptions = z
  .object({
    url: z.url({ protocol: /^https?$/, error: 'url must be an http:// or https:// URL' }),
    secret: z.string().min(16, 'secret must be at least 16 characters'),
    timeoutMs: z.number().int().min(1).max(600_000).default(5000),
    headers: z.record(z.string(), z.string()).default({}),
  })
  .strict();

export function signatureOf(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex')}`;
}

/** For receivers (and tests): constant-time check of a signature header. */
export function verifySignature(secret: string, timestamp: string, body: string, header: string): boolean {
  const expected = Buffer.from(signatureOf(secret, timestamp, body));
  const supplied = Buffer.from(header);
  return expected.length === supplied.length && timingSafeEqual(expected, supplied);
}

/** Retryability of an HTTP answer, decided here once for this handler. */
export function classifyStatus(status: number): HandlerOutcome {
  if (status >= 200 && status < 300) return { kind: 'delivered', detail: `HTTP ${status}` };
  if (status === 408 || status === 429 || status >= 500) return { kind: 'retry', reason: `HTTP ${status}` };
  return { kind: 'reject', reason: `HTTP ${status} (permanent)` };
}

export function createHttpForwardHandler(input: HandlerFactoryInput): Handler {
  const parsed = httpForwardOptions.safeParse(input.options);
  if (!parsed.success) {
    throw new Error(parsed.error.issues.map((i) => `${i.path.join('.') || 'options'}: ${i.message}`).join('; '));
  }
  const options = parsed.data;
  return {
    name: input.name,
    async handle(notification, ctx) {
      const body = JSON.stringify({ deliveryId: ctx.deliveryId, attempt: ctx.attempt, notification, order: ctx.order });
      const timestamp = String(Math.floor(Date.now() / 1000));
      const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(options.timeoutMs)]);
      let response: Response;
      try {
        response = await fetch(options.url, {
          method: 'POST',
          headers: {
            ...options.headers,
            'content-type': 'application/json',
            'user-agent': 'bandwidth-order-receiver/http-forward',
            'x-webhook-id': ctx.deliveryId,
            'x-webhook-timestamp': timestamp,
            'x-webhook-signature': signatureOf(options.secret, timestamp, body),
          },
          body,
          signal,
          redirect: 'manual',
        });
      } catch (error: unknown) {
        // Network error, refused connection or timeout: the receiver may be back later.
        const reason = signal.aborted ? `timed out or aborted after ${options.timeoutMs} ms` : errorText(error);
        return { kind: 'retry', reason };
      }
      // Drain the body so the connection can be reused; its content is not ours to log.
      await response.arrayBuffer().catch(() => undefined);
      return classifyStatus(response.status);
    },
  };
}

function errorText(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}
