/**
 * `latchkey/password`: argon2id password hashing (`PasswordHasher`), NIST SP 800-63B-4 rules for
 * new passwords (`checkNewPassword`, `assessPassword`) with a shipped blocklist and an optional
 * strength estimate (`estimateStrength`), legacy import (bcrypt, scrypt, PBKDF2 from passlib,
 * Django and Werkzeug), bounded concurrency (`HashLimiter`), and the password factor with
 * throttling and lockout (`PasswordFactor`).
 *
 * Importing this subpath loads no native addon: `@node-rs/argon2` is loaded on the first hash,
 * `bcryptjs` on the first bcrypt hash, and a missing one is `ERR_MISSING_DEPENDENCY` naming it.
 *
 * @example
 * ```ts
 * import { checkNewPassword, PasswordHasher } from 'latchkey/password';
 * checkNewPassword(newPassword, { use: 'mfa', userInputs: [username] });
 * const hasher = new PasswordHasher();
 * const stored = await hasher.hash(newPassword);
 * const { valid, rehash } = await hasher.verify(stored, attempt);
 * ```
 *
 * @module latchkey/password
 */
export type { Argon2Backend, Argon2Input } from './argon2-backend.js';
export { nodeRsArgon2 } from './argon2-backend.js';
export { PasswordFactor, type PasswordFactorOptions } from './factor.js';
export {
  PASSWORD_PROFILES,
  PasswordHasher,
  type PasswordHasherOptions,
  type PasswordVerification,
} from './hasher.js';
export { defaultConcurrency, HashLimiter, type HashLimiterOptions } from './limiter.js';
export { nodeCryptoArgon2 } from './node-crypto-argon2.js';
export { codePoints, MAX_PASSWORD_BYTES, normalisePassword } from './normalise.js';
export { type Argon2Parameters, DEFAULT_STORED_BOUNDS, type StoredHashBounds } from './phc.js';
export {
  assessPassword,
  checkNewPassword,
  type PasswordAssessment,
  type PasswordProblem,
  type PasswordProblemReason,
  type PasswordRules,
} from './rules.js';
export { estimateStrength, type PasswordStrength } from './strength.js';
