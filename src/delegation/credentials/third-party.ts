/**
 * Third-party caveat identifiers: a compact JWE, encrypted to the discharger's P-256 public key,
 * holding the random caveat key and the condition the discharger must check. The discharger
 * shares no secret with the issuer or the holder: whoever can decrypt the identifier can mint
 * the discharge, and nobody else can.
 *
 * Algorithm: `ECDH-ES` (direct key agreement) with `A256GCM`. Each JWE gets a fresh ephemeral
 * key pair, so the content key is fresh for every caveat; with a single recipient, key wrapping
 * (`ECDH-ES+A256KW`) would only add a 40-byte encrypted key to every identifier and a second
 * primitive to trust. The decrypting side accepts exactly this pair of algorithms (no `alg`
 * confusion) and the `typ` below, and bounds the payload.
 *
 * @module latchkey
 */
import { createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { CompactEncrypt, compactDecrypt } from 'jose';
import { base64url, fromBase64url, utf8, wipe } from '../../core/bytes.js';
import { LatchkeyError } from '../../core/errors.js';

const TYP = 'latchkey-caveat+jwe';
const ALG = 'ECDH-ES';
const ENC = 'A256GCM';
export const CAVEAT_KEY_BYTES = 32;
/** Longest condition text a third-party caveat may carry. */
const MAX_CONDITION_LENGTH = 1024;
const MAX_IDENTIFIER_LENGTH = 8192;

/** What a third-party caveat identifier holds. */
export interface CaveatSecret {
  readonly key: Uint8Array;
  readonly condition: string;
}

function checkP256(key: KeyObject, label: string): KeyObject {
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', `${label} must be an EC P-256 key`, { field: label });
  }
  return key;
}

function isKeyObject(value: unknown): value is KeyObject {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { type?: unknown }).type === 'string' &&
    typeof (value as { export?: unknown }).export === 'function' &&
    'asymmetricKeyType' in value
  );
}

/** A P-256 public key from a `KeyObject` or a JWK (a private JWK gives its public half). */
export function publicKeyArgument(value: unknown, label: string): KeyObject {
  try {
    if (isKeyObject(value)) return checkP256(value.type === 'private' ? createPublicKey(value) : value, label);
    if (typeof value === 'object' && value !== null) {
      return checkP256(createPublicKey({ key: value as JsonWebKey, format: 'jwk' }), label);
    }
  } catch (cause) {
    if (cause instanceof LatchkeyError) throw cause;
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', `${label} is not a usable public key`, { field: label }, { cause });
  }
  throw new LatchkeyError('ERR_INVALID_ARGUMENT', `${label} must be a JWK or a KeyObject`, { field: label });
}

/** A P-256 private key from a `KeyObject` or a JWK. */
export function privateKeyArgument(value: unknown, label: string): KeyObject {
  try {
    if (isKeyObject(value) && value.type === 'private') return checkP256(value, label);
    if (!isKeyObject(value) && typeof value === 'object' && value !== null) {
      return checkP256(createPrivateKey({ key: value as JsonWebKey, format: 'jwk' }), label);
    }
  } catch (cause) {
    if (cause instanceof LatchkeyError) throw cause;
    throw new LatchkeyError(
      'ERR_INVALID_ARGUMENT',
      `${label} is not a usable private key`,
      { field: label },
      { cause },
    );
  }
  throw new LatchkeyError('ERR_INVALID_ARGUMENT', `${label} must be a private JWK or a private KeyObject`, {
    field: label,
  });
}

/** Check a condition's text. */
export function conditionArgument(value: unknown, label: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_CONDITION_LENGTH) {
    throw new LatchkeyError(
      'ERR_INVALID_ARGUMENT',
      `${label} must be a string of 1 to ${MAX_CONDITION_LENGTH} characters`,
      { field: label },
    );
  }
  return value;
}

/** Encrypt a caveat key and its condition to `publicKey`; the result is the caveat identifier. */
export async function sealCaveat(publicKey: KeyObject, secret: CaveatSecret, keyId?: string): Promise<string> {
  const payload = utf8(JSON.stringify({ v: 1, k: base64url(secret.key), c: secret.condition }));
  try {
    const header =
      keyId === undefined ? { alg: ALG, enc: ENC, typ: TYP } : { alg: ALG, enc: ENC, typ: TYP, kid: keyId };
    return await new CompactEncrypt(payload).setProtectedHeader(header).encrypt(publicKey);
  } catch (cause) {
    throw new LatchkeyError('ERR_INTERNAL', 'the third-party caveat could not be encrypted', {}, { cause });
  } finally {
    wipe(payload);
  }
}

function unreadable(cause?: unknown): LatchkeyError {
  return new LatchkeyError(
    'ERR_DISCHARGE_UNREADABLE',
    'the third-party caveat cannot be read with this discharger key',
    {},
    cause === undefined ? undefined : { cause },
  );
}

/** Decrypt a caveat identifier; `ERR_DISCHARGE_UNREADABLE` for anything this key did not seal. */
export async function openCaveat(identifier: string, privateKey: KeyObject): Promise<CaveatSecret> {
  if (identifier.length > MAX_IDENTIFIER_LENGTH || !/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]*){4}$/.test(identifier)) {
    throw unreadable();
  }
  let plaintext: Uint8Array;
  try {
    const result = await compactDecrypt(identifier, privateKey, {
      keyManagementAlgorithms: [ALG],
      contentEncryptionAlgorithms: [ENC],
    });
    if (result.protectedHeader.typ !== TYP) throw unreadable();
    plaintext = result.plaintext;
  } catch (cause) {
    throw cause instanceof LatchkeyError ? cause : unreadable(cause);
  }
  try {
    if (plaintext.length > MAX_CONDITION_LENGTH * 6 + 256) throw unreadable();
    const data: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(plaintext));
    if (typeof data !== 'object' || data === null) throw unreadable();
    const { v, k, c } = data as { v?: unknown; k?: unknown; c?: unknown };
    if (
      v !== 1 ||
      typeof k !== 'string' ||
      typeof c !== 'string' ||
      c.length === 0 ||
      c.length > MAX_CONDITION_LENGTH
    ) {
      throw unreadable();
    }
    const key = fromBase64url(k, 'caveat key');
    if (key.length !== CAVEAT_KEY_BYTES) throw unreadable();
    return { key, condition: c };
  } catch (cause) {
    throw cause instanceof LatchkeyError && cause.code === 'ERR_DISCHARGE_UNREADABLE' ? cause : unreadable(cause);
  } finally {
    wipe(plaintext);
  }
}
