/**
 * PIN/UV auth protocols 1 and 2 (CTAP 2.1 §6.5.6 and §6.5.7), used by both ends: the CTAP2
 * client and the virtual fob. Key agreement is ECDH on P-256; protocol 1 derives one key with
 * SHA-256 and encrypts with AES-256-CBC under a zero IV, authenticating with HMAC-SHA-256 cut to
 * 16 bytes; protocol 2 derives an HMAC key and an AES key with HKDF-SHA-256, uses a random IV
 * and the full 32-byte HMAC.
 *
 * @module latchkey/fob
 */
import { createCipheriv, createDecipheriv, createECDH, createHash, createHmac, hkdfSync } from 'node:crypto';
import { concatBytes, equalBytes, wipe } from '../core/bytes.js';
import { LatchkeyError } from '../core/errors.js';
import { randomBytes } from '../core/random.js';
import { type P256PublicKey, uncompressedPoint } from './cose.js';

/** One PIN/UV auth protocol's primitives. */
export interface PinUvAuthProtocol {
  readonly version: 1 | 2;
  /** Derive the shared secret from the ECDH x-coordinate `z`. */
  kdf(z: Uint8Array): Uint8Array;
  encrypt(key: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** Throws `ERR_INVALID_ARGUMENT` for a ciphertext of the wrong length. */
  decrypt(key: Uint8Array, ciphertext: Uint8Array): Uint8Array;
  authenticate(key: Uint8Array, message: Uint8Array): Uint8Array;
  /** Constant-time check of `signature` over `message`. */
  verify(key: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
}

const ZERO_IV = new Uint8Array(16);

function aesCbc(encrypt: boolean, key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  if (data.length % 16 !== 0) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'ciphertext length is not a multiple of 16', {
      field: 'ciphertext',
    });
  }
  const cipher = encrypt ? createCipheriv('aes-256-cbc', key, iv) : createDecipheriv('aes-256-cbc', key, iv);
  cipher.setAutoPadding(false);
  return new Uint8Array(Buffer.concat([cipher.update(data), cipher.final()]));
}

function hmac(key: Uint8Array, message: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac('sha256', key).update(message).digest());
}

/** PIN/UV auth protocol one (CTAP 2.1 §6.5.6). */
export const PIN_PROTOCOL_1: PinUvAuthProtocol = Object.freeze({
  version: 1 as const,
  kdf: (z: Uint8Array) => new Uint8Array(createHash('sha256').update(z).digest()),
  encrypt: (key: Uint8Array, plaintext: Uint8Array) => aesCbc(true, key.subarray(0, 32), ZERO_IV, plaintext),
  decrypt: (key: Uint8Array, ciphertext: Uint8Array) => aesCbc(false, key.subarray(0, 32), ZERO_IV, ciphertext),
  authenticate: (key: Uint8Array, message: Uint8Array) => hmac(key, message).subarray(0, 16),
  verify: (key: Uint8Array, message: Uint8Array, signature: Uint8Array) =>
    equalBytes(hmac(key, message).subarray(0, 16), signature),
});

const HKDF_SALT = new Uint8Array(32);

/** PIN/UV auth protocol two (CTAP 2.1 §6.5.7). */
export const PIN_PROTOCOL_2: PinUvAuthProtocol = Object.freeze({
  version: 2 as const,
  kdf: (z: Uint8Array) =>
    concatBytes(
      new Uint8Array(hkdfSync('sha256', z, HKDF_SALT, 'CTAP2 HMAC key', 32)),
      new Uint8Array(hkdfSync('sha256', z, HKDF_SALT, 'CTAP2 AES key', 32)),
    ),
  encrypt: (key: Uint8Array, plaintext: Uint8Array) => {
    const iv = randomBytes(16);
    return concatBytes(iv, aesCbc(true, aesKey2(key), iv, plaintext));
  },
  decrypt: (key: Uint8Array, ciphertext: Uint8Array) => {
    if (ciphertext.length < 16) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'ciphertext is too short', { field: 'ciphertext' });
    }
    return aesCbc(false, aesKey2(key), ciphertext.subarray(0, 16), ciphertext.subarray(16));
  },
  // A 64-byte shared secret keeps its HMAC half; a 32-byte pinUvAuthToken is used whole.
  authenticate: (key: Uint8Array, message: Uint8Array) => hmac(key.subarray(0, 32), message),
  verify: (key: Uint8Array, message: Uint8Array, signature: Uint8Array) =>
    equalBytes(hmac(key.subarray(0, 32), message), signature),
});

function aesKey2(key: Uint8Array): Uint8Array {
  // The shared secret is HMAC key || AES key; a pinUvAuthToken (32 bytes) is never an AES key here.
  return key.length === 64 ? key.subarray(32, 64) : key.subarray(0, 32);
}

/** The protocol with this version number; `ERR_UNSUPPORTED` for anything but 1 and 2. */
export function pinProtocol(version: number): PinUvAuthProtocol {
  if (version === 1) return PIN_PROTOCOL_1;
  if (version === 2) return PIN_PROTOCOL_2;
  throw new LatchkeyError('ERR_UNSUPPORTED', `PIN/UV auth protocol \`${version}\` is not supported`, { version });
}

/** An ephemeral P-256 key pair for key agreement. */
export interface KeyAgreementKey {
  readonly publicKey: P256PublicKey;
  /** ECDH with the peer's public key: the x-coordinate of the shared point. */
  agree(peer: P256PublicKey): Uint8Array;
}

/** Generate a fresh key-agreement key pair. */
export function generateKeyAgreementKey(): KeyAgreementKey {
  const ecdh = createECDH('prime256v1');
  const point = new Uint8Array(ecdh.generateKeys());
  return {
    publicKey: { x: point.slice(1, 33), y: point.slice(33, 65) },
    agree(peer) {
      try {
        return new Uint8Array(ecdh.computeSecret(uncompressedPoint(peer)));
      } catch (cause) {
        throw new LatchkeyError(
          'ERR_INVALID_ARGUMENT',
          'the key-agreement key is not a point on P-256',
          { field: 'keyAgreement' },
          { cause },
        );
      }
    },
  };
}

/**
 * The platform half of key agreement: a fresh key pair, the shared secret with the
 * authenticator's key, and the public key to send it. The caller wipes `sharedSecret`.
 */
export function encapsulate(
  protocol: PinUvAuthProtocol,
  peer: P256PublicKey,
): { publicKey: P256PublicKey; sharedSecret: Uint8Array } {
  const own = generateKeyAgreementKey();
  const z = own.agree(peer);
  try {
    return { publicKey: own.publicKey, sharedSecret: protocol.kdf(z) };
  } finally {
    wipe(z);
  }
}
