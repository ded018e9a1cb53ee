/**
 * The delegation core: low-level macaroons, wire-compatible with libmacaroons and pymacaroons
 * (`Macaroon`, `verifyMacaroon`), and on them credentials whose caveats are expressions
 * (`CredentialIssuer`, `attenuate`, `Discharger`, `inspectCredential`, `KeyRing`), narrowed by
 * any holder, discharged by third parties over JWE, revoked by credential id.
 *
 * @module latchkey
 */
export * from './credentials/index.js';
export * from './macaroon/index.js';
