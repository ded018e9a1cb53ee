/**
 * Byte helpers: strict encodings, one constant-time equality, and wiping.
 *
 * Decoders are strict: they reject characters outside the alphabet, wrong padding and
 * non-canonical trailing bits, and throw `ERR_ENCODING` rather than guessing.
 *
 * @module latchkey
 */
import { timingSafeEqual } from 'node:crypto';
import { LatchkeyError } from './errors.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Encode a string as UTF-8. Lone surrogates become U+FFFD, as the WHATWG encoder does. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Decode UTF-8, throwing `ERR_ENCODING` on malformed input instead of inserting U+FFFD. */
export function fromUtf8(bytes: Uint8Array, label = 'input'): string {
  try {
    return decoder.decode(bytes);
  } catch (cause) {
    throw new LatchkeyError('ERR_ENCODING', `${label} is not valid UTF-8`, { field: label }, { cause });
  }
}

/** Bytes as they are, or a string as its UTF-8 bytes (the convention for keys and identifiers). */
export function toBytes(value: Uint8Array | string): Uint8Array {
  return typeof value === 'string' ? utf8(value) : value;
}

/** Concatenate byte arrays into a new array. */
export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const part of parts) total += part.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * The one constant-time equality in latchkey: every MAC, signature, challenge and code is
 * compared with this. Time depends only on the lengths, which are public for every value it
 * is used on; different lengths compare unequal without reading the contents.
 */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array)) return false;
  if (a.length !== b.length) return false;
  if (a.length === 0) return true;
  return timingSafeEqual(a, b);
}

/**
 * Overwrite bytes with zeros. JavaScript cannot promise that no other copy exists (the engine
 * may have moved or copied the buffer, and strings cannot be wiped at all); this removes the
 * copy latchkey owns, which is what can honestly be done.
 */
export function wipe(...buffers: readonly (Uint8Array | undefined)[]): void {
  for (const buffer of buffers) buffer?.fill(0);
}

const B64URL = /^[A-Za-z0-9_-]*$/;
const B64STD = /^[A-Za-z0-9+/]*={0,2}$/;

/** Encode as unpadded base64url (RFC 4648 §5). */
export function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/** Encode as padded standard base64 (RFC 4648 §4). */
export function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

function checkedDecode(normalised: string, label: string): Uint8Array {
  if (normalised.length % 4 === 1) {
    throw new LatchkeyError('ERR_ENCODING', `${label} has an impossible base64 length`, { field: label });
  }
  const out = Buffer.from(normalised, 'base64url');
  // Reject non-canonical encodings (stray bits in the last character): re-encoding must match.
  if (out.toString('base64url') !== normalised) {
    throw new LatchkeyError('ERR_ENCODING', `${label} is not canonical base64`, { field: label });
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** Decode unpadded base64url strictly. Padding is accepted only when correct. */
export function fromBase64url(text: string, label = 'input'): Uint8Array {
  if (typeof text !== 'string') {
    throw new LatchkeyError('ERR_ENCODING', `${label} must be a base64url string`, { field: label });
  }
  const trimmed = stripPadding(text, label);
  if (!B64URL.test(trimmed)) {
    throw new LatchkeyError('ERR_ENCODING', `${label} contains characters outside base64url`, {
      field: label,
    });
  }
  return checkedDecode(trimmed, label);
}

/** Decode standard base64 strictly (padding optional but, when present, correct). */
export function fromBase64(text: string, label = 'input'): Uint8Array {
  if (typeof text !== 'string' || !B64STD.test(text)) {
    throw new LatchkeyError('ERR_ENCODING', `${label} contains characters outside base64`, { field: label });
  }
  const trimmed = stripPadding(text, label);
  return checkedDecode(trimmed.replace(/\+/g, '-').replace(/\//g, '_'), label);
}

/** Decode either alphabet, as long as the text does not mix them. */
export function fromBase64Any(text: string, label = 'input'): Uint8Array {
  if (typeof text === 'string' && /[-_]/.test(text)) return fromBase64url(text, label);
  return fromBase64(text, label);
}

function stripPadding(text: string, label: string): string {
  const index = text.indexOf('=');
  if (index === -1) return text;
  const body = text.slice(0, index);
  const padding = text.slice(index);
  if (!/^={1,2}$/.test(padding) || (body.length + padding.length) % 4 !== 0) {
    throw new LatchkeyError('ERR_ENCODING', `${label} has wrong base64 padding`, { field: label });
  }
  return body;
}

/** Lower-case hexadecimal. */
export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Decode hexadecimal strictly (even length, hex digits only). */
export function fromHex(text: string, label = 'input'): Uint8Array {
  if (typeof text !== 'string' || text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) {
    throw new LatchkeyError('ERR_ENCODING', `${label} is not hexadecimal`, { field: label });
  }
  const out = Buffer.from(text, 'hex');
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}
