/**
 * Rules for new passwords, per NIST SP 800-63B-4 §3.1.1.2:
 * - at least 15 characters when the password is the only factor, at least 8 when it is one of
 *   several (both configurable upwards); characters are Unicode code points after NFKC;
 * - at least 64 characters accepted, up to 1,024 bytes (longer is refused with a clear error);
 * - no composition rules (no "one digit and one symbol"), no periodic changes;
 * - refused when it is a common or breached password (a shipped list of 17,950 from zxcvbn's
 *   ranked corpus), when it contains the user's own names, or when it is one character repeated —
 *   and the refusal says which.
 *
 * @module latchkey
 */
import { LatchkeyError } from '../../core/errors.js';
import { COMMON_PASSWORDS } from './common-passwords.js';
import { normalisePassword } from './hasher.js';

export interface PasswordRules {
  /** `single-factor`: 15 characters at least; `mfa`: 8. Default `single-factor`. */
  readonly use?: 'single-factor' | 'mfa';
  /** Raise the minimum (never below NIST's for the use). */
  readonly minLength?: number;
  /** The user's own names, email and the like: a password containing one is refused. */
  readonly userInputs?: readonly string[];
  /** More words to refuse (the service's name, say). */
  readonly blocklist?: readonly string[];
}

let common: Set<string> | undefined;

function isCommon(folded: string): boolean {
  common ??= new Set(COMMON_PASSWORDS.split('\n'));
  return common.has(folded);
}

/**
 * Check a new password; returns its length in code points, or throws saying why it is refused.
 *
 * @throws LatchkeyError `ERR_PASSWORD_TOO_SHORT` (detail.minLength), `ERR_PASSWORD_TOO_LONG`,
 *   `ERR_PASSWORD_BLOCKLISTED` (detail.reason: `common`, `user-input`, `blocklist`, `repetitive`).
 */
export function checkNewPassword(password: string, rules: PasswordRules = {}): number {
  normalisePassword(password);
  const text = password.normalize('NFKC');
  const length = [...text].length;
  const floor = rules.use === 'mfa' ? 8 : 15;
  const min = Math.max(floor, rules.minLength ?? floor);
  if (length < min) {
    throw new LatchkeyError('ERR_PASSWORD_TOO_SHORT', `choose a password of at least ${min} characters`, {
      minLength: min,
      length,
    });
  }
  const folded = text.toLowerCase();
  if (isCommon(folded)) {
    throw new LatchkeyError(
      'ERR_PASSWORD_BLOCKLISTED',
      'that password is among the most common ones attackers try first',
      {
        reason: 'common',
      },
    );
  }
  if (new Set(text).size === 1) {
    throw new LatchkeyError('ERR_PASSWORD_BLOCKLISTED', 'that password repeats one character', {
      reason: 'repetitive',
    });
  }
  for (const input of rules.userInputs ?? []) {
    const word = input.normalize('NFKC').toLowerCase();
    if (word.length >= 3 && folded.includes(word)) {
      throw new LatchkeyError('ERR_PASSWORD_BLOCKLISTED', 'that password contains your own name or address', {
        reason: 'user-input',
      });
    }
  }
  for (const entry of rules.blocklist ?? []) {
    const word = entry.normalize('NFKC').toLowerCase();
    if (word.length >= 3 && folded.includes(word)) {
      throw new LatchkeyError('ERR_PASSWORD_BLOCKLISTED', 'that password contains a word this service refuses', {
        reason: 'blocklist',
      });
    }
  }
  return length;
}
