/**
 * The macaroon identifier of a credential: `lk1.<key id>.<credential id>.<nonce>`, printable
 * text so that every macaroon tool shows it, and compact (about 45 bytes). `lk1` is the format
 * version; the key id finds the root key in the {@link KeyRing}; the credential id is the root
 * of the delegation chain (revoke it to revoke everything); the 96-bit random nonce makes every
 * root signature distinct even when an application chooses the credential id itself.
 *
 * @module latchkey
 */
import { base64url } from '../../core/bytes.js';
import { LatchkeyError } from '../../core/errors.js';
import { randomBytes } from '../../core/random.js';
import { isKeyId } from './key-ring.js';

const VERSION = 'lk1';
const CREDENTIAL_ID = /^[A-Za-z0-9_-]{1,64}$/;
const NONCE = /^[A-Za-z0-9_-]{16}$/;

/** The parts of a credential identifier. */
export interface CredentialIdentifier {
  readonly keyId: string;
  readonly credentialId: string;
}

/** True when `value` can be a credential id: 1 to 64 of `A-Z a-z 0-9 _ -`. */
export function isCredentialId(value: unknown): value is string {
  return typeof value === 'string' && CREDENTIAL_ID.test(value);
}

/** A fresh identifier for `credentialId` under `keyId`. */
export function encodeIdentifier(keyId: string, credentialId: string): string {
  return `${VERSION}.${keyId}.${credentialId}.${base64url(randomBytes(12))}`;
}

/**
 * Parse an identifier; `ERR_MACAROON_FORMAT` when it is not one latchkey wrote. Parsing says
 * nothing about authenticity: only the signature check does.
 */
export function decodeIdentifier(identifier: string | undefined): CredentialIdentifier {
  const parts = identifier?.split('.');
  if (parts === undefined || parts.length !== 4 || parts[0] !== VERSION) {
    const version = parts !== undefined && parts.length === 4 && /^lk\d{1,3}$/.test(parts[0] ?? '');
    throw new LatchkeyError(
      'ERR_MACAROON_FORMAT',
      version ? `unsupported credential version \`${parts?.[0]}\`` : 'not a latchkey credential: unknown identifier',
    );
  }
  const [, keyId, credentialId, nonce] = parts as [string, string, string, string];
  if (!isKeyId(keyId) || !isCredentialId(credentialId) || !NONCE.test(nonce)) {
    throw new LatchkeyError('ERR_MACAROON_FORMAT', 'not a latchkey credential: malformed identifier');
  }
  return { keyId, credentialId };
}
