/**
 * How a passkey is kept: an authenticator record of factor `webauthn` whose lookup key is the
 * credential id, whose counter is the signature counter, and whose data holds the public key and
 * what registration established (AAGUID, transports, backup eligibility, attestation, the user
 * handle). No secret is stored.
 *
 * @module latchkey/webauthn
 */
import { createHash } from 'node:crypto';
import { base64url } from '../../core/bytes.js';
import { LatchkeyError } from '../../core/errors.js';
import type { AuthenticatorRecord } from '../../store/types.js';

/** The factor name in records and evidence. */
export const WEBAUTHN_FACTOR = 'webauthn';

/** What a passkey record keeps in `data`. */
export interface WebAuthnRecordData {
  /** Format version of this document. */
  readonly v: 1;
  readonly rpId: string;
  /** The credential id, base64url. */
  readonly credentialId: string;
  /** The COSE public key, base64url. */
  readonly publicKey: string;
  /** The COSE algorithm of the key (e.g. -7 for ES256). */
  readonly alg: number;
  /** The account's WebAuthn user handle (`user.id`), base64url; not personal data. */
  readonly userHandle: string;
  readonly aaguid: string;
  readonly transports: readonly string[];
  /** BE at registration; it may never change afterwards (WebAuthn §6.1.3). */
  readonly backupEligible: boolean;
  /** BS as last seen: a backup-eligible passkey that has been synced. */
  readonly backedUp: boolean;
  /** Attestation statement format at registration (`none`, `packed`, ...). */
  readonly fmt: string;
  /** The attestation chained to an allowed model (see `attestation` options). */
  readonly attested: boolean;
  /** The allowed model it chained to, when attested. */
  readonly model: string | null;
  /** Whether the credential is discoverable (credProps.rk), when the browser said. */
  readonly discoverable: boolean | null;
  /** The origin it was registered on. */
  readonly origin: string;
}

/** The lookup key of a credential id: itself in base64url, or its SHA-256 when longer than 160 bytes. */
export function lookupKeyOf(credentialId: Uint8Array): string {
  if (credentialId.length <= 160) return base64url(credentialId);
  return `sha256:${base64url(new Uint8Array(createHash('sha256').update(credentialId).digest()))}`;
}

const STRINGS = ['rpId', 'credentialId', 'publicKey', 'userHandle', 'aaguid', 'fmt', 'origin'] as const;

/** A passkey record's data, checked; `ERR_STORE_CORRUPT` when it is not one. */
export function readRecordData(record: AuthenticatorRecord): WebAuthnRecordData {
  const data = record.data as unknown as WebAuthnRecordData;
  const ok =
    record.factor === WEBAUTHN_FACTOR &&
    data?.v === 1 &&
    STRINGS.every((key) => typeof data[key] === 'string') &&
    typeof data.alg === 'number' &&
    typeof data.backupEligible === 'boolean' &&
    typeof data.backedUp === 'boolean' &&
    typeof data.attested === 'boolean' &&
    Array.isArray(data.transports);
  if (!ok) throw new LatchkeyError('ERR_STORE_CORRUPT', 'the passkey record is malformed', { record: record.id });
  return data;
}

/** A passkey as an app lists it (for an account's security page). */
export interface PasskeySummary {
  readonly authenticatorId: string;
  readonly credentialId: string;
  readonly label: string | undefined;
  readonly aaguid: string;
  readonly model: string | null;
  readonly transports: readonly string[];
  /** Synced (backup eligible): it can leave the device. */
  readonly synced: boolean;
  readonly backedUp: boolean;
  readonly attested: boolean;
  readonly disabled: boolean;
  readonly counter: number;
  readonly createdAt: number;
  readonly lastUsedAt: number | undefined;
}

export function summarize(record: AuthenticatorRecord): PasskeySummary {
  const data = readRecordData(record);
  return {
    authenticatorId: record.id,
    credentialId: data.credentialId,
    label: record.label,
    aaguid: data.aaguid,
    model: data.model,
    transports: data.transports,
    synced: data.backupEligible,
    backedUp: data.backedUp,
    attested: data.attested,
    disabled: record.disabled,
    counter: record.counter,
    createdAt: record.createdAt,
    lastUsedAt: record.lastUsedAt,
  };
}
