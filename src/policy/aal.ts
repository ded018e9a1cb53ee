/**
 * Authenticator assurance levels from evidence, per NIST SP 800-63B-4 (August 2025).
 *
 * @module latchkey
 */
import type { Aal, Evidence } from '../core/types.js';
import { checkEvidence, coercionSafe, factsOf, levelOf, oneSubject, summaryOf, toMillis } from './evidence.js';
import { DEFAULT_POLICY_LIMITS, resolveReauthentication } from './limits.js';
import type { Reauthentication } from './types.js';

/** Options for {@link assuranceLevel}. */
export interface AssuranceOptions {
  /** The time of the decision, ms since the epoch or a Date. */
  readonly now: number | Date;
  /** Count no biometric (the view `sensitive` rules use). Default false. */
  readonly coercionSafe?: boolean;
  /** Reauthentication windows; default {@link NIST_REAUTHENTICATION}. */
  readonly reauthentication?: Partial<Reauthentication>;
  /** Evidence dated more than this into the future is ignored (ms, default 60 s). */
  readonly maxClockSkewMs?: number;
}

/**
 * The AAL summary of a set of evidence: which facts hold within which reauthentication window.
 * Evidence from more than one subject proves nothing (0). `compilePolicy` computes the same from
 * the facts it has already loaded (a property test keeps the two equal).
 */
function summarize(
  evidence: readonly Evidence[],
  now: number,
  windows: Reauthentication,
  safe: boolean,
  maxClockSkewMs: number,
): number {
  if (!oneSubject(evidence)) return 0;
  let summary = 0;
  for (const item of evidence) {
    const age = now - item.at;
    if (age < -maxClockSkewMs) continue;
    const mask = safe ? coercionSafe(factsOf(item)) : factsOf(item);
    summary |= summaryOf(mask, age <= windows.aal1, age <= windows.aal2, age <= windows.aal3);
  }
  return summary;
}

/**
 * The authenticator assurance level (0 to 3) that a set of verified evidence reaches at `now`,
 * per NIST SP 800-63B-4:
 *
 * - **AAL1** (§2.1.1): any one factor; a WebAuthn assertion without user verification is a
 *   single-factor cryptographic authenticator (§3.1.6).
 * - **AAL2** (§2.2.1, §2.2.2): two distinct factor kinds, that is a password or a user-verified
 *   authenticator together with a physical authenticator, or one multi-factor authenticator
 *   (§3.1.7), with at least one replay-resistant authenticator among them (§3.2.7).
 * - **AAL3** (§2.3.1, §2.3.2): a hardware-bound, non-exportable, phishing-resistant key
 *   (§3.2.5) with user verification, or used together with a knowledge factor. Synced passkeys
 *   are exportable and cap at AAL2 (§3.1.7.4 and Appendix B, syncable authenticators).
 * - A PIN that unlocks an authenticator is an activation secret (§3.2.10): with it the
 *   authenticator is multi-factor, and it is the knowledge factor that coercion-safe rules need.
 *
 * A biometric never counts by itself (§3.2.3). Evidence counts toward a level only within that
 * level's reauthentication window (§2.1.3: 30 days, §2.2.3: 24 hours, §2.3.3: 12 hours), so a
 * session is never at a higher level than fresh evidence supports. Evidence of different
 * subjects never combines: mixed evidence is level 0.
 *
 * @example
 * ```ts
 * import { assuranceLevel } from 'latchkey';
 * const level = assuranceLevel(session.evidence, { now: Date.now() }); // 0 | 1 | 2 | 3
 * if (level < 2) askForSecondFactor();
 * ```
 */
export function assuranceLevel(evidence: readonly Evidence[], options: AssuranceOptions): Aal {
  const now = toMillis(options?.now, 'options.now');
  const list = checkEvidence(evidence, 1024);
  const windows = resolveReauthentication(options.reauthentication);
  const skew = options.maxClockSkewMs ?? DEFAULT_POLICY_LIMITS.maxClockSkewMs;
  return levelOf(summarize(list, now, windows, options.coercionSafe === true, skew));
}
