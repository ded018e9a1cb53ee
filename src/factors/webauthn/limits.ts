/**
 * Bounds of the WebAuthn factor: challenge size and lifetime, and the largest response fields it
 * reads. Every field of a response is checked against these before anything parses it.
 *
 * @module latchkey/webauthn
 */
import { LatchkeyError } from '../../core/errors.js';
import { aint } from '../../core/guards.js';

/** Bounds of {@link WebAuthnFactor}. */
export interface WebAuthnLimits {
  /** Challenge size in bytes (16 to 64; WebAuthn §13.4.3 asks for at least 16). */
  readonly challengeBytes: number;
  /** How long a challenge lives, in ms; also the `timeout` the browser is given. */
  readonly challengeTtlMs: number;
  /** Longest credential id, in bytes (WebAuthn allows 1023). */
  readonly maxCredentialIdBytes: number;
  /** Largest `clientDataJSON`, in bytes. */
  readonly maxClientDataBytes: number;
  /** Largest authenticator data of an assertion, in bytes. */
  readonly maxAuthenticatorDataBytes: number;
  /** Largest signature, in bytes (RSA-4096 is 512). */
  readonly maxSignatureBytes: number;
  /** Largest attestation object, in bytes (TPM attestations with certificates run to a few KiB). */
  readonly maxAttestationObjectBytes: number;
  /** Most passkeys one account may have (bounds allow and exclude lists). */
  readonly maxCredentialsPerAccount: number;
}

/** Defaults: 32-byte challenges living five minutes; generous field sizes. */
export const DEFAULT_WEBAUTHN_LIMITS: WebAuthnLimits = Object.freeze({
  challengeBytes: 32,
  challengeTtlMs: 5 * 60_000,
  maxCredentialIdBytes: 1023,
  maxClientDataBytes: 4096,
  maxAuthenticatorDataBytes: 4096,
  maxSignatureBytes: 1024,
  maxAttestationObjectBytes: 32 * 1024,
  maxCredentialsPerAccount: 64,
});

const BOUNDS: { readonly [K in keyof WebAuthnLimits]: readonly [number, number] } = {
  challengeBytes: [16, 64],
  challengeTtlMs: [10_000, 10 * 60_000],
  maxCredentialIdBytes: [16, 1023],
  maxClientDataBytes: [256, 64 * 1024],
  maxAuthenticatorDataBytes: [37, 64 * 1024],
  maxSignatureBytes: [64, 8192],
  maxAttestationObjectBytes: [256, 1 << 20],
  maxCredentialsPerAccount: [1, 1024],
};

/** Merge overrides into the defaults, refusing unknown keys and values outside hard bounds. */
export function resolveWebAuthnLimits(overrides: Partial<WebAuthnLimits> = {}): WebAuthnLimits {
  const out: Record<string, number> = { ...DEFAULT_WEBAUTHN_LIMITS };
  for (const [key, value] of Object.entries(overrides)) {
    const bounds = BOUNDS[key as keyof WebAuthnLimits];
    if (bounds === undefined) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', `unknown limit \`${key.slice(0, 64)}\``, { field: key });
    }
    if (value === undefined) continue;
    out[key] = aint(value, `limits.${key}`, bounds[0], bounds[1]);
  }
  return Object.freeze(out) as unknown as WebAuthnLimits;
}
