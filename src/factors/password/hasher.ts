/**
 * `PasswordHasher`: argon2id PHC strings done right (DESIGN.md's stable entry point).
 *
 * - Defaults: argon2id, m=19456 KiB, t=2, p=1 (OWASP's first recommendation); `profile: 'high'`
 *   is m=65536 KiB, t=3, p=4 (RFC 9106 §4, second recommended option). 16-byte salts from the OS
 *   CSPRNG, 32-byte hashes.
 * - Passwords are normalised to NFKC (NIST SP 800-63B-4 §3.1.1.2), so the same password typed
 *   on another keyboard (composed or decomposed accents) verifies. Input longer than 4,096
 *   UTF-16 units is refused before normalisation, and longer than 1,024 bytes after it.
 * - Optional pepper: argon2's secret input, keyed by id (`keyid` in the PHC string) so it can
 *   rotate; hashes under an old key still verify and come back with `rehash`.
 * - `verify` returns `rehash` (the new string to store) when the stored hash is legacy
 *   (bcrypt, scrypt, PBKDF2), weaker than or different from the current settings, or under
 *   another pepper key.
 * - Hashes in flight are bounded by a {@link HashLimiter} shared by the process (default
 *   `min(cores, libuv threads − 1)` at once, 64 per slot waiting; beyond that `ERR_OVERLOADED`
 *   at once), so a burst neither takes the whole libuv pool from the rest of the app nor grows
 *   memory without bound.
 * - Stored parameters are bounded before any work (see phc.ts and legacy.ts): a stored hash
 *   cannot ask for a gigabyte of memory.
 * - Legacy hashes that fail with the NFKC form are tried once more with the password exactly as
 *   typed, because the system that wrote them did not normalise; a success rehashes to NFKC.
 *
 * @example
 * ```ts
 * import { PasswordHasher } from 'latchkey/password';
 * const hasher = new PasswordHasher();
 * const stored = await hasher.hash('correct horse battery staple');
 * const { valid, rehash } = await hasher.verify(stored, 'correct horse battery staple');
 * ```
 *
 * @module latchkey/password
 */

import { equalBytes, utf8, wipe } from '../../core/bytes.js';
import { LatchkeyError } from '../../core/errors.js';
import { aint } from '../../core/guards.js';
import { randomBytes } from '../../core/random.js';
import { type Argon2Backend, nodeRsArgon2 } from './argon2-backend.js';
import { isLegacyHash, verifyLegacy } from './legacy.js';
import { HashLimiter, sharedHashLimiter } from './limiter.js';
import { normalisedText } from './normalise.js';
import {
  type Argon2Hash,
  type Argon2Parameters,
  formatArgon2,
  parseArgon2,
  resolveStoredBounds,
  type StoredHashBounds,
} from './phc.js';

/** `default`: OWASP's first choice. `high`: RFC 9106 §4's second recommended option. */
export const PASSWORD_PROFILES: Readonly<Record<'default' | 'high', Argon2Parameters>> = Object.freeze({
  default: Object.freeze({ m: 19_456, t: 2, p: 1 }),
  high: Object.freeze({ m: 65_536, t: 3, p: 4 }),
});

const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

export interface PasswordHasherOptions {
  /** `default` (OWASP: m=19456 KiB, t=2, p=1) or `high` (RFC 9106: m=64 MiB, t=3, p=4). */
  readonly profile?: 'default' | 'high';
  /** Explicit argon2id parameters instead of a profile. */
  readonly parameters?: Argon2Parameters;
  /**
   * A secret mixed into every hash as argon2's secret input K; `current` names the key new
   * hashes use (written as the PHC `keyid`), `keys` holds every key still in use (16+ bytes each).
   */
  readonly pepper?: { readonly current: string; readonly keys: Readonly<Record<string, Uint8Array>> };
  /** Bound hashes in flight with this limiter instead of the process-wide one. */
  readonly limiter?: HashLimiter;
  /** Shorthand for a limiter of its own: hashes computed at once. */
  readonly maxConcurrent?: number;
  /** Shorthand for a limiter of its own: hashes waiting before `ERR_OVERLOADED`. */
  readonly maxQueue?: number;
  /** Bounds on parameters read from stored hashes. */
  readonly storedBounds?: Partial<StoredHashBounds>;
  /** Another raw argon2 implementation (see argon2-backend.ts). */
  readonly backend?: Argon2Backend;
}

export interface PasswordVerification {
  readonly valid: boolean;
  /** The string to store instead: the stored one is legacy, or differs from the current settings. */
  readonly rehash?: string;
  /** Something the operator should know (a bcrypt hash that ignored bytes past 72). */
  readonly warning?: string;
}

/**
 * Hash and verify passwords (DESIGN.md's stable entry point of `latchkey/password`).
 *
 * @example
 * ```ts
 * import { PasswordHasher } from 'latchkey/password';
 * const hasher = new PasswordHasher();
 * const stored = await hasher.hash('correct horse battery staple');
 * const { valid, rehash } = await hasher.verify(stored, 'correct horse battery staple');
 * if (valid && rehash) await saveHash(rehash);
 * ```
 */
export class PasswordHasher {
  readonly parameters: Argon2Parameters;
  readonly limiter: HashLimiter;
  readonly #pepper: PasswordHasherOptions['pepper'];
  readonly #backend: Argon2Backend;
  readonly #bounds: StoredHashBounds;

  constructor(options: PasswordHasherOptions = {}) {
    this.#bounds = resolveStoredBounds(options.storedBounds);
    const profile = options.profile ?? 'default';
    if (profile !== 'default' && profile !== 'high') {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'profile must be `default` or `high`', { field: 'profile' });
    }
    const base = options.parameters ?? PASSWORD_PROFILES[profile];
    const p = aint(base.p, 'parameters.p', 1, this.#bounds.maxLanes);
    this.parameters = Object.freeze({
      m: aint(base.m, 'parameters.m', 8 * p, this.#bounds.maxMemoryKiB),
      t: aint(base.t, 'parameters.t', 1, this.#bounds.maxPasses),
      p,
    });
    const pepper = options.pepper;
    if (pepper !== undefined) {
      const keys = pepper.keys ?? {};
      for (const [id, key] of Object.entries(keys)) {
        if (!KEY_ID.test(id) || !(key instanceof Uint8Array) || key.length < 16 || key.length > 1024) {
          throw new LatchkeyError(
            'ERR_INVALID_ARGUMENT',
            'pepper keys need ids of 1 to 32 characters [A-Za-z0-9_-] and 16 to 1,024 bytes each',
            { field: 'pepper.keys' },
          );
        }
      }
      if (typeof pepper.current !== 'string' || !Object.hasOwn(keys, pepper.current)) {
        throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'pepper.current must name one of pepper.keys', {
          field: 'pepper.current',
        });
      }
      this.#pepper = { current: pepper.current, keys: Object.freeze({ ...keys }) };
    }
    this.#backend = options.backend ?? nodeRsArgon2;
    this.limiter =
      options.limiter ??
      (options.maxConcurrent === undefined && options.maxQueue === undefined
        ? sharedHashLimiter()
        : new HashLimiter({
            ...(options.maxConcurrent === undefined ? {} : { concurrency: options.maxConcurrent }),
            ...(options.maxQueue === undefined ? {} : { maxQueue: options.maxQueue }),
          }));
  }

  /**
   * Hash a password to an argon2id PHC string under the current settings.
   *
   * @throws LatchkeyError `ERR_PASSWORD_TOO_LONG`, `ERR_INVALID_ARGUMENT`, `ERR_OVERLOADED`,
   *   `ERR_MISSING_DEPENDENCY` (no `@node-rs/argon2`).
   */
  async hash(password: string): Promise<string> {
    const bytes = utf8(normalisedText(password));
    try {
      return await this.#hashBytes(bytes);
    } finally {
      wipe(bytes);
    }
  }

  async #hashBytes(bytes: Uint8Array): Promise<string> {
    const salt = randomBytes(16);
    const keyId = this.#pepper?.current;
    const secret = keyId === undefined ? undefined : this.#pepper?.keys[keyId];
    const hash = await this.#compute(
      {
        algorithm: 'argon2id',
        version: 19,
        ...this.parameters,
        ...(keyId === undefined ? {} : { keyId }),
        salt,
        hash: new Uint8Array(32),
      },
      bytes,
      secret,
    );
    return formatArgon2({
      algorithm: 'argon2id',
      version: 19,
      ...this.parameters,
      ...(keyId === undefined ? {} : { keyId }),
      salt,
      hash,
    });
  }

  #compute(target: Argon2Hash, password: Uint8Array, secret: Uint8Array | undefined): Promise<Uint8Array> {
    return this.limiter.run(async () => {
      try {
        return await this.#backend.hashRaw({
          algorithm: target.algorithm,
          version: target.version,
          password,
          salt: target.salt,
          ...(secret === undefined ? {} : { secret }),
          m: target.m,
          t: target.t,
          p: target.p,
          outputLength: target.hash.length,
        });
      } catch (error) {
        if (error instanceof LatchkeyError) throw error;
        throw new LatchkeyError(
          'ERR_INTERNAL',
          `the argon2 backend \`${this.#backend.name}\` failed`,
          {},
          { cause: error },
        );
      }
    });
  }

  /**
   * Whether a stored hash should be replaced (without checking a password): it is legacy, not
   * argon2id v19 in canonical form, or its parameters, salt, length or pepper key differ from the
   * current settings.
   */
  needsRehash(stored: string): boolean {
    if (isLegacyHash(stored)) return true;
    const { parsed, canonical } = this.#parse(stored);
    return this.#stale(parsed, canonical);
  }

  #parse(stored: string): { parsed: Argon2Hash; canonical: boolean } {
    if (typeof stored !== 'string') {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'the stored hash must be a string', { field: 'stored' });
    }
    // Django writes argon2 PHC strings behind an `argon2` prefix
    const body = stored.startsWith('argon2$argon2') ? stored.slice('argon2'.length) : stored;
    const parsed = parseArgon2(body, this.#bounds);
    return { parsed, canonical: body === stored && formatArgon2(parsed) === stored };
  }

  #stale(parsed: Argon2Hash, canonical: boolean): boolean {
    const current = this.parameters;
    return (
      !canonical ||
      parsed.algorithm !== 'argon2id' ||
      parsed.version !== 19 ||
      parsed.m !== current.m ||
      parsed.t !== current.t ||
      parsed.p !== current.p ||
      parsed.keyId !== this.#pepper?.current ||
      parsed.salt.length !== 16 ||
      parsed.hash.length !== 32
    );
  }

  /**
   * Check a password against a stored hash (argon2 PHC, Django's argon2, or a legacy format).
   *
   * @throws LatchkeyError `ERR_PASSWORD_HASH_FORMAT` for a hash latchkey cannot read (or one
   *   peppered with a key this hasher lacks: `detail.keyId`), `ERR_PASSWORD_HASH_PARAMETERS` for
   *   parameters beyond the bounds, `ERR_PASSWORD_TOO_LONG`, `ERR_OVERLOADED`.
   */
  async verify(stored: string, password: string): Promise<PasswordVerification> {
    if (typeof stored !== 'string') {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'the stored hash must be a string', { field: 'stored' });
    }
    if (stored.length > 512) throw new LatchkeyError('ERR_PASSWORD_HASH_FORMAT', 'the stored hash is too long');
    const text = normalisedText(password);
    if (isLegacyHash(stored)) return this.#verifyLegacy(stored, password, text);
    const { parsed, canonical } = this.#parse(stored);
    let secret: Uint8Array | undefined;
    if (parsed.keyId !== undefined) {
      const keys = this.#pepper?.keys;
      secret = keys !== undefined && Object.hasOwn(keys, parsed.keyId) ? keys[parsed.keyId] : undefined;
      if (secret === undefined) {
        throw new LatchkeyError(
          'ERR_PASSWORD_HASH_FORMAT',
          `the stored hash is peppered with key \`${parsed.keyId}\`, which this hasher does not have`,
          { keyId: parsed.keyId },
        );
      }
    }
    const bytes = utf8(text);
    try {
      const computed = await this.#compute(parsed, bytes, secret);
      if (!equalBytes(computed, parsed.hash)) return { valid: false };
      return this.#stale(parsed, canonical) ? { valid: true, rehash: await this.#hashBytes(bytes) } : { valid: true };
    } finally {
      wipe(bytes);
    }
  }

  async #verifyLegacy(stored: string, typed: string, text: string): Promise<PasswordVerification> {
    const bytes = utf8(text);
    const raw = typed === text ? undefined : utf8(typed);
    try {
      let result = await this.limiter.run(() => verifyLegacy(stored, bytes, this.#bounds));
      // the system that wrote it may not have normalised: try the password exactly as typed
      if (!result.valid && raw !== undefined) {
        result = await this.limiter.run(() => verifyLegacy(stored, raw, this.#bounds));
      }
      if (!result.valid) return { valid: false };
      if (result.truncated === true) {
        return {
          valid: true,
          warning:
            'bcrypt checked only the first 72 bytes of this password, so it was not rehashed; ask the user to choose a new password',
        };
      }
      return { valid: true, rehash: await this.#hashBytes(bytes) };
    } finally {
      wipe(bytes, raw);
    }
  }
}
