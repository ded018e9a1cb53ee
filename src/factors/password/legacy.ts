/**
 * Verifying imported legacy hashes, so an app can move its users to argon2id on their next
 * successful sign-in (`verify` then returns `rehash`). Read-only: latchkey never writes these.
 *
 * | format | example |
 * | --- | --- |
 * | bcrypt (bcryptjs, loaded lazily) | `$2b$12$…` (`$2a$`, `$2y$` too) |
 * | Django bcrypt | `bcrypt$$2b$12$…`, `bcrypt_sha256$$2b$12$…` (bcrypt of the SHA-256 hex) |
 * | passlib PBKDF2 | `$pbkdf2-sha256$29000$<ab64 salt>$<ab64 hash>`, `$pbkdf2-sha512$…` |
 * | Django PBKDF2 | `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>` |
 * | Werkzeug PBKDF2 | `pbkdf2:sha256:<iterations>$<salt>$<hex hash>`, `pbkdf2:sha512:…` |
 * | passlib scrypt | `$scrypt$ln=16,r=8,p=1$<b64 salt>$<b64 hash>` |
 * | Django scrypt | `scrypt$<salt>$<N>$<r>$<p>$<base64 hash>` |
 * | Werkzeug scrypt | `scrypt:<N>:<r>:<p>$<salt>$<hex hash>` |
 *
 * (Django's `argon2$argon2id$…` is an argon2 PHC string with a prefix; the hasher reads it.)
 *
 * Every cost parameter is bounded before any work: scrypt's memory (128·N·r bytes) by the same
 * `maxMemoryKiB` as argon2, PBKDF2 by `maxPbkdf2Iterations`, bcrypt by `maxBcryptCost`. bcrypt
 * reads only the first 72 bytes of a password: a longer one verifies with a `warning` and is
 * *not* rehashed, because the bytes past 72 were never checked and would be stored unverified.
 *
 * @module latchkey/password
 */
import { createHash, pbkdf2, scrypt } from 'node:crypto';
import { equalBytes } from '../../core/bytes.js';
import { LatchkeyError } from '../../core/errors.js';
import { bcryptCompare } from './bcrypt.js';
import type { StoredHashBounds } from './phc.js';

export interface LegacyResult {
  readonly valid: boolean;
  /** Which format it was, e.g. `pbkdf2_sha256 (Django)`. */
  readonly scheme: string;
  /** The password was longer than bcrypt reads: valid, but do not rehash it. */
  readonly truncated?: boolean;
}

/** passlib's base64: unpadded, with `.` for `+` in its "adapted" form (PBKDF2). */
function ab64(text: string, what: string): Uint8Array {
  if (!/^[A-Za-z0-9./+]*$/.test(text) || text.length % 4 === 1) throw malformed(what);
  return new Uint8Array(Buffer.from(text.replace(/\./g, '+'), 'base64'));
}

function std64(text: string, what: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.replace(/=+$/, '').length % 4 === 1) throw malformed(what);
  return new Uint8Array(Buffer.from(text, 'base64'));
}

function hex(text: string, what: string): Uint8Array {
  if (!/^(?:[0-9a-f]{2})+$/.test(text)) throw malformed(what);
  return new Uint8Array(Buffer.from(text, 'hex'));
}

function malformed(what: string): LatchkeyError {
  return new LatchkeyError('ERR_PASSWORD_HASH_FORMAT', `the stored hash has a malformed ${what}`, { part: what });
}

function bound(value: number, max: number, what: string, min = 1): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new LatchkeyError(
      'ERR_PASSWORD_HASH_PARAMETERS',
      `the stored hash asks for ${what}=${value}, outside ${min}..${max}`,
      { parameter: what, value: Number.isSafeInteger(value) ? value : null, bound: max },
    );
  }
  return value;
}

function derivePbkdf2(password: Uint8Array, salt: Uint8Array, iterations: number, length: number, digest: string) {
  return new Promise<Uint8Array>((resolve, reject) => {
    pbkdf2(password, salt, iterations, length, digest, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

function deriveScrypt(
  password: Uint8Array,
  salt: Uint8Array,
  cost: { n: number; r: number; p: number },
  length: number,
  bounds: StoredHashBounds,
) {
  const { n, r, p } = cost;
  if (n < 2 || (n & (n - 1)) !== 0) {
    throw new LatchkeyError('ERR_PASSWORD_HASH_PARAMETERS', 'scrypt N must be a power of two', { parameter: 'N' });
  }
  bound(r, 32, 'scrypt r');
  bound(p, bounds.maxLanes, 'scrypt p');
  // memory: 128·N·r bytes for V plus 128·r·p for B; work: N·r·p
  const memory = 128 * n * r + 128 * r * p;
  if (memory > bounds.maxMemoryKiB * 1024) {
    throw new LatchkeyError(
      'ERR_PASSWORD_HASH_PARAMETERS',
      `the stored scrypt hash asks for ${Math.ceil(memory / 1048576)} MiB, beyond ${Math.floor(bounds.maxMemoryKiB / 1024)} MiB`,
      { parameter: 'scrypt memory', value: memory, bound: bounds.maxMemoryKiB * 1024 },
    );
  }
  bound(n * r * p, 2 ** 26, 'scrypt N·r·p');
  return new Promise<Uint8Array>((resolve, reject) => {
    scrypt(password, salt, length, { N: n, r, p, maxmem: memory + 1024 * 1024 }, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

const LEGACY =
  /^(?:\$2[aby]\$|bcrypt\$\$2|bcrypt_sha256\$\$2|\$pbkdf2-sha(?:256|512)\$|pbkdf2_sha256\$|pbkdf2:sha(?:256|512):|\$scrypt\$|scrypt\$|scrypt:)/;

/** Whether `stored` is one of the legacy formats this module reads. */
export function isLegacyHash(stored: string): boolean {
  return LEGACY.test(stored);
}

async function bcrypt(stored: string, password: Uint8Array, bounds: StoredHashBounds, scheme: string) {
  const m = /^\$2([aby])\$(\d\d)\$([./A-Za-z0-9]{53})$/.exec(stored);
  if (m === null) throw malformed('bcrypt string');
  bound(Number(m[2]), bounds.maxBcryptCost, 'bcrypt cost', 4);
  // $2y$ (PHP) and $2b$ are the same algorithm; bcryptjs reads $2a$ and $2b$
  const readable = m[1] === 'y' ? `$2b$${stored.slice(4)}` : stored;
  const valid = await bcryptCompare(Buffer.from(password).toString('utf8'), readable);
  return { valid, scheme, ...(password.length > 72 ? { truncated: true } : {}) };
}

/** Verify `password` (UTF-8 bytes) against a legacy hash. */
export async function verifyLegacy(
  stored: string,
  password: Uint8Array,
  bounds: StoredHashBounds,
): Promise<LegacyResult> {
  if (stored.length > 512) throw new LatchkeyError('ERR_PASSWORD_HASH_FORMAT', 'the stored hash is too long');
  if (stored.startsWith('$2')) return bcrypt(stored, password, bounds, 'bcrypt');
  if (stored.startsWith('bcrypt$$')) return bcrypt(stored.slice(7), password, bounds, 'bcrypt (Django)');
  if (stored.startsWith('bcrypt_sha256$$')) {
    // Django hashes the password with SHA-256 first and bcrypts the 64 hex digits
    const digest = createHash('sha256').update(password).digest('hex');
    return bcrypt(stored.slice(14), Buffer.from(digest), bounds, 'bcrypt_sha256 (Django)');
  }
  let m = /^\$pbkdf2-(sha256|sha512)\$(\d{1,8})\$([A-Za-z0-9./]{1,128})\$([A-Za-z0-9./]{16,128})$/.exec(stored);
  if (m !== null) {
    const iterations = bound(Number(m[2]), bounds.maxPbkdf2Iterations, 'iterations');
    const expected = ab64(m[4] as string, 'hash');
    const key = await derivePbkdf2(password, ab64(m[3] as string, 'salt'), iterations, expected.length, m[1] as string);
    return { valid: equalBytes(key, expected), scheme: `pbkdf2-${m[1]} (passlib)` };
  }
  m = /^pbkdf2_sha256\$(\d{1,8})\$([^$]{1,128})\$([A-Za-z0-9+/=]{16,128})$/.exec(stored);
  if (m !== null) {
    const iterations = bound(Number(m[1]), bounds.maxPbkdf2Iterations, 'iterations');
    const expected = std64(m[3] as string, 'hash');
    const key = await derivePbkdf2(password, Buffer.from(m[2] as string), iterations, expected.length, 'sha256');
    return { valid: equalBytes(key, expected), scheme: 'pbkdf2_sha256 (Django)' };
  }
  m = /^pbkdf2:(sha256|sha512):(\d{1,8})\$([^$]{1,128})\$([0-9a-f]{32,256})$/.exec(stored);
  if (m !== null) {
    const iterations = bound(Number(m[2]), bounds.maxPbkdf2Iterations, 'iterations');
    const expected = hex(m[4] as string, 'hash');
    const key = await derivePbkdf2(password, Buffer.from(m[3] as string), iterations, expected.length, m[1] as string);
    return { valid: equalBytes(key, expected), scheme: `pbkdf2:${m[1]} (Werkzeug)` };
  }
  m = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,3}),p=(\d{1,3})\$([A-Za-z0-9./+]{1,128})\$([A-Za-z0-9./+]{16,128})$/.exec(
    stored,
  );
  if (m !== null) {
    const ln = bound(Number(m[1]), 30, 'scrypt ln');
    const expected = ab64(m[5] as string, 'hash');
    const cost = { n: 2 ** ln, r: Number(m[2]), p: Number(m[3]) };
    const key = await deriveScrypt(password, ab64(m[4] as string, 'salt'), cost, expected.length, bounds);
    return { valid: equalBytes(key, expected), scheme: 'scrypt (passlib)' };
  }
  m = /^scrypt\$([^$]{1,128})\$(\d{1,10})\$(\d{1,3})\$(\d{1,3})\$([A-Za-z0-9+/=]{16,128})$/.exec(stored);
  if (m !== null) {
    const expected = std64(m[5] as string, 'hash');
    const cost = { n: Number(m[2]), r: Number(m[3]), p: Number(m[4]) };
    const key = await deriveScrypt(password, Buffer.from(m[1] as string), cost, expected.length, bounds);
    return { valid: equalBytes(key, expected), scheme: 'scrypt (Django)' };
  }
  m = /^scrypt:(\d{1,10}):(\d{1,3}):(\d{1,3})\$([^$]{1,128})\$([0-9a-f]{32,256})$/.exec(stored);
  if (m !== null) {
    const expected = hex(m[5] as string, 'hash');
    const cost = { n: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
    const key = await deriveScrypt(password, Buffer.from(m[4] as string), cost, expected.length, bounds);
    return { valid: equalBytes(key, expected), scheme: 'scrypt (Werkzeug)' };
  }
  throw new LatchkeyError('ERR_PASSWORD_HASH_FORMAT', 'the stored hash is in no format latchkey reads');
}
