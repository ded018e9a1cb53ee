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
 * - At most `maxConcurrent` hashes run at once (default: the number of cores, so a burst
 *   cannot take the whole libuv pool from the rest of the app) with at most `maxQueue` waiting;
 *   beyond that `ERR_OVERLOADED` at once, so memory never grows without bound.
 * - Stored parameters are bounded before use (see phc.ts).
 *
 * @example
 * ```ts
 * import { PasswordHasher } from 'latchkey/password';
 * const hasher = new PasswordHasher();
 * const stored = await hasher.hash('correct horse battery staple');
 * const { valid, rehash } = await hasher.verify(stored, 'correct horse battery staple');
 * ```
 *
 * @module latchkey
 */
import { availableParallelism } from 'node:os';
import { equalBytes } from '../../core/bytes.js';
import { LatchkeyError } from '../../core/errors.js';
import { randomBytes } from '../../core/random.js';
import { type Argon2Backend, nodeRsArgon2 } from './argon2-backend.js';
import { isLegacyHash, verifyLegacy } from './legacy.js';
import {
  type Argon2Parameters,
  DEFAULT_STORED_BOUNDS,
  formatArgon2,
  parseArgon2,
  type StoredHashBounds,
} from './phc.js';

export const PASSWORD_PROFILES: Readonly<Record<'default' | 'high', Argon2Parameters>> = Object.freeze({
  default: Object.freeze({ m: 19_456, t: 2, p: 1 }),
  high: Object.freeze({ m: 65_536, t: 3, p: 4 }),
});

/** Longest password accepted, in UTF-8 bytes after NFKC (NIST asks for at least 64 characters). */
export const MAX_PASSWORD_BYTES = 1024;
const MAX_RAW_LENGTH = 4096;

export interface PasswordHasherOptions {
  /** `default` (OWASP) or `high` (RFC 9106), or explicit parameters. */
  readonly profile?: 'default' | 'high';
  readonly parameters?: Argon2Parameters;
  /** A secret mixed into every hash; `current` names the key new hashes use. */
  readonly pepper?: { readonly current: string; readonly keys: Readonly<Record<string, Uint8Array>> };
  /** Hashes computed at once. Default: the number of cores. */
  readonly maxConcurrent?: number;
  /** Hashes waiting for a slot before `ERR_OVERLOADED`. Default 64 per slot. */
  readonly maxQueue?: number;
  /** Bounds on parameters read from stored hashes. */
  readonly storedBounds?: Partial<StoredHashBounds>;
  /** Another raw argon2 implementation (see argon2-backend.ts). */
  readonly backend?: Argon2Backend;
}

export interface PasswordVerification {
  readonly valid: boolean;
  /** The string to store instead, when the stored one is legacy or weaker than the settings. */
  readonly rehash?: string;
  /** Something the operator should know (a bcrypt hash that ignored bytes past 72). */
  readonly warning?: string;
}

/**
 * A password as latchkey hashes it: NFKC, UTF-8, bounded.
 *
 * @throws LatchkeyError `ERR_PASSWORD_TOO_LONG`, `ERR_INVALID_ARGUMENT` for a non-string.
 */
export function normalisePassword(password: string): Uint8Array {
  if (typeof password !== 'string') {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'a password must be a string', { field: 'password' });
  }
  if (password.length > MAX_RAW_LENGTH) {
    throw new LatchkeyError('ERR_PASSWORD_TOO_LONG', `passwords may be at most ${MAX_PASSWORD_BYTES} bytes long`, {
      limit: MAX_PASSWORD_BYTES,
    });
  }
  const bytes = new Uint8Array(Buffer.from(password.normalize('NFKC'), 'utf8'));
  if (bytes.length > MAX_PASSWORD_BYTES) {
    throw new LatchkeyError('ERR_PASSWORD_TOO_LONG', `passwords may be at most ${MAX_PASSWORD_BYTES} bytes long`, {
      limit: MAX_PASSWORD_BYTES,
    });
  }
  return bytes;
}

/** A counting semaphore with a bounded queue. */
class Slots {
  #free: number;
  readonly #waiting: (() => void)[] = [];
  constructor(
    size: number,
    private readonly maxQueue: number,
  ) {
    this.#free = size;
  }
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else {
      if (this.#waiting.length >= this.maxQueue) {
        throw new LatchkeyError('ERR_OVERLOADED', 'too many password hashes in flight; try again shortly', {
          queued: this.#waiting.length,
        });
      }
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
    try {
      return await work();
    } finally {
      const next = this.#waiting.shift();
      if (next !== undefined) next();
      else this.#free++;
    }
  }
}

function positive(value: number | undefined, fallback: number, name: string, max: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < 1 || v > max) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', `${name} must be an integer from 1 to ${max}`, { field: name });
  }
  return v;
}

export class PasswordHasher {
  readonly parameters: Argon2Parameters;
  readonly #pepper: PasswordHasherOptions['pepper'];
  readonly #backend: Argon2Backend;
  readonly #slots: Slots;
  readonly #bounds: StoredHashBounds;

  constructor(options: PasswordHasherOptions = {}) {
    const base = options.parameters ?? PASSWORD_PROFILES[options.profile ?? 'default'];
    if (base === undefined) throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'unknown profile', { field: 'profile' });
    this.#bounds = { ...DEFAULT_STORED_BOUNDS, ...options.storedBounds };
    const p = positive(base.p, 1, 'parameters.p', this.#bounds.maxLanes);
    this.parameters = Object.freeze({
      m: positive(base.m, 19_456, 'parameters.m', this.#bounds.maxMemoryKiB),
      t: positive(base.t, 2, 'parameters.t', this.#bounds.maxPasses),
      p,
    });
    if (this.parameters.m < 8 * p) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'argon2 needs at least 8 KiB of memory per lane', {
        field: 'parameters.m',
      });
    }
    const pepper = options.pepper;
    if (pepper !== undefined) {
      const key = Object.hasOwn(pepper.keys, pepper.current) ? pepper.keys[pepper.current] : undefined;
      if (!/^[A-Za-z0-9_-]{1,32}$/.test(pepper.current) || !(key instanceof Uint8Array) || key.length < 16) {
        throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'pepper.current must name a key of at least 16 bytes', {
          field: 'pepper',
        });
      }
    }
    this.#pepper = pepper;
    this.#backend = options.backend ?? nodeRsArgon2;
    const slots = positive(options.maxConcurrent, Math.max(1, availableParallelism()), 'maxConcurrent', 256);
    this.#slots = new Slots(slots, positive(options.maxQueue, 64 * slots, 'maxQueue', 1_000_000));
  }

  /** Hash a password to an argon2id PHC string under the current settings. */
  async hash(password: string): Promise<string> {
    const bytes = normalisePassword(password);
    const salt = randomBytes(16);
    const keyId = this.#pepper?.current;
    const secret = keyId === undefined ? undefined : this.#pepper?.keys[keyId];
    const hash = await this.#slots.run(() =>
      this.#backend.hashRaw({
        algorithm: 'argon2id',
        version: 19,
        password: bytes,
        salt,
        ...(secret === undefined ? {} : { secret }),
        ...this.parameters,
        outputLength: 32,
      }),
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

  /**
   * Check a password against a stored hash (argon2 PHC, or a legacy format).
   *
   * @throws LatchkeyError `ERR_PASSWORD_HASH_FORMAT` for a hash latchkey cannot read (or one
   *   peppered with a key this hasher lacks), `ERR_PASSWORD_HASH_PARAMETERS` for parameters
   *   beyond the bounds, `ERR_PASSWORD_TOO_LONG`, `ERR_OVERLOADED`.
   */
  async verify(stored: string, password: string): Promise<PasswordVerification> {
    if (typeof stored !== 'string') {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'the stored hash must be a string', { field: 'stored' });
    }
    const bytes = normalisePassword(password);
    if (isLegacyHash(stored)) {
      const legacy = await this.#slots.run(() => verifyLegacy(stored, bytes));
      if (!legacy.valid) return { valid: false };
      return {
        valid: true,
        rehash: await this.hash(password),
        ...(legacy.warning === undefined ? {} : { warning: legacy.warning }),
      };
    }
    const parsed = parseArgon2(stored, this.#bounds);
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
    const computed = await this.#slots.run(() =>
      this.#backend.hashRaw({
        algorithm: parsed.algorithm,
        version: parsed.version,
        password: bytes,
        salt: parsed.salt,
        ...(secret === undefined ? {} : { secret }),
        m: parsed.m,
        t: parsed.t,
        p: parsed.p,
        outputLength: parsed.hash.length,
      }),
    );
    if (!equalBytes(computed, parsed.hash)) return { valid: false };
    const current = this.parameters;
    const stale =
      parsed.algorithm !== 'argon2id' ||
      parsed.version !== 19 ||
      parsed.m !== current.m ||
      parsed.t !== current.t ||
      parsed.p !== current.p ||
      parsed.keyId !== this.#pepper?.current ||
      parsed.salt.length < 16 ||
      parsed.hash.length < 32;
    return stale ? { valid: true, rehash: await this.hash(password) } : { valid: true };
  }
}
