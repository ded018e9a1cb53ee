/**
 * Credentials: macaroons whose caveats are expressions, issued under a key ring, narrowed by
 * any holder, discharged by third parties, revoked by credential id.
 *
 * @module latchkey
 */
export { type AttenuateOptions, attenuate, type ThirdPartyCaveatRequest } from './attenuate.js';
export { bindDischarge, type DischargeRequest, Discharger, type DischargerOptions } from './discharger.js';
export {
  type CredentialInspection,
  type InspectedCaveat,
  type InspectedThirdParty,
  inspectCredential,
} from './inspect.js';
export type { CredentialClaims, IssuedCredential } from './issue.js';
export { CredentialIssuer, type CredentialIssuerOptions } from './issuer.js';
export { KeyRing, type RootKey } from './key-ring.js';
export { type CredentialLimits, DEFAULT_CREDENTIAL_LIMITS } from './limits.js';
export type { CredentialContext, VerifiedCaveat, VerifiedCredential, VerifyCredentialOptions } from './verify.js';
