/**
 * CSPRNG helpers. All randomness in latchkey comes from `node:crypto.randomBytes`, called
 * synchronously so that a value is never used before it is filled.
 *
 * @module latchkey
 */
import { randomBytes as nodeRandomBytes, randomInt } from 'node:crypto';
import { base64url } from './bytes.js';
import { aint } from './guards.js';

/** `length` bytes from the operating system's CSPRNG. */
export function randomBytes(length: number): Uint8Array {
  aint(length, 'length', 0, 1 << 20);
  const buffer = nodeRandomBytes(length);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/**
 * A random identifier: `bytes` random bytes (16 by default, 128 bits) as base64url. Suitable
 * for challenge ids, credential ids and record ids.
 */
export function randomId(bytes = 16): string {
  aint(bytes, 'bytes', 16, 64);
  return base64url(randomBytes(bytes));
}

/** A uniformly random integer in `[min, max)`, without modulo bias. */
export function randomIntBetween(min: number, max: number): number {
  return randomInt(min, max);
}
