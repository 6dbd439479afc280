import express from 'express';
import type { Request, Response, Router } from 'express';
import type { Metrics } from '../observability/metrics';

export interface ReadinessCheck {
  readonly name: string;
  readonly check: () => Promise<void>;
  /**
   * A failing soft check makes the service `degraded` (still 200): e.g. the queue is down but
   * callbacks are spooled, so traffic must keep coming here rather than be refused.
   */
  readonly soft?: boolean;
  /** Extra state shown under `details` (e.g. spool depth). */
  readonly details?: () => Record<string, unknown>;
}

export interface OpsRouteDeps {
  readonly metrics: Metrics;
  /** Refreshes gauges that are read on scrape (queue depth). */
  readonly beforeScrape?: () => Promise<void>;
  readonly readiness: readonly ReadinessCheck[];
  /** False once shutdown begins, so orchestrators stop routing traffic here first. */
  readonly isAccepting: () => boolean;
  readonly checkTimeoutMs?: number;
}

function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    promise.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/** `/healthz` (process is alive) and `/readyz` (database and queue reachable). */
export function opsRouter(deps: OpsRouteDeps): Router {
  const router = express.Router();
  router.get('/healthz', (_req: Request, res: Response) => {
    res.json({ status: 'ok' });
  });
  router.get('/metrics', async (_req: Request, res: Response) => {
    try {
      await deps.beforeScrape?.();
    } catch {
      // A scrape must still answer when the queue is down; the gauges keep their last value.
    }
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
  router.get('/readyz', async (_req: Request, res: Response) => {
    const results = await Promise.all(
      deps.readiness.map(async ({ name, check, soft }) => {
        try {
          await withTimeout(check(), deps.checkTimeoutMs ?? 2000);
          return { name, soft, ok: true as const };
        } catch (error: unknown) {
          return { name, soft, ok: false as const, error: error instanceof Error ? error.message : String(error) };
        }
      }),
    );
    const accepting = deps.isAccepting();
    const ready = accepting && results.every((r) => r.ok || r.soft === true);
    const degraded = ready && results.some((r) => !r.ok);
    const details = deps.readiness.flatMap((r) => (r.details ? [[r.name, r.details()] as const] : []));
    res.status(ready ? 200 : 503).json({
      status: degraded ? 'degraded' : ready ? 'ready' : 'not_ready',
      shuttingDown: !accepting,
      checks: Object.fromEntries(results.map((r) => [r.name, r.ok ? 'ok' : r.error])),
      ...(details.length > 0 ? { details: Object.fromEntries(details) } : {}),
    });
  });
  return router;
}
