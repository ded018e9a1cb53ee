/**
 * Read the layout of a credential macaroon (see `issue.ts`): the issuer's declarations, the
 * delegation chain of `cid` caveats, and every caveat with the credential id in force where it
 * appears. The verifier reads strictly (the first problem is an error); `inspectCredential`
 * reads leniently and lists the problems.
 *
 * @module latchkey
 */
import { LatchkeyError } from '../../core/errors.js';
import type { Macaroon } from '../macaroon/macaroon.js';
import { type ParsedCaveat, parseCaveat } from './caveats.js';
import type { CredentialIdentifier } from './identifier.js';

/** One caveat of a credential or a discharge, as read. */
export interface CaveatEntry {
  /** `root`, or `discharge N`. */
  readonly macaroon: string;
  readonly index: number;
  /** The caveat text; for a third-party caveat, its location. */
  readonly text: string;
  readonly parsed:
    | ParsedCaveat
    | { readonly kind: 'third-party'; readonly location?: string; readonly identifier: string };
  /** The credential id in force (the last `cid` before it); undefined in the issuer's declarations. */
  readonly credentialId?: string;
  /** How many `cid` caveats precede it, this one included for a `cid`. */
  readonly depth: number;
}

/** The issuer's declarations. */
export interface Declarations {
  subject?: string;
  amr?: readonly string[];
  acr?: string;
  authTime?: number;
}

/** What a credential's caveats say. */
export interface CredentialLayout {
  readonly entries: readonly CaveatEntry[];
  readonly chain: readonly string[];
  readonly declarations: Readonly<Declarations>;
  /** Problems found, in order (each a ready error); empty for a well-formed credential. */
  readonly problems: readonly LatchkeyError[];
}

/** Shorten caveat text for a message or detail. */
export function shortText(text: string, max = 200): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** The `ERR_CREDENTIAL_CAVEAT_FAILED` for `entry`. */
export function caveatFailed(entry: Pick<CaveatEntry, 'macaroon' | 'index' | 'text'>, reason: string): LatchkeyError {
  const where = entry.macaroon === 'root' ? '' : ` of ${entry.macaroon}`;
  return new LatchkeyError(
    'ERR_CREDENTIAL_CAVEAT_FAILED',
    `caveat ${entry.index}${where} \`${shortText(entry.text, 80)}\` is not satisfied: ${reason}`,
    { caveat: shortText(entry.text), index: entry.index, macaroon: entry.macaroon, reason: shortText(reason, 400) },
  );
}

/** Read the caveats of one macaroon: the credential (`root`) or a discharge. */
export function readEntries(m: Macaroon, name: string): CaveatEntry[] {
  return m.caveats.map((caveat, index) => {
    if (caveat.kind === 'third-party') {
      const identifier = caveat.text ?? '';
      const location = caveat.location;
      return {
        macaroon: name,
        index,
        text: `third-party caveat${location === undefined ? '' : ` at ${location}`}`,
        parsed:
          location === undefined ? { kind: 'third-party', identifier } : { kind: 'third-party', location, identifier },
        depth: 0,
      };
    }
    const text = caveat.text;
    return text === undefined
      ? {
          macaroon: name,
          index,
          text: '(binary caveat)',
          parsed: { kind: 'malformed', reason: 'a caveat must be UTF-8 text' },
          depth: 0,
        }
      : { macaroon: name, index, text, parsed: parseCaveat(text), depth: 0 };
  });
}

/** `raw` with the credential id in force (built field by field: an object spread is far slower here). */
function inForce(raw: CaveatEntry, credentialId: string, depth: number): CaveatEntry {
  return { macaroon: raw.macaroon, index: raw.index, text: raw.text, parsed: raw.parsed, credentialId, depth };
}

/** Lay out a credential macaroon whose identifier is `id`. */
export function readLayout(m: Macaroon, id: CredentialIdentifier, maxChainLength: number): CredentialLayout {
  const problems: LatchkeyError[] = [];
  const chain: string[] = [];
  const declarations: Declarations = {};
  const entries: CaveatEntry[] = [];
  for (const raw of readEntries(m, 'root')) {
    const parsed = raw.parsed;
    if (parsed.kind === 'cid') {
      if (chain.length === 0 && parsed.value !== id.credentialId) {
        problems.push(caveatFailed(raw, 'the first `cid` caveat must name the credential of the identifier'));
      }
      chain.push(parsed.value);
      if (chain.length === maxChainLength + 1) {
        problems.push(
          new LatchkeyError('ERR_LIMIT_EXCEEDED', `delegation chain exceeds the limit of ${maxChainLength}`, {
            limit: 'maxChainLength',
            max: maxChainLength,
          }),
        );
      }
      entries.push(inForce(raw, parsed.value, chain.length));
      continue;
    }
    const credentialId = chain.at(-1);
    entries.push(credentialId === undefined ? raw : inForce(raw, credentialId, chain.length));
    if (parsed.kind === 'malformed') {
      problems.push(caveatFailed(raw, parsed.reason));
    } else if (chain.length === 0) {
      if (parsed.kind !== 'declaration') {
        problems.push(caveatFailed(raw, 'only claim declarations may precede the credential id'));
        continue;
      }
      const key = parsed.name === 'auth_time' ? 'authTime' : parsed.name === 'sub' ? 'subject' : parsed.name;
      if (declarations[key] !== undefined) {
        problems.push(caveatFailed(raw, `\`${parsed.name}\` is declared twice`));
        continue;
      }
      switch (parsed.name) {
        case 'sub':
          declarations.subject = parsed.value;
          break;
        case 'acr':
          declarations.acr = parsed.value;
          break;
        case 'amr':
          declarations.amr = parsed.value;
          break;
        default:
          declarations.authTime = parsed.value;
      }
    }
  }
  if (chain.length === 0) {
    problems.push(new LatchkeyError('ERR_MACAROON_FORMAT', 'not a latchkey credential: it has no `cid` caveat'));
  }
  return { entries, chain, declarations, problems };
}
