/**
 * Limits for credentials: every token, chain and discharge set is bounded before any work is
 * done on it.
 *
 * @module latchkey
 */
import { LatchkeyError } from '../../core/errors.js';
import { aint } from '../../core/guards.js';

/** Bounds applied by {@link CredentialIssuer}, {@link attenuate}, {@link Discharger} and {@link inspectCredential}. */
export interface CredentialLimits {
  /** Largest token (credential or discharge), in characters. Default 16 KiB. */
  readonly maxTokenBytes: number;
  /** Most caveats one credential or discharge may carry. Default 256. */
  readonly maxCaveats: number;
  /** Most credential ids in a delegation chain (root included). Default 16. */
  readonly maxChainLength: number;
  /** Most discharges one verification accepts. Default 8. */
  readonly maxDischarges: number;
  /**
   * Longest a discharge may still be valid for when it is presented, in ms. Default 10 minutes
   * (the store's default challenge lifetime, which records spent discharges).
   */
  readonly maxDischargeTtlMs: number;
}

/** The defaults. */
export const DEFAULT_CREDENTIAL_LIMITS: CredentialLimits = Object.freeze({
  maxTokenBytes: 16 * 1024,
  maxCaveats: 256,
  maxChainLength: 16,
  maxDischarges: 8,
  maxDischargeTtlMs: 10 * 60_000,
});

const HARD_BOUNDS: { readonly [K in keyof CredentialLimits]: readonly [number, number] } = {
  maxTokenBytes: [256, 1 << 20],
  maxCaveats: [1, 4096],
  maxChainLength: [1, 64],
  maxDischarges: [0, 256],
  maxDischargeTtlMs: [1000, 24 * 3_600_000],
};

/** Merge overrides into the defaults, refusing unknown keys and values outside the hard bounds. */
export function resolveCredentialLimits(overrides?: Partial<CredentialLimits>): CredentialLimits {
  if (overrides === undefined || overrides === DEFAULT_CREDENTIAL_LIMITS) return DEFAULT_CREDENTIAL_LIMITS;
  if (typeof overrides !== 'object' || overrides === null) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'limits must be an object', { field: 'limits' });
  }
  const out: Record<string, number> = { ...DEFAULT_CREDENTIAL_LIMITS };
  for (const [key, value] of Object.entries(overrides)) {
    const bounds = HARD_BOUNDS[key as keyof CredentialLimits];
    if (bounds === undefined) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', `unknown credential limit \`${key}\``, { field: key });
    }
    if (value === undefined) continue;
    out[key] = aint(value, `limits.${key}`, bounds[0], bounds[1]);
  }
  return Object.freeze(out) as unknown as CredentialLimits;
}

/** Throw `ERR_LIMIT_EXCEEDED` for `limit` when `actual` is above `max`. */
export function checkCredentialLimit(actual: number, max: number, limit: keyof CredentialLimits, what: string): void {
  if (actual > max) {
    throw new LatchkeyError('ERR_LIMIT_EXCEEDED', `${what} exceeds the limit of ${max}`, { limit, max, actual });
  }
}
