/**
 * Verifying imported legacy hashes, so an app can move its users to argon2id on their next
 * successful sign-in (`verify` then returns `rehash`). Read-only: latchkey never writes these.
 *
 * | format | example |
 * | --- | --- |
 * | bcrypt (bcryptjs, loaded lazily) | `$2b$12$…` (`$2a$`, `$2y$` too) |
 * | passlib PBKDF2 | `$pbkdf2-sha256$29000$<ab64 salt>$<ab64 hash>`, `$pbkdf2-sha512$…` |
 * | Django PBKDF2 | `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>` |
 * | Werkzeug PBKDF2 | `pbkdf2:sha256:<iterations>$<salt>$<hex hash>` |
 * | passlib scrypt | `$scrypt$ln=16,r=8,p=1$<ab64 salt>$<ab64 hash>` |
 * | Django scrypt | `scrypt$<salt>$<N>$<r>$<p>$<base64 hash>` |
 *
 * Every cost parameter is bounded before any work (PBKDF2 ≤ 2,000,000 iterations, scrypt
 * N ≤ 2^20 with r, p ≤ 16, bcrypt cost ≤ 15). bcrypt reads only the first 72 bytes of a
 * password: a longer one verifies with a `warning`, and the rehash to argon2id fixes it.
 *
 * @module latchkey
 */
import { pbkdf2, scrypt } from 'node:crypto';
import { equalBytes } from '../../core/bytes.js';
import { LatchkeyError } from '../../core/errors.js';

export interface LegacyResult {
  readonly valid: boolean;
  readonly scheme: string;
  readonly warning?: string;
}

const MAX_PBKDF2 = 2_000_000;

/** passlib's base64: unpadded, with `.` for `+` in its "adapted" form (PBKDF2) and `+` in scrypt's. */
function ab64(text: string, what: string): Uint8Array {
  if (!/^[A-Za-z0-9./+]*$/.test(text)) throw format(what);
  return new Uint8Array(Buffer.from(text.replace(/\./g, '+'), 'base64'));
}

function std64(text: string, what: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw format(what);
  return new Uint8Array(Buffer.from(text, 'base64'));
}

function format(what: string): LatchkeyError {
  return new LatchkeyError('ERR_PASSWORD_HASH_FORMAT', `the stored hash has a malformed ${what}`);
}

function bound(value: number, max: number, what: string): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new LatchkeyError(
      'ERR_PASSWORD_HASH_PARAMETERS',
      `the stored hash asks for ${what}=${value}, beyond ${max}`,
      {
        parameter: what,
        value,
        bound: max,
      },
    );
  }
  return value;
}

function derivePbkdf2(password: Uint8Array, salt: Uint8Array, iterations: number, length: number, digest: string) {
  return new Promise<Uint8Array>((resolve, reject) => {
    pbkdf2(password, salt, iterations, length, digest, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

function deriveScrypt(password: Uint8Array, salt: Uint8Array, n: number, r: number, p: number, length: number) {
  return new Promise<Uint8Array>((resolve, reject) => {
    scrypt(password, salt, length, { N: n, r, p, maxmem: 256 * n * r + 1024 * 1024 }, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

/** Whether `stored` is one of the legacy formats this module reads. */
export function isLegacyHash(stored: string): boolean {
  return /^(\$2[aby]\$|\$pbkdf2-sha(256|512)\$|pbkdf2_sha256\$|pbkdf2:sha(256|512):|\$scrypt\$|scrypt\$)/.test(stored);
}

type Bcrypt = { compare(password: string, hash: string): Promise<boolean> };
let bcrypt: Promise<Bcrypt> | undefined;

async function loadBcrypt(): Promise<Bcrypt> {
  bcrypt ??= import('bcryptjs')
    .then((module) => (module as unknown as { default?: Bcrypt }).default ?? (module as unknown as Bcrypt))
    .catch((cause: unknown) => {
      bcrypt = undefined;
      throw new LatchkeyError(
        'ERR_MISSING_DEPENDENCY',
        'verifying bcrypt hashes needs the `bcryptjs` package: npm install bcryptjs',
        { package: 'bcryptjs' },
        { cause },
      );
    });
  return bcrypt;
}

/** Verify `password` (already normalised, as UTF-8) against a legacy hash. */
export async function verifyLegacy(stored: string, password: Uint8Array): Promise<LegacyResult> {
  if (stored.length > 512) throw new LatchkeyError('ERR_PASSWORD_HASH_FORMAT', 'the stored hash is too long');
  let m = /^\$2([aby])\$(\d\d)\$([./A-Za-z0-9]{53})$/.exec(stored);
  if (m !== null) {
    bound(Number(m[2]), 15, 'bcrypt cost');
    const lib = await loadBcrypt();
    // $2y$ (PHP) and $2b$ are the same algorithm; bcryptjs reads $2a$ and $2b$
    const normalised = m[1] === 'y' ? `$2b$${stored.slice(4)}` : stored;
    const text = Buffer.from(password).toString('utf8');
    const valid = await lib.compare(text, normalised);
    return {
      valid,
      scheme: 'bcrypt',
      ...(password.length > 72 ? { warning: 'bcrypt reads only the first 72 bytes of a password' } : {}),
    };
  }
  m = /^\$pbkdf2-(sha256|sha512)\$(\d{1,8})\$([A-Za-z0-9./]{1,128})\$([A-Za-z0-9./]{16,128})$/.exec(stored);
  if (m !== null) {
    const iterations = bound(Number(m[2]), MAX_PBKDF2, 'iterations');
    const expected = ab64(m[4] as string, 'hash');
    const key = await derivePbkdf2(password, ab64(m[3] as string, 'salt'), iterations, expected.length, m[1] as string);
    return { valid: equalBytes(key, expected), scheme: `pbkdf2-${m[1]} (passlib)` };
  }
  m = /^pbkdf2_sha256\$(\d{1,8})\$([^$]{1,128})\$([A-Za-z0-9+/=]{16,128})$/.exec(stored);
  if (m !== null) {
    const iterations = bound(Number(m[1]), MAX_PBKDF2, 'iterations');
    const expected = std64(m[3] as string, 'hash');
    const key = await derivePbkdf2(
      password,
      Buffer.from(m[2] as string, 'utf8'),
      iterations,
      expected.length,
      'sha256',
    );
    return { valid: equalBytes(key, expected), scheme: 'pbkdf2_sha256 (Django)' };
  }
  m = /^pbkdf2:(sha256|sha512):(\d{1,8})\$([^$]{1,128})\$([0-9a-f]{32,256})$/.exec(stored);
  if (m !== null) {
    const iterations = bound(Number(m[2]), MAX_PBKDF2, 'iterations');
    const expected = new Uint8Array(Buffer.from(m[4] as string, 'hex'));
    const key = await derivePbkdf2(
      password,
      Buffer.from(m[3] as string, 'utf8'),
      iterations,
      expected.length,
      m[1] as string,
    );
    return { valid: equalBytes(key, expected), scheme: `pbkdf2:${m[1]} (Werkzeug)` };
  }
  m = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9./+]{1,128})\$([A-Za-z0-9./+]{16,128})$/.exec(
    stored,
  );
  if (m !== null) {
    const ln = bound(Number(m[1]), 20, 'scrypt ln');
    const r = bound(Number(m[2]), 16, 'scrypt r');
    const p = bound(Number(m[3]), 16, 'scrypt p');
    const expected = ab64(m[5] as string, 'hash');
    const key = await deriveScrypt(password, ab64(m[4] as string, 'salt'), 2 ** ln, r, p, expected.length);
    return { valid: equalBytes(key, expected), scheme: 'scrypt (passlib)' };
  }
  m = /^scrypt\$([^$]{1,128})\$(\d{1,8})\$(\d{1,2})\$(\d{1,2})\$([A-Za-z0-9+/=]{16,128})$/.exec(stored);
  if (m !== null) {
    const n = bound(Number(m[2]), 2 ** 20, 'scrypt N');
    if ((n & (n - 1)) !== 0) throw new LatchkeyError('ERR_PASSWORD_HASH_PARAMETERS', 'scrypt N must be a power of two');
    const r = bound(Number(m[3]), 16, 'scrypt r');
    const p = bound(Number(m[4]), 16, 'scrypt p');
    const expected = std64(m[5] as string, 'hash');
    const key = await deriveScrypt(password, Buffer.from(m[1] as string, 'utf8'), n, r, p, expected.length);
    return { valid: equalBytes(key, expected), scheme: 'scrypt (Django)' };
  }
  throw new LatchkeyError('ERR_PASSWORD_HASH_FORMAT', 'the stored hash is in no format latchkey reads');
}
