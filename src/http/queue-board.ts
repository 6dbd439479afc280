import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import express from 'express';
import type { NextFunction, Request, Response, Router } from 'express';
import type { Queue } from 'bullmq';
import type { ApiKey } from '../config';
import { requireApiKey } from './api-auth';
import { sendError } from './errors';

export const QUEUE_BOARD_PATH = '/admin/queues';

export interface QueueBoardDeps {
  readonly apiKeys: readonly ApiKey[];
  readonly queues: readonly Queue[];
}

/**
 * @bull-board at /admin/queues, admin scope only (it can retry, promote and delete jobs).
 * Browsers cannot send a Bearer header, so an admin key is also accepted as the password of
 * Basic auth (any user name); both go through the same constant-time key check. Fail closed:
 * no key, no board.
 */
export function queueBoardRouter(deps: QueueBoardDeps): Router {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(QUEUE_BOARD_PATH);
  createBullBoard({
    queues: deps.queues.map((queue) => new BullMQAdapter(queue, { readOnlyMode: false })),
    // @bull-board/express pins its own copy of @bull-board/api (9.10.1 vs 9.10.2 at the top
    // level), so the two BaseAdapter declarations differ by private fields only; the runtime
    // contract is the same (checked by test/e2e/read-api.test.ts through the board's own API).
    serverAdapter: serverAdapter as unknown as Parameters<typeof createBullBoard>[0]['serverAdapter'],
  });
  const adminOnly = requireApiKey(deps.apiKeys, 'admin');
  const router = express.Router();
  router.use((req: Request, res: Response, next: NextFunction) => {
    const header = req.get('authorization');
    const basic = header === undefined ? null : /^\s*Basic\s+(\S+)\s*$/i.exec(header);
    if (basic?.[1]) {
      const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
      req.headers.authorization = `Bearer ${decoded.slice(decoded.indexOf(':') + 1)}`;
    } else if (header === undefined) {
      // Lets a browser prompt for the key (the API's own routes challenge with Bearer only).
      res.setHeader('WWW-Authenticate', 'Basic realm="queue-admin", charset="UTF-8"');
      sendError(res, 401, 'unauthorized', 'an admin API key is needed (Bearer, or as the Basic password)');
      return;
    }
    adminOnly(req, res, next);
  });
  router.use(serverAdapter.getRouter() as Router);
  return router;
}
