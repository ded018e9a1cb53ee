/**
 * `latchkey/password`: argon2id password hashing (`PasswordHasher`), NIST SP 800-63B-4 rules for
 * new passwords (`checkNewPassword`), legacy import (bcrypt, scrypt, PBKDF2), and the password
 * factor with throttling (`PasswordFactor`).
 *
 * @module latchkey/password
 */
export type { Argon2Backend } from './argon2-backend.js';
export { PasswordFactor, type PasswordFactorOptions } from './factor.js';
export {
  MAX_PASSWORD_BYTES,
  normalisePassword,
  PASSWORD_PROFILES,
  PasswordHasher,
  type PasswordHasherOptions,
  type PasswordVerification,
} from './hasher.js';
export type { Argon2Parameters, StoredHashBounds } from './phc.js';
export { checkNewPassword, type PasswordRules } from './rules.js';
