/**
 * Limits for parsing and verifying macaroons. Every token and every discharge set is bounded
 * before any work is done on it.
 *
 * @module latchkey
 */
import { LatchkeyError } from '../../core/errors.js';
import { aint } from '../../core/guards.js';

/** Limits applied by {@link Macaroon.deserialize}, {@link verifyMacaroon} and the builders. */
export interface MacaroonLimits {
  /** Largest serialized token accepted, in bytes (characters for text). Default 64 KiB. */
  readonly maxTokenBytes: number;
  /** Most caveats one macaroon may carry. Default 512. */
  readonly maxCaveats: number;
  /** Most discharge macaroons one verification accepts. Default 64. */
  readonly maxDischarges: number;
  /** Longest identifier, predicate or verification id, in bytes. Default 32 KiB (libmacaroons' bound). */
  readonly maxFieldBytes: number;
}

/** The defaults. */
export const DEFAULT_MACAROON_LIMITS: MacaroonLimits = Object.freeze({
  maxTokenBytes: 64 * 1024,
  maxCaveats: 512,
  maxDischarges: 64,
  maxFieldBytes: 32 * 1024,
});

const HARD_BOUNDS: { readonly [K in keyof MacaroonLimits]: readonly [number, number] } = {
  maxTokenBytes: [256, 16 << 20],
  maxCaveats: [1, 65_536],
  maxDischarges: [0, 4096],
  maxFieldBytes: [64, 1 << 20],
};

/**
 * Merge overrides into {@link DEFAULT_MACAROON_LIMITS}, refusing unknown keys and values outside
 * the hard bounds with `ERR_INVALID_ARGUMENT`.
 *
 * @example
 * ```ts
 * import { Macaroon, resolveMacaroonLimits } from 'latchkey';
 * const limits = resolveMacaroonLimits({ maxTokenBytes: 8192 });
 * Macaroon.deserialize(token, { limits });
 * ```
 */
export function resolveMacaroonLimits(overrides?: Partial<MacaroonLimits>): MacaroonLimits {
  if (overrides === undefined || overrides === DEFAULT_MACAROON_LIMITS) return DEFAULT_MACAROON_LIMITS;
  if (typeof overrides !== 'object' || overrides === null) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'limits must be an object', { field: 'limits' });
  }
  const out: Record<string, number> = { ...DEFAULT_MACAROON_LIMITS };
  for (const [key, value] of Object.entries(overrides)) {
    const bounds = HARD_BOUNDS[key as keyof MacaroonLimits];
    if (bounds === undefined) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', `unknown macaroon limit \`${key}\``, { field: key });
    }
    if (value === undefined) continue;
    out[key] = aint(value, `limits.${key}`, bounds[0], bounds[1]);
  }
  return Object.freeze(out) as unknown as MacaroonLimits;
}

/** Throw `ERR_LIMIT_EXCEEDED` for `limit` when `actual` is above `max`. */
export function checkLimit(actual: number, max: number, limit: keyof MacaroonLimits, what: string): void {
  if (actual > max) {
    throw new LatchkeyError('ERR_LIMIT_EXCEEDED', `${what} exceeds the limit of ${max}`, {
      limit,
      max,
      actual,
    });
  }
}
