/**
 * Limits for policies and decisions (STYLE.md §7): every unbounded quantity has a typed cap
 * with a safe default; overrides are checked against hard bounds.
 *
 * @module latchkey
 */
import { LatchkeyError } from '../core/errors.js';
import { aint } from '../core/guards.js';
import type { PolicyLimits, Reauthentication } from './types.js';

/**
 * The defaults.
 *
 * @example
 * ```ts
 * import { DEFAULT_POLICY_LIMITS } from 'latchkey';
 * DEFAULT_POLICY_LIMITS.maxRules; // 1000
 * ```
 */
export const DEFAULT_POLICY_LIMITS: PolicyLimits = Object.freeze({
  maxRules: 1000,
  maxRequirementDepth: 16,
  maxRequirementNodes: 256,
  maxListItems: 64,
  maxStringLength: 512,
  maxEvidence: 32,
  maxStepUpOptions: 8,
  maxStepUpTerms: 256,
  maxClockSkewMs: 60_000,
  denyCacheSize: 256,
});

const HARD_BOUNDS: { readonly [K in keyof PolicyLimits]: readonly [number, number] } = {
  maxRules: [1, 100_000],
  maxRequirementDepth: [1, 64],
  maxRequirementNodes: [1, 10_000],
  maxListItems: [1, 4096],
  maxStringLength: [16, 65_536],
  maxEvidence: [1, 1024],
  maxStepUpOptions: [1, 256],
  maxStepUpTerms: [1, 65_536],
  maxClockSkewMs: [0, 3_600_000],
  denyCacheSize: [0, 65_536],
};

const HOUR = 3_600_000;

/**
 * Reauthentication windows from NIST SP 800-63B-4: evidence older than the window stops
 * counting toward that level. §2.1.3 (AAL1: at least once per 30 days), §2.2.3 (AAL2: at least
 * once per 24 hours), §2.3.3 (AAL3: at least once per 12 hours).
 *
 * @example
 * ```ts
 * import { NIST_REAUTHENTICATION } from 'latchkey';
 * NIST_REAUTHENTICATION.aal3; // 43_200_000
 * ```
 */
export const NIST_REAUTHENTICATION: Reauthentication = Object.freeze({
  aal1: 30 * 24 * HOUR,
  aal2: 24 * HOUR,
  aal3: 12 * HOUR,
});

/** Merge overrides into the defaults, refusing unknown keys and values outside hard bounds. */
export function resolvePolicyLimits(overrides: Partial<PolicyLimits> = {}): PolicyLimits {
  const out: Record<string, number> = { ...DEFAULT_POLICY_LIMITS };
  for (const [key, value] of Object.entries(overrides)) {
    const bounds = HARD_BOUNDS[key as keyof PolicyLimits];
    if (bounds === undefined) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', `unknown policy limit \`${key}\``, { field: key });
    }
    if (value === undefined) continue;
    out[key] = aint(value, `limits.${key}`, bounds[0], bounds[1]);
  }
  return Object.freeze(out) as unknown as PolicyLimits;
}

/** Merge reauthentication overrides; each window is 1 s to 400 days and they may only shrink upward levels. */
export function resolveReauthentication(overrides: Partial<Reauthentication> = {}): Reauthentication {
  const out: Record<string, number> = { ...NIST_REAUTHENTICATION };
  for (const [key, value] of Object.entries(overrides)) {
    if (!(key in NIST_REAUTHENTICATION)) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', `unknown reauthentication level \`${key}\``, { field: key });
    }
    if (value === undefined) continue;
    out[key] = aint(value, `reauthentication.${key}`, 1000, 400 * 24 * HOUR);
  }
  return Object.freeze(out) as unknown as Reauthentication;
}
