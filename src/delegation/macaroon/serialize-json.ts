/**
 * The JSON forms. Version 2 JSON (`v2j`, go-macaroon and pymacaroons): `{"v":2,"l","i"|"i64",
 * "c":[{"i"|"i64","v"|"v64","l"}],"s"|"s64"}`, where a `64` suffix holds base64 for bytes that are
 * not UTF-8. Version 1 JSON (libmacaroons, pymacaroons; read only): `{"location","identifier",
 * "caveats":[{"cid","vid","cl"}],"signature"}` with a base64 `vid` and a hex signature.
 *
 * @module latchkey
 */
import { base64url, fromBase64Any, fromHex, utf8 } from '../../core/bytes.js';
import { LatchkeyError } from '../../core/errors.js';
import { SIGNATURE_BYTES } from './crypto.js';
import { type CaveatFields, formatError, type MacaroonFields, tryUtf8 } from './fields.js';
import { checkLimit, type MacaroonLimits } from './limits.js';

type Json = Record<string, unknown>;

function putBinary(target: Json, key: string, bytes: Uint8Array): void {
  const text = tryUtf8(bytes);
  if (text === undefined) target[`${key}64`] = base64url(bytes);
  else target[key] = text;
}

/** Encode a macaroon as v2 JSON text. The signature is always `s64`, as go-macaroon writes it. */
export function encodeV2Json(m: MacaroonFields): string {
  const out: Json = { v: 2 };
  if (m.location !== undefined) out.l = m.location;
  putBinary(out, 'i', m.identifier);
  if (m.caveats.length > 0) {
    out.c = m.caveats.map((caveat) => {
      const c: Json = {};
      putBinary(c, 'i', caveat.identifier);
      if (caveat.verificationId !== undefined) {
        c.v64 = base64url(caveat.verificationId);
        if (caveat.location !== undefined) c.l = caveat.location;
      }
      return c;
    });
  }
  out.s64 = base64url(m.signature);
  return JSON.stringify(out);
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function onlyKeys(value: Json, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key))
      throw formatError(`${where} has an unknown field \`${key.slice(0, 32)}\``, { field: key.slice(0, 32) });
  }
}

function decodeBase64(text: string, field: string): Uint8Array {
  try {
    return fromBase64Any(text, field);
  } catch (cause) {
    throw formatError(`\`${field}\` is not valid base64`, { field }, cause);
  }
}

function readString(value: Json, key: string, where: string): string | undefined {
  const v = value[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw formatError(`${where} field \`${key}\` must be a string`, { field: key });
  return v;
}

/** A binary field given either as text (`key`) or base64 (`key64`), never both. */
function readBinary(value: Json, key: string, where: string, limits: MacaroonLimits): Uint8Array | undefined {
  const text = readString(value, key, where);
  const b64 = readString(value, `${key}64`, where);
  if (text !== undefined && b64 !== undefined)
    throw formatError(`${where} has both \`${key}\` and \`${key}64\``, { field: key });
  const bytes = text !== undefined ? utf8(text) : b64 !== undefined ? decodeBase64(b64, `${key}64`) : undefined;
  if (bytes !== undefined) checkLimit(bytes.length, limits.maxFieldBytes, 'maxFieldBytes', 'macaroon field length');
  return bytes;
}

function readLocation(value: Json, key: string, where: string): string | undefined {
  const text = readString(value, key, where);
  return text === '' ? undefined : text;
}

function readCaveats(value: unknown, limits: MacaroonLimits, field: string): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw formatError(`\`${field}\` must be an array`, { field });
  checkLimit(value.length, limits.maxCaveats, 'maxCaveats', 'caveat count');
  return value;
}

function decodeV2JsonObject(value: Json, limits: MacaroonLimits): MacaroonFields {
  onlyKeys(value, ['v', 'l', 'i', 'i64', 'c', 's', 's64'], 'v2 json macaroon');
  const location = readLocation(value, 'l', 'v2 json macaroon');
  const identifier = readBinary(value, 'i', 'v2 json macaroon', limits);
  if (identifier === undefined) throw formatError('v2 json macaroon has no identifier', { field: 'i' });
  const signature = readBinary(value, 's', 'v2 json macaroon', limits);
  if (signature === undefined || signature.length !== SIGNATURE_BYTES) {
    throw formatError('v2 json macaroon signature must be 32 bytes', { field: 's64' });
  }
  const caveats: CaveatFields[] = [];
  for (const [index, raw] of readCaveats(value.c, limits, 'c').entries()) {
    if (!isObject(raw)) throw formatError('v2 json caveat must be an object', { caveat: index });
    onlyKeys(raw, ['i', 'i64', 'v', 'v64', 'l'], 'v2 json caveat');
    const cid = readBinary(raw, 'i', 'v2 json caveat', limits);
    if (cid === undefined) throw formatError('v2 json caveat has no identifier', { caveat: index });
    const vid = readBinary(raw, 'v', 'v2 json caveat', limits);
    const cl = readLocation(raw, 'l', 'v2 json caveat');
    if (vid === undefined) {
      if (raw.l !== undefined)
        throw formatError('v2 json first-party caveat must not have a location', { caveat: index });
      caveats.push({ identifier: cid });
    } else {
      caveats.push(
        cl === undefined
          ? { identifier: cid, verificationId: vid }
          : { identifier: cid, verificationId: vid, location: cl },
      );
    }
  }
  return location === undefined ? { identifier, caveats, signature } : { location, identifier, caveats, signature };
}

function decodeV1JsonObject(value: Json, limits: MacaroonLimits): MacaroonFields {
  onlyKeys(value, ['location', 'identifier', 'caveats', 'signature'], 'v1 json macaroon');
  const location = readLocation(value, 'location', 'v1 json macaroon');
  const id = readString(value, 'identifier', 'v1 json macaroon');
  if (id === undefined) throw formatError('v1 json macaroon has no identifier', { field: 'identifier' });
  const identifier = utf8(id);
  checkLimit(identifier.length, limits.maxFieldBytes, 'maxFieldBytes', 'macaroon field length');
  const sigHex = readString(value, 'signature', 'v1 json macaroon');
  if (sigHex === undefined || sigHex.length !== SIGNATURE_BYTES * 2) {
    throw formatError('v1 json macaroon signature must be 64 hex digits', { field: 'signature' });
  }
  let signature: Uint8Array;
  try {
    signature = fromHex(sigHex, 'signature');
  } catch (cause) {
    throw formatError('v1 json macaroon signature must be 64 hex digits', { field: 'signature' }, cause);
  }
  const caveats: CaveatFields[] = [];
  for (const [index, raw] of readCaveats(value.caveats, limits, 'caveats').entries()) {
    if (!isObject(raw)) throw formatError('v1 json caveat must be an object', { caveat: index });
    onlyKeys(raw, ['cid', 'vid', 'cl'], 'v1 json caveat');
    const cid = readString(raw, 'cid', 'v1 json caveat');
    if (cid === undefined) throw formatError('v1 json caveat has no `cid`', { caveat: index });
    const identifier = utf8(cid);
    checkLimit(identifier.length, limits.maxFieldBytes, 'maxFieldBytes', 'macaroon field length');
    const vidText = raw.vid === null ? undefined : readString(raw, 'vid', 'v1 json caveat');
    const cl = raw.cl === null ? undefined : readLocation(raw, 'cl', 'v1 json caveat');
    if (vidText === undefined || vidText === '') {
      if (cl !== undefined) throw formatError('v1 json first-party caveat must not have a location', { caveat: index });
      caveats.push({ identifier });
    } else {
      const verificationId = decodeBase64(vidText, 'vid');
      checkLimit(verificationId.length, limits.maxFieldBytes, 'maxFieldBytes', 'macaroon field length');
      caveats.push(cl === undefined ? { identifier, verificationId } : { identifier, verificationId, location: cl });
    }
  }
  return location === undefined ? { identifier, caveats, signature } : { location, identifier, caveats, signature };
}

/** Decode either JSON form: v1 when it has `identifier`, v2 otherwise. */
export function decodeJson(text: string, limits: MacaroonLimits): MacaroonFields {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    if (cause instanceof LatchkeyError) throw cause;
    throw formatError('macaroon json does not parse', {}, cause);
  }
  if (!isObject(value)) throw formatError('macaroon json must be an object');
  if (value.identifier !== undefined) return decodeV1JsonObject(value, limits);
  if (value.v !== undefined && value.v !== 2)
    throw formatError('macaroon json has an unsupported version', { field: 'v' });
  return decodeV2JsonObject(value, limits);
}
