/**
 * The issuer of credentials: it holds the key ring, mints credentials, verifies them (with any
 * attenuations and discharges), and revokes them through the store.
 *
 * Decisions, recorded here because they shape the format:
 *
 * - **Layout.** See `issue.ts`: declarations (`sub`, `amr`, `acr`, `auth_time`), then the root
 *   `cid` caveat that closes them, then checks. Only the issuer's declarations count; the same
 *   text appended later is a check against them (a holder cannot change the subject).
 * - **Identifier.** `lk1.<key id>.<credential id>.<nonce>`: text, so every macaroon tool shows it.
 * - **Tokens.** `lkc1_` + v2 binary base64url (`lkd1_` for discharges): the part after the prefix
 *   is an ordinary v2 macaroon.
 * - **Expiry** is the conventional `time < <instant>` caveat, read from tools that write it with
 *   or without seconds or an offset; every credential has one (the issuer requires it). The
 *   earliest wins, so a later one appended by a holder has no effect.
 * - **Uses.** `uses <= N` counts in `store.usage` under a key derived from the chain up to the
 *   `cid` in force where it appears (a hash of those ids), so that a holder who copies a `cid`
 *   caveat from someone else's token cannot spend that token's uses. Counters are consumed root
 *   first, after every other check; if a later counter refuses, a use of an earlier one is spent
 *   (errs towards fewer uses, never more).
 * - **Discharges** are single use across verifications by default: the verifier records each
 *   (its bound signature's hash) in `store.challenges` until it expires, and a discharge must
 *   carry a `time <` caveat no further away than `limits.maxDischargeTtlMs`. A second use is
 *   `ERR_CREDENTIAL_USES_EXHAUSTED` with `detail.discharge`.
 * - **Names bound in caveat expressions:** `time` and `now` (the verification time, an instant),
 *   `sub`, `amr`, `acr`, `auth_time` (issuer declarations), `expiry`, `aud` (the verifier's
 *   audience) and `cid` (the presented credential's id). The request context cannot override them.
 *
 * @module latchkey
 */
import { type Clock, systemClock } from '../../core/clock.js';
import { LatchkeyError, wrapError } from '../../core/errors.js';
import { astring } from '../../core/guards.js';
import type { Revocation, Store } from '../../store/types.js';
import { type CredentialClaims, type IssuedCredential, issueCredential } from './issue.js';
import { KeyRing } from './key-ring.js';
import { type CredentialLimits, resolveCredentialLimits } from './limits.js';
import {
  type VerifiedCredential,
  type VerifierState,
  type VerifyCredentialOptions,
  verifyCredential,
} from './verify.js';

/** Options for {@link CredentialIssuer}. */
export interface CredentialIssuerOptions {
  /** The root keys; the current key mints. */
  readonly keys: KeyRing;
  /** Where revocations, use counters and spent discharges live. */
  readonly store: Store;
  /** The clock for expiry; default the system clock. */
  readonly clock?: Clock;
  /** Size limits; see {@link CredentialLimits}. */
  readonly limits?: Partial<CredentialLimits>;
  /** Accept each discharge once across all verifications (default true). */
  readonly singleUseDischarges?: boolean;
}

/**
 * Issues, verifies and revokes credentials.
 *
 * @example
 * ```ts
 * import { CredentialIssuer, KeyRing, attenuate } from 'latchkey';
 * const issuer = new CredentialIssuer({ keys: KeyRing.generate(), store });
 * const card = await issuer.issue({
 *   sub: 'alice',
 *   expiry: tonight,
 *   uses: 1,
 *   caveats: ['action == "purchase"', 'merchant == "corner-store"', 'amount <= 10'],
 * });
 * const forBob = await attenuate(card.token, ['amount <= 8']);
 * const claims = await issuer.verify(forBob.token, {
 *   context: { action: 'purchase', merchant: 'corner-store', amount: 7.5 },
 * });
 * claims.subject; // 'alice'
 * await issuer.revoke(card.credentialId, { reason: 'card lost' });
 * ```
 */
export class CredentialIssuer {
  readonly #state: VerifierState;

  constructor(options: CredentialIssuerOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'options must be an object', { field: 'options' });
    }
    if (!(options.keys instanceof KeyRing)) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'keys must be a KeyRing', { field: 'keys' });
    }
    const store = options.store;
    if (typeof store !== 'object' || store === null || typeof store.revocations?.firstRevoked !== 'function') {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'store must be a latchkey Store', { field: 'store' });
    }
    this.#state = Object.freeze({
      keys: options.keys,
      store,
      clock: options.clock ?? systemClock,
      limits: resolveCredentialLimits(options.limits),
      singleUseDischarges: options.singleUseDischarges ?? true,
    });
    Object.freeze(this);
  }

  /**
   * Mint a credential under the current key. Returns the token and its credential id. Throws
   * `ERR_INVALID_ARGUMENT` for bad claims and `ERR_EXPRESSION_SYNTAX` for a caveat expression
   * that does not compile.
   */
  async issue(claims: CredentialClaims): Promise<IssuedCredential> {
    try {
      return issueCredential(this.#state.keys, claims, this.#state.limits);
    } catch (error) {
      throw wrapError(error, 'ERR_INTERNAL', 'credential issue failed unexpectedly');
    }
  }

  /**
   * Verify a credential (and its discharges) for one request. Returns the verified claims, or
   * throws a `LatchkeyError` that says what failed (for a caveat, `detail.caveat` and
   * `detail.reason`): `ERR_LIMIT_EXCEEDED`, `ERR_MACAROON_FORMAT`, `ERR_CREDENTIAL_UNKNOWN_KEY`,
   * `ERR_MACAROON_SIGNATURE` and the other `ERR_MACAROON_*`, `ERR_CREDENTIAL_EXPIRED`,
   * `ERR_CREDENTIAL_REVOKED`, `ERR_CREDENTIAL_CAVEAT_FAILED`, `ERR_CREDENTIAL_USES_EXHAUSTED`.
   * A success may spend a use (`uses <= N`) and the discharges; a failure before the last step
   * spends nothing.
   */
  async verify(token: string, options: VerifyCredentialOptions = {}): Promise<VerifiedCredential> {
    return verifyCredential(this.#state, token, options);
  }

  /**
   * Revoke a credential id: the credential and everything attenuated from it stop verifying,
   * because every id of a chain is checked. Idempotent. `expiresAt` (when the credential expires
   * anyway) lets the store prune the entry later.
   */
  async revoke(
    credentialId: string,
    options: { readonly reason: string; readonly expiresAt?: number },
  ): Promise<Revocation> {
    try {
      astring(credentialId, 'credentialId', 1, 64);
      if (typeof options !== 'object' || options === null) {
        throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'options must be an object', { field: 'options' });
      }
      const reason = astring(options.reason, 'reason', 1, 256);
      return await this.#state.store.revocations.revoke(
        credentialId,
        options.expiresAt === undefined ? { reason } : { reason, expiresAt: options.expiresAt },
      );
    } catch (error) {
      throw wrapError(error, 'ERR_INTERNAL', 'revocation failed unexpectedly');
    }
  }
}
