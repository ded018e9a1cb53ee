/**
 * The version 2 binary format (libmacaroons `doc/format.txt`, as pymacaroons and go-macaroon
 * write it): a 0x02 byte, then sections of `type varint, length varint, data` fields closed by
 * an EOS (0) byte: the header (location 1, identifier 2), one section per caveat (location 1,
 * identifier 2, verification id 4), an empty section, and the signature field (6).
 *
 * @module latchkey
 */
import { SIGNATURE_BYTES } from './crypto.js';
import { type CaveatFields, formatError, locationFrom, type MacaroonFields } from './fields.js';
import { checkLimit, type MacaroonLimits } from './limits.js';

const VERSION = 2;
const EOS = 0;
const LOCATION = 1;
const IDENTIFIER = 2;
const VID = 4;
const SIGNATURE = 6;
const encoder = new TextEncoder();

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

/** Encode a macaroon in the v2 binary format. */
export function encodeV2(m: MacaroonFields): Uint8Array {
  const fields: (number | [number, Uint8Array])[] = [];
  if (m.location !== undefined) fields.push([LOCATION, encoder.encode(m.location)]);
  fields.push([IDENTIFIER, m.identifier], EOS);
  for (const caveat of m.caveats) {
    if (caveat.location !== undefined && caveat.verificationId !== undefined) {
      fields.push([LOCATION, encoder.encode(caveat.location)]);
    }
    fields.push([IDENTIFIER, caveat.identifier]);
    if (caveat.verificationId !== undefined) fields.push([VID, caveat.verificationId]);
    fields.push(EOS);
  }
  fields.push(EOS, [SIGNATURE, m.signature]);
  let total = 1;
  for (const field of fields)
    total += typeof field === 'number' ? 1 : 1 + varintLength(field[1].length) + field[1].length;
  const out = new Uint8Array(total);
  out[0] = VERSION;
  let offset = 1;
  for (const field of fields) {
    if (typeof field === 'number') {
      out[offset++] = field;
      continue;
    }
    out[offset++] = field[0];
    let n = field[1].length;
    while (n >= 0x80) {
      out[offset++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 128);
    }
    out[offset++] = n;
    out.set(field[1], offset);
    offset += field[1].length;
  }
  return out;
}

interface Field {
  readonly type: number;
  readonly data: Uint8Array;
}

class Reader {
  offset = 1;
  constructor(
    readonly bytes: Uint8Array,
    readonly limits: MacaroonLimits,
  ) {}

  varint(): number {
    let n = 0;
    for (let i = 0; i < 4; i++) {
      const byte = this.bytes[this.offset++];
      if (byte === undefined) throw formatError('v2 macaroon ends inside a varint', { offset: this.offset });
      n += (byte & 0x7f) * 2 ** (7 * i);
      if (byte < 0x80) return n;
    }
    throw formatError('v2 macaroon varint is too long', { offset: this.offset });
  }

  /** One field, or undefined at an EOS byte. */
  field(): Field | undefined {
    const type = this.varint();
    if (type === EOS) return undefined;
    const length = this.varint();
    checkLimit(length, this.limits.maxFieldBytes, 'maxFieldBytes', 'macaroon field length');
    if (this.offset + length > this.bytes.length) {
      throw formatError('v2 macaroon field extends past the end', { offset: this.offset, length });
    }
    const data = this.bytes.slice(this.offset, this.offset + length);
    this.offset += length;
    return { type, data };
  }

  /** The fields of one section, in strictly increasing type order, up to its EOS. */
  section(): Field[] {
    const fields: Field[] = [];
    let previous = EOS;
    for (;;) {
      const field = this.field();
      if (field === undefined) return fields;
      if (field.type <= previous) throw formatError('v2 macaroon fields are out of order', { offset: this.offset });
      if (field.type !== LOCATION && field.type !== IDENTIFIER && field.type !== VID) {
        throw formatError('v2 macaroon has an unknown field type', { type: field.type });
      }
      previous = field.type;
      fields.push(field);
    }
  }
}

/** Decode the v2 binary format strictly. */
export function decodeV2(bytes: Uint8Array, limits: MacaroonLimits): MacaroonFields {
  if (bytes[0] !== VERSION) throw formatError('not a v2 macaroon');
  const reader = new Reader(bytes, limits);
  const header = reader.section();
  let location: string | undefined;
  let identifier: Uint8Array | undefined;
  for (const field of header) {
    if (field.type === LOCATION) location = locationFrom(field.data, 'macaroon');
    else if (field.type === IDENTIFIER) identifier = field.data;
    else throw formatError('v2 macaroon header has an unexpected field', { type: field.type });
  }
  if (identifier === undefined) throw formatError('v2 macaroon header has no identifier');
  const caveats: CaveatFields[] = [];
  for (;;) {
    const section = reader.section();
    if (section.length === 0) break;
    checkLimit(caveats.length + 1, limits.maxCaveats, 'maxCaveats', 'caveat count');
    let cl: string | undefined;
    let sawLocation = false;
    let cid: Uint8Array | undefined;
    let vid: Uint8Array | undefined;
    for (const field of section) {
      if (field.type === LOCATION) {
        sawLocation = true;
        cl = locationFrom(field.data, 'caveat');
      } else if (field.type === IDENTIFIER) cid = field.data;
      else vid = field.data;
    }
    if (cid === undefined) throw formatError('v2 caveat has no identifier', { caveat: caveats.length });
    if (vid === undefined) {
      if (sawLocation) throw formatError('v2 first-party caveat must not have a location', { caveat: caveats.length });
      caveats.push({ identifier: cid });
    } else {
      caveats.push(
        cl === undefined
          ? { identifier: cid, verificationId: vid }
          : { identifier: cid, verificationId: vid, location: cl },
      );
    }
  }
  const signature = reader.field();
  if (signature === undefined || signature.type !== SIGNATURE) throw formatError('v2 macaroon has no signature');
  if (signature.data.length !== SIGNATURE_BYTES) {
    throw formatError('v2 macaroon signature must be 32 bytes', {
      expected: SIGNATURE_BYTES,
      actual: signature.data.length,
    });
  }
  if (reader.offset !== bytes.length)
    throw formatError('v2 macaroon has data after the signature', { offset: reader.offset });
  return location === undefined
    ? { identifier, caveats, signature: signature.data }
    : { location, identifier, caveats, signature: signature.data };
}
