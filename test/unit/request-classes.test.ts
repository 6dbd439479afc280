import http, { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { Express } from 'express';
import request from 'supertest';
import { adoptRequestClasses, requestClassesOf } from '../../src/http/request-classes';

/** An app whose route reports what Express's request and response look like to a handler. */
function probeApp(): Express {
  const app = express();
  adoptRequestClasses(app);
  const sub = express();
  sub.get('/inner', (req, res) => {
    res.json({ subApp: req.app === sub, header: req.get('x-probe') ?? null });
  });
  app.use('/sub', sub);
  app.get('/probe', (req, res) => {
    res.locals['seen'] = 'locals';
    res.status(201).json({
      app: req.app === app && res.app === app,
      requestPrototype: Object.getPrototypeOf(req) === app.request,
      responsePrototype: Object.getPrototypeOf(res) === app.response,
      header: req.get('x-probe') ?? null,
      locals: res.locals['seen'] as string,
    });
  });
  return app;
}

async function listening(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('request classes (Express without a prototype change per request)', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
  });

  it('make the server build each request and response with the app prototypes before Express sees them', async () => {
    const app = probeApp();
    const server = createServer({ ...requestClassesOf(app) }, app);
    servers.push(server);
    const before: boolean[] = [];
    server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
      before.push(Object.getPrototypeOf(req) === app.request, Object.getPrototypeOf(res) === app.response);
    });
    const base = await listening(server);

    const answer = await fetch(`${base}/probe`, { headers: { 'x-probe': 'yes' } });

    expect(answer.status).toBe(201);
    expect(await answer.json()).toEqual({
      app: true,
      requestPrototype: true,
      responsePrototype: true,
      header: 'yes',
      locals: 'locals',
    });
    expect(before).toEqual([true, true]);
  });

  it('leave mounted sub-apps and Node-built servers working as Express alone would', async () => {
    const app = probeApp();
    const server = createServer({ ...requestClassesOf(app) }, app);
    servers.push(server);
    const base = await listening(server);

    const inner = await fetch(`${base}/sub/inner`, { headers: { 'x-probe': 'sub' } });
    expect(await inner.json()).toEqual({ subApp: true, header: 'sub' });
    // After the sub-app, the parent's prototypes again (Express restores them on the way out).
    expect((await fetch(`${base}/probe`)).status).toBe(201);

    // supertest builds its own server with Node's classes: Express sets the prototypes itself.
    const plain = await request(app).get('/probe').set('x-probe', 'plain');
    expect(plain.status).toBe(201);
    expect(plain.body).toMatchObject({ app: true, requestPrototype: true, responsePrototype: true, header: 'plain' });
  });

  it('give an app that adopted none Node’s own classes', () => {
    expect(requestClassesOf(express())).toEqual({
      IncomingMessage: http.IncomingMessage,
      ServerResponse: http.ServerResponse,
    });
  });
});
