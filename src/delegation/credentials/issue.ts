/**
 * Issue a credential: mint a macaroon under the key ring's current key and write the claims as
 * reserved caveats, then the application's caveats.
 *
 * Layout of a fresh credential (the order is part of the format):
 *
 * ```text
 * identifier  lk1.<key id>.<credential id>.<nonce>
 * caveats     sub = ... · amr = ... · acr = ... · auth_time = ...   (declarations, issuer only)
 *             cid = "<credential id>"                               (ends the issuer's section)
 *             time < <expiry> · aud = ... · uses <= N · app caveats (checks)
 * ```
 *
 * The `cid` caveat closes the declarations: a holder can only append, so anything a holder adds
 * comes after it and can never be read as a declaration.
 *
 * @module latchkey
 */
import { LatchkeyError } from '../../core/errors.js';
import { aint } from '../../core/guards.js';
import { randomId } from '../../core/random.js';
import { Macaroon } from '../macaroon/macaroon.js';
import {
  checkCaveatArgument,
  formatCaveat,
  instantArgument,
  listArgument,
  MAX_USES,
  stringArgument,
} from './caveats.js';
import { encodeIdentifier, isCredentialId } from './identifier.js';
import { type KeyRing, rootKeyOf } from './key-ring.js';
import type { CredentialLimits } from './limits.js';
import { formatToken } from './token.js';

/** What an issuer asserts and allows. Only `expiry` is required. */
export interface CredentialClaims {
  /** The subject (an account id). */
  readonly sub?: string;
  /** Authentication methods used (RFC 8176 values: `hwk`, `pin`, `pwd`, `user`, ...). */
  readonly amr?: readonly string[];
  /** Authentication context class (an assurance level such as `aal2`). */
  readonly acr?: string;
  /** When the subject authenticated: a `Date` or ms since the epoch. */
  readonly auth_time?: number | Date;
  /** When the credential stops working: a `Date` or ms since the epoch. Required. */
  readonly expiry: number | Date;
  /** The verifier(s) the credential is for; a verifier passes its own name as `audience`. */
  readonly aud?: string | readonly string[];
  /** At most this many successful verifications, across every credential derived from this one. */
  readonly uses?: number;
  /** Application caveats: expressions such as `merchant == "corner-store"` or `amount <= 10`. */
  readonly caveats?: readonly string[];
  /** The credential id; default a fresh random 128-bit id. 1 to 64 of `A-Z a-z 0-9 _ -`. */
  readonly id?: string;
}

/** A token and the credential id that revokes it (and everything derived from it). */
export interface IssuedCredential {
  /** The bearer token (`lkc1_...`). Whoever holds it holds its authority: treat it as a secret. */
  readonly token: string;
  /** The id of this credential: pass it to `revoke`. Not a secret. */
  readonly credentialId: string;
}

/** Check an array argument of caveat strings. */
export function caveatList(value: unknown, label: string, allowDeclarations: boolean): readonly string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', `${label} must be an array of strings`, { field: label });
  }
  return value.map((text, i) => checkCaveatArgument(text, `${label}[${i}]`, allowDeclarations));
}

/** The usual `uses` argument. */
export function usesArgument(value: unknown, label: string): number {
  return aint(value, label, 1, MAX_USES);
}

/** Issue a credential (see {@link CredentialIssuer.issue}). */
export function issueCredential(ring: KeyRing, claims: CredentialClaims, limits: CredentialLimits): IssuedCredential {
  if (typeof claims !== 'object' || claims === null) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'claims must be an object', { field: 'claims' });
  }
  const declarations: string[] = [];
  if (claims.sub !== undefined) declarations.push(formatCaveat.sub(stringArgument(claims.sub, 'claims.sub')));
  if (claims.amr !== undefined) {
    if (!Array.isArray(claims.amr)) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'claims.amr must be an array of strings', {
        field: 'claims.amr',
      });
    }
    declarations.push(formatCaveat.amr(listArgument(claims.amr, 'claims.amr')));
  }
  if (claims.acr !== undefined) declarations.push(formatCaveat.acr(stringArgument(claims.acr, 'claims.acr')));
  if (claims.auth_time !== undefined) {
    declarations.push(formatCaveat.authTime(instantArgument(claims.auth_time, 'claims.auth_time')));
  }
  if (claims.expiry === undefined) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'claims.expiry is required: every credential expires', {
      field: 'claims.expiry',
    });
  }
  const checks = [formatCaveat.expiry(instantArgument(claims.expiry, 'claims.expiry'))];
  if (claims.aud !== undefined) checks.push(formatCaveat.audience(listArgument(claims.aud, 'claims.aud')));
  if (claims.uses !== undefined) checks.push(formatCaveat.uses(usesArgument(claims.uses, 'claims.uses')));
  checks.push(...caveatList(claims.caveats, 'claims.caveats', false));

  const credentialId = claims.id ?? randomId(16);
  if (!isCredentialId(credentialId)) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'claims.id must be 1 to 64 of `A-Z a-z 0-9 _ -`', {
      field: 'claims.id',
    });
  }
  const keyId = ring.currentKeyId;
  const rootKey = rootKeyOf(ring, keyId);
  if (rootKey === undefined) {
    throw new LatchkeyError('ERR_CREDENTIAL_UNKNOWN_KEY', `no key \`${keyId}\` in the ring`, { keyId });
  }
  let m = Macaroon.mint({ rootKey, identifier: encodeIdentifier(keyId, credentialId) });
  for (const text of declarations) m = m.addFirstPartyCaveat(text);
  m = m.addFirstPartyCaveat(formatCaveat.cid(credentialId));
  for (const text of checks) m = m.addFirstPartyCaveat(text);
  return Object.freeze({ token: formatToken(m, 'credential', limits), credentialId });
}
