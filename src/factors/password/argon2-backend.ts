/**
 * The argon2 backend. This is the only file that imports `@node-rs/argon2` (an optional peer
 * dependency), lazily, so `import 'latchkey'` and even `import 'latchkey/password'` load no native
 * code until the first hash; a missing package is `ERR_MISSING_DEPENDENCY` naming it.
 *
 * The backend interface is raw: parameters, salt and optional secret in, hash bytes out.
 * latchkey writes and parses the PHC strings itself (see phc.ts), so any backend that computes
 * raw argon2 can be plugged in (npm `argon2` with `raw: true`, or `node:crypto`'s argon2 on
 * Node >= 24.7) without its own string format leaking into storage.
 *
 * @module latchkey/password
 */
import { LatchkeyError } from '../../core/errors.js';

/** What latchkey asks a backend to compute: raw argon2 (RFC 9106) with every input explicit. */
export interface Argon2Input {
  readonly algorithm: 'argon2id' | 'argon2i' | 'argon2d';
  /** 19 (0x13, current) or 16 (0x10, old hashes). */
  readonly version: 16 | 19;
  readonly password: Uint8Array;
  readonly salt: Uint8Array;
  /** The secret input K (RFC 9106 §3.1): latchkey's pepper. */
  readonly secret?: Uint8Array;
  /** The associated data X (RFC 9106 §3.1); only backends with `associatedData: true` take it. */
  readonly associatedData?: Uint8Array;
  /** Memory in KiB. */
  readonly m: number;
  /** Passes. */
  readonly t: number;
  /** Lanes. */
  readonly p: number;
  readonly outputLength: number;
}

/**
 * Raw argon2: what latchkey needs of a backend. Plug in another implementation by writing one
 * of these, e.g. npm `argon2` (`hash(password, { raw: true, salt, memoryCost: m, timeCost: t,
 * parallelism: p, hashLength, type, version, secret })`): latchkey writes the PHC string itself,
 * in canonical order, so the backend's own string format never reaches storage.
 */
export interface Argon2Backend {
  readonly name: string;
  /** Whether the backend takes `associatedData`. */
  readonly associatedData?: boolean;
  hashRaw(input: Argon2Input): Promise<Uint8Array>;
}

type NodeRsArgon2 = typeof import('@node-rs/argon2');
let loading: Promise<NodeRsArgon2> | undefined;

async function load(): Promise<NodeRsArgon2> {
  loading ??= import('@node-rs/argon2').catch((cause: unknown) => {
    loading = undefined;
    throw new LatchkeyError(
      'ERR_MISSING_DEPENDENCY',
      'password hashing needs the `@node-rs/argon2` package: npm install @node-rs/argon2',
      { package: '@node-rs/argon2' },
      { cause },
    );
  });
  return loading;
}

const ALGORITHMS = { argon2d: 0, argon2i: 1, argon2id: 2 } as const;

/** The default backend: @node-rs/argon2 (Rust argon2, prebuilt per platform, off the main thread). */
export const nodeRsArgon2: Argon2Backend = Object.freeze({
  name: '@node-rs/argon2',
  associatedData: false,
  async hashRaw(input: Argon2Input): Promise<Uint8Array> {
    if (input.associatedData !== undefined) {
      throw new LatchkeyError('ERR_UNSUPPORTED', '@node-rs/argon2 takes no associated data', {
        backend: '@node-rs/argon2',
      });
    }
    const argon2 = await load();
    const raw = await argon2.hashRaw(input.password, {
      // const enums of the package's typings, passed as their numbers
      algorithm: ALGORITHMS[input.algorithm] as never,
      version: (input.version === 19 ? 1 : 0) as never,
      memoryCost: input.m,
      timeCost: input.t,
      parallelism: input.p,
      outputLen: input.outputLength,
      salt: input.salt,
      ...(input.secret === undefined ? {} : { secret: input.secret }),
    });
    return new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
  },
});
