/**
 * Evidence as the policy engine sees it: each item reduced once per decision to a bit mask of
 * facts, in two views. The normal view follows NIST SP 800-63B-4; the coercion-safe view (for
 * `sensitive` rules) never counts a biometric.
 *
 * @internal
 * @module latchkey
 */
import { LatchkeyError } from '../core/errors.js';
import { AMR_VALUES, type Evidence } from '../core/types.js';

/** Counts as an authentication factor (something you know or have). */
export const F_FACTOR = 1;
/** Something you have: a physical or cryptographic authenticator (§3.2.1). */
export const F_POSSESSION = 2;
/** Something you know: a password (§3.1.1), or a PIN that unlocked a possession proof (an activation secret, §3.2.10). */
export const F_KNOWLEDGE = 4;
/** Something you are: only as biometric user verification on a possession proof (§3.2.3). */
export const F_INHERENCE = 8;
/** The authenticator verified the user (as declared; in the coercion-safe view only by knowledge). */
export const F_USER_VERIFIED = 16;
const F_USER_PRESENT = 32;
export const F_PHISHING_RESISTANT = 64;
export const F_HARDWARE_BOUND = 128;
export const F_REPLAY_RESISTANT = 256;
/** A possession proof activated by user verification: a multi-factor authenticator (§3.1.7). */
const F_ACTIVATED = 512;

/** RFC 8176 value to bit, in an object without a prototype (`constructor` is no value). */
const AMR_BIT: Readonly<Record<string, number>> = Object.freeze(
  Object.assign(
    Object.create(null) as Record<string, number>,
    ...AMR_VALUES.map((value, index) => ({ [value]: 1 << index })),
  ),
);

/** The bit for one RFC 8176 value (0 for an unknown one). */
export function amrBit(value: string): number {
  return AMR_BIT[value] ?? 0;
}

/** The OR of the bits of several RFC 8176 values. */
export function amrMask(values: readonly string[]): number {
  let mask = 0;
  for (const value of values) mask |= amrBit(value);
  return mask;
}

/**
 * Facts of one item in the normal view. Declared kinds are believed only where they can hold: a
 * possession proof demonstrates knowledge or inherence only when the authenticator verified the
 * user (a WebAuthn assertion without UV is single-factor, §3.1.6), and inherence never counts
 * without a possession proof (§3.2.3: a biometric SHALL be used only with a physical
 * authenticator).
 */
export function factsOf(evidence: Evidence): number {
  let possession = false;
  let knowledge = false;
  let inherence = false;
  for (const kind of evidence.kinds) {
    if (kind === 'possession') possession = true;
    else if (kind === 'knowledge') knowledge = true;
    else if (kind === 'inherence') inherence = true;
  }
  const uv = evidence.userVerified === true;
  if (possession && !uv) knowledge = false;
  if (!possession || !uv) inherence = false;
  let mask = 0;
  if (possession) mask |= F_POSSESSION;
  if (knowledge) mask |= F_KNOWLEDGE;
  if (inherence) mask |= F_INHERENCE;
  if (possession || knowledge) mask |= F_FACTOR;
  if (uv) mask |= F_USER_VERIFIED;
  if (possession && uv) mask |= F_ACTIVATED;
  if (evidence.userPresent === true) mask |= F_USER_PRESENT;
  if (evidence.phishingResistant === true) mask |= F_PHISHING_RESISTANT;
  if (evidence.hardwareBound === true) mask |= F_HARDWARE_BOUND;
  if (evidence.replayResistant === true) mask |= F_REPLAY_RESISTANT;
  return mask;
}

/**
 * The coercion-safe view of a normal-view mask: a biometric is not a factor, and user
 * verification on a possession proof counts only when it was a knowledge factor (a PIN). A
 * thumb can be forced; a PIN has to be told.
 */
export function coercionSafe(mask: number): number {
  let out = mask & ~(F_INHERENCE | F_USER_VERIFIED | F_ACTIVATED);
  const possession = (mask & F_POSSESSION) !== 0;
  const knowledge = (mask & F_KNOWLEDGE) !== 0;
  if ((mask & F_USER_VERIFIED) !== 0 && (!possession || knowledge)) out |= F_USER_VERIFIED;
  if ((mask & F_ACTIVATED) !== 0 && knowledge) out |= F_ACTIVATED;
  return out;
}

// AAL summary bits: what a set of evidence proves within each level's reauthentication window.
/** Some factor within the AAL1 window. */
const S_FACTOR_1 = 1;
/** A possession factor within the AAL2 window. */
const S_POSSESSION_2 = 2;
/** A second kind (knowledge, or user verification on a possession proof) within the AAL2 window. */
const S_SECOND_2 = 4;
/** A replay-resistant factor within the AAL2 window. */
const S_REPLAY_2 = 8;
/** A knowledge factor within the AAL3 window. */
const S_KNOWLEDGE_3 = 16;
/** A hardware-bound, phishing-resistant, replay-resistant key within the AAL3 window. */
const S_HARDWARE_3 = 32;
/** The same, activated by user verification (a multi-factor cryptographic authenticator). */
const S_HARDWARE_UV_3 = 64;

const HARDWARE = F_POSSESSION | F_HARDWARE_BOUND | F_PHISHING_RESISTANT | F_REPLAY_RESISTANT;

/** Summary bits one item contributes, given which windows it is fresh in. */
export function summaryOf(mask: number, fresh1: boolean, fresh2: boolean, fresh3: boolean): number {
  if ((mask & F_FACTOR) === 0) return 0;
  let s = 0;
  if (fresh1) s |= S_FACTOR_1;
  if (fresh2) {
    if ((mask & F_POSSESSION) !== 0) s |= S_POSSESSION_2;
    if ((mask & (F_KNOWLEDGE | F_ACTIVATED)) !== 0) s |= S_SECOND_2;
    if ((mask & F_REPLAY_RESISTANT) !== 0) s |= S_REPLAY_2;
  }
  if (fresh3) {
    if ((mask & F_KNOWLEDGE) !== 0) s |= S_KNOWLEDGE_3;
    if ((mask & HARDWARE) === HARDWARE) {
      s |= S_HARDWARE_3;
      if ((mask & F_ACTIVATED) !== 0) s |= S_HARDWARE_UV_3;
    }
  }
  return s;
}

/**
 * The level a summary reaches.
 *
 * - AAL3 (§2.3.1, §2.3.2): a hardware-protected, non-exportable, phishing-resistant
 *   cryptographic key (§3.2.5), with user verification (a multi-factor cryptographic
 *   authenticator, §3.1.7) or used together with a password (a single-factor cryptographic
 *   authenticator plus a password). Synced passkeys are exportable (Appendix B, syncable
 *   authenticators, §3.1.7.4) and so cap at AAL2.
 * - AAL2 (§2.2.1, §2.2.2): two distinct factor kinds, a password or a UV-activated
 *   authenticator plus a physical authenticator, or one multi-factor authenticator, with at
 *   least one replay-resistant authenticator (§3.2.7).
 * - AAL1 (§2.1.1): any single factor.
 */
export function levelOf(summary: number): 0 | 1 | 2 | 3 {
  if (
    (summary & S_HARDWARE_UV_3) !== 0 ||
    (summary & (S_HARDWARE_3 | S_KNOWLEDGE_3)) === (S_HARDWARE_3 | S_KNOWLEDGE_3)
  ) {
    return 3;
  }
  const two = S_POSSESSION_2 | S_SECOND_2 | S_REPLAY_2;
  if ((summary & two) === two) return 2;
  return (summary & S_FACTOR_1) !== 0 ? 1 : 0;
}

function bad(path: string, expected: string): never {
  throw new LatchkeyError('ERR_INVALID_ARGUMENT', `${path} must be ${expected}`, { field: path });
}

function stringArray(value: unknown, path: string): void {
  if (!Array.isArray(value)) bad(path, 'an array of strings');
  if (value.length > 64) bad(path, 'at most 64 items');
  for (const item of value) if (typeof item !== 'string') bad(path, 'an array of strings');
}

/**
 * Check evidence at the boundary (shape only: evidence comes from latchkey's own factors). Every
 * failure is `ERR_INVALID_ARGUMENT` naming the field; too many items is `ERR_LIMIT_EXCEEDED`.
 */
export function checkEvidence(evidence: unknown, maxEvidence: number): readonly Evidence[] {
  if (!Array.isArray(evidence)) bad('evidence', 'an array');
  if (evidence.length > maxEvidence) {
    throw new LatchkeyError('ERR_LIMIT_EXCEEDED', `at most ${maxEvidence} evidence items are allowed`, {
      limit: 'maxEvidence',
      max: maxEvidence,
      actual: evidence.length,
    });
  }
  for (let i = 0; i < evidence.length; i++) {
    const e = evidence[i] as Record<string, unknown> | null;
    if (typeof e !== 'object' || e === null) bad(`evidence[${i}]`, 'an object');
    if (typeof e.factor !== 'string') bad(`evidence[${i}].factor`, 'a string');
    if (typeof e.subject !== 'string') bad(`evidence[${i}].subject`, 'a string');
    stringArray(e.amr, `evidence[${i}].amr`);
    stringArray(e.kinds, `evidence[${i}].kinds`);
    if (typeof e.at !== 'number' || !Number.isFinite(e.at)) bad(`evidence[${i}].at`, 'a finite number of ms');
    flag(e.phishingResistant, i, 'phishingResistant');
    flag(e.hardwareBound, i, 'hardwareBound');
    flag(e.userVerified, i, 'userVerified');
    flag(e.userPresent, i, 'userPresent');
    flag(e.replayResistant, i, 'replayResistant');
  }
  return evidence as readonly Evidence[];
}

function flag(value: unknown, i: number, name: string): void {
  if (value !== undefined && typeof value !== 'boolean') bad(`evidence[${i}].${name}`, 'a boolean');
}

/** True when every item names the same subject (evidence of different people never combines). */
export function oneSubject(evidence: readonly Evidence[]): boolean {
  const first = evidence[0];
  if (first === undefined) return true;
  for (let i = 1; i < evidence.length; i++) if (evidence[i]?.subject !== first.subject) return false;
  return true;
}

/** Milliseconds since the epoch from a number or a Date. */
export function toMillis(now: unknown, label: string): number {
  const ms = now instanceof Date ? now.getTime() : now;
  if (typeof ms !== 'number' || !Number.isFinite(ms)) bad(label, 'a finite number of ms or a valid Date');
  return ms;
}
