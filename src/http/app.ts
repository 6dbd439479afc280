import express from 'express';
import type { Express, Router } from 'express';
import type { Logger } from 'winston';
import type { AdminHandlerRouteDeps } from './admin-handler-routes';
import { adminHandlerRouter } from './admin-handler-routes';
import type { ApiRouteDeps } from './api-routes';
import { apiRouter } from './api-routes';
import type { CallbackRouteDeps } from './callback-routes';
import { CALLBACK_ROUTES, callbackHandlers } from './callback-routes';
import { errorHandler, notFoundHandler } from './errors';
import type { OpsRouteDeps } from './ops-routes';
import { opsRouter } from './ops-routes';
import { QUEUE_BOARD_PATH } from './queue-board';
import { adoptRequestClasses } from './request-classes';
import { requestId, requestIdWithoutContext } from './request-id';
import type { SecurityDeps } from './security';
import { securityControls } from './security';

export interface AppDeps {
  readonly logger: Logger;
  readonly ops: OpsRouteDeps;
  /** Absent in ROLE=worker: that process serves only the ops routes. */
  readonly callback?: CallbackRouteDeps;
  readonly api?: ApiRouteDeps;
  /** Express `trust proxy` setting; off by default so X-Forwarded-For is ignored. */
  readonly trustProxy?: boolean | string | number;
  /** Dead letters and replay under /api/v1/admin (admin scope). */
  readonly adminHandlers?: AdminHandlerRouteDeps;
  /** @bull-board at /admin/queues (admin scope); absent without a queue producer. */
  readonly queueBoard?: Router;
  /** Allowlist, rate limits, API security headers, auth-failure metrics (docs/security.md). */
  readonly security?: SecurityDeps;
}

/**
 * Builds the HTTP app. Never listens: service.ts does, with `requestClassesOf(app)`, and tests
 * drive it with supertest.
 */
export function createApp(deps: AppDeps): Express {
  const app = express();
  // Before anything is mounted (see adoptRequestClasses): the server then builds requests and
  // responses with the app's prototypes, and Express need not set them on each one.
  adoptRequestClasses(app);
  app.disable('x-powered-by');
  app.set('trust proxy', deps.trustProxy ?? false);
  // A worker's app serves only the ops routes: no request-scoped logging context there.
  app.use(deps.callback || deps.api ? requestId : requestIdWithoutContext);
  const security = deps.security ? securityControls(deps.security) : undefined;
  // The callback route first, as a route of the app: no router to pass through (hot path).
  if (deps.callback) app.post(CALLBACK_ROUTES, ...(security?.callback ?? []), ...callbackHandlers(deps.callback));
  if (security) app.use(security.router);
  app.use(opsRouter(deps.ops));
  if (deps.adminHandlers) app.use('/api/v1/admin', adminHandlerRouter(deps.adminHandlers));
  if (deps.api) app.use('/api/v1', apiRouter(deps.api));
  if (deps.queueBoard) app.use(QUEUE_BOARD_PATH, deps.queueBoard);
  app.use(notFoundHandler);
  app.use(errorHandler(deps.logger));
  return app;
}
