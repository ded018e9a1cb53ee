/**
 * Macaroons (Birgisson et al., NDSS 2014), wire-compatible with libmacaroons and pymacaroons.
 *
 * A `Macaroon` is immutable: every builder returns a new one. A parsed macaroon is NOT trusted:
 * nothing in it means anything until {@link verifyMacaroon} has checked it against the root key.
 *
 * @module latchkey
 */
import { createHash } from 'node:crypto';
import { base64url, fromBase64Any, toBytes, wipe } from '../../core/bytes.js';
import { LatchkeyError } from '../../core/errors.js';
import { aoneOf } from '../../core/guards.js';
import { bindSignature, deriveKey, hmac, hmac2, sealCaveatKey, wipeHmacScratch } from './crypto.js';
import { type CaveatFields, formatError, type MacaroonFields, printable, tryUtf8 } from './fields.js';
import { checkLimit, DEFAULT_MACAROON_LIMITS, type MacaroonLimits, resolveMacaroonLimits } from './limits.js';
import { decodeJson, encodeV2Json } from './serialize-json.js';
import { decodeV1, encodeV1 } from './serialize-v1.js';
import { decodeV2, encodeV2 } from './serialize-v2.js';

/** A serialization format: `v1` and `v2` binary as unpadded base64url, `v2j` as JSON text. */
export type MacaroonFormat = 'v1' | 'v2' | 'v2j';

/** The formats {@link Macaroon.serialize} writes. */
export const MACAROON_FORMATS: readonly MacaroonFormat[] = Object.freeze(['v1', 'v2', 'v2j']);

/**
 * One caveat, as a copy that the caller may keep. A first-party caveat has only `identifier` (its
 * predicate); a third-party caveat also has `verificationId` and usually `location`.
 */
export interface MacaroonCaveat {
  /** `first-party` (a predicate the verifier checks) or `third-party` (needs a discharge). */
  readonly kind: 'first-party' | 'third-party';
  /** The predicate of a first-party caveat, or the caveat id a third party understands. */
  readonly identifier: Uint8Array;
  /** `identifier` as text when it is valid UTF-8; absent for binary identifiers. */
  readonly text?: string;
  /** The encrypted caveat key of a third-party caveat (nonce and secretbox). */
  readonly verificationId?: Uint8Array;
  /** Where to get a discharge: a hint only, never authenticated. */
  readonly location?: string;
}

/** Options for {@link Macaroon.mint}. */
export interface MintMacaroonOptions {
  /** The root secret; a string is taken as its UTF-8 bytes. Keep at least 32 random bytes. */
  readonly rootKey: Uint8Array | string;
  /** Public id that lets the issuer find `rootKey` again. */
  readonly identifier: Uint8Array | string;
  /** A hint of where the macaroon is used. NOT authenticated: put the audience in a caveat. */
  readonly location?: string;
}

/** Options for {@link Macaroon.addThirdPartyCaveat}. */
export interface ThirdPartyCaveatOptions {
  /** The caveat key shared with the third party; it mints the discharge with this key. */
  readonly key: Uint8Array | string;
  /** The caveat id the third party uses to recall the key and the condition to check. */
  readonly identifier: Uint8Array | string;
  /** Where the third party is: a hint, not authenticated. */
  readonly location: string;
}

/** Options for {@link Macaroon.deserialize}. */
export interface DeserializeMacaroonOptions {
  /** Size limits; see {@link MacaroonLimits}. */
  readonly limits?: Partial<MacaroonLimits>;
}

function fieldBytes(value: unknown, label: string): Uint8Array {
  if (typeof value !== 'string' && !(value instanceof Uint8Array)) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', `${label} must be a string or a Uint8Array`, { field: label });
  }
  const bytes = toBytes(value);
  checkLimit(bytes.length, DEFAULT_MACAROON_LIMITS.maxFieldBytes, 'maxFieldBytes', `${label} length`);
  return new Uint8Array(bytes);
}

function locationArg(value: unknown, label: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', `${label} must be a string`, { field: label });
  }
  checkLimit(value.length, DEFAULT_MACAROON_LIMITS.maxFieldBytes, 'maxFieldBytes', `${label} length`);
  return value === '' ? undefined : value;
}

let stateOf: (m: Macaroon) => MacaroonFields;

/** Internal access to a macaroon's fields without copying (for the verifier). */
export function macaroonFields(m: unknown, label = 'macaroon'): MacaroonFields {
  if (!Macaroon.isMacaroon(m)) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', `${label} must be a Macaroon`, { field: label });
  }
  return stateOf(m);
}

/**
 * A macaroon: a bearer token with an HMAC chain over its identifier and caveats.
 *
 * Build one with {@link Macaroon.mint}, narrow it with {@link Macaroon.addFirstPartyCaveat} and
 * {@link Macaroon.addThirdPartyCaveat}, send it with {@link Macaroon.serialize}, read it with
 * {@link Macaroon.deserialize}, and trust it only after {@link verifyMacaroon}.
 *
 * The `location` fields are not covered by the signature: anyone can change them. Never decide
 * anything on `location`; put the audience in a first-party caveat instead.
 *
 * @example
 * ```ts
 * import { Macaroon, verifyMacaroon } from 'latchkey';
 * const m = Macaroon.mint({ rootKey, identifier: 'key-1', location: 'https://shop.example' })
 *   .addFirstPartyCaveat('audience = shop')
 *   .addFirstPartyCaveat('amount <= 10');
 * const token = m.serialize('v2');
 * verifyMacaroon(Macaroon.deserialize(token), {
 *   rootKey,
 *   satisfies: (predicate) => allowed.has(new TextDecoder().decode(predicate)),
 * });
 * ```
 */
export class Macaroon {
  readonly #state: MacaroonFields;

  static {
    stateOf = (m) => m.#state;
  }

  private constructor(state: MacaroonFields) {
    this.#state = state;
    Object.freeze(this);
  }

  /** True when `value` is a `Macaroon` made by this module. */
  static isMacaroon(value: unknown): value is Macaroon {
    return typeof value === 'object' && value !== null && #state in value;
  }

  /**
   * Mint a root macaroon. The signing key is derived from `rootKey` as libmacaroons does it:
   * HMAC-SHA256 keyed with `macaroons-key-generator` over the root key.
   */
  static mint(options: MintMacaroonOptions): Macaroon {
    if (typeof options !== 'object' || options === null) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'options must be an object', { field: 'options' });
    }
    const rootKey = fieldBytes(options.rootKey, 'rootKey');
    const identifier = fieldBytes(options.identifier, 'identifier');
    const location = locationArg(options.location, 'location');
    const key = deriveKey(rootKey);
    try {
      const signature = hmac(key, identifier);
      return new Macaroon(
        location === undefined
          ? { identifier, caveats: [], signature }
          : { location, identifier, caveats: [], signature },
      );
    } finally {
      wipe(key, rootKey);
      wipeHmacScratch();
    }
  }

  /**
   * Parse a token in any supported form: v1 or v2 binary as base64 or base64url (padded or
   * not), v2 JSON, or libmacaroons' v1 JSON. Also takes raw binary bytes. Throws
   * `ERR_MACAROON_FORMAT` on malformed input and `ERR_LIMIT_EXCEEDED` above the limits.
   * The result is UNVERIFIED.
   */
  static deserialize(token: string | Uint8Array, options: DeserializeMacaroonOptions = {}): Macaroon {
    const limits = resolveMacaroonLimits(options.limits);
    return new Macaroon(parseToken(token, limits));
  }

  /** The identifier (a copy). */
  get identifier(): Uint8Array {
    return new Uint8Array(this.#state.identifier);
  }

  /** The identifier as text when it is valid UTF-8, else undefined. */
  get identifierText(): string | undefined {
    return tryUtf8(this.#state.identifier);
  }

  /** The location hint, or undefined. NOT authenticated: never base a decision on it. */
  get location(): string | undefined {
    return this.#state.location;
  }

  /** The caveats, in order (copies). */
  get caveats(): readonly MacaroonCaveat[] {
    return Object.freeze(this.#state.caveats.map(caveatView));
  }

  /** The signature (a copy). Whoever holds it holds the macaroon's authority. */
  get signature(): Uint8Array {
    return new Uint8Array(this.#state.signature);
  }

  /** Add a first-party caveat: a predicate the target service checks. Returns a new macaroon. */
  addFirstPartyCaveat(predicate: Uint8Array | string): Macaroon {
    const identifier = fieldBytes(predicate, 'predicate');
    const state = this.#state;
    checkLimit(state.caveats.length + 1, DEFAULT_MACAROON_LIMITS.maxCaveats, 'maxCaveats', 'caveat count');
    try {
      return this.#with({ identifier }, hmac(state.signature, identifier));
    } finally {
      wipeHmacScratch();
    }
  }

  /**
   * Add a third-party caveat. The caveat key is derived as libmacaroons does and sealed under the
   * current signature with NaCl secretbox and a fresh 24-byte random nonce; the third party must
   * mint the discharge with the same `key` and `identifier`. Returns a new macaroon.
   */
  addThirdPartyCaveat(options: ThirdPartyCaveatOptions): Macaroon {
    if (typeof options !== 'object' || options === null) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'options must be an object', { field: 'options' });
    }
    const key = fieldBytes(options.key, 'key');
    const identifier = fieldBytes(options.identifier, 'identifier');
    if (typeof options.location !== 'string') {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'location must be a string', { field: 'location' });
    }
    const location = locationArg(options.location, 'location');
    const state = this.#state;
    checkLimit(state.caveats.length + 1, DEFAULT_MACAROON_LIMITS.maxCaveats, 'maxCaveats', 'caveat count');
    const caveatKey = deriveKey(key);
    try {
      const verificationId = sealCaveatKey(state.signature, caveatKey);
      const caveat: CaveatFields =
        location === undefined ? { identifier, verificationId } : { identifier, verificationId, location };
      return this.#with(caveat, hmac2(state.signature, verificationId, identifier));
    } finally {
      wipe(caveatKey, key);
      wipeHmacScratch();
    }
  }

  /**
   * Bind a discharge macaroon to this (root) macaroon, as libmacaroons `prepare_for_request`
   * does: the discharge's signature becomes HMAC(0, HMAC(0, root sig) || HMAC(0, discharge sig)).
   * Send the bound discharges with the root macaroon; an unbound discharge never verifies.
   */
  bindDischarge(discharge: Macaroon): Macaroon {
    const d = macaroonFields(discharge, 'discharge');
    try {
      return new Macaroon({ ...d, signature: bindSignature(this.#state.signature, d.signature) });
    } finally {
      wipeHmacScratch();
    }
  }

  /** Serialize: `v1` or `v2` binary as unpadded base64url (default `v2`), or `v2j` JSON text. */
  serialize(format: MacaroonFormat = 'v2'): string {
    aoneOf(format, 'format', MACAROON_FORMATS);
    if (format === 'v2j') return encodeV2Json(this.#state);
    return base64url(format === 'v1' ? encodeV1(this.#state) : encodeV2(this.#state));
  }

  /** The raw binary form (`v1` or `v2`), without base64. */
  serializeBinary(format: 'v1' | 'v2' = 'v2'): Uint8Array {
    aoneOf(format, 'format', ['v1', 'v2']);
    return format === 'v1' ? encodeV1(this.#state) : encodeV2(this.#state);
  }

  /**
   * A human-readable dump for debugging, clearly marked UNVERIFIED. Binary or unprintable fields
   * are shown as base64url; the signature is never shown (it is the bearer secret).
   */
  inspect(): string {
    const s = this.#state;
    const lines = ['UNVERIFIED macaroon: contents are not authenticated until verifyMacaroon succeeds'];
    lines.push(`location ${s.location === undefined ? '(none)' : textOrBase64(new TextEncoder().encode(s.location))}`);
    lines.push(`identifier ${textOrBase64(s.identifier)}`);
    for (const [index, caveat] of s.caveats.entries()) {
      if (caveat.verificationId === undefined) {
        lines.push(`caveat ${index} first-party ${textOrBase64(caveat.identifier)}`);
      } else {
        const where =
          caveat.location === undefined ? '' : ` at ${textOrBase64(new TextEncoder().encode(caveat.location))}`;
        lines.push(`caveat ${index} third-party ${textOrBase64(caveat.identifier)}${where}`);
      }
    }
    lines.push(
      `signature (${s.signature.length} bytes, not shown; fingerprint ${createHash('sha256').update(s.signature).digest('hex').slice(0, 8)})`,
    );
    return lines.join('\n');
  }

  /** Same as {@link Macaroon.inspect}. */
  toString(): string {
    return this.inspect();
  }

  /** Node's `util.inspect` shows {@link Macaroon.inspect}. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.inspect();
  }

  #with(caveat: CaveatFields, signature: Uint8Array): Macaroon {
    const s = this.#state;
    const caveats = [...s.caveats, caveat];
    return new Macaroon(
      s.location === undefined
        ? { identifier: s.identifier, caveats, signature }
        : { location: s.location, identifier: s.identifier, caveats, signature },
    );
  }
}

function textOrBase64(bytes: Uint8Array): string {
  const text = printable(bytes, Number.POSITIVE_INFINITY);
  return text === undefined ? `base64url:${base64url(bytes)}` : JSON.stringify(text);
}

function caveatView(c: CaveatFields): MacaroonCaveat {
  const text = tryUtf8(c.identifier);
  const view: { -readonly [K in keyof MacaroonCaveat]: MacaroonCaveat[K] } = {
    kind: c.verificationId === undefined ? 'first-party' : 'third-party',
    identifier: new Uint8Array(c.identifier),
  };
  if (text !== undefined) view.text = text;
  if (c.verificationId !== undefined) view.verificationId = new Uint8Array(c.verificationId);
  if (c.location !== undefined) view.location = c.location;
  return Object.freeze(view);
}

const HEX_DIGIT = /^[0-9a-fA-F]$/;

function parseToken(token: unknown, limits: MacaroonLimits): MacaroonFields {
  if (typeof token === 'string') {
    checkLimit(token.length, limits.maxTokenBytes, 'maxTokenBytes', 'macaroon token size');
    const text = token.trim();
    if (text === '') throw formatError('macaroon token is empty');
    if (text.startsWith('{')) return decodeJson(text, limits);
    let bytes: Uint8Array;
    try {
      bytes = fromBase64Any(text, 'macaroon');
    } catch (cause) {
      throw formatError('macaroon token is not valid base64', {}, cause);
    }
    return parseBinary(bytes, limits);
  }
  if (token instanceof Uint8Array) {
    checkLimit(token.length, limits.maxTokenBytes, 'maxTokenBytes', 'macaroon token size');
    if (token[0] === 0x7b) {
      const text = tryUtf8(token);
      if (text === undefined) throw formatError('macaroon json is not valid UTF-8');
      return decodeJson(text, limits);
    }
    return parseBinary(token, limits);
  }
  throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'token must be a string or a Uint8Array', { field: 'token' });
}

function parseBinary(bytes: Uint8Array, limits: MacaroonLimits): MacaroonFields {
  const first = bytes[0];
  if (first === undefined) throw formatError('macaroon token is empty');
  if (first === 2) return decodeV2(bytes, limits);
  if (HEX_DIGIT.test(String.fromCharCode(first))) return decodeV1(bytes, limits);
  throw formatError('macaroon token is in an unknown binary format', { firstByte: first });
}
