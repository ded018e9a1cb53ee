/**
 * Verify a credential. The order is fixed, cheapest and least stateful first, so that nothing
 * is consumed for a credential that fails:
 *
 * 1. size, format and identifier; the key id must be in the ring (`ERR_CREDENTIAL_UNKNOWN_KEY`);
 * 2. signatures and discharges (`verifyMacaroon`: every caveat intact and in order, every
 *    third-party caveat discharged exactly once by a discharge bound to this credential);
 * 3. the layout of the caveats (declarations, chain; malformed caveats fail closed);
 * 4. expiry: the earliest `time <` of the credential, then of each discharge (`ERR_CREDENTIAL_EXPIRED`);
 * 5. revocation of every credential id in the chain (`ERR_CREDENTIAL_REVOKED`);
 * 6. every other caveat against the context, in order (`ERR_CREDENTIAL_CAVEAT_FAILED`, naming it);
 * 7. single use of each discharge, recorded in the store;
 * 8. `uses <= N`, consumed atomically in the store (`ERR_CREDENTIAL_USES_EXHAUSTED`).
 *
 * @module latchkey
 */
import { createHash } from 'node:crypto';
import { base64url } from '../../core/bytes.js';
import type { Clock } from '../../core/clock.js';
import { isLatchkeyError, LatchkeyError, wrapError } from '../../core/errors.js';
import type { Expression } from '../../policy/expression.js';
import type { Store } from '../../store/types.js';
import type { Macaroon } from '../macaroon/macaroon.js';
import { verifyMacaroon } from '../macaroon/verify.js';
import { compileCached, RESERVED_NAMES } from './caveats.js';
import { decodeIdentifier } from './identifier.js';
import { type KeyRing, rootKeyOf } from './key-ring.js';
import { type CredentialLimits, checkCredentialLimit } from './limits.js';
import { type CaveatEntry, caveatFailed, type Declarations, readEntries, readLayout, shortText } from './structure.js';
import { parseToken } from './token.js';

/** The context caveats are evaluated against: names to strings, numbers, booleans, `Date`s, lists, objects. */
export type CredentialContext = Parameters<Expression['evaluate']>[0];

/** Options for {@link CredentialIssuer.verify}. */
export interface VerifyCredentialOptions {
  /**
   * The request, as the caveats see it: `{ action: 'purchase', merchant: 'corner-store', amount: 4 }`.
   * The reserved names (`sub`, `amr`, `acr`, `auth_time`, `expiry`, `aud`, `cid`, `uses`, `time`,
   * `now`) are bound by the verifier and may not be set here.
   */
  readonly context?: CredentialContext;
  /** Discharge tokens, each bound to this credential with {@link bindDischarge}. */
  readonly discharges?: readonly string[];
  /** The time to verify at (a `Date` or ms); default the issuer's clock. */
  readonly now?: number | Date;
  /** This verifier's name, checked against `aud` caveats. A credential with an `aud` caveat needs it. */
  readonly audience?: string;
}

/** One caveat a verified credential carries. */
export interface VerifiedCaveat {
  /** `root` for the credential, `discharge N` for a discharge. */
  readonly macaroon: string;
  readonly index: number;
  /** `declaration`, `cid`, `expiry`, `audience`, `uses`, `expression` or `third-party`. */
  readonly kind: string;
  /** The caveat text (for a third-party caveat, where it is discharged). */
  readonly text: string;
  /** The credential id in force where it appears; absent for the issuer's declarations and in discharges. */
  readonly credentialId?: string;
}

/** What a verified credential says: every field here is authenticated. */
export interface VerifiedCredential {
  /** The credential presented: the last id of the chain. */
  readonly credentialId: string;
  /** The credential the issuer minted: the first id of the chain. */
  readonly rootCredentialId: string;
  /** Every credential id, root to leaf. */
  readonly chain: readonly string[];
  /** The root key it was minted under. */
  readonly keyId: string;
  readonly subject?: string;
  readonly amr: readonly string[];
  readonly acr?: string;
  /** When the subject authenticated (ms since the epoch). */
  readonly authTime?: number;
  /** The earliest expiry of the credential's `time <` caveats (ms since the epoch). */
  readonly expiresAt?: number;
  /** The audience verified (the `audience` option) when the credential restricts its audience. */
  readonly audience?: string;
  /** Every caveat of the credential, then of each discharge, in order. */
  readonly caveats: readonly VerifiedCaveat[];
}

/** What the verifier needs from its issuer. */
export interface VerifierState {
  readonly keys: KeyRing;
  readonly store: Store;
  readonly clock: Clock;
  readonly limits: CredentialLimits;
  readonly singleUseDischarges: boolean;
}

const DISCHARGE_PURPOSE = 'latchkey.discharge';

function nowArgument(value: unknown, clock: Clock): number {
  const ms = value === undefined ? clock.now() : value instanceof Date ? value.getTime() : value;
  if (typeof ms !== 'number' || !Number.isSafeInteger(ms) || ms < 0) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'now must be a Date or ms since the epoch', { field: 'now' });
  }
  return ms;
}

function contextArgument(value: unknown): CredentialContext {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'context must be a plain object', { field: 'context' });
  }
  for (const key of Object.keys(value)) {
    if (key === '__proto__') {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'context may not have a `__proto__` key', {
        field: 'context.__proto__',
      });
    }
    if (RESERVED_NAMES.has(key)) {
      throw new LatchkeyError(
        'ERR_INVALID_ARGUMENT',
        `context may not set \`${key}\`: the verifier binds it from the credential and its clock`,
        { field: `context.${key}` },
      );
    }
  }
  return value as CredentialContext;
}

function sha256(text: string | Uint8Array): string {
  return base64url(createHash('sha256').update(text).digest());
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Verify `token`; see {@link CredentialIssuer.verify}. Throws only `LatchkeyError`. */
export async function verifyCredential(
  state: VerifierState,
  token: string,
  options: VerifyCredentialOptions = {},
): Promise<VerifiedCredential> {
  try {
    return await verifyUnsafe(state, token, options);
  } catch (error) {
    throw wrapError(error, 'ERR_INTERNAL', 'credential verification failed unexpectedly');
  }
}

interface Discharge {
  readonly name: string;
  readonly macaroon: Macaroon;
  readonly entries: readonly CaveatEntry[];
  readonly expiresAt: number;
  readonly expiryEntry: CaveatEntry;
}

async function verifyUnsafe(
  state: VerifierState,
  token: string,
  options: VerifyCredentialOptions,
): Promise<VerifiedCredential> {
  const { keys, store, clock, limits } = state;
  if (typeof options !== 'object' || options === null) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'options must be an object', { field: 'options' });
  }
  const now = nowArgument(options.now, clock);
  const userContext = contextArgument(options.context);
  const audience = options.audience;
  if (audience !== undefined && (typeof audience !== 'string' || audience.length === 0)) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'audience must be a non-empty string', { field: 'audience' });
  }
  const given = options.discharges ?? [];
  if (!Array.isArray(given)) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'discharges must be an array of tokens', { field: 'discharges' });
  }
  checkCredentialLimit(given.length, limits.maxDischarges, 'maxDischarges', 'discharge count');

  // 1. Format and key.
  const m = parseToken(token, 'credential', limits, 'token');
  const dischargeMacaroons = given.map((d, i) => parseToken(d, 'discharge', limits, `discharges[${i}]`));
  const id = decodeIdentifier(m.identifierText);
  const rootKey = rootKeyOf(keys, id.keyId);
  if (rootKey === undefined) {
    throw new LatchkeyError('ERR_CREDENTIAL_UNKNOWN_KEY', `no key \`${id.keyId}\` in the ring`, { keyId: id.keyId });
  }

  // 2. Signatures and discharges.
  // Caveat and discharge counts were bounded above (parseToken, maxDischarges), tighter than the
  // macaroon defaults; the predicates are checked below, with the full layout in hand.
  verifyMacaroon(m, { rootKey, discharges: dischargeMacaroons, satisfies: () => true });

  // 3. Layout.
  const layout = readLayout(m, id, limits.maxChainLength);
  const problem = layout.problems[0];
  if (problem !== undefined) throw problem;
  const { entries, chain, declarations } = layout;
  const discharges = dischargeMacaroons.map((macaroon, i) => readDischarge(macaroon, `discharge ${i}`));

  // 4. Expiry.
  let expiresAt: number | undefined;
  let expiryEntry: CaveatEntry | undefined;
  for (const entry of entries) {
    if (entry.parsed.kind === 'expiry' && (expiresAt === undefined || entry.parsed.value < expiresAt)) {
      expiresAt = entry.parsed.value;
      expiryEntry = entry;
    }
  }
  if (expiresAt !== undefined && expiryEntry !== undefined && now >= expiresAt) {
    throw expired(expiryEntry, expiresAt, 'the credential');
  }
  for (const d of discharges) {
    if (now >= d.expiresAt) throw expired(d.expiryEntry, d.expiresAt, d.name);
    if (d.expiresAt - now > limits.maxDischargeTtlMs) {
      throw caveatFailed(
        d.expiryEntry,
        `a discharge may be valid for at most ${limits.maxDischargeTtlMs} ms (limit maxDischargeTtlMs)`,
      );
    }
  }

  // 5. Revocation of the whole chain.
  const revoked = await store.revocations.firstRevoked(chain);
  if (revoked !== null) {
    throw new LatchkeyError('ERR_CREDENTIAL_REVOKED', `credential \`${revoked.id}\` is revoked`, {
      credentialId: revoked.id,
      revokedAt: revoked.revokedAt,
      chainIndex: chain.indexOf(revoked.id),
    });
  }

  // 6. Caveats against the context.
  const leaf = chain.at(-1) as string;
  // Object.assign onto the bound names: far cheaper than an object spread, and safe because the
  // context can hold no reserved name (nor `__proto__`), see contextArgument.
  const at = new Date(now);
  const context: Record<string, unknown> = Object.assign({ time: at, now: at, cid: leaf }, userContext);
  if (declarations.subject !== undefined) context.sub = declarations.subject;
  if (declarations.amr !== undefined) context.amr = declarations.amr;
  if (declarations.acr !== undefined) context.acr = declarations.acr;
  if (declarations.authTime !== undefined) context.auth_time = new Date(declarations.authTime);
  if (expiresAt !== undefined) context.expiry = new Date(expiresAt);
  if (audience !== undefined) context.aud = audience;
  const bound = context as CredentialContext;

  let audienceChecked = false;
  const usesLimits = new Map<string, { limit: number; depth: number; entry: CaveatEntry }>();
  for (const entry of entries) {
    const parsed = entry.parsed;
    switch (parsed.kind) {
      case 'declaration':
        if (entry.credentialId !== undefined) checkDeclaration(entry, parsed, declarations);
        break;
      case 'audience':
        if (audience === undefined) {
          throw caveatFailed(entry, 'the credential is restricted to an audience and the verifier named none');
        }
        if (!parsed.value.includes(audience)) {
          throw caveatFailed(entry, `the verifier \`${shortText(audience, 80)}\` is not in the audience`);
        }
        audienceChecked = true;
        break;
      case 'expression':
        evaluate(entry, parsed.source, bound);
        break;
      case 'uses': {
        const depth = entry.depth;
        const key = `uses.${sha256(chain.slice(0, depth).join('.'))}`;
        const previous = usesLimits.get(key);
        if (previous === undefined || parsed.value < previous.limit) {
          usesLimits.set(key, { limit: parsed.value, depth, entry });
        }
        break;
      }
      default:
        break;
    }
  }
  for (const d of discharges) {
    for (const entry of d.entries) {
      if (entry.parsed.kind === 'expression') evaluate(entry, entry.parsed.source, bound);
    }
  }

  // 7. Each discharge once.
  if (state.singleUseDischarges) {
    for (const [i, d] of discharges.entries()) {
      try {
        await store.challenges.put({
          id: `discharge.${sha256(d.macaroon.signature)}`,
          purpose: DISCHARGE_PURPOSE,
          payload: new Uint8Array(0),
          ttlMs: Math.max(1, d.expiresAt - now),
        });
      } catch (error) {
        if (!isLatchkeyError(error, 'ERR_STORE_CONFLICT')) throw error;
        throw new LatchkeyError('ERR_CREDENTIAL_USES_EXHAUSTED', `${d.name} has already been used`, {
          macaroon: d.name,
          discharge: i,
        });
      }
    }
  }

  // 8. Uses, root first.
  const counters = [...usesLimits.entries()].sort((a, b) => a[1].depth - b[1].depth);
  for (const [key, { limit, depth, entry }] of counters) {
    const result = await store.usage.consume(key, limit);
    if (!result.ok) {
      const credentialId = chain[depth - 1] as string;
      throw new LatchkeyError(
        'ERR_CREDENTIAL_USES_EXHAUSTED',
        `credential \`${credentialId}\` has been used ${result.used} of ${limit} times`,
        { caveat: entry.text, index: entry.index, macaroon: 'root', credentialId, limit, used: result.used },
      );
    }
  }

  // Fresh objects for this caller (typed read-only; not frozen one by one, which costs more
  // than the rest of the bookkeeping).
  const caveats: VerifiedCaveat[] = [];
  const addCaveat = (entry: CaveatEntry): void => {
    const { macaroon, index, text, credentialId } = entry;
    const kind = entry.parsed.kind;
    caveats.push(
      credentialId === undefined ? { macaroon, index, kind, text } : { macaroon, index, kind, text, credentialId },
    );
  };
  for (const entry of entries) addCaveat(entry);
  for (const d of discharges) for (const entry of d.entries) addCaveat(entry);
  const result: {
    -readonly [K in keyof VerifiedCredential]: VerifiedCredential[K];
  } = {
    credentialId: leaf,
    rootCredentialId: chain[0] as string,
    chain: Object.freeze([...chain]),
    keyId: id.keyId,
    amr: Object.freeze([...(declarations.amr ?? [])]),
    caveats: Object.freeze(caveats),
  };
  if (declarations.subject !== undefined) result.subject = declarations.subject;
  if (declarations.acr !== undefined) result.acr = declarations.acr;
  if (declarations.authTime !== undefined) result.authTime = declarations.authTime;
  if (expiresAt !== undefined) result.expiresAt = expiresAt;
  if (audienceChecked && audience !== undefined) result.audience = audience;
  return Object.freeze(result);
}

function expired(entry: CaveatEntry, expiresAt: number, what: string): LatchkeyError {
  return new LatchkeyError('ERR_CREDENTIAL_EXPIRED', `${what} expired at ${iso(expiresAt)}`, {
    caveat: shortText(entry.text),
    index: entry.index,
    macaroon: entry.macaroon,
    expiresAt: iso(expiresAt),
  });
}

function readDischarge(macaroon: Macaroon, name: string): Discharge {
  const entries = readEntries(macaroon, name);
  let expiresAt: number | undefined;
  let expiryEntry: CaveatEntry | undefined;
  for (const entry of entries) {
    const parsed = entry.parsed;
    switch (parsed.kind) {
      case 'expiry':
        if (expiresAt === undefined || parsed.value < expiresAt) {
          expiresAt = parsed.value;
          expiryEntry = entry;
        }
        break;
      case 'expression':
      case 'third-party':
      case 'cid': // a discharge's own id: it makes each discharge distinct
        break;
      case 'malformed':
        throw caveatFailed(entry, parsed.reason);
      default:
        throw caveatFailed(entry, `a \`${parsed.kind}\` caveat has no meaning in a discharge`);
    }
  }
  if (expiresAt === undefined || expiryEntry === undefined) {
    throw caveatFailed(
      { macaroon: name, index: entries.length, text: '(no expiry)' },
      'a discharge must carry a `time <` caveat',
    );
  }
  return { name, macaroon, entries, expiresAt, expiryEntry };
}

function evaluate(entry: CaveatEntry, source: string, context: CredentialContext): void {
  const expression = compileCached(source);
  if (expression instanceof LatchkeyError) {
    throw caveatFailed(entry, `it does not compile: ${expression.message.split('\n')[0] ?? ''}`);
  }
  const verdict = expression.evaluate(context);
  if (!verdict.satisfied) throw caveatFailed(entry, verdict.reason);
}

function checkDeclaration(
  entry: CaveatEntry,
  parsed: Extract<CaveatEntry['parsed'], { kind: 'declaration' }>,
  declared: Readonly<Declarations>,
): void {
  switch (parsed.name) {
    case 'sub':
      if (declared.subject !== parsed.value) throw caveatFailed(entry, 'the issuer declared another subject (or none)');
      return;
    case 'acr':
      if (declared.acr !== parsed.value) throw caveatFailed(entry, 'the issuer declared another `acr` (or none)');
      return;
    case 'auth_time':
      if (declared.authTime !== parsed.value) {
        throw caveatFailed(entry, 'the issuer declared another `auth_time` (or none)');
      }
      return;
    default: {
      const amr = declared.amr ?? [];
      const missing = parsed.value.filter((value) => !amr.includes(value));
      if (missing.length > 0) {
        throw caveatFailed(entry, `the issuer did not declare \`amr\` ${missing.map((v) => `\`${v}\``).join(', ')}`);
      }
    }
  }
}
