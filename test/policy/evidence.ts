// Evidence as latchkey's factors produce it, for the policy tests. Times are relative to NOW.
import type { Evidence } from '../../src/core/types.js';

export const NOW = Date.parse('2025-06-01T12:00:00Z');
export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

interface Options {
  readonly ageMs?: number;
  readonly subject?: string;
}

function base(options: Options): { subject: string; at: number; userPresent: boolean } {
  return { subject: options.subject ?? 'alice', at: NOW - (options.ageMs ?? 0), userPresent: true };
}

/** A memorised secret (§3.1.1): knowledge only, not replay resistant. */
export function password(options: Options = {}): Evidence {
  return {
    ...base(options),
    factor: 'password',
    authenticatorId: 'pw',
    amr: ['pwd'],
    kinds: ['knowledge'],
    phishingResistant: false,
    hardwareBound: false,
    userVerified: false,
    userPresent: false,
    replayResistant: false,
  };
}

/** A synced passkey (exportable): UV by biometric, by PIN, or none. */
export function syncedPasskey(uv: 'biometric' | 'pin' | 'none', options: Options = {}): Evidence {
  return {
    ...base(options),
    factor: 'webauthn',
    authenticatorId: 'icloud-keychain',
    amr: uv === 'biometric' ? ['swk', 'user', 'fpt'] : uv === 'pin' ? ['swk', 'user', 'pin'] : ['swk'],
    kinds:
      uv === 'biometric' ? ['possession', 'inherence'] : uv === 'pin' ? ['possession', 'knowledge'] : ['possession'],
    phishingResistant: true,
    hardwareBound: false,
    userVerified: uv !== 'none',
    replayResistant: true,
  };
}

/** A device-bound platform passkey (TPM / Secure Enclave, not synced). */
export function deviceBoundPasskey(uv: 'biometric' | 'pin' | 'none', options: Options = {}): Evidence {
  return { ...syncedPasskey(uv, options), authenticatorId: 'tpm', hardwareBound: true, amr: ['hwk', 'user'] };
}

/** A CTAP2 security key: with its PIN (clientPIN), a fingerprint (bio enrolment), or touch only. */
export function fob(uv: 'pin' | 'biometric' | 'none' = 'none', options: Options & { id?: string } = {}): Evidence {
  return {
    ...base(options),
    factor: 'fob',
    authenticatorId: options.id ?? 'fob-1',
    amr: uv === 'pin' ? ['hwk', 'pin'] : uv === 'biometric' ? ['hwk', 'fpt'] : ['hwk'],
    kinds:
      uv === 'pin' ? ['possession', 'knowledge'] : uv === 'biometric' ? ['possession', 'inherence'] : ['possession'],
    phishingResistant: true,
    hardwareBound: true,
    userVerified: uv !== 'none',
    replayResistant: true,
  };
}

/** A look-up secret (§3.1.2): something you have; replay resistant (single use), not phishing resistant. */
export function recoveryCode(options: Options = {}): Evidence {
  return {
    ...base(options),
    factor: 'recovery-code',
    authenticatorId: 'codes',
    amr: ['otp'],
    kinds: ['possession'],
    phishingResistant: false,
    hardwareBound: false,
    userVerified: false,
    userPresent: false,
    replayResistant: true,
  };
}

/** A single-factor OTP device (§3.1.4): replay resistant, not phishing resistant. */
export function totp(options: Options = {}): Evidence {
  return {
    ...base(options),
    factor: 'totp',
    authenticatorId: 'totp',
    amr: ['otp'],
    kinds: ['possession'],
    phishingResistant: false,
    hardwareBound: false,
    userVerified: false,
    userPresent: false,
    replayResistant: true,
  };
}

/** A PKCS#11 smart card unlocked by its PIN, signing a fresh, channel-bound challenge. */
export function smartCard(options: Options = {}): Evidence {
  return {
    ...base(options),
    factor: 'pkcs11',
    authenticatorId: 'piv',
    amr: ['sc', 'pin', 'hwk'],
    kinds: ['possession', 'knowledge'],
    phishingResistant: true,
    hardwareBound: true,
    userVerified: true,
    replayResistant: true,
  };
}

/** A bare biometric with no possession proof: never a factor by itself (§3.2.3). */
export function bareBiometric(options: Options = {}): Evidence {
  return {
    ...base(options),
    factor: 'face-match',
    authenticatorId: 'camera',
    amr: ['face'],
    kinds: ['inherence'],
    phishingResistant: false,
    hardwareBound: false,
    userVerified: true,
    replayResistant: false,
  };
}
