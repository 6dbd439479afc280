import { createHash, timingSafeEqual } from 'node:crypto';
import type { BasicCredential } from '../config';

export type BasicAuthResult = 'ok' | 'missing' | 'invalid';

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/**
 * Checks an `Authorization: Basic ...` header against every configured pair (several at once,
 * for rotation). Comparison is constant-time: both sides are hashed to equal-length digests
 * and every configured pair is compared, whether or not an earlier one matched.
 */
export function createBasicAuthChecker(credentials: readonly BasicCredential[]) {
  const expected = credentials.map((c) => digest(`${c.username}:${c.password}`));
  return (authorization: string | undefined): BasicAuthResult => {
    if (authorization === undefined) return 'missing';
    const match = /^\s*Basic\s+([A-Za-z0-9+/=._-]+)\s*$/i.exec(authorization);
    if (!match?.[1]) return 'invalid';
    const supplied = digest(Buffer.from(match[1], 'base64').toString('utf8'));
    let ok = false;
    for (const candidate of expected) {
      if (timingSafeEqual(candidate, supplied)) ok = true;
    }
    return ok ? 'ok' : 'invalid';
  };
}
