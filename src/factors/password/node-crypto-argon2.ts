/**
 * An argon2 backend on `node:crypto`'s own argon2 (Node >= 24.7, OpenSSL 3.2+): no native addon
 * to install, and it takes associated data. On older Node every call is `ERR_UNSUPPORTED`.
 *
 * @module latchkey/password
 */
import * as crypto from 'node:crypto';
import { LatchkeyError } from '../../core/errors.js';
import type { Argon2Backend, Argon2Input } from './argon2-backend.js';

interface NodeArgon2Parameters {
  message: Uint8Array;
  nonce: Uint8Array;
  parallelism: number;
  tagLength: number;
  memory: number;
  passes: number;
  secret?: Uint8Array;
  associatedData?: Uint8Array;
}

type NodeArgon2 = (
  algorithm: string,
  parameters: NodeArgon2Parameters,
  callback: (error: Error | null, key: Uint8Array) => void,
) => void;

function nodeArgon2(): NodeArgon2 | undefined {
  const fn = (crypto as unknown as { argon2?: unknown }).argon2;
  return typeof fn === 'function' ? (fn as NodeArgon2) : undefined;
}

/** Whether this Node has `crypto.argon2`. */
export function nodeCryptoHasArgon2(): boolean {
  return nodeArgon2() !== undefined;
}

/**
 * `node:crypto`'s argon2 as a latchkey backend.
 *
 * @example
 * ```ts
 * import { nodeCryptoArgon2, PasswordHasher } from 'latchkey/password';
 * const hasher = new PasswordHasher({ backend: nodeCryptoArgon2 }); // Node >= 24.7
 * ```
 */
export const nodeCryptoArgon2: Argon2Backend = Object.freeze({
  name: 'node:crypto',
  associatedData: true,
  hashRaw(input: Argon2Input): Promise<Uint8Array> {
    const argon2 = nodeArgon2();
    if (argon2 === undefined) {
      return Promise.reject(
        new LatchkeyError(
          'ERR_UNSUPPORTED',
          `node:crypto has no argon2 on Node ${process.versions.node} (needs 24.7)`,
          {
            backend: 'node:crypto',
          },
        ),
      );
    }
    if (input.version !== 19) {
      return Promise.reject(
        new LatchkeyError('ERR_UNSUPPORTED', 'node:crypto computes argon2 version 19 only', { backend: 'node:crypto' }),
      );
    }
    return new Promise((resolve, reject) => {
      argon2(
        input.algorithm,
        {
          message: input.password,
          nonce: input.salt,
          parallelism: input.p,
          tagLength: input.outputLength,
          memory: input.m,
          passes: input.t,
          ...(input.secret === undefined ? {} : { secret: input.secret }),
          ...(input.associatedData === undefined ? {} : { associatedData: input.associatedData }),
        },
        (error, key) =>
          error === null
            ? resolve(new Uint8Array(key))
            : reject(new LatchkeyError('ERR_INTERNAL', 'argon2 failed', {}, { cause: error })),
      );
    });
  },
});
