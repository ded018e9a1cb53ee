import { encode as cborgEncode } from 'cborg';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, hex } from '../../src/core/bytes.js';
import { isLatchkeyError } from '../../src/core/errors.js';
import { type CborInput, compareCtapKeys, decodeCbor, encodeCbor } from '../../src/hardware/cbor.js';

describe('canonical CTAP2 CBOR', () => {
  it('encodes RFC 8949 appendix A vectors in shortest form', () => {
    const vectors: [CborInput, string][] = [
      [0, '00'],
      [23, '17'],
      [24, '1818'],
      [255, '18ff'],
      [256, '190100'],
      [65536, '1a00010000'],
      [4294967296, '1b0000000100000000'],
      [-1, '20'],
      [-25, '3818'],
      [-1000, '3903e7'],
      ['', '60'],
      ['IETF', '6449455446'],
      ['ü', '62c3bc'],
      [new Uint8Array([1, 2, 3, 4]), '4401020304'],
      [[1, [2, 3]], '8201820203'],
      [true, 'f5'],
      [false, 'f4'],
      [null, 'f6'],
    ];
    for (const [value, expected] of vectors) {
      expect(hex(encodeCbor(value))).toBe(expected);
      expect(decodeCbor(fromHex(expected))).toEqual(value);
    }
  });

  it('sorts keys by major type, then length, then bytes (the CTAP2 rule, not RFC 7049 length-first)', () => {
    const map = new Map<number | string, CborInput>([
      ['a', 1],
      [-1, 2],
      [1000, 3],
      [24, 4],
      [1, 5],
      ['bb', 6],
    ]);
    // 1 (01), 24 (1818), 1000 (1903e8), -1 (20), "a" (6161), "bb" (626262)
    expect(hex(encodeCbor(map))).toBe('a601051818041903e80320026161016262620' + '6');
    // Pure RFC 7049 §3.9 (shorter encoding first, whatever the major type) would give
    // 1, -1, 24, "a", 1000, "bb"; cborg's default sorter follows the CTAP2 rule instead.
    expect(hex(cborgEncode(map))).toBe(hex(encodeCbor(map)));
  });

  it("agrees with cborg's default map order on arbitrary integer and text keys", () => {
    const key = fc.oneof(fc.integer({ min: -100_000, max: 100_000 }), fc.string({ maxLength: 30 }));
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(key, fc.integer()), { maxLength: 12, selector: ([k]) => k }), (entries) => {
        const map = new Map<number | string, CborInput>(entries);
        expect(hex(encodeCbor(map))).toBe(hex(cborgEncode(map)));
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips arbitrary values', () => {
    const value: fc.Arbitrary<CborInput> = fc.letrec<{ v: CborInput }>((tie) => ({
      v: fc.oneof(
        { depthSize: 'small' },
        fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
        fc.string({ maxLength: 20 }),
        fc.boolean(),
        fc.constant(null),
        fc.uint8Array({ maxLength: 40 }),
        fc.array(tie('v'), { maxLength: 4 }),
        fc
          .array(fc.tuple(fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.string({ maxLength: 6 })), tie('v')), {
            maxLength: 4,
          })
          .map((entries) => new Map(entries)),
      ),
    })).v;
    fc.assert(
      fc.property(value, (v) => {
        const encoded = encodeCbor(v);
        expect(encodeCbor(decodeCbor(encoded, { limits: { maxBytes: 1 << 20 } }) as CborInput)).toEqual(encoded);
      }),
      { numRuns: 300 },
    );
  });

  it.each([
    ['non-shortest integer', '1817'],
    ['non-shortest length', '5800'],
    ['indefinite length', '9fff'],
    ['keys out of order', 'a202000100'],
    ['duplicate keys', 'a201000100'],
    ['float', 'f93c00'],
    ['undefined', 'f7'],
    ['tag', 'c000'],
    ['trailing bytes', '0000'],
    ['truncated', '1901'],
    ['invalid UTF-8', '61ff'],
    ['array key', 'a18000'],
    ['integer beyond 2^53', '1b0020000000000000'],
  ])('refuses %s with ERR_CTAP2_CBOR', (_, input) => {
    let caught: unknown;
    try {
      decodeCbor(fromHex(input));
    } catch (error) {
      caught = error;
    }
    expect(isLatchkeyError(caught, 'ERR_CTAP2_CBOR')).toBe(true);
  });

  it('bounds depth, items and size', () => {
    const deep = new Uint8Array(40).fill(0x81);
    const nested = new Uint8Array([...deep, 0]);
    expect(() => decodeCbor(nested)).toThrow(/too deep/);
    expect(() => decodeCbor(fromHex('9a00100000'))).toThrow(/too many items/);
    expect(() => decodeCbor(new Uint8Array(8000))).toThrow(/too large/);
    expect(decodeCbor(fromHex('a202000100'), { canonical: false })).toEqual(
      new Map([
        [2, 0],
        [1, 0],
      ]),
    );
  });

  it('never throws anything but ERR_CTAP2_CBOR on random input (fuzz)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          decodeCbor(bytes);
        } catch (error) {
          expect(isLatchkeyError(error, 'ERR_CTAP2_CBOR')).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('compareCtapKeys orders by major type first', () => {
    expect(compareCtapKeys(encodeCbor(24), encodeCbor(-1))).toBeLessThan(0);
    expect(compareCtapKeys(encodeCbor(-1), encodeCbor('a'))).toBeLessThan(0);
    expect(compareCtapKeys(encodeCbor('b'), encodeCbor('aa'))).toBeLessThan(0);
  });
});
