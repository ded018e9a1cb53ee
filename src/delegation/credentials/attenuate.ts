/**
 * Attenuate a credential: append a fresh `cid` caveat, then narrowing caveats. No key is needed,
 * so any holder can narrow a credential and hand it on. Every caveat must hold for the result to
 * verify, so attenuation can only narrow: whatever the result allows, the original allows too.
 *
 * @module latchkey
 */
import type { JsonWebKey, KeyObject } from 'node:crypto';
import { wipe } from '../../core/bytes.js';
import { LatchkeyError, wrapError } from '../../core/errors.js';
import { randomBytes, randomId } from '../../core/random.js';
import { formatCaveat, instantArgument, listArgument } from './caveats.js';
import { decodeIdentifier } from './identifier.js';
import { caveatList, type IssuedCredential, usesArgument } from './issue.js';
import { type CredentialLimits, resolveCredentialLimits } from './limits.js';
import { CAVEAT_KEY_BYTES, conditionArgument, publicKeyArgument, sealCaveat } from './third-party.js';
import { formatToken, parseToken } from './token.js';

/** A third-party caveat to add: the credential then works only with a discharge from that party. */
export interface ThirdPartyCaveatRequest {
  /** Where the holder gets the discharge (a URL or a name): a hint, not authenticated. */
  readonly location: string;
  /** The discharger's P-256 public key (`discharger.publicKey`), as a JWK or a `KeyObject`. */
  readonly publicKey: JsonWebKey | KeyObject;
  /** What the discharger must check before it discharges, e.g. `holder proves fob or passkey as bob`. */
  readonly condition: string;
}

/** Options for {@link attenuate}. */
export interface AttenuateOptions {
  /** Caveats to append: expressions (`amount <= 5`) or reserved checks (`sub = "alice"`, `uses <= 1`). */
  readonly caveats?: readonly string[];
  /** An earlier expiry (a `Date` or ms); a later one has no effect, the earliest always wins. */
  readonly expiry?: number | Date;
  /** Restrict to this audience (or one of these). */
  readonly aud?: string | readonly string[];
  /** At most this many verifications of the new credential and everything derived from it. */
  readonly uses?: number;
  /** Third-party caveats, each needing a discharge. */
  readonly thirdParty?: readonly ThirdPartyCaveatRequest[];
  /** Size limits; see {@link CredentialLimits}. */
  readonly limits?: Partial<CredentialLimits>;
}

/**
 * Narrow `token` with `caveats` (a list of caveat texts, or {@link AttenuateOptions}); returns the
 * new token and its credential id (revoking that id revokes the new token and what derives from
 * it, not the original). The original keeps working. Throws `ERR_INVALID_ARGUMENT` or
 * `ERR_EXPRESSION_SYNTAX` for a caveat that could never hold, `ERR_MACAROON_FORMAT` for a token
 * that is not a credential, and `ERR_LIMIT_EXCEEDED` when the result would be too large to verify.
 *
 * @example
 * ```ts
 * import { attenuate } from 'latchkey';
 * const forBob = await attenuate(aliceToken, {
 *   caveats: ['amount <= 5'],
 *   thirdParty: [{ location: 'https://fob.example', publicKey: fobDischarger.publicKey, condition: 'holder proves fob as bob' }],
 * });
 * send(forBob.token);
 * ```
 */
export async function attenuate(
  token: string,
  caveats: readonly string[] | AttenuateOptions,
): Promise<IssuedCredential> {
  try {
    return await attenuateUnsafe(token, caveats);
  } catch (error) {
    throw wrapError(error, 'ERR_INTERNAL', 'attenuation failed unexpectedly');
  }
}

async function attenuateUnsafe(
  token: string,
  caveats: readonly string[] | AttenuateOptions,
): Promise<IssuedCredential> {
  const options: AttenuateOptions = Array.isArray(caveats) ? { caveats } : (caveats as AttenuateOptions);
  if (typeof options !== 'object' || options === null) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'caveats must be an array or an options object', {
      field: 'caveats',
    });
  }
  const limits = resolveCredentialLimits(options.limits);
  let m = parseToken(token, 'credential', limits, 'token');
  decodeIdentifier(m.identifierText);

  const checks: string[] = [];
  if (options.expiry !== undefined) checks.push(formatCaveat.expiry(instantArgument(options.expiry, 'expiry')));
  if (options.aud !== undefined) checks.push(formatCaveat.audience(listArgument(options.aud, 'aud')));
  if (options.uses !== undefined) checks.push(formatCaveat.uses(usesArgument(options.uses, 'uses')));
  checks.push(...caveatList(options.caveats, 'caveats', true));
  const thirdParty = options.thirdParty ?? [];
  if (!Array.isArray(thirdParty)) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'thirdParty must be an array', { field: 'thirdParty' });
  }
  const parties = thirdParty.map((request: ThirdPartyCaveatRequest, i) => {
    const label = `thirdParty[${i}]`;
    if (typeof request !== 'object' || request === null) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', `${label} must be an object`, { field: label });
    }
    if (typeof request.location !== 'string' || request.location.length === 0 || request.location.length > 1024) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', `${label}.location must be a string of 1 to 1024 characters`, {
        field: `${label}.location`,
      });
    }
    const publicKey = publicKeyArgument(request.publicKey, `${label}.publicKey`);
    const condition = conditionArgument(request.condition, `${label}.condition`);
    const kid = (request.publicKey as { kid?: unknown }).kid;
    return { location: request.location, publicKey, condition, kid: typeof kid === 'string' ? kid : undefined };
  });
  if (checks.length === 0 && parties.length === 0) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'attenuate needs at least one caveat', { field: 'caveats' });
  }

  const credentialId = randomId(16);
  m = m.addFirstPartyCaveat(formatCaveat.cid(credentialId));
  for (const text of checks) m = m.addFirstPartyCaveat(text);
  for (const party of parties) {
    const key = randomBytes(CAVEAT_KEY_BYTES);
    try {
      const identifier = await sealCaveat(party.publicKey, { key, condition: party.condition }, party.kid);
      m = m.addThirdPartyCaveat({ key, identifier, location: party.location });
    } finally {
      wipe(key);
    }
  }
  return Object.freeze({ token: formatToken(m, 'credential', limits), credentialId });
}
