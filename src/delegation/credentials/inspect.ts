/**
 * Read what a credential claims and allows, without any key: for a person deciding whether to
 * accept a token, for a holder looking for the third-party caveats to discharge, for logs.
 * Nothing it returns is authenticated; the result says so in its type (`verified: false`) and
 * on the first line of its text.
 *
 * @module latchkey
 */
import { type LatchkeyError, wrapError } from '../../core/errors.js';
import { decodeIdentifier } from './identifier.js';
import { type CredentialLimits, resolveCredentialLimits } from './limits.js';
import { readLayout, shortText } from './structure.js';
import { parseToken } from './token.js';

/** One caveat as the token states it. */
export interface InspectedCaveat {
  readonly index: number;
  /** `declaration`, `cid`, `expiry`, `audience`, `uses`, `expression`, `third-party` or `malformed`. */
  readonly kind: string;
  readonly text: string;
  /** The credential id in force; absent in the issuer's declarations. */
  readonly credentialId?: string;
}

/** A third-party caveat a holder must get discharged. */
export interface InspectedThirdParty {
  readonly index: number;
  /** Where to get the discharge (a hint). */
  readonly location?: string;
  /** The caveat identifier to hand to the discharger. */
  readonly identifier: string;
}

/** What a credential claims: UNVERIFIED. */
export interface CredentialInspection {
  /** Always false: nothing here has been checked. Verify with the issuer to trust it. */
  readonly verified: false;
  readonly keyId: string;
  readonly credentialId: string;
  readonly chain: readonly string[];
  readonly subject?: string;
  readonly amr: readonly string[];
  readonly acr?: string;
  readonly authTime?: number;
  /** The earliest `time <` caveat, if any. */
  readonly expiresAt?: number;
  readonly caveats: readonly InspectedCaveat[];
  readonly thirdParty: readonly InspectedThirdParty[];
  /** Problems that would make verification fail whatever the key. */
  readonly problems: readonly string[];
  /** A human-readable summary whose first line says UNVERIFIED. */
  readonly text: string;
}

const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cn}\p{Cs}]/gu;

/** Text safe to print on one line: unprintable characters (controls, bidi overrides) escaped. */
function show(text: string): string {
  const short = shortText(text, 200);
  UNPRINTABLE.lastIndex = 0;
  if (!UNPRINTABLE.test(short)) return short;
  return short.replace(UNPRINTABLE, (c) => `\\u{${(c.codePointAt(0) ?? 0).toString(16)}}`);
}

/**
 * Summarise `token` without verifying it. Throws only `LatchkeyError`
 * (`ERR_MACAROON_FORMAT`, `ERR_LIMIT_EXCEEDED`, `ERR_INVALID_ARGUMENT`) on garbage.
 *
 * @example
 * ```ts
 * import { inspectCredential } from 'latchkey';
 * console.log(inspectCredential(token).text);
 * // UNVERIFIED latchkey credential: nothing below is authenticated until the issuer verifies it
 * // ...
 * ```
 */
export function inspectCredential(
  token: string,
  options: { readonly limits?: Partial<CredentialLimits> } = {},
): CredentialInspection {
  try {
    return inspectUnsafe(token, resolveCredentialLimits(options?.limits));
  } catch (error) {
    throw wrapError(error, 'ERR_INTERNAL', 'credential inspection failed unexpectedly');
  }
}

function inspectUnsafe(token: string, limits: CredentialLimits): CredentialInspection {
  const m = parseToken(token, 'credential', limits, 'token');
  const id = decodeIdentifier(m.identifierText);
  const layout = readLayout(m, id, limits.maxChainLength);
  const { declarations } = layout;
  const caveats: InspectedCaveat[] = [];
  const thirdParty: InspectedThirdParty[] = [];
  let expiresAt: number | undefined;
  for (const entry of layout.entries) {
    const parsed = entry.parsed;
    if (parsed.kind === 'expiry' && (expiresAt === undefined || parsed.value < expiresAt)) expiresAt = parsed.value;
    if (parsed.kind === 'third-party') {
      thirdParty.push(
        Object.freeze(
          parsed.location === undefined
            ? { index: entry.index, identifier: parsed.identifier }
            : { index: entry.index, location: parsed.location, identifier: parsed.identifier },
        ),
      );
    }
    const base = { index: entry.index, kind: parsed.kind, text: entry.text };
    caveats.push(
      Object.freeze(entry.credentialId === undefined ? base : { ...base, credentialId: entry.credentialId }),
    );
  }
  const problems = layout.problems.map((problem: LatchkeyError) => problem.message);

  const lines = [
    'UNVERIFIED latchkey credential: nothing below is authenticated until the issuer verifies it',
    `key ${id.keyId}, credential ${layout.chain.at(-1) ?? id.credentialId}`,
    `chain ${layout.chain.length === 0 ? '(none)' : layout.chain.join(' > ')}`,
  ];
  const claimed: string[] = [];
  if (declarations.subject !== undefined) claimed.push(`subject ${JSON.stringify(declarations.subject)}`);
  if (declarations.amr !== undefined) claimed.push(`amr ${declarations.amr.join(', ')}`);
  if (declarations.acr !== undefined) claimed.push(`acr ${JSON.stringify(declarations.acr)}`);
  if (declarations.authTime !== undefined)
    claimed.push(`authenticated ${new Date(declarations.authTime).toISOString()}`);
  lines.push(`claims ${claimed.length === 0 ? '(none)' : show(claimed.join('; '))}`);
  lines.push(`expires ${expiresAt === undefined ? '(never stated)' : new Date(expiresAt).toISOString()}`);
  lines.push('caveats (all must hold):');
  for (const entry of layout.entries) {
    const who =
      entry.credentialId === undefined ? 'issuer' : entry.depth === 1 ? 'issuer' : `holder ${entry.credentialId}`;
    const needs = entry.parsed.kind === 'third-party' ? ' (needs a discharge)' : '';
    lines.push(`  ${entry.index} [${who}] ${show(entry.text)}${needs}`);
  }
  for (const problem of problems) lines.push(`problem: ${show(problem)}`);

  const result: { -readonly [K in keyof CredentialInspection]: CredentialInspection[K] } = {
    verified: false,
    keyId: id.keyId,
    credentialId: layout.chain.at(-1) ?? id.credentialId,
    chain: Object.freeze([...layout.chain]),
    amr: Object.freeze([...(declarations.amr ?? [])]),
    caveats: Object.freeze(caveats),
    thirdParty: Object.freeze(thirdParty),
    problems: Object.freeze(problems),
    text: lines.join('\n'),
  };
  if (declarations.subject !== undefined) result.subject = declarations.subject;
  if (declarations.acr !== undefined) result.acr = declarations.acr;
  if (declarations.authTime !== undefined) result.authTime = declarations.authTime;
  if (expiresAt !== undefined) result.expiresAt = expiresAt;
  return Object.freeze(result);
}
