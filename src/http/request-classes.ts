import { IncomingMessage, ServerResponse } from 'node:http';
import type { Express } from 'express';

/** What `http.createServer` needs to build an app's requests and responses with its prototypes. */
export interface RequestClasses {
  readonly IncomingMessage: typeof IncomingMessage;
  readonly ServerResponse: typeof ServerResponse;
}

const classesByApp = new WeakMap<Express, RequestClasses>();

/**
 * Express gives every request and response its app's prototypes (`app.request`,
 * `app.response`) with `Object.setPrototypeOf` in `app.handle`. Changing the prototype of a
 * live object is slow in V8, and it also keeps the request's objects alive through young-
 * generation collections: a bare Express 5 endpoint promoted about 9 KB per request to the old
 * generation, which V8 then frees only in mark-compacts, a few seconds apart, each stalling
 * the event loop for several milliseconds. That was the read API's tail latency (issue #8).
 *
 * This makes `app.request` and `app.response` the prototypes of two classes derived from
 * Node's own; a server created with `requestClassesOf(app)` constructs every request and
 * response with them, and Express's `setPrototypeOf` then finds the prototype already in place
 * and does nothing. Measured (bench/RESULTS.md, sixth session): bare Express 5 from 0.18 to
 * 0.07 ms of CPU per request, and nothing promoted.
 *
 * Call it on a new app, before anything is mounted: a mounted sub-app inherits from
 * `app.request` as it is at mount time. A server created without these classes (supertest)
 * still works: Express then sets the same prototypes the slow way.
 */
export function adoptRequestClasses(app: Express): void {
  class AppRequest extends IncomingMessage {}
  class AppResponse<Request extends IncomingMessage = IncomingMessage> extends ServerResponse<Request> {}
  // Same chain as Express builds (own `app` property, then Express's request methods), with
  // Node's class in between so that Node can construct it.
  Object.setPrototypeOf(AppRequest.prototype, Object.getPrototypeOf(app.request) as object);
  Object.defineProperties(AppRequest.prototype, Object.getOwnPropertyDescriptors(app.request));
  Object.setPrototypeOf(AppResponse.prototype, Object.getPrototypeOf(app.response) as object);
  Object.defineProperties(AppResponse.prototype, Object.getOwnPropertyDescriptors(app.response));
  // The prototypes are what Express's types call Request and Response: the chain above.
  app.request = AppRequest.prototype as unknown as Express['request'];
  app.response = AppResponse.prototype as unknown as Express['response'];
  classesByApp.set(app, { IncomingMessage: AppRequest, ServerResponse: AppResponse });
}

/** The classes for `http.createServer(options, app)`; Node's own for an app that did not adopt any. */
export function requestClassesOf(app: Express): RequestClasses {
  return classesByApp.get(app) ?? { IncomingMessage, ServerResponse };
}
