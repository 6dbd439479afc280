import type { Handler, HandlerFactoryInput } from './types';

/** Built-in `log`: one structured line per notification (ids and states, never the raw body). */
export function createLogHandler(input: HandlerFactoryInput): Handler {
  return {
    name: input.name,
    handle(notification, ctx) {
      ctx.logger.info('notification', {
        notificationId: notification.id,
        source: notification.source,
        orderId: notification.orderId,
        orderType: notification.orderType,
        eventType: notification.eventType,
        status: notification.status,
        errorCode: notification.errorCode,
        hasNote: notification.note !== null,
        telephoneNumbers: notification.telephoneNumbers.length,
        orderStatus: ctx.order?.status ?? null,
        attempt: ctx.attempt,
      });
      return Promise.resolve({ kind: 'delivered' });
    },
  };
}
