/**
 * COSE keys (RFC 9052 §7, RFC 9053 §7.1) for the one curve CTAP2 needs everywhere: P-256, as
 * ES256 credential keys (alg -7) and as PIN/UV key-agreement keys (alg -25, ECDH-ES+HKDF-256).
 *
 * @module latchkey/fob
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { concatBytes } from '../core/bytes.js';
import { LatchkeyError } from '../core/errors.js';
import { asBytes, asInt, type CborMap, type CborValue } from './cbor.js';

/** COSE algorithm identifiers latchkey uses. */
export const COSE_ALG = Object.freeze({ ES256: -7, ECDH_ES_HKDF_256: -25 } as const);

/** A P-256 public key as its affine coordinates. */
export interface P256PublicKey {
  readonly x: Uint8Array;
  readonly y: Uint8Array;
}

/** The COSE_Key map of a P-256 public key (kty EC2, crv P-256). */
export function encodeCoseP256(key: P256PublicKey, alg: number): Map<number, CborValue> {
  return new Map<number, CborValue>([
    [1, 2],
    [3, alg],
    [-1, 1],
    [-2, key.x],
    [-3, key.y],
  ]);
}

/**
 * Read a P-256 public key from a COSE_Key map, checking kty, crv and (when given) alg, and that
 * the point is on the curve. Throws `ERR_CTAP2_CBOR` for a malformed map and
 * `ERR_INVALID_ARGUMENT` for a point that is not on P-256.
 */
export function decodeCoseP256(map: CborMap, expectedAlg?: number): P256PublicKey {
  const kty = asInt(map.get(1), 'COSE kty');
  const crv = asInt(map.get(-1), 'COSE crv');
  if (kty !== 2 || crv !== 1) {
    throw new LatchkeyError('ERR_UNSUPPORTED', 'only P-256 EC2 keys are supported', { kty, crv });
  }
  if (expectedAlg !== undefined && map.has(3) && asInt(map.get(3), 'COSE alg') !== expectedAlg) {
    throw new LatchkeyError('ERR_UNSUPPORTED', 'unexpected COSE algorithm', { expected: expectedAlg });
  }
  const key = { x: asBytes(map.get(-2), 'COSE x', 32, 32), y: asBytes(map.get(-3), 'COSE y', 32, 32) };
  p256KeyObject(key);
  return key;
}

/** The uncompressed SEC 1 form, `04 || x || y`. */
export function uncompressedPoint(key: P256PublicKey): Uint8Array {
  return concatBytes(new Uint8Array([4]), key.x, key.y);
}

/** A node:crypto public key for a P-256 point; `ERR_INVALID_ARGUMENT` when it is not on the curve. */
export function p256KeyObject(key: P256PublicKey): KeyObject {
  try {
    return createPublicKey({
      key: {
        kty: 'EC',
        crv: 'P-256',
        x: Buffer.from(key.x).toString('base64url'),
        y: Buffer.from(key.y).toString('base64url'),
      },
      format: 'jwk',
    });
  } catch (cause) {
    throw new LatchkeyError(
      'ERR_INVALID_ARGUMENT',
      'the public key is not a point on P-256',
      { field: 'publicKey' },
      { cause },
    );
  }
}
