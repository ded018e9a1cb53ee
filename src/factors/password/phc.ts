/**
 * Argon2 PHC strings, written by latchkey in the canonical order of the PHC string format and of
 * libargon2 (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`, unpadded standard base64), which
 * argon2-cffi, passlib, PHP and the `argon2` CLI all read. A peppered hash adds the PHC
 * `keyid` parameter (`m=…,t=…,p=…,keyid=<id>`), naming the pepper key so it can rotate.
 *
 * Parameters read from storage are bounded before any work is done: a stored hash cannot ask
 * for a gigabyte of memory, a thousand passes or a 1 MB salt.
 *
 * @module latchkey/password
 */
import { LatchkeyError } from '../../core/errors.js';
import { aint } from '../../core/guards.js';

export interface Argon2Parameters {
  /** Memory in KiB. */
  readonly m: number;
  /** Passes. */
  readonly t: number;
  /** Lanes. */
  readonly p: number;
}

export interface Argon2Hash extends Argon2Parameters {
  readonly algorithm: 'argon2id' | 'argon2i' | 'argon2d';
  readonly version: 16 | 19;
  readonly keyId?: string;
  readonly salt: Uint8Array;
  readonly hash: Uint8Array;
}

/** Bounds on parameters read from a stored hash. */
export interface StoredHashBounds {
  /** KiB. Default 262,144 (256 MiB). */
  readonly maxMemoryKiB: number;
  /** Default 16. */
  readonly maxPasses: number;
  /** Default 16 (argon2 lanes, scrypt p). */
  readonly maxLanes: number;
  /** PBKDF2 iterations (legacy hashes). Default 2,000,000. */
  readonly maxPbkdf2Iterations: number;
  /** bcrypt cost (legacy hashes). Default 15. */
  readonly maxBcryptCost: number;
}

/** The defaults: 256 MiB (argon2 memory and scrypt memory alike), 16 passes, 16 lanes. */
export const DEFAULT_STORED_BOUNDS: StoredHashBounds = Object.freeze({
  maxMemoryKiB: 262_144,
  maxPasses: 16,
  maxLanes: 16,
  maxPbkdf2Iterations: 2_000_000,
  maxBcryptCost: 15,
});

const HARD_BOUNDS: { readonly [K in keyof StoredHashBounds]: readonly [number, number] } = {
  maxMemoryKiB: [64, 4_194_304],
  maxPasses: [1, 1024],
  maxLanes: [1, 255],
  maxPbkdf2Iterations: [1000, 100_000_000],
  maxBcryptCost: [4, 31],
};

/** Merge overrides into the defaults, refusing unknown keys and values outside hard bounds. */
export function resolveStoredBounds(overrides: Partial<StoredHashBounds> = {}): StoredHashBounds {
  const out: Record<string, number> = { ...DEFAULT_STORED_BOUNDS };
  for (const [key, value] of Object.entries(overrides)) {
    const hard = HARD_BOUNDS[key as keyof StoredHashBounds];
    if (hard === undefined) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', `unknown bound \`${key}\``, { field: key });
    }
    if (value === undefined) continue;
    out[key] = aint(value, `storedBounds.${key}`, hard[0], hard[1]);
  }
  return Object.freeze(out) as unknown as StoredHashBounds;
}

const B64 = /^[A-Za-z0-9+/]+$/;
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64').replace(/=+$/, '');
}

function unb64(text: string, what: string): Uint8Array {
  if (!B64.test(text) || text.length % 4 === 1) {
    throw new LatchkeyError('ERR_PASSWORD_HASH_FORMAT', `the stored hash has a malformed ${what}`);
  }
  return new Uint8Array(Buffer.from(text, 'base64'));
}

export function formatArgon2(hash: Argon2Hash): string {
  const keyId = hash.keyId === undefined ? '' : `,keyid=${hash.keyId}`;
  return `$${hash.algorithm}$v=${hash.version}$m=${hash.m},t=${hash.t},p=${hash.p}${keyId}$${b64(hash.salt)}$${b64(hash.hash)}`;
}

/** Parse and bound an argon2 PHC string (any parameter order is read; latchkey writes m,t,p). */
export function parseArgon2(text: string, bounds: StoredHashBounds = DEFAULT_STORED_BOUNDS): Argon2Hash {
  if (text.length > 512) throw new LatchkeyError('ERR_PASSWORD_HASH_FORMAT', 'the stored hash is too long');
  const parts = text.split('$');
  // ['', 'argon2id', 'v=19', 'm=..,t=..,p=..', salt, hash]  (v= may be missing in old hashes: v=16)
  if (parts.length !== 6 && parts.length !== 5) {
    throw new LatchkeyError('ERR_PASSWORD_HASH_FORMAT', 'the stored hash is not an argon2 PHC string');
  }
  const algorithm = parts[1];
  if (algorithm !== 'argon2id' && algorithm !== 'argon2i' && algorithm !== 'argon2d') {
    throw new LatchkeyError('ERR_PASSWORD_HASH_FORMAT', 'the stored hash is not an argon2 PHC string');
  }
  let version: 16 | 19 = 16;
  let index = 2;
  if (parts.length === 6) {
    if (parts[2] === 'v=19') version = 19;
    else if (parts[2] !== 'v=16') throw new LatchkeyError('ERR_PASSWORD_HASH_FORMAT', 'unknown argon2 version');
    index = 3;
  }
  const params = new Map<string, string>();
  for (const pair of (parts[index] ?? '').split(',')) {
    const [key, value, extra] = pair.split('=');
    if (key === undefined || value === undefined || extra !== undefined || params.has(key)) {
      throw new LatchkeyError('ERR_PASSWORD_HASH_FORMAT', 'the stored hash has malformed parameters');
    }
    params.set(key, value);
  }
  const int = (key: string, max: number): number => {
    const raw = params.get(key);
    if (raw === undefined || !/^\d{1,10}$/.test(raw)) {
      throw new LatchkeyError('ERR_PASSWORD_HASH_FORMAT', `the stored hash lacks a valid \`${key}\``);
    }
    const value = Number(raw);
    if (value < 1 || value > max) {
      throw new LatchkeyError(
        'ERR_PASSWORD_HASH_PARAMETERS',
        `the stored hash asks for ${key}=${value}, beyond the bound of ${max}`,
        { parameter: key, value, bound: max },
      );
    }
    return value;
  };
  const p = int('p', bounds.maxLanes);
  const m = int('m', bounds.maxMemoryKiB);
  if (m < 8 * p) throw new LatchkeyError('ERR_PASSWORD_HASH_PARAMETERS', 'argon2 needs at least 8 KiB per lane');
  const t = int('t', bounds.maxPasses);
  const keyId = params.get('keyid');
  if (keyId !== undefined && !KEY_ID.test(keyId)) {
    throw new LatchkeyError('ERR_PASSWORD_HASH_FORMAT', 'the stored hash has a malformed keyid');
  }
  for (const key of params.keys()) {
    if (key !== 'm' && key !== 't' && key !== 'p' && key !== 'keyid') {
      throw new LatchkeyError(
        'ERR_PASSWORD_HASH_FORMAT',
        `the stored hash has an unknown parameter \`${key.slice(0, 16)}\``,
      );
    }
  }
  const salt = unb64(parts[index + 1] ?? '', 'salt');
  const hash = unb64(parts[index + 2] ?? '', 'hash');
  if (salt.length < 8 || salt.length > 64)
    throw new LatchkeyError('ERR_PASSWORD_HASH_PARAMETERS', 'salt length out of bounds');
  if (hash.length < 16 || hash.length > 64)
    throw new LatchkeyError('ERR_PASSWORD_HASH_PARAMETERS', 'hash length out of bounds');
  return { algorithm, version, m, t, p, ...(keyId === undefined ? {} : { keyId }), salt, hash };
}
