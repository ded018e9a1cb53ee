/**
 * The caveat forms of a credential. Every first-party caveat is one line of text, and is either
 * a reserved form that latchkey parses itself or an expression of the shared language
 * (`compileExpression`). The reserved forms are fixed and strict:
 *
 * ```text
 * sub = "alice"                      declaration: the subject (JSON string)
 * amr = ["hwk","pin"]                declaration: authentication methods (JSON array of strings)
 * acr = "aal2"                       declaration: authentication context class (JSON string)
 * auth_time = 2030-01-01T09:00:00.000Z   declaration: when the subject authenticated
 * cid = "3q2-7w..."                  a credential id: starts the root, and every attenuation
 * time < 2030-01-01T18:00:00.000Z    expiry, the conventional macaroon caveat (any ISO 8601 instant)
 * aud = "shop.example"               audience: the verifier must be (one of) these (JSON string or array)
 * uses <= 1                          at most N verifications, counted in the store
 * ```
 *
 * A declaration counts only in the issuer's section, before the root `cid` caveat; after it
 * (where holders append) the same text is a *check* that the issuer's declaration agrees
 * (`amr` a subset), so a holder can narrow to "only if the subject is alice" but never change
 * the subject. A reserved name followed by anything else is refused (fail closed), except
 * that `sub == "alice"`-style comparisons are ordinary expressions over the bound names.
 *
 * @module latchkey
 */
import { LatchkeyError } from '../../core/errors.js';
import { compileExpression, type Expression, parseInstantText as parseInstant } from '../../policy/expression.js';
import { isCredentialId } from './identifier.js';

/** Names a verifier binds in the expression context; an application context may not set them. */
export const RESERVED_NAMES: ReadonlySet<string> = new Set([
  'sub',
  'amr',
  'acr',
  'auth_time',
  'expiry',
  'aud',
  'cid',
  'uses',
  'time',
  'now',
]);

/** A caveat as latchkey reads it. */
export type ParsedCaveat =
  | { readonly kind: 'declaration'; readonly name: 'sub' | 'acr'; readonly value: string }
  | { readonly kind: 'declaration'; readonly name: 'amr'; readonly value: readonly string[] }
  | { readonly kind: 'declaration'; readonly name: 'auth_time'; readonly value: number }
  | { readonly kind: 'cid'; readonly value: string }
  | { readonly kind: 'expiry'; readonly value: number }
  | { readonly kind: 'audience'; readonly value: readonly string[] }
  | { readonly kind: 'uses'; readonly value: number }
  | { readonly kind: 'expression'; readonly source: string }
  | { readonly kind: 'malformed'; readonly reason: string };

/** Most uses a `uses <= N` caveat may grant (the store's counter bound). */
export const MAX_USES = 0xffff_ffff;
const MAX_VALUE_LENGTH = 256;
const MAX_AMR = 16;
const LATEST_INSTANT = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
/**
 * The two caches below (parsed caveats, compiled expressions) keep at most this many entries,
 * each of text no longer than `CACHE_TEXT`, so that untrusted tokens (`inspectCredential`) can
 * fill them with at most about a megabyte.
 */
const CACHE_SIZE = 1024;
const CACHE_TEXT = 512;

const RESERVED_START = /^\s*(sub|amr|acr|auth_time|aud|cid|uses|expiry|time)\b/;
const DECLARATION = /^\s*(sub|amr|acr|auth_time|aud|cid)\s*=(?!=)\s*(.*?)\s*$/s;
const USES = /^\s*uses\s*<=\s*(\d{1,10})\s*$/;
const TIME = /^\s*time\s*<\s*(\S+)\s*$/;
function jsonValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isShortString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_VALUE_LENGTH;
}

function stringList(value: unknown, max: number): readonly string[] | undefined {
  if (isShortString(value)) return Object.freeze([value]);
  if (!Array.isArray(value) || value.length === 0 || value.length > max) return undefined;
  return value.every(isShortString) ? Object.freeze([...value]) : undefined;
}

const parsedCache = new Map<string, ParsedCaveat>();

/** Read one first-party caveat. Never throws. Results are immutable and cached by text. */
export function parseCaveat(text: string): ParsedCaveat {
  let parsed = parsedCache.get(text);
  if (parsed === undefined) {
    parsed = Object.freeze(parseUncached(text));
    if (text.length <= CACHE_TEXT) {
      if (parsedCache.size >= CACHE_SIZE) parsedCache.clear();
      parsedCache.set(text, parsed);
    }
  }
  return parsed;
}

function parseUncached(text: string): ParsedCaveat {
  const reserved = RESERVED_START.exec(text);
  if (reserved === null) return { kind: 'expression', source: text };
  const declaration = DECLARATION.exec(text);
  if (declaration !== null) {
    const name = declaration[1] as 'sub' | 'amr' | 'acr' | 'auth_time' | 'aud' | 'cid';
    const raw = declaration[2] as string;
    if (name === 'auth_time') {
      const at = parseInstant(raw);
      return at === undefined
        ? { kind: 'malformed', reason: '`auth_time` must be an ISO 8601 instant' }
        : { kind: 'declaration', name, value: at };
    }
    const value = jsonValue(raw);
    switch (name) {
      case 'sub':
      case 'acr':
        return isShortString(value)
          ? { kind: 'declaration', name, value }
          : { kind: 'malformed', reason: `\`${name}\` must be a JSON string of 1 to ${MAX_VALUE_LENGTH} characters` };
      case 'cid':
        return isCredentialId(value)
          ? { kind: 'cid', value }
          : { kind: 'malformed', reason: '`cid` must be a JSON string of 1 to 64 of `A-Z a-z 0-9 _ -`' };
      case 'amr': {
        const list = Array.isArray(value) ? stringList(value, MAX_AMR) : undefined;
        return list === undefined
          ? { kind: 'malformed', reason: `\`amr\` must be a JSON array of 1 to ${MAX_AMR} strings` }
          : { kind: 'declaration', name, value: list };
      }
      default: {
        const list = stringList(value, MAX_AMR);
        return list === undefined
          ? { kind: 'malformed', reason: '`aud` must be a JSON string or an array of strings' }
          : { kind: 'audience', value: list };
      }
    }
  }
  const name = reserved[1];
  if (name === 'uses') {
    const uses = USES.exec(text);
    const n = uses === null ? Number.NaN : Number(uses[1]);
    return n >= 1 && n <= MAX_USES
      ? { kind: 'uses', value: n }
      : { kind: 'malformed', reason: `\`uses\` must be written \`uses <= N\` with N from 1 to ${MAX_USES}` };
  }
  if (name === 'time') {
    const time = TIME.exec(text);
    if (time !== null) {
      const at = parseInstant(time[1] as string);
      if (at !== undefined) return { kind: 'expiry', value: at };
    }
    // Any other use of `time` is an ordinary expression over the verifier's clock.
    return { kind: 'expression', source: text };
  }
  // `sub == "x"`, `auth_time + 5m > now`, ...: comparisons over the bound names.
  if (!/^\s*\w+\s*=(?!=)/.test(text)) return { kind: 'expression', source: text };
  return { kind: 'malformed', reason: `\`${name}\` is a reserved caveat name used in an unknown form` };
}

// ------------------------------------------------------------------ writing caveats

/** An instant as a caveat writes it; `ERR_INVALID_ARGUMENT` outside years 1970 to 9999. */
export function instantArgument(value: unknown, label: string): number {
  const ms = value instanceof Date ? value.getTime() : value;
  if (typeof ms !== 'number' || !Number.isSafeInteger(ms) || ms < 0 || ms > LATEST_INSTANT) {
    throw new LatchkeyError(
      'ERR_INVALID_ARGUMENT',
      `${label} must be a Date or ms since the epoch (years 1970 to 9999)`,
      {
        field: label,
      },
    );
  }
  return ms;
}

/** `value` as a non-empty string list (a single string is a list of one). */
export function listArgument(value: unknown, label: string): readonly string[] {
  const list = stringList(value, MAX_AMR);
  if (list === undefined) {
    throw new LatchkeyError(
      'ERR_INVALID_ARGUMENT',
      `${label} must be a string or 1 to ${MAX_AMR} strings of 1 to ${MAX_VALUE_LENGTH} characters`,
      { field: label },
    );
  }
  return list;
}

/** `value` as a reserved string value. */
export function stringArgument(value: unknown, label: string): string {
  if (!isShortString(value)) {
    throw new LatchkeyError(
      'ERR_INVALID_ARGUMENT',
      `${label} must be a string of 1 to ${MAX_VALUE_LENGTH} characters`,
      {
        field: label,
      },
    );
  }
  return value;
}

export const formatCaveat = {
  sub: (value: string): string => `sub = ${JSON.stringify(value)}`,
  acr: (value: string): string => `acr = ${JSON.stringify(value)}`,
  amr: (value: readonly string[]): string => `amr = ${JSON.stringify(value)}`,
  authTime: (ms: number): string => `auth_time = ${new Date(ms).toISOString()}`,
  cid: (value: string): string => `cid = ${JSON.stringify(value)}`,
  expiry: (ms: number): string => `time < ${new Date(ms).toISOString()}`,
  audience: (value: readonly string[]): string => `aud = ${JSON.stringify(value.length === 1 ? value[0] : value)}`,
  uses: (n: number): string => `uses <= ${n}`,
} as const;

/**
 * Check caveat text an application asks to add (at issue or attenuation): a reserved check form
 * or an expression that compiles. Throws `ERR_INVALID_ARGUMENT` for a malformed reserved form
 * or a form the caller may not write (`cid`, or a declaration at issue time, where the claims
 * say it), and `ERR_EXPRESSION_SYNTAX` for an expression that does not compile.
 */
export function checkCaveatArgument(text: unknown, label: string, allowDeclarations: boolean): string {
  if (typeof text !== 'string' || text.length === 0 || text.length > 4096) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', `${label} must be a string of 1 to 4096 characters`, {
      field: label,
    });
  }
  if (text.includes('\n') || text.includes('\r') || text.includes('\u0000')) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', `${label} must be one line`, { field: label });
  }
  const parsed = parseCaveat(text);
  switch (parsed.kind) {
    case 'malformed':
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', `${label}: ${parsed.reason}`, { field: label });
    case 'cid':
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', `${label}: \`cid\` caveats are added by latchkey itself`, {
        field: label,
      });
    case 'declaration':
      if (!allowDeclarations) {
        throw new LatchkeyError(
          'ERR_INVALID_ARGUMENT',
          `${label}: declare \`${parsed.name}\` through the claims, not as a caveat`,
          { field: label },
        );
      }
      return text;
    case 'expression': {
      const compiled = compileCached(text);
      if (compiled instanceof LatchkeyError) throw compiled;
      return text;
    }
    default:
      return text;
  }
}

// ------------------------------------------------------------------ compiled expressions

const cache = new Map<string, Expression | LatchkeyError>();

/**
 * The compiled expression for `source`, or the `LatchkeyError` its compilation raised. Compiled
 * once per source and kept in a small bounded cache, so a hot credential costs no parsing.
 */
export function compileCached(source: string): Expression | LatchkeyError {
  const hit = cache.get(source);
  if (hit !== undefined) return hit;
  let result: Expression | LatchkeyError;
  try {
    result = compileExpression(source);
  } catch (error) {
    result =
      error instanceof LatchkeyError
        ? error
        : new LatchkeyError('ERR_EXPRESSION_SYNTAX', 'the expression could not be compiled', {}, { cause: error });
  }
  if (source.length <= CACHE_TEXT) {
    if (cache.size >= CACHE_SIZE) cache.clear();
    cache.set(source, result);
  }
  return result;
}
