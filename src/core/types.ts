/**
 * The shared vocabulary of latchkey (see DESIGN.md, "Shared vocabulary"). Evidence is what a
 * factor returns after a successful verification, and the only thing the policy engine sees.
 *
 * @module latchkey
 */

/** The factors latchkey knows. Apps may add their own names. */
export type FactorName =
  | 'password'
  | 'webauthn'
  | 'fob'
  | 'pkcs11'
  | 'recovery-code'
  | (string & { readonly __factor?: never });

/**
 * Authentication method reference values (RFC 8176 §2). `user` means user verification
 * happened on the authenticator (a PIN or a biometric that unlocked the key).
 */
export type Amr =
  | 'face'
  | 'fpt'
  | 'geo'
  | 'hwk'
  | 'iris'
  | 'kba'
  | 'mca'
  | 'mfa'
  | 'otp'
  | 'pin'
  | 'pop'
  | 'pwd'
  | 'rba'
  | 'retina'
  | 'sc'
  | 'sms'
  | 'swk'
  | 'tel'
  | 'user'
  | 'vbm'
  | 'wia';

/** Every RFC 8176 value, for validation of data read from outside. */
export const AMR_VALUES: readonly Amr[] = Object.freeze([
  'face',
  'fpt',
  'geo',
  'hwk',
  'iris',
  'kba',
  'mca',
  'mfa',
  'otp',
  'pin',
  'pop',
  'pwd',
  'rba',
  'retina',
  'sc',
  'sms',
  'swk',
  'tel',
  'user',
  'vbm',
  'wia',
]);

/**
 * Authentication factor kinds (NIST SP 800-63B-4 §3.1 and §2.2): something you know, have, are.
 * Inherence appears only as user verification on a possession proof; a biometric is never
 * evidence by itself.
 */
export type FactorKind = 'knowledge' | 'possession' | 'inherence';

/** Authenticator assurance level (NIST SP 800-63B-4 §2); 0 means no authentication. */
export type Aal = 0 | 1 | 2 | 3;

/** Who is being authenticated: an account id, and optionally how the app names them. */
export interface Subject {
  readonly id: string;
  readonly username?: string;
}

/**
 * What a factor returns after a successful verification. Immutable and plain data, so it can
 * be stored, logged (it holds no secret) and carried in a credential's claims.
 */
export interface Evidence {
  /** Which factor produced it. */
  readonly factor: FactorName;
  /** The account it authenticates. */
  readonly subject: string;
  /** The enrolled authenticator record that verified. */
  readonly authenticatorId: string;
  /** RFC 8176 method references, e.g. `['hwk', 'pin']`. */
  readonly amr: readonly Amr[];
  /** The factor kinds this one proof demonstrates. */
  readonly kinds: readonly FactorKind[];
  /** Verifier-impersonation resistant (NIST SP 800-63B-4 §3.2.5): bound to the origin or channel. */
  readonly phishingResistant: boolean;
  /** The key cannot leave the device (false for synced passkeys and software keys). */
  readonly hardwareBound: boolean;
  /** The authenticator verified the user (PIN or biometric) before using its key. */
  readonly userVerified: boolean;
  /** The user was present (a touch or equivalent). */
  readonly userPresent: boolean;
  /** Replay resistant (NIST SP 800-63B-4 §3.2.7): a fresh challenge was answered. */
  readonly replayResistant: boolean;
  /** When the verification happened, in ms since the epoch. */
  readonly at: number;
}
