import { z } from 'zod';
import type { Handler, HandlerFactoryInput, HandlerOutcome } from '../../src/handlers/types';

/**
 * Example custom handler: tells a chat/alerting webhook (Slack-style `{ "text": ... }`) when a
 * port-in reaches FOC (the firm order commitment date is set) or EXCEPTION (someone must act).
 *
 * Loaded from HANDLERS_CONFIG:
 *   { "name": "port-in-alert", "module": "./port-in-alert.ts",
 *     "match": { "orderTypes": ["portins"], "statuses": ["FOC", "EXCEPTION"] },
 *     "webhookUrl": "https://hooks.example.com/T000/B000/XXXX" }
 * `match` already limits what it receives; it re-checks so it stays correct if the config forgets.
 */
const options = z.object({
  webhookUrl: z.url(),
  timeoutMs: z.number().int().min(1).default(5000),
});

export function alertText(n: {
  status: string | null;
  orderId: string | null;
  customerOrderId: string | null;
  actualFocDate: string | null;
  message: string | null;
  telephoneNumbers: readonly string[];
}): string | null {
  const numbers = n.telephoneNumbers.join(', ') || 'no numbers';
  const who = `port-in ${n.orderId ?? '(no order id)'}${n.customerOrderId ? ` (${n.customerOrderId})` : ''}`;
  switch (n.status) {
    case 'FOC':
      return `:white_check_mark: ${who} has its FOC date: ${n.actualFocDate?.slice(0, 10) ?? 'unknown'} for ${numbers}`;
    case 'EXCEPTION':
      return `:rotating_light: ${who} needs attention: ${n.message ?? 'no message'} (${numbers})`;
    default:
      return null;
  }
}

export function createHandler(input: HandlerFactoryInput): Handler {
  const config = options.parse(input.options);
  return {
    name: input.name,
    async handle(notification, ctx): Promise<HandlerOutcome> {
      if (notification.orderType?.toLowerCase() !== 'portins') return { kind: 'delivered', detail: 'not a port-in' };
      const text = alertText(notification);
      if (text === null) return { kind: 'delivered', detail: 'nothing to alert' };
      let response: Response;
      try {
        response = await fetch(config.webhookUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': ctx.deliveryId },
          body: JSON.stringify({ text }),
          signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(config.timeoutMs)]),
        });
      } catch (error: unknown) {
        return { kind: 'retry', reason: error instanceof Error ? error.message : String(error) };
      }
      await response.arrayBuffer().catch(() => undefined);
      if (response.ok) return { kind: 'delivered' };
      // Chat webhooks answer 4xx for a bad URL or payload: retrying will not help.
      return response.status >= 500 || response.status === 429
        ? { kind: 'retry', reason: `HTTP ${response.status}` }
        : { kind: 'reject', reason: `HTTP ${response.status}` };
    },
  };
}
