/**
 * Low-level macaroons, wire-compatible with libmacaroons and pymacaroons.
 *
 * @module latchkey
 */
export { DEFAULT_MACAROON_LIMITS, type MacaroonLimits, resolveMacaroonLimits } from './limits.js';
export {
  type DeserializeMacaroonOptions,
  MACAROON_FORMATS,
  Macaroon,
  type MacaroonCaveat,
  type MacaroonFormat,
  type MintMacaroonOptions,
  type ThirdPartyCaveatOptions,
} from './macaroon.js';
export { type VerifyMacaroonOptions, verifyMacaroon } from './verify.js';
