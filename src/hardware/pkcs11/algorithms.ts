/**
 * Signature and decryption algorithms on a token, named as in JOSE (RFC 7518), and how each is
 * done: the message is hashed in Node, and the token applies the raw mechanism (`CKM_ECDSA`,
 * `CKM_RSA_PKCS` over a DigestInfo, `CKM_RSA_PKCS_PSS` over the digest), because many tokens lack
 * the combined `CKM_ECDSA_SHA256` and friends. Signatures come back in JOSE form (ECDSA as
 * `r || s`), and {@link verifyTokenSignature} checks them with node:crypto.
 *
 * @module latchkey/pkcs11
 */
import { type KeyObject, constants as nodeConstants, verify as nodeVerify } from 'node:crypto';
import { LatchkeyError } from '../../core/errors.js';
import type { Pkcs11Key } from './keys.js';
import { CURVES, type Pkcs11Curve, type Pkcs11Hash, type Pkcs11Mechanism } from './mechanism.js';

/** Signature algorithms (JOSE names). */
export type Pkcs11SignatureAlgorithm =
  | 'ES256'
  | 'ES384'
  | 'ES512'
  | 'RS256'
  | 'RS384'
  | 'RS512'
  | 'PS256'
  | 'PS384'
  | 'PS512';

/** RSA-OAEP decryption (JOSE names): `RSA-OAEP` is SHA-1, the others SHA-2. */
export type Pkcs11DecryptionAlgorithm = 'RSA-OAEP' | 'RSA-OAEP-256' | 'RSA-OAEP-384' | 'RSA-OAEP-512';

export const SIGNATURE_ALGORITHMS: readonly Pkcs11SignatureAlgorithm[] = Object.freeze([
  'ES256',
  'ES384',
  'ES512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
]);

export const DECRYPTION_ALGORITHMS: readonly Pkcs11DecryptionAlgorithm[] = Object.freeze([
  'RSA-OAEP',
  'RSA-OAEP-256',
  'RSA-OAEP-384',
  'RSA-OAEP-512',
]);

const EC_CURVE: Readonly<Record<string, Pkcs11Curve>> = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' };

const HASH_OF: Readonly<Record<Pkcs11SignatureAlgorithm, Pkcs11Hash>> = {
  ES256: 'sha256',
  ES384: 'sha384',
  ES512: 'sha512',
  RS256: 'sha256',
  RS384: 'sha384',
  RS512: 'sha512',
  PS256: 'sha256',
  PS384: 'sha384',
  PS512: 'sha512',
};

/** DER DigestInfo prefixes (RFC 8017 §9.2, note 1). */
const DIGEST_INFO: Readonly<Record<string, Buffer>> = {
  sha256: Buffer.from('3031300d060960864801650304020105000420', 'hex'),
  sha384: Buffer.from('3041300d060960864801650304020205000430', 'hex'),
  sha512: Buffer.from('3051300d060960864801650304020305000440', 'hex'),
};

/** How to sign with one algorithm and one key. */
export interface SignaturePlan {
  readonly algorithm: Pkcs11SignatureAlgorithm;
  readonly hash: Pkcs11Hash;
  readonly mechanism: Pkcs11Mechanism;
  /** The bytes the token signs, from the digest. */
  input(digest: Buffer): Buffer;
  /** The exact length of the signature. */
  readonly length: number;
}

function unsuitable(message: string, detail: Record<string, string>): LatchkeyError {
  return new LatchkeyError('ERR_PKCS11_KEY_UNSUITABLE', message, detail);
}

/** The algorithm a key signs with by default: ES256/384/512 by curve, PS256 for RSA. */
export function defaultSignatureAlgorithm(key: Pick<Pkcs11Key, 'keyType' | 'curve'>): Pkcs11SignatureAlgorithm {
  if (key.keyType === 'RSA') return 'PS256';
  if (key.keyType === 'EC' && key.curve !== undefined) {
    return key.curve === 'P-256' ? 'ES256' : key.curve === 'P-384' ? 'ES384' : 'ES512';
  }
  throw unsuitable('latchkey cannot sign with this kind of key', { keyType: key.keyType });
}

/** Check that `algorithm` fits `key` and say how to sign. */
export function signaturePlan(
  algorithm: unknown,
  key: Pick<Pkcs11Key, 'keyType' | 'curve' | 'modulusBits'>,
): SignaturePlan {
  if (typeof algorithm !== 'string' || !SIGNATURE_ALGORITHMS.includes(algorithm as Pkcs11SignatureAlgorithm)) {
    throw new LatchkeyError(
      'ERR_INVALID_ARGUMENT',
      'algorithm must be one of ES256, ES384, ES512, RS256-512, PS256-512',
      {
        field: 'algorithm',
      },
    );
  }
  const name = algorithm as Pkcs11SignatureAlgorithm;
  const hash = HASH_OF[name];
  if (name.startsWith('ES')) {
    const curve = EC_CURVE[name] as Pkcs11Curve;
    if (key.keyType !== 'EC' || key.curve !== curve) {
      throw unsuitable(`${name} needs a ${curve} key`, { algorithm: name });
    }
    return {
      algorithm: name,
      hash,
      mechanism: { mechanism: 'ECDSA' },
      input: (digest) => digest,
      length: 2 * CURVES[curve].fieldBytes,
    };
  }
  if (key.keyType !== 'RSA' || key.modulusBits === undefined) {
    throw unsuitable(`${name} needs an RSA key`, { algorithm: name });
  }
  const length = Math.ceil(key.modulusBits / 8);
  if (name.startsWith('RS')) {
    const prefix = DIGEST_INFO[hash] as Buffer;
    return {
      algorithm: name,
      hash,
      mechanism: { mechanism: 'RSA_PKCS' },
      input: (digest) => Buffer.concat([prefix, digest]),
      length,
    };
  }
  const saltLength = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 }[hash];
  return {
    algorithm: name,
    hash,
    mechanism: { mechanism: 'RSA_PKCS_PSS', hash, mgf: hash, saltLength },
    input: (digest) => digest,
    length,
  };
}

/** The OAEP mechanism of a decryption algorithm. */
export function oaepMechanism(algorithm: unknown, label?: Uint8Array): Pkcs11Mechanism {
  if (typeof algorithm !== 'string' || !DECRYPTION_ALGORITHMS.includes(algorithm as Pkcs11DecryptionAlgorithm)) {
    throw new LatchkeyError(
      'ERR_INVALID_ARGUMENT',
      'algorithm must be one of RSA-OAEP, RSA-OAEP-256, RSA-OAEP-384, RSA-OAEP-512',
      { field: 'algorithm' },
    );
  }
  const hash = oaepHash(algorithm as Pkcs11DecryptionAlgorithm);
  return { mechanism: 'RSA_PKCS_OAEP', hash, mgf: hash, ...(label === undefined ? {} : { label }) };
}

/** The Node hash name of an OAEP algorithm. */
function oaepHash(algorithm: Pkcs11DecryptionAlgorithm): Pkcs11Hash {
  return algorithm === 'RSA-OAEP'
    ? 'sha1'
    : algorithm === 'RSA-OAEP-256'
      ? 'sha256'
      : algorithm === 'RSA-OAEP-384'
        ? 'sha384'
        : 'sha512';
}

/**
 * Verify a token's signature (JOSE form) over `message` with node:crypto. Returns false for a
 * wrong signature, a wrong length or a key of the wrong kind; never throws for bad input.
 *
 * @example
 * ```ts
 * import { verifyTokenSignature } from 'latchkey/pkcs11';
 * verifyTokenSignature(publicKey, 'ES256', message, signature); // true
 * ```
 */
export function verifyTokenSignature(
  publicKey: KeyObject,
  algorithm: Pkcs11SignatureAlgorithm,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  try {
    const hash = HASH_OF[algorithm];
    if (hash === undefined || !(signature instanceof Uint8Array) || !(message instanceof Uint8Array)) return false;
    if (algorithm.startsWith('ES')) {
      const curve = EC_CURVE[algorithm] as Pkcs11Curve;
      if (publicKey.asymmetricKeyType !== 'ec' || publicKey.asymmetricKeyDetails?.namedCurve !== nodeCurve(curve)) {
        return false;
      }
      if (signature.length !== 2 * CURVES[curve].fieldBytes) return false;
      return nodeVerify(hash, message, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature);
    }
    if (publicKey.asymmetricKeyType !== 'rsa') return false;
    const bits = publicKey.asymmetricKeyDetails?.modulusLength ?? 0;
    if (signature.length !== Math.ceil(bits / 8)) return false;
    if (algorithm.startsWith('RS')) return nodeVerify(hash, message, publicKey, signature);
    const saltLength = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 }[hash];
    return nodeVerify(
      hash,
      message,
      { key: publicKey, padding: nodeConstants.RSA_PKCS1_PSS_PADDING, saltLength },
      signature,
    );
  } catch {
    return false;
  }
}

function nodeCurve(curve: Pkcs11Curve): string {
  return curve === 'P-256' ? 'prime256v1' : curve === 'P-384' ? 'secp384r1' : 'secp521r1';
}
