/**
 * Every unbounded computation or stored quantity in latchkey is capped by a typed limit with a
 * safe default. Apps may tighten or loosen limits within hard bounds; a value outside the hard
 * bounds is refused with `ERR_INVALID_ARGUMENT`.
 *
 * @module latchkey
 */
import { LatchkeyError } from './errors.js';
import { aint } from './guards.js';

/** Limits shared by the store and the layers above it. */
export interface Limits {
  /** Shortest challenge a factor may issue, in bytes (at least 16: 128 bits). */
  readonly minChallengeBytes: number;
  /** Longest lifetime a challenge may be stored for, in milliseconds. */
  readonly maxChallengeTtlMs: number;
  /** Largest challenge payload the store accepts, in bytes. */
  readonly maxChallengePayloadBytes: number;
  /** Longest identifier (account, record, challenge, credential ids), in characters. */
  readonly maxIdLength: number;
  /** Largest JSON document (record data, audit detail) the store accepts, in bytes. */
  readonly maxDocumentBytes: number;
  /** Most audit entries one query returns. */
  readonly maxAuditPage: number;
  /** Most ids one revocation check looks up (the length of a delegation chain). */
  readonly maxRevocationBatch: number;
}

/** The defaults: conservative values that every shipped component is tested with. */
export const DEFAULT_LIMITS: Limits = Object.freeze({
  minChallengeBytes: 16,
  maxChallengeTtlMs: 10 * 60_000,
  maxChallengePayloadBytes: 16 * 1024,
  maxIdLength: 256,
  maxDocumentBytes: 64 * 1024,
  maxAuditPage: 1000,
  maxRevocationBatch: 64,
});

const HARD_BOUNDS: { readonly [K in keyof Limits]: readonly [number, number] } = {
  minChallengeBytes: [16, 1024],
  maxChallengeTtlMs: [1000, 24 * 3_600_000],
  maxChallengePayloadBytes: [64, 1 << 20],
  maxIdLength: [32, 4096],
  maxDocumentBytes: [1024, 16 << 20],
  maxAuditPage: [1, 100_000],
  maxRevocationBatch: [1, 4096],
};

/**
 * Merge overrides into the defaults, refusing unknown keys and values outside hard bounds.
 *
 * @example
 * ```ts
 * const limits = resolveLimits({ maxChallengeTtlMs: 120_000 });
 * ```
 */
export function resolveLimits(overrides: Partial<Limits> = {}): Limits {
  const out: Record<string, number> = { ...DEFAULT_LIMITS };
  for (const [key, value] of Object.entries(overrides)) {
    const bounds = HARD_BOUNDS[key as keyof Limits];
    if (bounds === undefined) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', `unknown limit \`${key}\``, { field: key });
    }
    if (value === undefined) continue;
    out[key] = aint(value, `limits.${key}`, bounds[0], bounds[1]);
  }
  return Object.freeze(out) as unknown as Limits;
}
