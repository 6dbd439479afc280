import express from 'express';
import type { Request, Response, Router } from 'express';
import type { ApiKey } from '../config';
import type { OrderDetailView } from '../store/order-read-store';
import { requireApiKey } from './api-auth';
import { sendError } from './errors';

export interface ApiRouteDeps {
  readonly apiKeys: readonly ApiKey[];
  readonly findOrder: (orderId: string) => Promise<OrderDetailView | null>;
}

/** `/api/v1`: the read API (SPEC 3.3). */
export function apiRouter(deps: ApiRouteDeps): Router {
  const router = express.Router();
  router.use(requireApiKey(deps.apiKeys, 'read'));

  router.get('/orders/:orderId', async (req: Request, res: Response) => {
    const orderId = String(req.params['orderId']);
    const order = await deps.findOrder(orderId);
    if (order === null) {
      sendError(res, 404, 'order_not_found', `no order ${orderId}`);
      return;
    }
    res.json(order);
  });

  router.use((_req: Request, res: Response) => sendError(res, 404, 'not_found', 'no such API route'));
  return router;
}
