/**
 * The delegation core. Today: low-level macaroons, wire-compatible with libmacaroons and
 * pymacaroons (`Macaroon`, `verifyMacaroon`). Credentials, caveat expressions and revocation
 * build on them (issue #3).
 *
 * @module latchkey
 */
export * from './macaroon/index.js';
