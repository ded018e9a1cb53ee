import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  base64,
  base64url,
  concatBytes,
  equalBytes,
  fromBase64,
  fromBase64Any,
  fromBase64url,
  fromHex,
  fromUtf8,
  hex,
  toBytes,
  utf8,
  wipe,
} from '../../src/core/bytes.js';
import { isLatchkeyError } from '../../src/core/errors.js';

const throwsCode = (fn: () => unknown, code: string) => {
  try {
    fn();
  } catch (error) {
    expect(isLatchkeyError(error), String(error)).toBe(true);
    expect((error as { code: string }).code).toBe(code);
    return;
  }
  throw new Error('expected a throw');
};

describe('base64url and base64', () => {
  it('round-trips any bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(fromBase64url(base64url(bytes))).toEqual(bytes);
        expect(fromBase64(base64(bytes))).toEqual(bytes);
        expect(fromBase64Any(base64url(bytes))).toEqual(bytes);
        expect(fromBase64Any(base64(bytes))).toEqual(bytes);
      }),
    );
  });

  it('matches RFC 4648 §10 test vectors', () => {
    const vectors: [string, string][] = [
      ['', ''],
      ['f', 'Zg=='],
      ['fo', 'Zm8='],
      ['foo', 'Zm9v'],
      ['foob', 'Zm9vYg=='],
      ['fooba', 'Zm9vYmE='],
      ['foobar', 'Zm9vYmFy'],
    ];
    for (const [text, encoded] of vectors) {
      expect(base64(utf8(text))).toBe(encoded);
      expect(base64url(utf8(text))).toBe(encoded.replace(/=+$/, ''));
      expect(fromUtf8(fromBase64(encoded))).toBe(text);
    }
  });

  it('refuses characters outside the alphabet, bad padding and non-canonical trailing bits', () => {
    throwsCode(() => fromBase64url('ab+c'), 'ERR_ENCODING');
    throwsCode(() => fromBase64url('a b'), 'ERR_ENCODING');
    throwsCode(() => fromBase64('Zg='), 'ERR_ENCODING');
    throwsCode(() => fromBase64('Zg==='), 'ERR_ENCODING');
    throwsCode(() => fromBase64('Z=g='), 'ERR_ENCODING');
    throwsCode(() => fromBase64url('Zh'), 'ERR_ENCODING'); // 'Zg' is canonical for "f"
    throwsCode(() => fromBase64url('A'), 'ERR_ENCODING');
    throwsCode(() => fromBase64url(42 as unknown as string), 'ERR_ENCODING');
    throwsCode(() => fromBase64Any('ab-c+d'), 'ERR_ENCODING');
  });

  it('hex round-trips and refuses odd or non-hex input', () => {
    expect(hex(fromHex('00ff10'))).toBe('00ff10');
    throwsCode(() => fromHex('abc'), 'ERR_ENCODING');
    throwsCode(() => fromHex('zz'), 'ERR_ENCODING');
  });
});

describe('utf8', () => {
  it('refuses malformed UTF-8 rather than inserting U+FFFD', () => {
    throwsCode(() => fromUtf8(Uint8Array.of(0xc3, 0x28)), 'ERR_ENCODING');
    throwsCode(() => fromUtf8(Uint8Array.of(0xed, 0xa0, 0x80)), 'ERR_ENCODING'); // an encoded surrogate
    expect(fromUtf8(utf8('Zoë ✓'))).toBe('Zoë ✓');
    expect(toBytes('a')).toEqual(Uint8Array.of(0x61));
    const bytes = Uint8Array.of(1);
    expect(toBytes(bytes)).toBe(bytes);
  });
});

describe('equalBytes, the one constant-time comparison', () => {
  it('agrees with element-wise equality (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 64 }), (a, b) => {
        const naive = a.length === b.length && a.every((v, i) => v === b[i]);
        expect(equalBytes(a, b)).toBe(naive);
        expect(equalBytes(a, Uint8Array.from(a))).toBe(true);
      }),
    );
  });

  it('is false for non-bytes and for different lengths', () => {
    expect(equalBytes(Uint8Array.of(1), 'x' as unknown as Uint8Array)).toBe(false);
    expect(equalBytes(Uint8Array.of(1, 2), Uint8Array.of(1))).toBe(false);
    expect(equalBytes(new Uint8Array(0), new Uint8Array(0))).toBe(true);
  });
});

describe('concat and wipe', () => {
  it('concatenates in order and wipes what it is given', () => {
    const a = Uint8Array.of(1, 2);
    const b = Uint8Array.of(3);
    expect(concatBytes(a, b, new Uint8Array(0))).toEqual(Uint8Array.of(1, 2, 3));
    wipe(a, undefined, b);
    expect([...a, ...b]).toEqual([0, 0, 0]);
  });
});
