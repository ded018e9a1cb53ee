/**
 * The libmacaroons version 1 binary format: packets of a 4-digit hex length (which counts the
 * header itself), a key, a space, the value and a newline. Keys in order: `location`,
 * `identifier`, then per caveat `cid` with `vid` and `cl` for a third-party caveat, and last
 * `signature`. libmacaroons 0.3.0 reads and writes only this format.
 *
 * @module latchkey
 */
import { LatchkeyError } from '../../core/errors.js';
import { SIGNATURE_BYTES } from './crypto.js';
import { type CaveatFields, formatError, locationFrom, type MacaroonFields } from './fields.js';
import { checkLimit, type MacaroonLimits } from './limits.js';

const encoder = new TextEncoder();
const KEY_LOCATION = encoder.encode('location');
const KEY_IDENTIFIER = encoder.encode('identifier');
const KEY_CID = encoder.encode('cid');
const KEY_VID = encoder.encode('vid');
const KEY_CL = encoder.encode('cl');
const KEY_SIGNATURE = encoder.encode('signature');
const MAX_PACKET = 0xffff;
const HEX = '0123456789abcdef';

/** Encode a macaroon in the v1 binary format. */
export function encodeV1(m: MacaroonFields): Uint8Array {
  const packets: [Uint8Array, Uint8Array][] = [
    [KEY_LOCATION, encoder.encode(m.location ?? '')],
    [KEY_IDENTIFIER, m.identifier],
  ];
  for (const caveat of m.caveats) {
    packets.push([KEY_CID, caveat.identifier]);
    if (caveat.verificationId !== undefined) {
      packets.push([KEY_VID, caveat.verificationId], [KEY_CL, encoder.encode(caveat.location ?? '')]);
    }
  }
  packets.push([KEY_SIGNATURE, m.signature]);
  let total = 0;
  for (const [key, value] of packets) {
    const size = 4 + key.length + 1 + value.length + 1;
    if (size > MAX_PACKET) {
      throw new LatchkeyError('ERR_LIMIT_EXCEEDED', 'a field is too long for the v1 format', {
        limit: 'v1PacketBytes',
        max: MAX_PACKET,
        actual: size,
      });
    }
    total += size;
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const [key, value] of packets) {
    const size = 4 + key.length + 1 + value.length + 1;
    for (let shift = 12, i = 0; i < 4; i++, shift -= 4) out[offset + i] = HEX.charCodeAt((size >> shift) & 0xf);
    out.set(key, offset + 4);
    out[offset + 4 + key.length] = 0x20;
    out.set(value, offset + 5 + key.length);
    out[offset + size - 1] = 0x0a;
    offset += size;
  }
  return out;
}

function hexDigit(byte: number | undefined): number {
  if (byte === undefined) return -1;
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x57;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x37;
  return -1;
}

function keyIs(bytes: Uint8Array, start: number, end: number, key: Uint8Array): boolean {
  if (end - start !== key.length) return false;
  for (let i = 0; i < key.length; i++) if (bytes[start + i] !== key[i]) return false;
  return true;
}

/** Decode the v1 binary format strictly. */
export function decodeV1(bytes: Uint8Array, limits: MacaroonLimits): MacaroonFields {
  let offset = 0;
  let location: string | undefined;
  let identifier: Uint8Array | undefined;
  let signature: Uint8Array | undefined;
  let sawLocation = false;
  const caveats: { identifier: Uint8Array; verificationId?: Uint8Array; location?: string; hasCl?: boolean }[] = [];
  while (offset < bytes.length) {
    if (signature !== undefined) throw formatError('v1 macaroon has data after the signature', { offset });
    let size = 0;
    for (let i = 0; i < 4; i++) {
      const digit = hexDigit(bytes[offset + i]);
      if (digit < 0) throw formatError('v1 macaroon has a malformed packet header', { offset });
      size = size * 16 + digit;
    }
    if (size < 4 + 2 || offset + size > bytes.length) {
      throw formatError('v1 macaroon packet length is out of range', { offset, size });
    }
    const end = offset + size;
    if (bytes[end - 1] !== 0x0a) throw formatError('v1 macaroon packet does not end with a newline', { offset });
    const keyStart = offset + 4;
    const space = bytes.indexOf(0x20, keyStart);
    if (space < 0 || space >= end - 1) throw formatError('v1 macaroon packet has no key', { offset });
    const value = bytes.subarray(space + 1, end - 1);
    checkLimit(value.length, limits.maxFieldBytes, 'maxFieldBytes', 'macaroon field length');
    const last = caveats[caveats.length - 1];
    if (keyIs(bytes, keyStart, space, KEY_LOCATION)) {
      if (sawLocation || identifier !== undefined)
        throw formatError('v1 macaroon has a misplaced location', { offset });
      sawLocation = true;
      location = locationFrom(value, 'macaroon');
    } else if (keyIs(bytes, keyStart, space, KEY_IDENTIFIER)) {
      if (identifier !== undefined) throw formatError('v1 macaroon has two identifiers', { offset });
      identifier = value.slice();
    } else if (keyIs(bytes, keyStart, space, KEY_CID)) {
      if (identifier === undefined) throw formatError('v1 macaroon has a caveat before its identifier', { offset });
      checkLimit(caveats.length + 1, limits.maxCaveats, 'maxCaveats', 'caveat count');
      caveats.push({ identifier: value.slice() });
    } else if (keyIs(bytes, keyStart, space, KEY_VID)) {
      if (last === undefined || last.verificationId !== undefined) {
        throw formatError('v1 macaroon has a misplaced verification id', { offset });
      }
      last.verificationId = value.slice();
    } else if (keyIs(bytes, keyStart, space, KEY_CL)) {
      if (last === undefined || last.hasCl === true)
        throw formatError('v1 macaroon has a misplaced caveat location', { offset });
      last.hasCl = true;
      const cl = locationFrom(value, 'caveat');
      if (cl !== undefined) last.location = cl;
    } else if (keyIs(bytes, keyStart, space, KEY_SIGNATURE)) {
      if (identifier === undefined) throw formatError('v1 macaroon has no identifier', { offset });
      if (value.length !== SIGNATURE_BYTES) {
        throw formatError('v1 macaroon signature must be 32 bytes', {
          expected: SIGNATURE_BYTES,
          actual: value.length,
        });
      }
      signature = value.slice();
    } else {
      throw formatError('v1 macaroon has an unknown packet key', { offset });
    }
    offset = end;
  }
  if (identifier === undefined) throw formatError('v1 macaroon has no identifier');
  if (signature === undefined) throw formatError('v1 macaroon has no signature');
  const out: CaveatFields[] = [];
  for (const [index, c] of caveats.entries()) {
    if ((c.verificationId === undefined) !== (c.hasCl !== true)) {
      throw formatError('v1 third-party caveat needs both `vid` and `cl`', { caveat: index });
    }
    out.push(
      c.verificationId === undefined
        ? { identifier: c.identifier }
        : c.location === undefined
          ? { identifier: c.identifier, verificationId: c.verificationId }
          : { identifier: c.identifier, verificationId: c.verificationId, location: c.location },
    );
  }
  return location === undefined
    ? { identifier, caveats: out, signature }
    : { location, identifier, caveats: out, signature };
}
