/**
 * Mechanism-parameter validation: the one gate every mechanism passes before the native call.
 * pkcs11js copies whatever object it is given into C structures, and a token reads them as the
 * mechanism says; a wrong parameter type, a missing field or an out-of-range length has aborted
 * processes (a double free in the native layer). So latchkey describes mechanisms as a small typed
 * union, checks every field here (types, ranges, lengths, the key they are used with, and EC
 * points on their curve), and only then builds the native object, from fresh copies, with the
 * exact shape pkcs11js expects. {@link NativeMechanism} can be made nowhere else.
 *
 * @module latchkey/pkcs11
 */
import { createPublicKey } from 'node:crypto';
import { LatchkeyError } from '../../core/errors.js';
import { CKD, CKG, CKM, CKZ, PKCS11JS_PARAMS } from './constants.js';

/** Hash functions a mechanism may name. */
export type Pkcs11Hash = 'sha1' | 'sha256' | 'sha384' | 'sha512';

/** The NIST curves latchkey uses on tokens. */
export type Pkcs11Curve = 'P-256' | 'P-384' | 'P-521';

/**
 * A mechanism, as latchkey's callers describe it. Only these are ever sent to a token.
 *
 * - `ECDSA`: raw ECDSA over a digest computed in Node (many tokens lack `CKM_ECDSA_SHA256`).
 * - `RSA_PKCS`: PKCS#1 v1.5 over a DigestInfo computed in Node.
 * - `RSA_PKCS_PSS`: PSS over a digest computed in Node; `mgf` must equal `hash`.
 * - `RSA_PKCS_OAEP`: OAEP decryption; `mgf` must equal `hash`; an optional label.
 * - `ECDH1_DERIVE`: ECDH with the null KDF (the raw shared secret, hashed in Node) and the peer's
 *   uncompressed point.
 * - `EC_KEY_PAIR_GEN`, `RSA_PKCS_KEY_PAIR_GEN`: key generation (parameters are in templates).
 */
export type Pkcs11Mechanism =
  | { readonly mechanism: 'ECDSA' }
  | { readonly mechanism: 'RSA_PKCS' }
  | {
      readonly mechanism: 'RSA_PKCS_PSS';
      readonly hash: Pkcs11Hash;
      readonly mgf: Pkcs11Hash;
      readonly saltLength: number;
    }
  | {
      readonly mechanism: 'RSA_PKCS_OAEP';
      readonly hash: Pkcs11Hash;
      readonly mgf: Pkcs11Hash;
      readonly label?: Uint8Array;
    }
  | { readonly mechanism: 'ECDH1_DERIVE'; readonly kdf: 'null'; readonly publicData: Uint8Array }
  | { readonly mechanism: 'EC_KEY_PAIR_GEN' }
  | { readonly mechanism: 'RSA_PKCS_KEY_PAIR_GEN' };

/** What is known of the key a mechanism will be used with. */
export interface MechanismKey {
  readonly keyType: 'EC' | 'RSA' | 'other';
  readonly curve?: Pkcs11Curve | undefined;
  readonly modulusBits?: number | undefined;
}

declare const nativeBrand: unique symbol;

/** Parameters in pkcs11js's structured form (`type` is its CK_PARAMS_* tag). */
type NativeParameter =
  | { readonly type: number; readonly hashAlg: number; readonly mgf: number; readonly saltLen: number }
  | {
      readonly type: number;
      readonly hashAlg: number;
      readonly mgf: number;
      readonly source: number;
      readonly sourceData?: Buffer;
    }
  | { readonly type: number; readonly kdf: number; readonly publicData: Buffer };

/** A validated mechanism in the exact shape pkcs11js reads. Made only by {@link validateMechanism}. */
export interface NativeMechanism {
  readonly mechanism: number;
  readonly parameter?: NativeParameter;
  readonly [nativeBrand]: true;
}

/** Digest lengths and PKCS#11 numbers of each hash. */
const HASHES: Readonly<Record<Pkcs11Hash, { readonly length: number; readonly ckm: number; readonly mgf: number }>> =
  Object.freeze({
    sha1: { length: 20, ckm: CKM.SHA_1, mgf: CKG.MGF1_SHA1 },
    sha256: { length: 32, ckm: CKM.SHA256, mgf: CKG.MGF1_SHA256 },
    sha384: { length: 48, ckm: CKM.SHA384, mgf: CKG.MGF1_SHA384 },
    sha512: { length: 64, ckm: CKM.SHA512, mgf: CKG.MGF1_SHA512 },
  });

/** Field size in bytes and DER-encoded OID (CKA_EC_PARAMS) of each curve. */
export const CURVES: Readonly<Record<Pkcs11Curve, { readonly fieldBytes: number; readonly oid: string }>> =
  Object.freeze({
    'P-256': { fieldBytes: 32, oid: '06082a8648ce3d030107' },
    'P-384': { fieldBytes: 48, oid: '06052b81040022' },
    'P-521': { fieldBytes: 66, oid: '06052b81040023' },
  });

/** RSA moduli latchkey accepts on a token: 2048 bits at least (NIST SP 800-131A), 8192 at most. */
const RSA_MODULUS_BITS = Object.freeze({ min: 2048, max: 8192 });

/** Longest OAEP label accepted. */
const MAX_OAEP_LABEL = 1024;

function invalid(field: string, message: string): LatchkeyError {
  return new LatchkeyError('ERR_INVALID_ARGUMENT', `mechanism ${field} ${message}`, { field: `mechanism.${field}` });
}

function plainObject(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw invalid(field, 'must be a plain object');
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) throw invalid(field, 'must be a plain object');
  return value as Record<string, unknown>;
}

/** Read the own data properties of `value`, once each, refusing anything not in `allowed`. */
function fields(value: unknown, allowed: readonly string[]): Record<string, unknown> {
  const object = plainObject(value, 'description');
  const out: Record<string, unknown> = Object.create(null);
  for (const key of Reflect.ownKeys(object)) {
    if (typeof key !== 'string' || !allowed.includes(key)) {
      throw invalid(typeof key === 'string' ? `\`${key}\`` : 'key', 'is not a parameter of this mechanism');
    }
    const descriptor = Object.getOwnPropertyDescriptor(object, key);
    if (descriptor === undefined || !('value' in descriptor)) throw invalid(`\`${key}\``, 'must be a data property');
    out[key] = descriptor.value;
  }
  return out;
}

function hashOf(value: unknown, field: string): Pkcs11Hash {
  if (typeof value !== 'string' || !Object.hasOwn(HASHES, value)) {
    throw invalid(field, 'must be one of `sha1`, `sha256`, `sha384`, `sha512`');
  }
  return value as Pkcs11Hash;
}

function bytesOf(value: unknown, field: string, max: number): Buffer {
  if (!(value instanceof Uint8Array)) throw invalid(field, 'must be a Uint8Array');
  if (value.length > max) throw invalid(field, `must be at most ${max} bytes`);
  // A fresh copy: the caller cannot change it between validation and the native call.
  return Buffer.from(value);
}

function requireKey(key: MechanismKey, type: 'EC' | 'RSA', mechanism: string): void {
  if (key.keyType !== type) {
    throw new LatchkeyError('ERR_PKCS11_KEY_UNSUITABLE', `\`${mechanism}\` needs an ${type} key`, {
      mechanism,
      keyType: key.keyType,
    });
  }
  if (type === 'EC' && key.curve === undefined) {
    throw new LatchkeyError('ERR_PKCS11_KEY_UNSUITABLE', 'the key is on a curve latchkey does not support', {
      mechanism,
    });
  }
  if (type === 'RSA') {
    const bits = key.modulusBits;
    if (
      bits === undefined ||
      !Number.isSafeInteger(bits) ||
      bits < RSA_MODULUS_BITS.min ||
      bits > RSA_MODULUS_BITS.max
    ) {
      throw new LatchkeyError(
        'ERR_PKCS11_KEY_UNSUITABLE',
        `RSA keys must have between ${RSA_MODULUS_BITS.min} and ${RSA_MODULUS_BITS.max} bits`,
        { mechanism, modulusBits: bits ?? null },
      );
    }
  }
}

/**
 * Check an uncompressed EC point (`04 || X || Y`) for `curve`: its length, its prefix, and that
 * it lies on the curve (Node refuses points off the curve), so that no token ever multiplies its
 * key by an attacker's invalid point. Returns a fresh copy.
 */
function checkEcPoint(point: unknown, curve: Pkcs11Curve, field = 'publicData'): Buffer {
  const { fieldBytes } = CURVES[curve];
  const bytes = bytesOf(point, field, 1 + 2 * fieldBytes);
  if (bytes.length !== 1 + 2 * fieldBytes || bytes[0] !== 0x04) {
    throw invalid(field, `must be an uncompressed ${curve} point (${1 + 2 * fieldBytes} bytes starting 0x04)`);
  }
  try {
    createPublicKey({
      key: {
        kty: 'EC',
        crv: curve,
        x: bytes.subarray(1, 1 + fieldBytes).toString('base64url'),
        y: bytes.subarray(1 + fieldBytes).toString('base64url'),
      },
      format: 'jwk',
    });
  } catch (cause) {
    throw new LatchkeyError(
      'ERR_INVALID_ARGUMENT',
      `mechanism ${field} is not a point on ${curve}`,
      { field: `mechanism.${field}` },
      { cause },
    );
  }
  return bytes;
}

function native(mechanism: number, parameter?: NativeParameter): NativeMechanism {
  return Object.freeze(
    parameter === undefined ? { mechanism } : { mechanism, parameter: Object.freeze(parameter) },
  ) as NativeMechanism;
}

/**
 * Validate a mechanism description against the key it will be used with and build its native
 * form. Throws `ERR_INVALID_ARGUMENT` for a malformed description and `ERR_PKCS11_KEY_UNSUITABLE`
 * when the key cannot do it; never calls into native code.
 *
 * @example
 * ```ts
 * import { validateMechanism } from 'latchkey/pkcs11';
 * validateMechanism({ mechanism: 'RSA_PKCS_PSS', hash: 'sha256', mgf: 'sha256', saltLength: 32 }, {
 *   keyType: 'RSA',
 *   modulusBits: 2048,
 * });
 * ```
 */
export function validateMechanism(description: Pkcs11Mechanism, key: MechanismKey): NativeMechanism {
  const kind = plainObject(description, 'description').mechanism;
  switch (kind) {
    case 'ECDSA': {
      fields(description, ['mechanism']);
      requireKey(key, 'EC', kind);
      return native(CKM.ECDSA);
    }
    case 'RSA_PKCS': {
      fields(description, ['mechanism']);
      requireKey(key, 'RSA', kind);
      return native(CKM.RSA_PKCS);
    }
    case 'RSA_PKCS_PSS': {
      const f = fields(description, ['mechanism', 'hash', 'mgf', 'saltLength']);
      requireKey(key, 'RSA', kind);
      const hash = hashOf(f.hash, 'hash');
      const mgf = hashOf(f.mgf, 'mgf');
      if (mgf !== hash) throw invalid('mgf', 'must use the same hash as `hash`');
      const modulusBytes = Math.ceil((key.modulusBits as number) / 8);
      const maxSalt = modulusBytes - HASHES[hash].length - 2;
      const salt = f.saltLength;
      if (typeof salt !== 'number' || !Number.isSafeInteger(salt) || salt < 0 || salt > maxSalt) {
        throw invalid('saltLength', `must be an integer between 0 and ${maxSalt}`);
      }
      return native(CKM.RSA_PKCS_PSS, {
        type: PKCS11JS_PARAMS.RSA_PSS,
        hashAlg: HASHES[hash].ckm,
        mgf: HASHES[mgf].mgf,
        saltLen: salt,
      });
    }
    case 'RSA_PKCS_OAEP': {
      const f = fields(description, ['mechanism', 'hash', 'mgf', 'label']);
      requireKey(key, 'RSA', kind);
      const hash = hashOf(f.hash, 'hash');
      const mgf = hashOf(f.mgf, 'mgf');
      if (mgf !== hash) throw invalid('mgf', 'must use the same hash as `hash`');
      const label = f.label === undefined ? undefined : bytesOf(f.label, 'label', MAX_OAEP_LABEL);
      return native(CKM.RSA_PKCS_OAEP, {
        type: PKCS11JS_PARAMS.RSA_OAEP,
        hashAlg: HASHES[hash].ckm,
        mgf: HASHES[mgf].mgf,
        source: CKZ.DATA_SPECIFIED,
        ...(label === undefined || label.length === 0 ? {} : { sourceData: label }),
      });
    }
    case 'ECDH1_DERIVE': {
      const f = fields(description, ['mechanism', 'kdf', 'publicData']);
      requireKey(key, 'EC', kind);
      if (f.kdf !== 'null') throw invalid('kdf', 'must be `null` (the shared secret is hashed in Node)');
      const point = checkEcPoint(f.publicData, key.curve as Pkcs11Curve);
      return native(CKM.ECDH1_DERIVE, { type: PKCS11JS_PARAMS.EC_DH, kdf: CKD.NULL, publicData: point });
    }
    case 'EC_KEY_PAIR_GEN': {
      fields(description, ['mechanism']);
      return native(CKM.EC_KEY_PAIR_GEN);
    }
    case 'RSA_PKCS_KEY_PAIR_GEN': {
      fields(description, ['mechanism']);
      return native(CKM.RSA_PKCS_KEY_PAIR_GEN);
    }
    default:
      throw new LatchkeyError(
        'ERR_INVALID_ARGUMENT',
        typeof kind === 'string' ? `mechanism \`${kind.slice(0, 64)}\` is not supported` : 'mechanism is missing',
        { field: 'mechanism.mechanism' },
      );
  }
}
