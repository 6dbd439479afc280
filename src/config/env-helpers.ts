import { z } from 'zod';

/** Building blocks of the env schemas (./index.ts and the per-feature schemas it merges). */

/** An empty or blank variable counts as unset, so defaults apply. */
export const emptyAsUndefined = (value: unknown): unknown =>
  typeof value === 'string' && value.trim() === '' ? undefined : value;

const wholeNumber = (min: number, max: number) =>
  z.coerce
    .number()
    .int('must be a whole number')
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`);

/** A whole number within [min, max], undefined when unset (the caller picks a default). */
export const optionalInteger = (min: number, max: number) =>
  z.preprocess(emptyAsUndefined, wholeNumber(min, max).optional());

/** A whole number within [min, max], `fallback` when unset. */
export const integer = (fallback: number, min: number, max: number) =>
  z.preprocess(emptyAsUndefined, wholeNumber(min, max).default(fallback));
