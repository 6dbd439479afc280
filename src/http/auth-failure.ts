import type { Response } from 'express';

/**
 * How a guard reports a refused request to the observer in security.ts, which counts it
 * (`bw_auth_failures_total`) and logs it once the answer is sent. Guards stay free of
 * logger and metrics dependencies, so they can be mounted anywhere (issue #6's admin UI).
 * `detail` never holds a password or a key: only a key's name or whether a user name is known.
 */
export type AuthRoute = 'callback' | 'api' | 'admin';
export type AuthFailureReason = 'missing' | 'invalid' | 'forbidden';

export interface AuthFailure {
  readonly route: AuthRoute;
  readonly reason: AuthFailureReason;
  readonly detail?: Readonly<Record<string, string | boolean>>;
}

const KEY = 'authFailure';

export function recordAuthFailure(res: Response, failure: AuthFailure): void {
  res.locals[KEY] = failure;
}

export function authFailureOf(res: Response): AuthFailure | undefined {
  const value: unknown = res.locals[KEY];
  if (typeof value !== 'object' || value === null || !('route' in value) || !('reason' in value)) return undefined;
  return value as AuthFailure;
}
