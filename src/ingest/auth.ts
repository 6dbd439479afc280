import { hash, timingSafeEqual } from 'node:crypto';
import type { BasicCredential } from '../config';

export type BasicAuthResult = 'ok' | 'missing' | 'invalid';

export interface BasicAuthCheck {
  readonly result: BasicAuthResult;
  /** Whether the supplied user name is a configured one: safe to log, unlike the name itself. */
  readonly knownUser: boolean;
}

// One-shot (Node >= 20.12): no Hash object per request on the callback route.
const digest = (value: string): Buffer => hash('sha256', value, 'buffer');

/** Decodes `Basic <base64(user:password)>`; null when the header is not Basic or not decodable. */
export function decodeBasicAuthorization(authorization: string): { user: string; password: string } | null {
  const match = /^\s*Basic\s+([A-Za-z0-9+/=._-]+)\s*$/i.exec(authorization);
  if (!match?.[1]) return null;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * Checks an `Authorization: Basic ...` header against every configured pair (several at once,
 * for rotation). Comparison is constant-time: both sides are hashed to equal-length digests
 * and every configured pair is compared, whether or not an earlier one matched.
 */
export function createBasicAuthChecker(credentials: readonly BasicCredential[]) {
  const expected = credentials.map((c) => ({
    pair: digest(`${c.username}:${c.password}`),
    user: digest(c.username),
  }));
  return (authorization: string | undefined): BasicAuthCheck => {
    if (authorization === undefined) return { result: 'missing', knownUser: false };
    const supplied = decodeBasicAuthorization(authorization);
    if (supplied === null) return { result: 'invalid', knownUser: false };
    const pair = digest(`${supplied.user}:${supplied.password}`);
    let ok = false;
    for (const candidate of expected) {
      if (timingSafeEqual(candidate.pair, pair)) ok = true;
    }
    if (ok) return { result: 'ok', knownUser: true };
    // Only a refused request needs to know whether its user name is a configured one (for the
    // log): the caller already knows it was refused, so this extra work reveals nothing.
    const user = digest(supplied.user);
    let knownUser = false;
    for (const candidate of expected) {
      if (timingSafeEqual(candidate.user, user)) knownUser = true;
    }
    return { result: 'invalid', knownUser };
  };
}
