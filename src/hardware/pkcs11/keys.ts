/**
 * Keys on a token as latchkey describes them, and the decoding of their attributes: CK_BBOOL and
 * CK_ULONG values, `CKA_EC_PARAMS` (a DER OID), `CKA_EC_POINT` (DER-wrapped by most tokens, raw by
 * some) and RSA moduli, into Node `KeyObject`s.
 *
 * @module latchkey/pkcs11
 */
import { createPublicKey, type KeyObject, X509Certificate } from 'node:crypto';
import { LatchkeyError } from '../../core/errors.js';
import { CKA, CKK, CKO } from './constants.js';
import { CURVES, type Pkcs11Curve } from './mechanism.js';

/** The class of an object on a token. */
export type Pkcs11ObjectClass = 'private' | 'public' | 'secret' | 'certificate' | 'data' | 'other';

/** A key (or certificate) found on a token. Plain data; the handle stays inside latchkey. */
export interface Pkcs11Key {
  readonly class: Pkcs11ObjectClass;
  readonly keyType: 'EC' | 'RSA' | 'other';
  /** `CKA_ID`, which ties a private key to its public key and certificate. */
  readonly id: Uint8Array;
  readonly label: string;
  readonly curve?: Pkcs11Curve;
  readonly modulusBits?: number;
  /** What the token allows the key to do. */
  readonly usage: {
    readonly sign: boolean;
    readonly decrypt: boolean;
    readonly derive: boolean;
    readonly unwrap: boolean;
  };
  /** `CKA_PRIVATE`: only usable after logging in. */
  readonly private: boolean;
  /** `CKA_ALWAYS_AUTHENTICATE`: every use needs the PIN again (PIV's signature key). */
  readonly alwaysAuthenticate: boolean;
  /** `CKA_LOCAL`: generated on the token. */
  readonly local: boolean;
  /** `CKA_SENSITIVE`: the token will not reveal the key's value (see also `alwaysSensitive`, `extractable`). */
  readonly sensitive: boolean;
  readonly extractable: boolean;
  /** `CKA_NEVER_EXTRACTABLE`: it has never left the token. */
  readonly neverExtractable: boolean;
  /**
   * CKA_ALWAYS_SENSITIVE: the key has been sensitive since it was made. Without it, a key made
   * with CKA_SENSITIVE false could have been read out in clear and only then marked sensitive.
   */
  readonly alwaysSensitive: boolean;
  /** CKA_TOKEN: the key is stored on the token (not a session object that ends with the session). */
  readonly token: boolean;
}

/** What a query may ask for. */
export interface Pkcs11KeyQuery {
  /** `CKA_ID`, as bytes or hexadecimal. */
  readonly id?: Uint8Array | string;
  readonly label?: string;
  /** Default `private`. */
  readonly class?: 'private' | 'public' | 'certificate';
  readonly keyType?: 'EC' | 'RSA';
}

/** The attributes latchkey reads to describe a key, in this order. */
export const KEY_ATTRIBUTES: readonly number[] = Object.freeze([
  CKA.CLASS,
  CKA.KEY_TYPE,
  CKA.ID,
  CKA.LABEL,
  CKA.SIGN,
  CKA.DECRYPT,
  CKA.DERIVE,
  CKA.UNWRAP,
  CKA.PRIVATE,
  CKA.ALWAYS_AUTHENTICATE,
  CKA.LOCAL,
  CKA.SENSITIVE,
  CKA.EXTRACTABLE,
  CKA.NEVER_EXTRACTABLE,
  CKA.ALWAYS_SENSITIVE,
  CKA.TOKEN,
  CKA.EC_PARAMS,
  CKA.MODULUS_BITS,
  CKA.MODULUS,
]);

/** A CK_BBOOL attribute: one byte, non-zero is true; absent is false. */
function readBool(value: Buffer | undefined): boolean {
  return value !== undefined && value.length >= 1 && value.some((byte) => byte !== 0);
}

/** A CK_ULONG attribute (4 or 8 bytes, native order), or undefined. */
export function readUlong(value: Buffer | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (value.length === 4) return value.readUInt32LE(0);
  if (value.length === 8) {
    const big = value.readBigUInt64LE(0);
    return big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : undefined;
  }
  return undefined;
}

const CLASS_NAMES: Readonly<Record<number, Pkcs11ObjectClass>> = {
  [CKO.PRIVATE_KEY]: 'private',
  [CKO.PUBLIC_KEY]: 'public',
  [CKO.SECRET_KEY]: 'secret',
  [CKO.CERTIFICATE]: 'certificate',
  [CKO.DATA]: 'data',
};

/**
 * Whether the token vouches that a key can never exist outside it: made on the token (LOCAL),
 * stored there (TOKEN), sensitive since it was made (ALWAYS_SENSITIVE: SENSITIVE may be turned on
 * after a key was read out in clear) and never extractable. All of it is the module's word: see
 * SECURITY.md on software tokens.
 */
export function isHardwareBound(key: Pkcs11Key): boolean {
  return key.token && key.local && key.alwaysSensitive && key.neverExtractable && key.sensitive && !key.extractable;
}

/** The curve a DER OID in `CKA_EC_PARAMS` names, or undefined. */
export function curveOfParams(params: Buffer | undefined): Pkcs11Curve | undefined {
  if (params === undefined) return undefined;
  const hex = params.toString('hex');
  for (const [curve, { oid }] of Object.entries(CURVES)) if (hex === oid) return curve as Pkcs11Curve;
  return undefined;
}

/** Describe an object from its {@link KEY_ATTRIBUTES} values. */
export function describeKey(values: readonly (Buffer | undefined)[]): Pkcs11Key {
  const at = (type: number): Buffer | undefined => values[KEY_ATTRIBUTES.indexOf(type)];
  const klass = CLASS_NAMES[readUlong(at(CKA.CLASS)) ?? -1] ?? 'other';
  const keyTypeValue = readUlong(at(CKA.KEY_TYPE));
  const keyType = keyTypeValue === CKK.EC ? 'EC' : keyTypeValue === CKK.RSA ? 'RSA' : 'other';
  const curve = keyType === 'EC' ? curveOfParams(at(CKA.EC_PARAMS)) : undefined;
  let modulusBits = keyType === 'RSA' ? readUlong(at(CKA.MODULUS_BITS)) : undefined;
  const modulus = at(CKA.MODULUS);
  if (keyType === 'RSA' && modulusBits === undefined && modulus !== undefined) {
    modulusBits = bitLength(modulus);
  }
  const sensitive = readBool(at(CKA.SENSITIVE));
  const extractable = readBool(at(CKA.EXTRACTABLE));
  const label = at(CKA.LABEL);
  return Object.freeze({
    class: klass,
    keyType,
    id: new Uint8Array(at(CKA.ID) ?? new Uint8Array(0)),
    label: label === undefined ? '' : label.toString('utf8'),
    ...(curve === undefined ? {} : { curve }),
    ...(modulusBits === undefined ? {} : { modulusBits }),
    usage: Object.freeze({
      sign: readBool(at(CKA.SIGN)),
      decrypt: readBool(at(CKA.DECRYPT)),
      derive: readBool(at(CKA.DERIVE)),
      unwrap: readBool(at(CKA.UNWRAP)),
    }),
    private: readBool(at(CKA.PRIVATE)),
    alwaysAuthenticate: readBool(at(CKA.ALWAYS_AUTHENTICATE)),
    local: readBool(at(CKA.LOCAL)),
    sensitive,
    extractable,
    neverExtractable: readBool(at(CKA.NEVER_EXTRACTABLE)),
    alwaysSensitive: readBool(at(CKA.ALWAYS_SENSITIVE)),
    token: readBool(at(CKA.TOKEN)),
  });
}

function bitLength(bytes: Buffer): number {
  let index = 0;
  while (index < bytes.length && bytes[index] === 0) index++;
  if (index === bytes.length) return 0;
  return (bytes.length - index - 1) * 8 + (32 - Math.clz32(bytes[index] as number));
}

function malformed(what: string): LatchkeyError {
  return new LatchkeyError('ERR_ENCODING', `the token returned a malformed ${what}`, { field: what });
}

/**
 * The uncompressed point in `CKA_EC_POINT`. PKCS#11 says it is a DER OCTET STRING wrapping the
 * point; some tokens return the bare point. The two are told apart by the curve's lengths.
 */
export function unwrapEcPoint(value: Buffer | undefined, curve: Pkcs11Curve): Buffer {
  if (value === undefined) throw malformed('EC point');
  const size = 1 + 2 * CURVES[curve].fieldBytes;
  if (value.length === size && value[0] === 0x04) return value;
  // DER: 04 len point, with len in short (< 128) or long (81 xx) form.
  if (value[0] === 0x04) {
    if (size < 128 && value.length === size + 2 && value[1] === size && value[2] === 0x04) return value.subarray(2);
    if (size >= 128 && value.length === size + 3 && value[1] === 0x81 && value[2] === size && value[3] === 0x04) {
      return value.subarray(3);
    }
  }
  throw malformed('EC point');
}

/** A Node public key from an uncompressed point; throws `ERR_ENCODING` for a point off the curve. */
export function ecPublicKey(point: Buffer, curve: Pkcs11Curve): KeyObject {
  const { fieldBytes } = CURVES[curve];
  if (point.length !== 1 + 2 * fieldBytes || point[0] !== 0x04) throw malformed('EC point');
  try {
    return createPublicKey({
      key: {
        kty: 'EC',
        crv: curve,
        x: point.subarray(1, 1 + fieldBytes).toString('base64url'),
        y: point.subarray(1 + fieldBytes).toString('base64url'),
      },
      format: 'jwk',
    });
  } catch {
    throw malformed('EC point');
  }
}

/** A Node public key from an RSA modulus and public exponent. */
export function rsaPublicKey(modulus: Buffer | undefined, exponent: Buffer | undefined): KeyObject {
  if (modulus === undefined || exponent === undefined || modulus.length === 0 || exponent.length === 0) {
    throw malformed('RSA public key');
  }
  try {
    return createPublicKey({
      key: { kty: 'RSA', n: modulus.toString('base64url'), e: exponent.toString('base64url') },
      format: 'jwk',
    });
  } catch {
    throw malformed('RSA public key');
  }
}

/** The public key of an X.509 certificate in `CKA_VALUE`. */
export function certificatePublicKey(der: Buffer | undefined): KeyObject {
  if (der === undefined) throw malformed('certificate');
  try {
    return new X509Certificate(der).publicKey;
  } catch {
    throw malformed('certificate');
  }
}

/** The uncompressed point of an EC public key (for ECDH). */
export function ecPointOf(key: KeyObject): { readonly curve: Pkcs11Curve; readonly point: Buffer } {
  if (key.type !== 'public' || key.asymmetricKeyType !== 'ec') {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'the peer key must be an EC public key', { field: 'peer' });
  }
  const jwk = key.export({ format: 'jwk' });
  const curve = jwk.crv as Pkcs11Curve;
  if (!Object.hasOwn(CURVES, curve) || typeof jwk.x !== 'string' || typeof jwk.y !== 'string') {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'the peer key must be on P-256, P-384 or P-521', {
      field: 'peer',
    });
  }
  const size = CURVES[curve].fieldBytes;
  const x = Buffer.from(jwk.x, 'base64url');
  const y = Buffer.from(jwk.y, 'base64url');
  const point = Buffer.alloc(1 + 2 * size);
  point[0] = 0x04;
  x.copy(point, 1 + size - x.length);
  y.copy(point, 1 + 2 * size - y.length);
  return { curve, point };
}
