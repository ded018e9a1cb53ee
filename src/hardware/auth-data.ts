/**
 * Authenticator data (WebAuthn Level 2 §6.1; CTAP 2.1 §6): the bytes an authenticator signs.
 * `rpIdHash (32) || flags (1) || signCount (4, big-endian) || [attestedCredentialData] ||
 * [extensions (CBOR map)]`, where attested credential data is
 * `aaguid (16) || credentialIdLength (2) || credentialId || credentialPublicKey (COSE)`.
 *
 * @module latchkey/fob
 */
import { concatBytes } from '../core/bytes.js';
import { LatchkeyError } from '../core/errors.js';
import { asMap, type CborInput, type CborKey, type CborMap, decodeCborPrefix, encodeCbor } from './cbor.js';

/** Flag bits of authenticator data. */
export const AUTH_DATA_FLAGS = Object.freeze({ UP: 0x01, UV: 0x04, AT: 0x40, ED: 0x80 } as const);

/** The attested credential data of a makeCredential response. */
export interface AttestedCredential {
  readonly aaguid: Uint8Array;
  readonly credentialId: Uint8Array;
  /** The COSE_Key map. */
  readonly publicKey: CborMap;
  /** The COSE_Key exactly as the authenticator encoded it. */
  readonly publicKeyBytes: Uint8Array;
}

/** Parsed authenticator data. A parsed value is not a verified one: check the signature. */
export interface AuthenticatorData {
  readonly rpIdHash: Uint8Array;
  readonly flags: number;
  readonly userPresent: boolean;
  readonly userVerified: boolean;
  readonly signCount: number;
  readonly attestedCredential?: AttestedCredential;
  readonly extensions?: CborMap;
  /** The exact bytes, for signature verification. */
  readonly raw: Uint8Array;
}

/** Longest credential id latchkey accepts in authenticator data (CTAP allows up to 1023). */
const MAX_CREDENTIAL_ID = 1023;

function invalid(reason: string): LatchkeyError {
  return new LatchkeyError('ERR_CTAP2_CBOR', `invalid authenticator data: ${reason}`, { reason });
}

/**
 * Parse authenticator data. Throws `ERR_CTAP2_CBOR` for truncated or trailing bytes, flags that
 * disagree with the content, or malformed CBOR.
 *
 * @example
 * ```ts
 * import { parseAuthenticatorData } from 'latchkey/fob';
 * const data = parseAuthenticatorData(assertion.authData);
 * data.userVerified;
 * ```
 */
export function parseAuthenticatorData(raw: Uint8Array): AuthenticatorData {
  if (!(raw instanceof Uint8Array) || raw.length < 37) throw invalid('shorter than 37 bytes');
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const flags = raw[32] ?? 0;
  const signCount = view.getUint32(33);
  let offset = 37;
  let attestedCredential: AttestedCredential | undefined;
  let extensions: CborMap | undefined;
  if ((flags & AUTH_DATA_FLAGS.AT) !== 0) {
    if (raw.length < offset + 18) throw invalid('attested credential data is truncated');
    const aaguid = raw.slice(offset, offset + 16);
    const idLength = view.getUint16(offset + 16);
    offset += 18;
    if (idLength > MAX_CREDENTIAL_ID || raw.length < offset + idLength) throw invalid('credential id is truncated');
    const credentialId = raw.slice(offset, offset + idLength);
    offset += idLength;
    const key = decodeCborPrefix(raw.subarray(offset));
    const publicKeyBytes = raw.slice(offset, offset + key.length);
    offset += key.length;
    attestedCredential = { aaguid, credentialId, publicKey: asMap(key.value, 'credentialPublicKey'), publicKeyBytes };
  }
  if ((flags & AUTH_DATA_FLAGS.ED) !== 0) {
    const parsed = decodeCborPrefix(raw.subarray(offset));
    extensions = asMap(parsed.value, 'extensions');
    offset += parsed.length;
  }
  if (offset !== raw.length) throw invalid('trailing bytes');
  return {
    rpIdHash: raw.slice(0, 32),
    flags,
    userPresent: (flags & AUTH_DATA_FLAGS.UP) !== 0,
    userVerified: (flags & AUTH_DATA_FLAGS.UV) !== 0,
    signCount,
    ...(attestedCredential === undefined ? {} : { attestedCredential }),
    ...(extensions === undefined ? {} : { extensions }),
    raw,
  };
}

/** Build authenticator data (the virtual fob's side). Sets AT and ED from the content. */
export function buildAuthenticatorData(input: {
  readonly rpIdHash: Uint8Array;
  readonly userPresent: boolean;
  readonly userVerified: boolean;
  readonly signCount: number;
  readonly attested?: { readonly aaguid: Uint8Array; readonly credentialId: Uint8Array; readonly publicKey: CborInput };
  readonly extensions?: ReadonlyMap<CborKey, CborInput>;
}): Uint8Array {
  let flags = 0;
  if (input.userPresent) flags |= AUTH_DATA_FLAGS.UP;
  if (input.userVerified) flags |= AUTH_DATA_FLAGS.UV;
  const parts: Uint8Array[] = [input.rpIdHash, new Uint8Array(5)];
  if (input.attested !== undefined) {
    flags |= AUTH_DATA_FLAGS.AT;
    const length = new Uint8Array(2);
    new DataView(length.buffer).setUint16(0, input.attested.credentialId.length);
    parts.push(input.attested.aaguid, length, input.attested.credentialId, encodeCbor(input.attested.publicKey));
  }
  if (input.extensions !== undefined && input.extensions.size > 0) {
    flags |= AUTH_DATA_FLAGS.ED;
    parts.push(encodeCbor(input.extensions));
  }
  const header = parts[1] as Uint8Array;
  header[0] = flags;
  new DataView(header.buffer).setUint32(1, input.signCount >>> 0);
  return concatBytes(...parts);
}
