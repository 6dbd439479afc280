import { createServer } from 'node:http';
import express from 'express';
import { Pool } from 'pg';
import { adoptRequestClasses, requestClassesOf } from '../src/http/request-classes';
import { orderDetailSql } from '../src/store/order-read-store';

/**
 * The baseline of the callback benchmark: an Express 5 endpoint that only reads the body
 * (the same raw body parser and limit as the callback route) and answers 200. The callback
 * route's throughput is reported as a ratio of this one, measured in the same run.
 *
 * BARE_REQUEST_CLASSES=1: the same endpoint with the service's request classes
 * (src/http/request-classes.ts), a reference for what that change alone is worth.
 *
 * DATABASE_URL set: also `GET /api/v1/orders/:id`, the reference of the paced order-detail
 * runs: the service's own detail statement (`orderDetailSql`, one order), one statement per
 * request on a node-postgres pool of DATABASE_POOL_SIZE (default 4, what the bench gives the
 * API), named so each connection plans it once, and its JSON sent as it is. No authentication, no middleware, no batching: the smallest
 * server that answers the same question, on the same machine, at the same rate.
 */
const app = express();
if (process.env['BARE_REQUEST_CLASSES'] === '1') adoptRequestClasses(app);
app.disable('x-powered-by');
app.get('/healthz', (_req, res) => {
  res.status(200).send('ok');
});
app.post('/callbacks/bandwidth', express.raw({ type: () => true, limit: 1024 * 1024 }), (_req, res) => {
  res.type('text/plain').status(200).send('OK');
});

const databaseUrl = process.env['DATABASE_URL'];
if (databaseUrl !== undefined) {
  const pool = new Pool({
    connectionString: databaseUrl,
    max: Number(process.env['DATABASE_POOL_SIZE'] ?? 4),
    idleTimeoutMillis: 0,
  });
  const { text, values } = orderDetailSql(['']);
  if (values.length !== 1) throw new Error('the detail statement of one order has one parameter');
  app.get('/api/v1/orders/:id', async (req, res) => {
    const { rows } = await pool.query<{ detail: string }>({ name: 'detail', text, values: [req.params['id']] });
    const detail = rows[0]?.detail;
    if (detail === undefined) res.status(404).end();
    else res.type('application/json').status(200).send(detail);
  });
}

const port = Number(process.env['PORT'] ?? 0);
// Node's own classes unless adopted above.
const server = createServer({ ...requestClassesOf(app) }, app);
server.listen(port, '127.0.0.1');
server.keepAliveTimeout = 5_000;
process.on('SIGTERM', () => server.close(() => process.exit(0)));
