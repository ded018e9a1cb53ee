/**
 * The macaroon primitives, exactly as libmacaroons and pymacaroons compute them: HMAC-SHA256
 * chaining, the `macaroons-key-generator` key derivation, the two-HMAC hash used for
 * third-party caveats and discharge binding, and NaCl secretbox for verification ids.
 *
 * @module latchkey
 */
import { xsalsa20poly1305 } from '@noble/ciphers/salsa.js';
import { concatBytes, wipe } from '../../core/bytes.js';
import { LatchkeyError } from '../../core/errors.js';
import { randomBytes } from '../../core/random.js';
import { type HmacKey, hmacKey, hmacSha256, wipeHmacScratch } from './hmac-sha256.js';

export { wipeHmacScratch };

/** Length of a macaroon signature (HMAC-SHA256). */
export const SIGNATURE_BYTES = 32;
const NONCE_BYTES = 24;
const TAG_BYTES = 16;
/** A verification id: 24-byte nonce, 16-byte Poly1305 tag, the 32-byte encrypted caveat key. */
const VERIFICATION_ID_BYTES = NONCE_BYTES + TAG_BYTES + SIGNATURE_BYTES;

// The two fixed keys, with their HMAC pads computed once.
const KEY_GENERATOR = hmacKey(new TextEncoder().encode('macaroons-key-generator'));
const ZERO_KEY = hmacKey(new Uint8Array(SIGNATURE_BYTES));

/** HMAC-SHA256 of `data` under `key`. */
export function hmac(key: Uint8Array, data: Uint8Array): Uint8Array {
  return hmacSha256(key, data);
}

/** The key libmacaroons derives from a root or caveat key: HMAC("macaroons-key-generator", key). */
export function deriveKey(key: Uint8Array): Uint8Array {
  return hmacSha256(KEY_GENERATOR, key);
}

function hmac2With(key: HmacKey, a: Uint8Array, b: Uint8Array): Uint8Array {
  const ha = hmacSha256(key, a);
  const hb = hmacSha256(key, b);
  const joined = concatBytes(ha, hb);
  try {
    return hmacSha256(key, joined);
  } finally {
    wipe(ha, hb, joined);
  }
}

/** HMAC(key, HMAC(key, a) || HMAC(key, b)): libmacaroons `macaroon_hmac2`. */
export function hmac2(key: Uint8Array, a: Uint8Array, b: Uint8Array): Uint8Array {
  const pads = hmacKey(key);
  try {
    return hmac2With(pads, a, b);
  } finally {
    pads.inner.fill(0);
    pads.outer.fill(0);
  }
}

/** The signature of a discharge bound to a root signature (libmacaroons `prepare_for_request`). */
export function bindSignature(rootSignature: Uint8Array, dischargeSignature: Uint8Array): Uint8Array {
  return hmac2With(ZERO_KEY, rootSignature, dischargeSignature);
}

/** Encrypt a derived caveat key under the current signature with a fresh random nonce. */
export function sealCaveatKey(signature: Uint8Array, caveatKey: Uint8Array): Uint8Array {
  const nonce = randomBytes(NONCE_BYTES);
  const sealed = xsalsa20poly1305(signature, nonce).encrypt(caveatKey);
  return concatBytes(nonce, sealed);
}

/**
 * Decrypt the caveat key of a third-party caveat. A verification id that does not open under the
 * signature computed so far means the token was altered: `ERR_MACAROON_SIGNATURE`.
 */
export function openCaveatKey(
  signature: Uint8Array,
  verificationId: Uint8Array,
  detail: Record<string, string | number>,
): Uint8Array {
  if (verificationId.length !== VERIFICATION_ID_BYTES) {
    throw new LatchkeyError('ERR_MACAROON_SIGNATURE', 'third-party caveat has a verification id of the wrong length', {
      ...detail,
      expected: VERIFICATION_ID_BYTES,
      actual: verificationId.length,
    });
  }
  try {
    return xsalsa20poly1305(signature, verificationId.subarray(0, NONCE_BYTES)).decrypt(
      verificationId.subarray(NONCE_BYTES),
    );
  } catch (cause) {
    throw new LatchkeyError('ERR_MACAROON_SIGNATURE', 'third-party caveat verification id does not decrypt', detail, {
      cause,
    });
  }
}
