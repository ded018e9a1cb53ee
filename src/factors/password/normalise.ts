/**
 * A password as latchkey hashes and measures it (NIST SP 800-63B-4 §3.1.1.2): Unicode NFKC, so
 * that the same password typed on another keyboard or OS (composed or decomposed accents,
 * full-width digits) is the same password; UTF-8; at most 1,024 bytes.
 *
 * Length is checked twice, cheaply first: input longer than 4,096 UTF-16 units is refused before
 * normalisation (NFKC never shrinks text by more than a factor of three, so nothing that would
 * fit in 1,024 bytes is refused early), which is how a 100 MiB password costs nothing.
 *
 * @module latchkey/password
 */
import { utf8 } from '../../core/bytes.js';
import { LatchkeyError } from '../../core/errors.js';

/** Longest password accepted, in UTF-8 bytes after NFKC (NIST asks for at least 64 characters). */
export const MAX_PASSWORD_BYTES = 1024;
const MAX_RAW_LENGTH = 4 * MAX_PASSWORD_BYTES;
// In a `u` regular expression a paired surrogate is one code point: only a lone one matches.
const LONE_SURROGATE = /\p{Surrogate}/u;

function tooLong(): LatchkeyError {
  return new LatchkeyError(
    'ERR_PASSWORD_TOO_LONG',
    `passwords may be at most ${MAX_PASSWORD_BYTES} bytes long (about 250 to 1,000 characters)`,
    { limit: MAX_PASSWORD_BYTES },
  );
}

/** The NFKC text of a password, checked: a string, well-formed UTF-16, no NUL, within the bounds. */
export function normalisedText(password: unknown): string {
  if (typeof password !== 'string') {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'a password must be a string', { field: 'password' });
  }
  if (password.length > MAX_RAW_LENGTH) throw tooLong();
  // A lone surrogate would become U+FFFD in UTF-8, so two different strings would hash alike.
  if (LONE_SURROGATE.test(password)) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'a password must be well-formed Unicode text', {
      field: 'password',
    });
  }
  // C implementations (PHP, libxcrypt's bcrypt) stop at NUL: refuse it rather than disagree.
  if (password.includes('\u0000')) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'a password must not contain a NUL character', {
      field: 'password',
    });
  }
  const text = password.normalize('NFKC');
  if (Buffer.byteLength(text, 'utf8') > MAX_PASSWORD_BYTES) throw tooLong();
  return text;
}

/**
 * A password as latchkey hashes it: NFKC, UTF-8, bounded.
 *
 * @example
 * ```ts
 * import { normalisePassword } from 'latchkey/password';
 * normalisePassword('Cafe\u0301'); // the bytes of 'Café' (NFC)
 * ```
 *
 * @throws LatchkeyError `ERR_PASSWORD_TOO_LONG`, `ERR_INVALID_ARGUMENT` for a non-string, a lone
 *   surrogate or a NUL character.
 */
export function normalisePassword(password: string): Uint8Array {
  return utf8(normalisedText(password));
}

/** Length in Unicode code points (NIST counts characters, not UTF-16 units or bytes). */
export function codePoints(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}
