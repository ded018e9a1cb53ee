/**
 * Root keys for credentials, each under a short public key id. New credentials are minted with
 * the current key; credentials minted under any other key still in the ring keep verifying
 * until that key is removed (rotation without a flag day). The key material never leaves the
 * ring: no getter, `toJSON` or `util.inspect` shows it.
 *
 * @module latchkey
 */

import { wipe } from '../../core/bytes.js';
import { LatchkeyError } from '../../core/errors.js';
import { abytes } from '../../core/guards.js';
import { randomBytes } from '../../core/random.js';

/** One root key: at least 32 random bytes, named by a public key id. */
export interface RootKey {
  /** Public key id, written into every credential's identifier: 1 to 32 of `A-Z a-z 0-9 _ -`. */
  readonly id: string;
  /** The secret: 32 to 1024 bytes from a CSPRNG. The ring keeps a copy. */
  readonly key: Uint8Array;
}

const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

/** Check a key id's shape; the same check parses it back out of an identifier. */
export function isKeyId(value: unknown): value is string {
  return typeof value === 'string' && KEY_ID.test(value);
}

let keyOf: (ring: KeyRing, id: string) => Uint8Array | undefined;

/** The root key for `id`, or undefined when the ring has none (internal: never exported publicly). */
export function rootKeyOf(ring: KeyRing, id: string): Uint8Array | undefined {
  return keyOf(ring, id);
}

/**
 * A set of root keys with one current key.
 *
 * @example
 * ```ts
 * import { KeyRing, randomBytes } from 'latchkey';
 * const keys = new KeyRing([{ id: 'k1', key: randomBytes(32) }]);
 * // Rotation: mint with k2 from now on; k1 credentials verify until k1 is removed.
 * keys.add({ id: 'k2', key: randomBytes(32) });
 * keys.remove('k1');
 * ```
 */
export class KeyRing {
  readonly #keys = new Map<string, Uint8Array>();
  #current: string | undefined;

  static {
    keyOf = (ring, id) => ring.#keys.get(id);
  }

  /**
   * A ring holding `keys`. The current key is `options.current`, or the last key given.
   * Throws `ERR_INVALID_ARGUMENT` for a bad or duplicate key id or a key shorter than 32 bytes.
   */
  constructor(keys: readonly RootKey[] = [], options: { readonly current?: string } = {}) {
    if (!Array.isArray(keys)) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'keys must be an array', { field: 'keys' });
    }
    for (const key of keys) this.add(key, { current: false });
    const current = options.current ?? keys.at(-1)?.id;
    if (current !== undefined) this.use(current);
  }

  /** A ring with one fresh random 32-byte key under `id` (default `k1`). */
  static generate(id = 'k1'): KeyRing {
    const key = randomBytes(32);
    try {
      return new KeyRing([{ id, key }]);
    } finally {
      wipe(key);
    }
  }

  /** The id new credentials are minted under. Throws `ERR_CREDENTIAL_UNKNOWN_KEY` for an empty ring. */
  get currentKeyId(): string {
    if (this.#current === undefined) {
      throw new LatchkeyError('ERR_CREDENTIAL_UNKNOWN_KEY', 'the key ring is empty');
    }
    return this.#current;
  }

  /** Every key id in the ring, in the order added. */
  get keyIds(): readonly string[] {
    return Object.freeze([...this.#keys.keys()]);
  }

  /** True when the ring holds a key under `id`. */
  has(id: string): boolean {
    return this.#keys.has(id);
  }

  /**
   * Add a key (a copy is kept). It becomes the current key unless `options.current` is false.
   * `ERR_INVALID_ARGUMENT` when the id is taken.
   */
  add(key: RootKey, options: { readonly current?: boolean } = {}): this {
    if (typeof key !== 'object' || key === null) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'a root key must be an object', { field: 'key' });
    }
    if (!isKeyId(key.id)) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'key id must be 1 to 32 of `A-Z a-z 0-9 _ -`', {
        field: 'key.id',
      });
    }
    abytes(key.key, 'key.key', { min: 32, max: 1024 });
    if (this.#keys.has(key.id)) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', `key id \`${key.id}\` is already in the ring`, {
        field: 'key.id',
      });
    }
    this.#keys.set(key.id, new Uint8Array(key.key));
    if (options.current !== false) this.#current = key.id;
    return this;
  }

  /** Make `id` the key new credentials are minted under. */
  use(id: string): this {
    if (!this.#keys.has(id)) {
      throw new LatchkeyError('ERR_CREDENTIAL_UNKNOWN_KEY', `no key \`${String(id).slice(0, 32)}\` in the ring`, {
        keyId: String(id).slice(0, 32),
      });
    }
    this.#current = id;
    return this;
  }

  /**
   * Remove a key and wipe the ring's copy: every credential minted under it stops verifying
   * (`ERR_CREDENTIAL_UNKNOWN_KEY`). The current key cannot be removed; `use` another first.
   */
  remove(id: string): boolean {
    if (id === this.#current) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'the current key cannot be removed; `use` another key first', {
        field: 'id',
      });
    }
    const key = this.#keys.get(id);
    if (key === undefined) return false;
    wipe(key);
    this.#keys.delete(id);
    return true;
  }

  /** Key ids only; never key material. */
  toJSON(): { keyIds: readonly string[]; current: string | null } {
    return { keyIds: this.keyIds, current: this.#current ?? null };
  }

  /** Node's `util.inspect` shows key ids only. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `KeyRing { current: ${this.#current ?? '(none)'}, keys: [${this.keyIds.join(', ')}] }`;
  }
}
