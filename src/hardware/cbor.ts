/**
 * Canonical CTAP2 CBOR (CTAP 2.1 §8 "Message encoding"): a small, bounded codec for the subset
 * CTAP uses — unsigned and negative integers, byte and text strings, arrays, maps, booleans and
 * null — with definite lengths, shortest-form heads and map keys in the CTAP2 order.
 *
 * CTAP2's key order (CTAP 2.1 §8 "CTAP2 canonical CBOR encoding form") is not RFC 7049 §3.9's:
 * RFC 7049 sorts the encoded keys shorter-first whatever their major type (so `-1` = `20` would
 * precede `24` = `18 18`), while CTAP2 compares the major type first, then the length, then the
 * bytes (`24` precedes `-1`). cborg 6.1.5 (a dependency for other reasons) turns out to follow
 * the CTAP2 rule in its default `mapSorter` (major type first, then length-first within a type);
 * test/hardware/cbor.test.ts checks that the two encoders agree on arbitrary maps. It is not
 * used here because a CTAP2 peer also needs a *decoder* that verifies canonical form (key order,
 * duplicates, shortest heads: python-fido2 rejects anything else) and bounds depth and item
 * count, which cborg's decoder does not offer; and the subset CTAP uses is small enough that one
 * bounded codec, fuzzed in the same test file, is easier to audit than options and a wrapper.
 *
 * @module latchkey/fob
 */
import { fromUtf8, utf8 } from '../core/bytes.js';
import { LatchkeyError } from '../core/errors.js';

/** A map key: CTAP uses integers and text strings only. */
export type CborKey = number | string;

/** A decoded CBOR value. Maps are `Map`s so that integer keys stay integers. */
export type CborValue = number | string | boolean | null | Uint8Array | readonly CborValue[] | CborMap;

/** A CBOR map. */
export type CborMap = ReadonlyMap<CborKey, CborValue>;

/** What {@link encodeCbor} accepts: a map entry whose value is `undefined` is left out. */
export type CborInput =
  | number
  | string
  | boolean
  | null
  | Uint8Array
  | readonly CborInput[]
  | ReadonlyMap<CborKey, CborInput | undefined>;

/** Bounds on what {@link decodeCbor} accepts. */
export interface CborLimits {
  /** Largest input, in bytes. */
  readonly maxBytes: number;
  /** Deepest nesting of arrays and maps. */
  readonly maxDepth: number;
  /** Most items (array elements plus map entries) in the whole input. */
  readonly maxItems: number;
}

/** Defaults sized for CTAPHID's largest message (7,609 bytes). */
export const DEFAULT_CBOR_LIMITS: CborLimits = Object.freeze({ maxBytes: 7609, maxDepth: 16, maxItems: 2048 });

function cborError(reason: string, offset?: number): LatchkeyError {
  return new LatchkeyError('ERR_CTAP2_CBOR', `invalid CBOR: ${reason}`, {
    reason,
    ...(offset === undefined ? {} : { offset }),
  });
}

// ---------------------------------------------------------------- encoding

class Writer {
  private buffer = new Uint8Array(256);
  length = 0;

  private reserve(extra: number): void {
    if (this.length + extra <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.length + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buffer.subarray(0, this.length));
    this.buffer = next;
  }

  byte(value: number): void {
    this.reserve(1);
    this.buffer[this.length++] = value;
  }

  bytes(value: Uint8Array): void {
    this.reserve(value.length);
    this.buffer.set(value, this.length);
    this.length += value.length;
  }

  head(major: number, value: number): void {
    const m = major << 5;
    if (value < 24) this.byte(m | value);
    else if (value < 0x100) {
      this.byte(m | 24);
      this.byte(value);
    } else if (value < 0x10000) {
      this.byte(m | 25);
      this.byte(value >>> 8);
      this.byte(value & 0xff);
    } else if (value < 0x100000000) {
      this.byte(m | 26);
      this.byte(value >>> 24);
      this.byte((value >>> 16) & 0xff);
      this.byte((value >>> 8) & 0xff);
      this.byte(value & 0xff);
    } else {
      this.byte(m | 27);
      const high = Math.floor(value / 0x100000000);
      const low = value >>> 0;
      for (const word of [high, low]) {
        this.byte(word >>> 24);
        this.byte((word >>> 16) & 0xff);
        this.byte((word >>> 8) & 0xff);
        this.byte(word & 0xff);
      }
    }
  }

  result(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }
}

/**
 * The CTAP2 canonical order of two encoded map keys (CTAP 2.1 §8 "CTAP2 canonical CBOR
 * encoding form"): lower major type first, then the shorter encoding, then byte-wise lexical.
 */
export function compareCtapKeys(a: Uint8Array, b: Uint8Array): number {
  const majorA = (a[0] ?? 0) >> 5;
  const majorB = (b[0] ?? 0) >> 5;
  if (majorA !== majorB) return majorA - majorB;
  if (a.length !== b.length) return a.length - b.length;
  for (let i = 0; i < a.length; i++) {
    const diff = (a[i] ?? 0) - (b[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}

function encodeInto(writer: Writer, value: CborInput, depth: number): void {
  if (depth > 64) throw cborError('value nests too deeply to encode');
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw cborError('only safe integers can be encoded');
    if (value >= 0) writer.head(0, value);
    else writer.head(1, -1 - value);
  } else if (typeof value === 'string') {
    const bytes = utf8(value);
    writer.head(3, bytes.length);
    writer.bytes(bytes);
  } else if (typeof value === 'boolean') {
    writer.byte(value ? 0xf5 : 0xf4);
  } else if (value === null) {
    writer.byte(0xf6);
  } else if (value instanceof Uint8Array) {
    writer.head(2, value.length);
    writer.bytes(value);
  } else if (Array.isArray(value)) {
    writer.head(4, value.length);
    for (const item of value as readonly CborInput[]) encodeInto(writer, item, depth + 1);
  } else if (value instanceof Map) {
    const entries: [Uint8Array, Uint8Array][] = [];
    for (const [key, item] of value as ReadonlyMap<CborKey, CborInput | undefined>) {
      if (item === undefined) continue;
      if (typeof key !== 'number' && typeof key !== 'string') throw cborError('map keys must be integers or text');
      entries.push([encodeCbor(key), encodeNested(item, depth + 1)]);
    }
    entries.sort((x, y) => compareCtapKeys(x[0], y[0]));
    for (let i = 1; i < entries.length; i++) {
      const previous = entries[i - 1];
      const current = entries[i];
      if (previous !== undefined && current !== undefined && compareCtapKeys(previous[0], current[0]) === 0) {
        throw cborError('duplicate map key');
      }
    }
    writer.head(5, entries.length);
    for (const [key, item] of entries) {
      writer.bytes(key);
      writer.bytes(item);
    }
  } else {
    throw cborError(`cannot encode a value of type ${typeof value}`);
  }
}

function encodeNested(value: CborInput, depth: number): Uint8Array {
  const writer = new Writer();
  encodeInto(writer, value, depth);
  return writer.result();
}

/**
 * Encode a value as canonical CTAP2 CBOR.
 *
 * @example
 * ```ts
 * import { encodeCbor } from 'latchkey/fob';
 * encodeCbor(new Map([[1, 'fido'], [2, new Uint8Array(32)]]));
 * ```
 */
export function encodeCbor(value: CborInput): Uint8Array {
  return encodeNested(value, 0);
}

// ---------------------------------------------------------------- decoding

class Reader {
  offset = 0;
  items = 0;
  constructor(
    readonly data: Uint8Array,
    readonly limits: CborLimits,
    readonly canonical: boolean,
  ) {}

  byte(): number {
    const value = this.data[this.offset];
    if (value === undefined) throw cborError('input ends early', this.offset);
    this.offset++;
    return value;
  }

  take(length: number): Uint8Array {
    if (length > this.data.length - this.offset) throw cborError('input ends early', this.offset);
    const out = this.data.subarray(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }

  /** Reads the argument of a head whose additional information is `info`. */
  argument(info: number, start: number): number {
    if (info < 24) return info;
    let value: number;
    let minimum: number;
    if (info === 24) {
      value = this.byte();
      minimum = 24;
    } else if (info === 25) {
      value = (this.byte() << 8) | this.byte();
      minimum = 0x100;
    } else if (info === 26) {
      value = ((this.byte() << 24) >>> 0) + ((this.byte() << 16) | (this.byte() << 8) | this.byte());
      minimum = 0x10000;
    } else if (info === 27) {
      const high = ((this.byte() << 24) >>> 0) + ((this.byte() << 16) | (this.byte() << 8) | this.byte());
      const low = ((this.byte() << 24) >>> 0) + ((this.byte() << 16) | (this.byte() << 8) | this.byte());
      if (high >= 0x200000) throw cborError('integer is too large', start);
      value = high * 0x100000000 + low;
      minimum = 0x100000000;
    } else {
      throw cborError(info === 31 ? 'indefinite lengths are not allowed' : 'reserved additional information', start);
    }
    if (this.canonical && value < minimum) throw cborError('integer or length is not in shortest form', start);
    return value;
  }

  count(n: number, start: number): void {
    this.items += n;
    if (this.items > this.limits.maxItems) throw cborError('too many items', start);
  }

  value(depth: number): CborValue {
    const start = this.offset;
    const initial = this.byte();
    const major = initial >> 5;
    const info = initial & 0x1f;
    switch (major) {
      case 0:
        return this.argument(info, start);
      case 1:
        return -1 - this.argument(info, start);
      case 2:
        return this.take(this.argument(info, start)).slice();
      case 3: {
        const bytes = this.take(this.argument(info, start));
        try {
          return fromUtf8(bytes, 'CBOR text');
        } catch {
          throw cborError('text is not valid UTF-8', start);
        }
      }
      case 4: {
        const length = this.argument(info, start);
        if (depth >= this.limits.maxDepth) throw cborError('nesting is too deep', start);
        this.count(length, start);
        const out: CborValue[] = [];
        for (let i = 0; i < length; i++) out.push(this.value(depth + 1));
        return out;
      }
      case 5: {
        const length = this.argument(info, start);
        if (depth >= this.limits.maxDepth) throw cborError('nesting is too deep', start);
        this.count(length, start);
        const out = new Map<CborKey, CborValue>();
        let previous: Uint8Array | undefined;
        for (let i = 0; i < length; i++) {
          const keyStart = this.offset;
          const key = this.value(depth + 1);
          if (typeof key !== 'number' && typeof key !== 'string') {
            throw cborError('map keys must be integers or text', keyStart);
          }
          const keyBytes = this.data.subarray(keyStart, this.offset);
          if (previous !== undefined) {
            const order = compareCtapKeys(previous, keyBytes);
            if (order === 0 || out.has(key)) throw cborError('duplicate map key', keyStart);
            if (this.canonical && order > 0) throw cborError('map keys are not in canonical order', keyStart);
          }
          previous = keyBytes;
          out.set(key, this.value(depth + 1));
        }
        return out;
      }
      case 6:
        throw cborError('tags are not allowed', start);
      default:
        if (initial === 0xf4) return false;
        if (initial === 0xf5) return true;
        if (initial === 0xf6) return null;
        throw cborError('floats and simple values other than true, false and null are not allowed', start);
    }
  }
}

/**
 * Decode one CBOR item that fills `data` exactly, within `limits`. By default it also requires
 * canonical CTAP2 form (shortest heads, keys in order); `canonical: false` accepts any order but
 * still refuses duplicate keys, indefinite lengths, tags and floats. Throws `ERR_CTAP2_CBOR`.
 *
 * @example
 * ```ts
 * import { decodeCbor } from 'latchkey/fob';
 * const info = decodeCbor(bytes) as Map<number, unknown>;
 * ```
 */
export function decodeCbor(
  data: Uint8Array,
  options: { readonly limits?: Partial<CborLimits>; readonly canonical?: boolean } = {},
): CborValue {
  const limits = { ...DEFAULT_CBOR_LIMITS, ...options.limits };
  if (!(data instanceof Uint8Array)) throw cborError('input must be bytes');
  if (data.length > limits.maxBytes) throw cborError('input is too large');
  const reader = new Reader(data, limits, options.canonical ?? true);
  const value = reader.value(0);
  if (reader.offset !== data.length) throw cborError('trailing bytes after the item', reader.offset);
  return value;
}

/**
 * Decode the first CBOR item of `data` and say how many bytes it took (authenticator data holds a
 * COSE key followed by an extensions map, with no length prefix). Same checks as {@link decodeCbor}.
 */
export function decodeCborPrefix(
  data: Uint8Array,
  options: { readonly limits?: Partial<CborLimits>; readonly canonical?: boolean } = {},
): { value: CborValue; length: number } {
  const limits = { ...DEFAULT_CBOR_LIMITS, ...options.limits };
  if (data.length > limits.maxBytes) throw cborError('input is too large');
  const reader = new Reader(data, limits, options.canonical ?? true);
  const value = reader.value(0);
  return { value, length: reader.offset };
}

// ---------------------------------------------------------------- typed access

/** Shape checks for decoded maps: each throws `ERR_CTAP2_CBOR` naming the field. */
export function asMap(value: CborValue | undefined, label: string): CborMap {
  if (!(value instanceof Map)) throw shapeError(label, 'a map');
  return value;
}

export function asBytes(value: CborValue | undefined, label: string, min = 0, max = 7609): Uint8Array {
  if (!(value instanceof Uint8Array)) throw shapeError(label, 'a byte string');
  if (value.length < min || value.length > max) throw shapeError(label, `${min} to ${max} bytes`);
  return value;
}

export function asText(value: CborValue | undefined, label: string, max = 1024): string {
  if (typeof value !== 'string') throw shapeError(label, 'a text string');
  if (value.length > max) throw shapeError(label, `at most ${max} characters`);
  return value;
}

export function asInt(value: CborValue | undefined, label: string): number {
  if (typeof value !== 'number') throw shapeError(label, 'an integer');
  return value;
}

export function asBool(value: CborValue | undefined, label: string): boolean {
  if (typeof value !== 'boolean') throw shapeError(label, 'a boolean');
  return value;
}

export function asArray(value: CborValue | undefined, label: string): readonly CborValue[] {
  if (!Array.isArray(value)) throw shapeError(label, 'an array');
  return value as readonly CborValue[];
}

function shapeError(label: string, expected: string): LatchkeyError {
  return new LatchkeyError('ERR_CTAP2_CBOR', `\`${label}\` must be ${expected}`, {
    reason: 'unexpected type',
    field: label,
  });
}
