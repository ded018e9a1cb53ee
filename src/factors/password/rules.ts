/**
 * Rules for new passwords, per NIST SP 800-63B-4 §3.1.1.2:
 * - at least 15 characters when the password is the only factor, at least 8 when it is one of
 *   several (both configurable upwards); characters are Unicode code points after NFKC;
 * - at least 64 characters accepted, up to 1,024 bytes (longer is refused with a clear error);
 * - no composition rules (no "one digit and one symbol"), no periodic changes;
 * - refused, saying why, when it is a common or breached password (a shipped list of 42,692 from
 *   zxcvbn's ranked corpus), such a password with digits and symbols around it (`Dragon2024!`),
 *   one that contains the user's own names or the service's words, or one that is a repeated
 *   pattern or a plain sequence (`abcabcabcabc…`, `123456789012345`);
 * - optionally, an estimated strength floor (`minStrength`, see strength.ts).
 *
 * @module latchkey/password
 */
import { LatchkeyError, type LatchkeyErrorCode } from '../../core/errors.js';
import { commonRank, fold } from './blocklist.js';
import { codePoints, normalisedText } from './normalise.js';
import { estimateStrength, type PasswordStrength } from './strength.js';

export interface PasswordRules {
  /** `single-factor`: 15 characters at least; `mfa`: 8. Default `single-factor`. */
  readonly use?: 'single-factor' | 'mfa';
  /** Raise the minimum (never below NIST's for the use). */
  readonly minLength?: number;
  /** The user's own names, email and the like: a password containing one is refused. */
  readonly userInputs?: readonly string[];
  /** More words to refuse (the service's name, say). */
  readonly blocklist?: readonly string[];
  /** Refuse passwords whose estimated strength score (0 to 4) is below this. Default: no floor. */
  readonly minStrength?: 0 | 1 | 2 | 3 | 4;
}

/** Why a password is refused: `detail.reason` of the error, and an entry of {@link assessPassword}. */
export type PasswordProblemReason =
  | 'too-short'
  | 'common'
  | 'common-variant'
  | 'user-input'
  | 'blocklist'
  | 'repetitive'
  | 'sequential'
  | 'weak';

export interface PasswordProblem {
  readonly code: LatchkeyErrorCode;
  readonly reason: PasswordProblemReason;
  /** For the user: lower case, no trailing period, no part of the password. */
  readonly message: string;
}

/** What {@link assessPassword} found. */
export interface PasswordAssessment {
  readonly ok: boolean;
  /** Length in code points after NFKC. */
  readonly length: number;
  readonly minLength: number;
  /** Every problem, most important first; empty when `ok`. */
  readonly problems: readonly PasswordProblem[];
  /** Present when `minStrength` was asked for. */
  readonly strength?: PasswordStrength;
}

const AROUND = /^[\p{N}\p{P}\p{S}\p{Z}]+|[\p{N}\p{P}\p{S}\p{Z}]+$/gu;

function isRepeatedPattern(chars: readonly string[]): boolean {
  for (let unit = 1; unit <= 4 && unit * 2 <= chars.length; unit++) {
    if (chars.every((char, i) => char === chars[i % unit])) return true;
  }
  return false;
}

function isSequence(chars: readonly string[]): boolean {
  if (chars.length < 3) return false;
  const codes = chars.map((char) => char.codePointAt(0) ?? 0);
  const delta = (codes[1] as number) - (codes[0] as number);
  if (delta !== 1 && delta !== -1) return false;
  // digits wrap around (…7890123…), everything else must step by one throughout
  return codes.every((code, i) => {
    if (i === 0) return true;
    const step = code - (codes[i - 1] as number);
    const digits = /\d/.test(chars[i] as string) && /\d/.test(chars[i - 1] as string);
    return step === delta || (digits && (step === -9 * delta || step === 9 * -delta));
  });
}

/**
 * Every reason a new password would be refused, without throwing (for forms that show them all).
 *
 * @example
 * ```ts
 * import { assessPassword } from 'latchkey/password';
 * const { ok, problems } = assessPassword('Password1234!', { use: 'mfa' });
 * // ok === false, problems[0].reason === 'common-variant'
 * ```
 *
 * @throws LatchkeyError `ERR_PASSWORD_TOO_LONG` and `ERR_INVALID_ARGUMENT` only (input that is
 *   not a password at all).
 */
export function assessPassword(password: string, rules: PasswordRules = {}): PasswordAssessment {
  const text = normalisedText(password);
  const length = codePoints(text);
  const floor = rules.use === 'mfa' ? 8 : 15;
  if (rules.minLength !== undefined && (!Number.isSafeInteger(rules.minLength) || rules.minLength > 256)) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'minLength must be an integer up to 256', { field: 'minLength' });
  }
  const minLength = Math.max(floor, rules.minLength ?? floor);
  const problems: PasswordProblem[] = [];
  const refuse = (reason: PasswordProblemReason, message: string): void => {
    problems.push({ code: 'ERR_PASSWORD_BLOCKLISTED', reason, message });
  };
  if (length < minLength) {
    problems.push({
      code: 'ERR_PASSWORD_TOO_SHORT',
      reason: 'too-short',
      message: `choose a password of at least ${minLength} characters`,
    });
  }
  const folded = fold(text);
  const chars = [...folded];
  const core = folded.replace(AROUND, '');
  if (commonRank(folded) !== undefined) {
    refuse('common', 'that password is among the most common ones attackers try first');
  } else if (core.length >= 4 && commonRank(core) !== undefined) {
    refuse('common-variant', 'that is a common password with digits or symbols added, which attackers try early');
  }
  if (isRepeatedPattern(chars)) refuse('repetitive', 'that password repeats a short pattern');
  else if (isSequence(chars)) refuse('sequential', 'that password is a plain sequence of characters');
  for (const input of rules.userInputs ?? []) {
    const word = fold(String(input)).trim();
    if (codePoints(word) >= 3 && folded.includes(word)) {
      refuse('user-input', 'that password contains your own name or address');
      break;
    }
  }
  for (const entry of rules.blocklist ?? []) {
    const word = fold(String(entry)).trim();
    if (codePoints(word) >= 3 && folded.includes(word)) {
      refuse('blocklist', 'that password contains a word this service refuses');
      break;
    }
  }
  let strength: PasswordStrength | undefined;
  if (rules.minStrength !== undefined) {
    strength = estimateStrength(text);
    if (strength.score < rules.minStrength) {
      problems.push({
        code: 'ERR_PASSWORD_TOO_WEAK',
        reason: 'weak',
        message: 'that password would be guessed too quickly: a longer phrase of unrelated words helps',
      });
    }
  }
  return Object.freeze({
    ok: problems.length === 0,
    length,
    minLength,
    problems: Object.freeze(problems),
    ...(strength === undefined ? {} : { strength }),
  });
}

/**
 * Check a new password; returns its length in code points, or throws saying why it is refused.
 *
 * @example
 * ```ts
 * import { checkNewPassword } from 'latchkey/password';
 * checkNewPassword('correct horse battery staple'); // 28
 * checkNewPassword('qwertyuiop', { use: 'mfa' }); // throws ERR_PASSWORD_BLOCKLISTED, detail.reason 'common'
 * ```
 *
 * @throws LatchkeyError `ERR_PASSWORD_TOO_SHORT` (detail.minLength), `ERR_PASSWORD_TOO_LONG`,
 *   `ERR_PASSWORD_BLOCKLISTED` (detail.reason: `common`, `common-variant`, `user-input`,
 *   `blocklist`, `repetitive`, `sequential`), `ERR_PASSWORD_TOO_WEAK` (detail.score).
 */
export function checkNewPassword(password: string, rules: PasswordRules = {}): number {
  const assessment = assessPassword(password, rules);
  const first = assessment.problems[0];
  if (first === undefined) return assessment.length;
  const detail =
    first.reason === 'too-short'
      ? { reason: first.reason, minLength: assessment.minLength, length: assessment.length }
      : first.reason === 'weak'
        ? { reason: first.reason, score: assessment.strength?.score ?? 0, minStrength: rules.minStrength ?? 0 }
        : { reason: first.reason };
  throw new LatchkeyError(first.code, first.message, detail);
}
