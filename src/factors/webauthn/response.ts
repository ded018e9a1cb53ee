/**
 * Reading what a browser sent, before anything trusts it: every field's type and size is checked,
 * base64url is decoded strictly, `clientDataJSON` is parsed as UTF-8 JSON, and the fixed header
 * of authenticator data (RP ID hash, flags, counter, AAGUID) is read. A read response is still
 * untrusted: the factor verifies it.
 *
 * @internal
 * @module latchkey/webauthn
 */
import { fromBase64url, fromUtf8 } from '../../core/bytes.js';
import { isLatchkeyError, LatchkeyError } from '../../core/errors.js';
import type { WebAuthnLimits } from './limits.js';
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from './wire.js';

/** Flag bits of authenticator data (WebAuthn §6.1). */
const FLAGS = Object.freeze({ UP: 0x01, UV: 0x04, BE: 0x08, BS: 0x10, AT: 0x40, ED: 0x80 } as const);

/** The parts of `clientDataJSON` the factor checks (WebAuthn §5.8.1). */
export interface ClientData {
  readonly type: string;
  readonly challenge: Uint8Array;
  readonly origin: string;
  readonly crossOrigin: boolean;
  readonly topOrigin: string | undefined;
}

/** The fixed header of authenticator data. */
export interface AuthenticatorDataHeader {
  readonly rpIdHash: Uint8Array;
  readonly flags: number;
  readonly userPresent: boolean;
  readonly userVerified: boolean;
  readonly backupEligible: boolean;
  readonly backedUp: boolean;
  readonly signCount: number;
  /** Present when the AT flag is set (registration). */
  readonly aaguid: Uint8Array | undefined;
}

/** An assertion as read from the wire. */
export interface ReadAssertion {
  readonly json: AuthenticationResponseJSON;
  readonly credentialId: Uint8Array;
  readonly clientData: ClientData;
  readonly authData: AuthenticatorDataHeader;
  readonly signature: Uint8Array;
  readonly userHandle: Uint8Array | undefined;
}

/** A registration response as read from the wire. */
export interface ReadRegistration {
  readonly json: RegistrationResponseJSON;
  readonly credentialId: Uint8Array;
  readonly clientData: ClientData;
  readonly transports: readonly string[];
}

export function malformed(field: string): LatchkeyError {
  return new LatchkeyError('ERR_WEBAUTHN_VERIFICATION', `the response is malformed: \`${field}\``, {
    reason: 'malformed',
    field,
  });
}

function tooLarge(field: string, limit: number): LatchkeyError {
  return new LatchkeyError('ERR_LIMIT_EXCEEDED', `the response field \`${field}\` is larger than ${limit} bytes`, {
    field,
    limit,
  });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Decode a base64url field of at most `maxBytes` bytes (checked before decoding). */
function bytesField(value: unknown, field: string, maxBytes: number, minBytes = 1): Uint8Array {
  if (typeof value !== 'string') throw malformed(field);
  if (value.length > Math.ceil((maxBytes * 4) / 3) + 2) throw tooLarge(field, maxBytes);
  let bytes: Uint8Array;
  try {
    bytes = fromBase64url(value, field);
  } catch (error) {
    if (isLatchkeyError(error)) throw malformed(field);
    throw error;
  }
  if (bytes.length > maxBytes) throw tooLarge(field, maxBytes);
  if (bytes.length < minBytes) throw malformed(field);
  return bytes;
}

function parseClientData(raw: Uint8Array): ClientData {
  let value: unknown;
  try {
    value = JSON.parse(fromUtf8(raw, 'clientDataJSON'));
  } catch {
    throw malformed('clientDataJSON');
  }
  if (!isObject(value)) throw malformed('clientDataJSON');
  const { type, challenge, origin, crossOrigin, topOrigin } = value;
  if (typeof type !== 'string' || type.length > 64) throw malformed('clientDataJSON.type');
  if (typeof origin !== 'string' || origin.length === 0 || origin.length > 2048) {
    throw malformed('clientDataJSON.origin');
  }
  if (crossOrigin !== undefined && typeof crossOrigin !== 'boolean') throw malformed('clientDataJSON.crossOrigin');
  if (topOrigin !== undefined && (typeof topOrigin !== 'string' || topOrigin.length > 2048)) {
    throw malformed('clientDataJSON.topOrigin');
  }
  return {
    type,
    challenge: bytesField(challenge, 'clientDataJSON.challenge', 256),
    origin,
    crossOrigin: crossOrigin === true,
    topOrigin: topOrigin as string | undefined,
  };
}

/** Read the fixed header of authenticator data (and the AAGUID when attested credential data follows). */
export function readAuthenticatorData(raw: Uint8Array): AuthenticatorDataHeader {
  if (raw.length < 37) throw malformed('authenticatorData');
  const flags = raw[32] as number;
  const attested = (flags & FLAGS.AT) !== 0;
  if (attested && raw.length < 55) throw malformed('authenticatorData');
  const backupEligible = (flags & FLAGS.BE) !== 0;
  const backedUp = (flags & FLAGS.BS) !== 0;
  // WebAuthn §6.1.3: a credential that is not backup eligible cannot be backed up.
  if (backedUp && !backupEligible) throw malformed('authenticatorData.flags');
  return {
    rpIdHash: raw.subarray(0, 32),
    flags,
    userPresent: (flags & FLAGS.UP) !== 0,
    userVerified: (flags & FLAGS.UV) !== 0,
    backupEligible,
    backedUp,
    signCount: new DataView(raw.buffer, raw.byteOffset + 33, 4).getUint32(0),
    aaguid: attested ? raw.subarray(37, 53) : undefined,
  };
}

function credentialFields(
  value: unknown,
  limits: WebAuthnLimits,
): { json: Record<string, unknown>; response: Record<string, unknown>; credentialId: Uint8Array } {
  if (!isObject(value)) throw malformed('response');
  const { id, rawId, type, response } = value;
  if (type !== 'public-key') throw malformed('type');
  if (typeof id !== 'string' || id !== rawId) throw malformed('rawId');
  const credentialId = bytesField(id, 'id', limits.maxCredentialIdBytes);
  if (!isObject(response)) throw malformed('response.response');
  if (value.clientExtensionResults !== undefined && !isObject(value.clientExtensionResults)) {
    throw malformed('clientExtensionResults');
  }
  return { json: value, response, credentialId };
}

/**
 * Read an assertion (`AuthenticationResponseJSON`), checking shape and sizes.
 *
 * @throws `ERR_WEBAUTHN_VERIFICATION` (reason `malformed`) or `ERR_LIMIT_EXCEEDED`
 */
export function readAssertion(value: unknown, limits: WebAuthnLimits): ReadAssertion {
  const { json, response, credentialId } = credentialFields(value, limits);
  const clientDataRaw = bytesField(response.clientDataJSON, 'response.clientDataJSON', limits.maxClientDataBytes);
  const authDataRaw = bytesField(
    response.authenticatorData,
    'response.authenticatorData',
    limits.maxAuthenticatorDataBytes,
    37,
  );
  const signature = bytesField(response.signature, 'response.signature', limits.maxSignatureBytes, 8);
  const userHandle =
    response.userHandle === undefined || response.userHandle === null || response.userHandle === ''
      ? undefined
      : bytesField(response.userHandle, 'response.userHandle', 64);
  return {
    json: json as unknown as AuthenticationResponseJSON,
    credentialId,
    clientData: parseClientData(clientDataRaw),
    authData: readAuthenticatorData(authDataRaw),
    signature,
    userHandle,
  };
}

/**
 * Read a registration response (`RegistrationResponseJSON`), checking shape and sizes.
 *
 * @throws `ERR_WEBAUTHN_VERIFICATION` (reason `malformed`) or `ERR_LIMIT_EXCEEDED`
 */
export function readRegistration(value: unknown, limits: WebAuthnLimits): ReadRegistration {
  const { json, response, credentialId } = credentialFields(value, limits);
  const clientDataRaw = bytesField(response.clientDataJSON, 'response.clientDataJSON', limits.maxClientDataBytes);
  bytesField(response.attestationObject, 'response.attestationObject', limits.maxAttestationObjectBytes, 37);
  const transports = response.transports ?? [];
  if (
    !Array.isArray(transports) ||
    transports.length > 8 ||
    !transports.every((t) => typeof t === 'string' && /^[a-z-]{1,32}$/.test(t))
  ) {
    throw malformed('response.transports');
  }
  return {
    json: json as unknown as RegistrationResponseJSON,
    credentialId,
    clientData: parseClientData(clientDataRaw),
    transports: [...new Set(transports as string[])],
  };
}

/** COSE algorithms whose WebAuthn signatures are DER-encoded ECDSA (ES256, ES384, ES512, ES256K). */
const ECDSA_ALGORITHMS = new Set([-7, -35, -36, -47]);

function derInteger(bytes: Uint8Array, offset: number): number {
  if (bytes[offset] !== 0x02) return -1;
  const length = bytes[offset + 1] as number;
  const start = offset + 2;
  if (length === 0 || length > 67 || start + length > bytes.length) return -1;
  const first = bytes[start] as number;
  if (first & 0x80) return -1; // negative
  if (first === 0 && (length === 1 || ((bytes[start + 1] as number) & 0x80) === 0)) return -1; // not minimal
  return start + length;
}

/**
 * Refuse an ECDSA signature that is not strict DER (one SEQUENCE of two minimal, positive
 * INTEGERs, nothing after): SimpleWebAuthn's ASN.1 reader accepts some non-canonical encodings,
 * which would let one signature verify under several byte strings.
 */
export function checkSignatureEncoding(signature: Uint8Array, alg: number): void {
  if (!ECDSA_ALGORITHMS.has(alg)) return;
  let offset: number;
  let length: number;
  if ((signature[1] as number) < 0x80) {
    length = signature[1] as number;
    offset = 2;
  } else if (signature[1] === 0x81 && (signature[2] as number) >= 0x80) {
    length = signature[2] as number;
    offset = 3;
  } else {
    length = -1;
    offset = -1;
  }
  let ok = signature[0] === 0x30 && signature.length >= 8 && offset > 0 && length === signature.length - offset;
  if (ok) {
    const afterR = derInteger(signature, offset);
    const afterS = afterR < 0 ? -1 : derInteger(signature, afterR);
    ok = afterS === signature.length;
  }
  if (!ok) {
    throw new LatchkeyError('ERR_WEBAUTHN_VERIFICATION', 'the signature is not strict DER', {
      reason: 'signature',
    });
  }
}
