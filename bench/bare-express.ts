import { createServer } from 'node:http';
import express from 'express';
import { adoptRequestClasses, requestClassesOf } from '../src/http/request-classes';

/**
 * The baseline of the callback benchmark: an Express 5 endpoint that only reads the body
 * (the same raw body parser and limit as the callback route) and answers 200. The callback
 * route's throughput is reported as a ratio of this one, measured in the same run.
 *
 * BARE_REQUEST_CLASSES=1: the same endpoint with the service's request classes
 * (src/http/request-classes.ts), a reference for what that change alone is worth.
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

const port = Number(process.env['PORT'] ?? 0);
// Node's own classes unless adopted above.
const server = createServer({ ...requestClassesOf(app) }, app);
server.listen(port, '127.0.0.1');
server.keepAliveTimeout = 5_000;
process.on('SIGTERM', () => server.close(() => process.exit(0)));
