/**
 * Hostile input: truncated, oversized, deeply nested, cyclic and garbage tokens must end in a
 * LatchkeyError with a stable code: never another exception, a hang or a stack overflow.
 */
import { describe, expect, test } from 'vitest';
import { runFuzz } from '../../scripts/fuzz-macaroon.js';
import { LatchkeyError } from '../../src/core/errors.js';
import { Macaroon, verifyMacaroon } from '../../src/delegation/macaroon/index.js';
import { codeOf } from '../helpers/errors.js';

/** The value, or a failed test when it is missing. */
function must<T>(value: T | undefined | null): T {
  if (value === undefined || value === null) throw new Error('expected a value');
  return value;
}

const tp = { key: 'tp key', identifier: 'tp', location: 'https://tp.example' };
const root = Macaroon.mint({
  rootKey: 'root',
  identifier: new Uint8Array([1, 2, 0xff]),
  location: 'https://svc.example',
})
  .addFirstPartyCaveat('a = 1')
  .addThirdPartyCaveat(tp)
  .addFirstPartyCaveat('b = 2');

describe('truncated tokens', () => {
  test.each(['v1', 'v2'] as const)('every prefix of a %s binary token is ERR_MACAROON_FORMAT', (format) => {
    const bytes = root.serializeBinary(format);
    for (let n = 0; n < bytes.length; n++) {
      expect(codeOf(() => Macaroon.deserialize(bytes.subarray(0, n)))).toBe('ERR_MACAROON_FORMAT');
      expect(codeOf(() => Macaroon.deserialize(Buffer.from(bytes.subarray(0, n)).toString('base64url')))).toBe(
        'ERR_MACAROON_FORMAT',
      );
    }
  });

  test('every prefix of a v2j token is ERR_MACAROON_FORMAT', () => {
    const json = root.serialize('v2j');
    for (let n = 0; n < json.length; n++)
      expect(codeOf(() => Macaroon.deserialize(json.slice(0, n)))).toBe('ERR_MACAROON_FORMAT');
  });

  test('trailing data after the signature is refused', () => {
    for (const format of ['v1', 'v2'] as const) {
      const bytes = root.serializeBinary(format);
      expect(codeOf(() => Macaroon.deserialize(Uint8Array.from([...bytes, 0])))).toBe('ERR_MACAROON_FORMAT');
    }
  });
});

describe('oversized and deeply nested tokens', () => {
  test('a token over maxTokenBytes is ERR_LIMIT_EXCEEDED before any parsing', () => {
    expect(codeOf(() => Macaroon.deserialize('A'.repeat(64 * 1024 + 1)))).toBe('ERR_LIMIT_EXCEEDED');
    expect(codeOf(() => Macaroon.deserialize(new Uint8Array(64 * 1024 + 1)))).toBe('ERR_LIMIT_EXCEEDED');
    expect(codeOf(() => Macaroon.deserialize(root.serialize(), { limits: { maxTokenBytes: 256 } }))).toBe('ok');
    let big = root;
    for (let i = 0; i < 30; i++) big = big.addFirstPartyCaveat(`padding caveat number ${i} ${'x'.repeat(20)}`);
    expect(codeOf(() => Macaroon.deserialize(big.serialize(), { limits: { maxTokenBytes: 256 } }))).toBe(
      'ERR_LIMIT_EXCEEDED',
    );
  });

  test('a declared field length beyond the buffer or the field limit is refused', () => {
    // v2: header identifier field claiming 2^27 bytes
    expect(codeOf(() => Macaroon.deserialize(Uint8Array.from([2, 2, 0xff, 0xff, 0xff, 0x7f, 0])))).toBe(
      'ERR_LIMIT_EXCEEDED',
    );
    expect(codeOf(() => Macaroon.deserialize(Uint8Array.from([2, 2, 0x20, 1, 2])))).toBe('ERR_MACAROON_FORMAT');
    expect(codeOf(() => Macaroon.deserialize(Uint8Array.from([2, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f])))).toBe(
      'ERR_MACAROON_FORMAT',
    );
    // v1: packet claiming 0xffff bytes
    expect(codeOf(() => Macaroon.deserialize(new TextEncoder().encode('ffffidentifier x\n')))).toBe(
      'ERR_MACAROON_FORMAT',
    );
  });

  test('deeply nested JSON is ERR_MACAROON_FORMAT, not a stack overflow', () => {
    const deep = 30_000;
    expect(codeOf(() => Macaroon.deserialize(`${'['.repeat(deep)}${']'.repeat(deep)}`))).toBe('ERR_MACAROON_FORMAT');
    expect(codeOf(() => Macaroon.deserialize(`{"c":${'['.repeat(deep)}${']'.repeat(deep)}}`))).toBe(
      'ERR_MACAROON_FORMAT',
    );
    const huge = 400_000;
    expect(
      codeOf(() =>
        Macaroon.deserialize(`{"i":"x","s64":"x","c":[${'{"i":'.repeat(huge)}1${'}'.repeat(huge)}]}`, {
          limits: { maxTokenBytes: 4 << 20 },
        }),
      ),
    ).toBe('ERR_MACAROON_FORMAT');
  });

  test('a long chain of nested discharges verifies, and cycles end with ERR_MACAROON_DISCHARGE_CYCLE', () => {
    const depth = 1000;
    const keys = Array.from({ length: depth }, (_, i) => ({ key: `k${i}`, identifier: `d${i}`, location: 'tp' }));
    const r = Macaroon.mint({ rootKey: 'root', identifier: 'chain' }).addThirdPartyCaveat(must(keys[0]));
    const discharges = keys.map((k, i) => {
      let d = Macaroon.mint({ rootKey: k.key, identifier: k.identifier });
      const next = keys[i + 1];
      if (next !== undefined) d = d.addThirdPartyCaveat(next);
      return r.bindDischarge(d);
    });
    const limits = { maxDischarges: depth };
    expect(codeOf(() => verifyMacaroon(r, { rootKey: 'root', discharges, satisfies: () => true, limits }))).toBe('ok');
    expect(codeOf(() => verifyMacaroon(r, { rootKey: 'root', discharges, satisfies: () => true }))).toBe(
      'ERR_LIMIT_EXCEEDED',
    );
    // close the chain into a cycle: the last discharge requires the first
    const last = must(keys[depth - 1]);
    const cyclic = [
      ...discharges.slice(0, -1),
      r.bindDischarge(
        Macaroon.mint({ rootKey: last.key, identifier: last.identifier }).addThirdPartyCaveat(must(keys[0])),
      ),
    ];
    expect(
      codeOf(() => verifyMacaroon(r, { rootKey: 'root', discharges: cyclic, satisfies: () => true, limits })),
    ).toBe('ERR_MACAROON_DISCHARGE_CYCLE');
  });
});

describe('garbage', () => {
  test.each([
    '',
    '   ',
    '!!!!',
    'A',
    'AAAAA',
    'AB==CD',
    'abc-def+ghi',
    '====',
    '\u0000',
    '{',
    '{}',
    '[]',
    'null',
    '{"v":3}',
    '{"i":"x","s64":"AAAA"}',
    '{"identifier":"x","signature":"zz"}',
    '{"identifier":"x","signature":"00","caveats":{}}',
    '{"i":"x","i64":"eA","s64":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}',
    '{"__proto__":{"i":"x"}}',
    Buffer.from([0xff, 0xfe, 0xfd]).toString('base64url'),
    Buffer.from('0004').toString('base64url'),
    Buffer.from([2, 0, 0, 6, 31]).toString('base64url'),
  ])('%j is ERR_MACAROON_FORMAT', (input) => {
    expect(codeOf(() => Macaroon.deserialize(input))).toBe('ERR_MACAROON_FORMAT');
  });

  test('non-string, non-bytes tokens are ERR_INVALID_ARGUMENT', () => {
    for (const input of [undefined, null, 42, {}, [], new ArrayBuffer(4)]) {
      expect(codeOf(() => Macaroon.deserialize(input as never))).toBe('ERR_INVALID_ARGUMENT');
    }
  });
});

describe('fuzz (short run; the full run is scripts/fuzz-macaroon.js)', () => {
  test('5,000 mutated tokens of every format raise only LatchkeyError', () => {
    const result = runFuzz({ Macaroon, verifyMacaroon, LatchkeyError }, 5000, 20240601);
    expect(result.examples).toEqual([]);
    expect(result.otherErrors).toBe(0);
    expect(result.latchkeyErrors + result.verified).toBe(5000);
    expect(result.parsed).toBeGreaterThan(500);
  });
});
