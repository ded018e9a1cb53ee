/**
 * The text form of recovery codes, shared by the gate's recovery-code factor and the
 * workspace's recovery-code slots: 120 bits from the CSPRNG as 24 Crockford base32 characters,
 * shown in six groups of four (`7K3M-…`), and read back leniently (case, spaces and dashes
 * ignored; the look-alikes O, I and L read as 0, 1 and 1).
 *
 * @module latchkey
 */
import { wipe } from './bytes.js';
import { randomBytes } from './random.js';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** Characters in a code, without its dashes. */
const RECOVERY_CODE_LENGTH = 24;

/** A new code, grouped for reading: `XXXX-XXXX-XXXX-XXXX-XXXX-XXXX`. */
export function newRecoveryCode(): string {
  const bytes = randomBytes(15);
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  wipe(bytes);
  return (out.match(/.{4}/g) as string[]).join('-');
}

/** A code as typed, folded to its 24 canonical characters; null when it cannot be one. */
export function foldRecoveryCode(input: unknown): string | null {
  if (typeof input !== 'string' || input.length > 64) return null;
  const folded = input.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
  if (folded.length !== RECOVERY_CODE_LENGTH) return null;
  for (const c of folded) if (!ALPHABET.includes(c)) return null;
  return folded;
}
