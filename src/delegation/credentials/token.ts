/**
 * Token text: a macaroon in v2 binary, base64url, behind a human-readable prefix: `lkc1_` for a
 * credential, `lkd1_` for a discharge. The prefix says what a string is (to a person, a log
 * scrubber or a secret scanner); everything after it is a plain v2 macaroon that
 * `Macaroon.deserialize` and other macaroon libraries read. Tokens without a prefix are accepted
 * too, so a macaroon from another tool can be presented as it is.
 *
 * @module latchkey
 */
import { LatchkeyError } from '../../core/errors.js';
import { Macaroon } from '../macaroon/macaroon.js';
import { type CredentialLimits, checkCredentialLimit } from './limits.js';

/** Prefix of a credential token. */
const CREDENTIAL_PREFIX = 'lkc1_';
/** Prefix of a discharge token. */
const DISCHARGE_PREFIX = 'lkd1_';

type TokenKind = 'credential' | 'discharge';

const PREFIX: Record<TokenKind, string> = { credential: CREDENTIAL_PREFIX, discharge: DISCHARGE_PREFIX };

/** Parse a token of `kind` into an UNVERIFIED macaroon, within `limits`. */
export function parseToken(token: unknown, kind: TokenKind, limits: CredentialLimits, label: string = kind): Macaroon {
  if (typeof token !== 'string') {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', `${label} must be a token string`, { field: label });
  }
  checkCredentialLimit(token.length, limits.maxTokenBytes, 'maxTokenBytes', `${label} token size`);
  let body = token.trim();
  const other = kind === 'credential' ? 'discharge' : 'credential';
  if (body.startsWith(PREFIX[other])) {
    throw new LatchkeyError('ERR_MACAROON_FORMAT', `${label} is a ${other} token, not a ${kind}`, { field: label });
  }
  if (body.startsWith(PREFIX[kind])) body = body.slice(PREFIX[kind].length);
  return Macaroon.deserialize(body, {
    limits: { maxTokenBytes: limits.maxTokenBytes, maxCaveats: limits.maxCaveats },
  });
}

/** Serialize a macaroon as a token of `kind`, refusing one that {@link parseToken} would refuse. */
export function formatToken(m: Macaroon, kind: TokenKind, limits: CredentialLimits): string {
  checkCredentialLimit(m.caveats.length, limits.maxCaveats, 'maxCaveats', 'caveat count');
  const token = PREFIX[kind] + m.serialize('v2');
  checkCredentialLimit(token.length, limits.maxTokenBytes, 'maxTokenBytes', `${kind} token size`);
  return token;
}
