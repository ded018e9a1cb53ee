/**
 * Unit tests and fast-check properties for the low-level macaroon layer.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { isLatchkeyError, LatchkeyError } from '../../src/core/errors.js';
import { Macaroon, type MacaroonFormat, verifyMacaroon } from '../../src/delegation/macaroon/index.js';
import { codeOf } from '../helpers/errors.js';

/** The value, or a failed test when it is missing. */
function must<T>(value: T | undefined | null): T {
  if (value === undefined || value === null) throw new Error('expected a value');
  return value;
}

const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');
const ROOT = utf8('this is our super secret key; only we should know it');
const FORMATS: MacaroonFormat[] = ['v1', 'v2', 'v2j'];

const all = () => true;

describe('Macaroon.mint and caveats', () => {
  test('matches the published pymacaroons/libmacaroons signatures', () => {
    const m = Macaroon.mint({ rootKey: ROOT, identifier: 'we used our secret key', location: 'http://mybank/' });
    expect(Buffer.from(m.signature).toString('hex')).toBe(
      'e3d9e02908526c4c0039ae15114115d97fdd68bf2ba379b342aaf0f617d0552f',
    );
    const c = m.addFirstPartyCaveat('account = 3735928559');
    expect(Buffer.from(c.signature).toString('hex')).toBe(
      '1efe4763f290dbce0c1d08477367e11f4eee456a64933cf662d79772dbb82128',
    );
  });

  test('is immutable: builders return new macaroons and getters return copies', () => {
    const m = Macaroon.mint({ rootKey: ROOT, identifier: 'id', location: 'loc' });
    const c = m.addFirstPartyCaveat('a = 1');
    expect(m.caveats).toHaveLength(0);
    expect(c.caveats).toHaveLength(1);
    c.signature.fill(0);
    c.identifier.fill(0);
    must(c.caveats[0]).identifier.fill(0);
    expect(codeOf(() => verifyMacaroon(c, { rootKey: ROOT, satisfies: (p) => text(p) === 'a = 1' }))).toBe('ok');
    expect(Object.isFrozen(c)).toBe(true);
    expect(() => {
      (c.caveats as unknown as unknown[]).push({});
    }).toThrow();
  });

  test('exposes identifier, location, caveats with a text form, and signature', () => {
    const m = Macaroon.mint({ rootKey: ROOT, identifier: new Uint8Array([0xff, 0]), location: 'https://a.example' })
      .addFirstPartyCaveat('scope = read')
      .addThirdPartyCaveat({ key: 'k', identifier: 'tp-id', location: 'https://tp.example' })
      .addFirstPartyCaveat(new Uint8Array([0xc3]));
    expect(m.identifier).toEqual(new Uint8Array([0xff, 0]));
    expect(m.identifierText).toBeUndefined();
    expect(m.location).toBe('https://a.example');
    expect(m.signature).toHaveLength(32);
    const [a, b, c] = m.caveats;
    expect(a).toEqual({ kind: 'first-party', identifier: utf8('scope = read'), text: 'scope = read' });
    expect(b?.kind).toBe('third-party');
    expect(b?.text).toBe('tp-id');
    expect(b?.location).toBe('https://tp.example');
    expect(b?.verificationId).toHaveLength(72);
    expect(c?.text).toBeUndefined();
  });

  test('inspect and toString mark the contents UNVERIFIED and never show the signature', () => {
    const m = Macaroon.mint({ rootKey: ROOT, identifier: 'id\nforged line', location: 'loc' }).addFirstPartyCaveat(
      'a = 1',
    );
    const dump = m.inspect();
    expect(dump).toMatch(/^UNVERIFIED/);
    expect(String(m)).toBe(dump);
    expect(dump).toContain('"a = 1"');
    expect(dump).not.toContain('\nforged line');
    expect(dump).not.toContain(Buffer.from(m.signature).toString('hex'));
    expect(dump).not.toContain(Buffer.from(m.signature).toString('base64url'));
  });

  test('refuses bad arguments with ERR_INVALID_ARGUMENT', () => {
    expect(codeOf(() => Macaroon.mint({ rootKey: 5 as unknown as string, identifier: 'x' }))).toBe(
      'ERR_INVALID_ARGUMENT',
    );
    expect(codeOf(() => Macaroon.mint(null as unknown as { rootKey: string; identifier: string }))).toBe(
      'ERR_INVALID_ARGUMENT',
    );
    const m = Macaroon.mint({ rootKey: 'k', identifier: 'x' });
    expect(codeOf(() => m.addThirdPartyCaveat({ key: 'k', identifier: 'i' } as never))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => m.serialize('v3' as never))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => verifyMacaroon({} as Macaroon, { rootKey: 'k', satisfies: all }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => verifyMacaroon(m, { rootKey: 'k' } as never))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => verifyMacaroon(m, { rootKey: 'k', satisfies: all, discharges: [{}] as never }))).toBe(
      'ERR_INVALID_ARGUMENT',
    );
  });
});

describe('serialization', () => {
  const m = Macaroon.mint({ rootKey: ROOT, identifier: new Uint8Array([0, 1, 0xfe]), location: 'https://x.example' })
    .addFirstPartyCaveat('a = 1')
    .addThirdPartyCaveat({ key: 'tp key', identifier: new Uint8Array([0x80]), location: 'https://tp.example' });
  const d = m.bindDischarge(Macaroon.mint({ rootKey: 'tp key', identifier: new Uint8Array([0x80]) }));

  test.each(FORMATS)('%s round-trips and verifies', (format) => {
    const back = Macaroon.deserialize(m.serialize(format));
    expect(back.serialize(format)).toBe(m.serialize(format));
    expect(back.signature).toEqual(m.signature);
    expect(back.caveats).toEqual(m.caveats);
    const dd = Macaroon.deserialize(d.serialize(format));
    expect(codeOf(() => verifyMacaroon(back, { rootKey: ROOT, discharges: [dd], satisfies: all }))).toBe('ok');
  });

  test('binary forms are unpadded base64url; v2j is go-macaroon style JSON', () => {
    expect(m.serialize('v1')).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(m.serialize('v2')).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(m.serialize()).toBe(m.serialize('v2'));
    const json = JSON.parse(m.serialize('v2j'));
    expect(json.v).toBe(2);
    expect(json.i64).toBe('AAH-');
    expect(json.s64).toBe(Buffer.from(m.signature).toString('base64url'));
    expect(json.c[0]).toEqual({ i: 'a = 1' });
    expect(json.c[1].l).toBe('https://tp.example');
  });

  test('accepts standard base64, padded or not, raw bytes, and libmacaroons v1 JSON', () => {
    for (const format of ['v1', 'v2'] as const) {
      const bytes = m.serializeBinary(format);
      const std = Buffer.from(bytes).toString('base64');
      for (const variant of [std, std.replace(/=+$/, ''), Buffer.from(bytes).toString('base64url')]) {
        expect(Macaroon.deserialize(variant).signature).toEqual(m.signature);
      }
      expect(Macaroon.deserialize(bytes).signature).toEqual(m.signature);
    }
    const textual = Macaroon.mint({ rootKey: ROOT, identifier: 'id', location: 'l' })
      .addFirstPartyCaveat('a = 1')
      .addThirdPartyCaveat({ key: 'k', identifier: 'c', location: 'tp' });
    const v1json = JSON.stringify({
      location: 'l',
      identifier: 'id',
      caveats: [
        { cid: 'a = 1' },
        { cid: 'c', vid: Buffer.from(must(must(textual.caveats[1]).verificationId)).toString('base64'), cl: 'tp' },
      ],
      signature: Buffer.from(textual.signature).toString('hex'),
    });
    expect(Macaroon.deserialize(v1json).serialize('v2')).toBe(textual.serialize('v2'));
  });

  test('location is not authenticated (documented): changing it keeps the signature valid', () => {
    const json = JSON.parse(m.serialize('v2j'));
    json.l = 'https://evil.example';
    const moved = Macaroon.deserialize(JSON.stringify(json));
    expect(moved.location).toBe('https://evil.example');
    expect(codeOf(() => verifyMacaroon(moved, { rootKey: ROOT, discharges: [d], satisfies: all }))).toBe('ok');
  });
});

describe('verifyMacaroon failures', () => {
  const tp = { key: 'third party key', identifier: 'tp-1', location: 'https://tp.example' };
  const root = Macaroon.mint({ rootKey: ROOT, identifier: 'root' })
    .addFirstPartyCaveat('a = 1')
    .addThirdPartyCaveat(tp);
  const discharge = Macaroon.mint({ rootKey: tp.key, identifier: tp.identifier }).addFirstPartyCaveat('b = 2');
  const bound = root.bindDischarge(discharge);

  test('the happy path, and each failure with its code', () => {
    expect(codeOf(() => verifyMacaroon(root, { rootKey: ROOT, discharges: [bound], satisfies: all }))).toBe('ok');
    expect(codeOf(() => verifyMacaroon(root, { rootKey: 'wrong', discharges: [bound], satisfies: all }))).toBe(
      'ERR_MACAROON_SIGNATURE',
    );
    expect(codeOf(() => verifyMacaroon(root, { rootKey: ROOT, discharges: [discharge], satisfies: all }))).toBe(
      'ERR_MACAROON_SIGNATURE',
    );
    expect(codeOf(() => verifyMacaroon(root, { rootKey: ROOT, satisfies: all }))).toBe(
      'ERR_MACAROON_DISCHARGE_MISSING',
    );
    expect(codeOf(() => verifyMacaroon(root, { rootKey: ROOT, discharges: [bound, bound], satisfies: all }))).toBe(
      'ERR_MACAROON_DISCHARGE_UNUSED',
    );
    const stray = root.bindDischarge(Macaroon.mint({ rootKey: 'x', identifier: 'unrelated' }));
    expect(codeOf(() => verifyMacaroon(root, { rootKey: ROOT, discharges: [bound, stray], satisfies: all }))).toBe(
      'ERR_MACAROON_DISCHARGE_UNUSED',
    );
  });

  test('an unsatisfied caveat names the macaroon, the caveat index and the predicate', () => {
    try {
      verifyMacaroon(root, { rootKey: ROOT, discharges: [bound], satisfies: (p) => text(p) !== 'b = 2' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(LatchkeyError);
      const e = error as LatchkeyError;
      expect(e.code).toBe('ERR_MACAROON_CAVEAT_UNSATISFIED');
      expect(e.detail).toMatchObject({ macaroon: 'discharge 0', caveat: 0, predicate: 'b = 2' });
      expect(e.message).toBe('caveat 0 of discharge 0 is not satisfied: `b = 2`');
    }
  });

  test('a throwing or non-boolean satisfies becomes ERR_MACAROON_CAVEAT_UNSATISFIED', () => {
    const boom = new TypeError('boom');
    try {
      verifyMacaroon(root, {
        rootKey: ROOT,
        discharges: [bound],
        satisfies: () => {
          throw boom;
        },
      });
      expect.unreachable();
    } catch (error) {
      expect(isLatchkeyError(error, 'ERR_MACAROON_CAVEAT_UNSATISFIED')).toBe(true);
      expect((error as LatchkeyError).cause).toBe(boom);
      expect((error as LatchkeyError).detail.threw).toBe(true);
    }
    expect(
      codeOf(() => verifyMacaroon(root, { rootKey: ROOT, discharges: [bound], satisfies: (() => 1) as never })),
    ).toBe('ERR_MACAROON_CAVEAT_UNSATISFIED');
  });

  test('satisfies never sees a predicate before every signature has been checked', () => {
    const seen: string[] = [];
    const code = codeOf(() =>
      verifyMacaroon(root, { rootKey: 'wrong', discharges: [bound], satisfies: (p) => seen.push(text(p)) > 0 }),
    );
    expect(code).toBe('ERR_MACAROON_SIGNATURE');
    expect(seen).toEqual([]);
  });

  test('a discharge that requires itself is a cycle, not a loop', () => {
    const selfRef = { key: 'loop key', identifier: 'loop', location: 'tp' };
    const r = Macaroon.mint({ rootKey: ROOT, identifier: 'r' }).addThirdPartyCaveat(selfRef);
    const d = Macaroon.mint({ rootKey: selfRef.key, identifier: selfRef.identifier }).addThirdPartyCaveat(selfRef);
    expect(codeOf(() => verifyMacaroon(r, { rootKey: ROOT, discharges: [r.bindDischarge(d)], satisfies: all }))).toBe(
      'ERR_MACAROON_DISCHARGE_CYCLE',
    );
    // a mutual cycle: A needs B, B needs A
    const a = { key: 'ka', identifier: 'A', location: 'tp' };
    const b = { key: 'kb', identifier: 'B', location: 'tp' };
    const r2 = Macaroon.mint({ rootKey: ROOT, identifier: 'r2' }).addThirdPartyCaveat(a);
    const da = Macaroon.mint({ rootKey: a.key, identifier: a.identifier }).addThirdPartyCaveat(b);
    const db = Macaroon.mint({ rootKey: b.key, identifier: b.identifier }).addThirdPartyCaveat(a);
    expect(
      codeOf(() =>
        verifyMacaroon(r2, { rootKey: ROOT, discharges: [r2.bindDischarge(da), r2.bindDischarge(db)], satisfies: all }),
      ),
    ).toBe('ERR_MACAROON_DISCHARGE_CYCLE');
  });

  test('a discharge needed twice must be given twice (each is used exactly once)', () => {
    const r = Macaroon.mint({ rootKey: ROOT, identifier: 'r' }).addThirdPartyCaveat(tp).addThirdPartyCaveat(tp);
    const b = r.bindDischarge(discharge);
    expect(codeOf(() => verifyMacaroon(r, { rootKey: ROOT, discharges: [b], satisfies: all }))).toBe(
      'ERR_MACAROON_DISCHARGE_MISSING',
    );
    expect(codeOf(() => verifyMacaroon(r, { rootKey: ROOT, discharges: [b, b], satisfies: all }))).toBe('ok');
  });

  test('limits on caveats and discharges are enforced with ERR_LIMIT_EXCEEDED', () => {
    let many = Macaroon.mint({ rootKey: ROOT, identifier: 'many' });
    for (let i = 0; i < 20; i++) many = many.addFirstPartyCaveat(`c${i}`);
    expect(codeOf(() => verifyMacaroon(many, { rootKey: ROOT, satisfies: all, limits: { maxCaveats: 10 } }))).toBe(
      'ERR_LIMIT_EXCEEDED',
    );
    expect(codeOf(() => Macaroon.deserialize(many.serialize(), { limits: { maxCaveats: 10 } }))).toBe(
      'ERR_LIMIT_EXCEEDED',
    );
    expect(
      codeOf(() =>
        verifyMacaroon(root, {
          rootKey: ROOT,
          discharges: [bound, bound, bound],
          satisfies: all,
          limits: { maxDischarges: 2 },
        }),
      ),
    ).toBe('ERR_LIMIT_EXCEEDED');
    expect(codeOf(() => Macaroon.deserialize('A'.repeat(64 * 1024 + 4)))).toBe('ERR_LIMIT_EXCEEDED');
    expect(
      codeOf(() => Macaroon.deserialize(root.serialize(), { limits: { maxTokenBytes: 256, nope: 1 } as never })),
    ).toBe('ERR_INVALID_ARGUMENT');
  });
});

// ---- properties ----------------------------------------------------------------------------

const predicateArb = fc.oneof(
  fc.string({ minLength: 1, maxLength: 24 }),
  fc.uint8Array({ minLength: 1, maxLength: 24 }),
);
const keyArb = fc.uint8Array({ minLength: 1, maxLength: 48 });

type Json = { c: Record<string, string>[] } & Record<string, unknown>;
/** Re-encode through v2 JSON with every caveat id as bytes, let `change` edit them, parse back. */
function rewrite(m: Macaroon, change: (caveats: Record<string, string>[]) => void): Macaroon {
  const json = JSON.parse(m.serialize('v2j')) as Json;
  for (const c of json.c) {
    if (c.i !== undefined) {
      c.i64 = Buffer.from(c.i, 'utf8').toString('base64url');
      delete c.i;
    }
  }
  change(json.c);
  return Macaroon.deserialize(JSON.stringify(json));
}

describe('properties', () => {
  test('removing, reordering or changing any caveat breaks verification', () => {
    fc.assert(
      fc.property(
        keyArb,
        fc.array(predicateArb, { minLength: 2, maxLength: 8 }),
        fc.boolean(),
        fc.nat(),
        fc.nat(),
        fc.constantFrom('remove', 'swap', 'change', 'change-vid'),
        fc.constantFrom<MacaroonFormat>('v1', 'v2', 'v2j'),
        (rootKey, predicates, withThirdParty, i, j, how, format) => {
          let m = Macaroon.mint({ rootKey, identifier: 'prop' });
          const tp = { key: 'tp key', identifier: 'tp', location: 'tp' };
          const at = i % predicates.length;
          predicates.forEach((p, k) => {
            if (withThirdParty && k === at) m = m.addThirdPartyCaveat(tp);
            m = m.addFirstPartyCaveat(p);
          });
          const discharges = withThirdParty
            ? [m.bindDischarge(Macaroon.mint({ rootKey: tp.key, identifier: tp.identifier }))]
            : [];
          expect(codeOf(() => verifyMacaroon(m, { rootKey, discharges, satisfies: all }))).toBe('ok');
          const n = m.caveats.length;
          const a = i % n;
          const b = j % n;
          let altered: Macaroon;
          if (how === 'remove') altered = rewrite(m, (c) => void c.splice(a, 1));
          else if (how === 'swap') {
            fc.pre(a !== b && JSON.stringify(m.caveats[a]) !== JSON.stringify(m.caveats[b]));
            altered = rewrite(m, (c) => {
              [c[a], c[b]] = [c[b] as Record<string, string>, c[a] as Record<string, string>];
            });
          } else if (how === 'change') {
            altered = rewrite(m, (c) => {
              const target = must(c[a]);
              const bytes = Buffer.from(must(target.i64), 'base64url');
              const at = j % bytes.length;
              bytes[at] = must(bytes[at]) ^ (1 << (j % 8));
              target.i64 = bytes.toString('base64url');
            });
          } else {
            fc.pre(withThirdParty);
            altered = rewrite(m, (c) => {
              const cav = must(c.find((x) => x.v64 !== undefined));
              const bytes = Buffer.from(must(cav.v64), 'base64url');
              const at = j % bytes.length;
              bytes[at] = must(bytes[at]) ^ (1 << (j % 8));
              cav.v64 = bytes.toString('base64url');
            });
          }
          const wire = Macaroon.deserialize(altered.serialize(format));
          const code = codeOf(() => verifyMacaroon(wire, { rootKey, discharges, satisfies: all }));
          expect(['ERR_MACAROON_SIGNATURE', 'ERR_MACAROON_DISCHARGE_MISSING']).toContain(code);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('a discharge bound to one root never verifies with another', () => {
    fc.assert(
      fc.property(
        keyArb,
        keyArb,
        fc.array(predicateArb, { maxLength: 3 }),
        fc.array(predicateArb, { maxLength: 3 }),
        (k1, k2, p1, p2) => {
          const tp = { key: 'shared third party', identifier: 'same caveat id', location: 'tp' };
          let r1 = Macaroon.mint({ rootKey: k1, identifier: 'r' });
          let r2 = Macaroon.mint({ rootKey: k2, identifier: 'r' });
          for (const p of p1) r1 = r1.addFirstPartyCaveat(p);
          for (const p of p2) r2 = r2.addFirstPartyCaveat(p);
          r1 = r1.addThirdPartyCaveat(tp);
          r2 = r2.addThirdPartyCaveat(tp);
          const d = Macaroon.mint({ rootKey: tp.key, identifier: tp.identifier });
          expect(
            codeOf(() => verifyMacaroon(r1, { rootKey: k1, discharges: [r1.bindDischarge(d)], satisfies: all })),
          ).toBe('ok');
          // r1 and r2 differ in signature (different key or the fresh third-party nonce)
          expect(
            codeOf(() => verifyMacaroon(r2, { rootKey: k2, discharges: [r1.bindDischarge(d)], satisfies: all })),
          ).toBe('ERR_MACAROON_SIGNATURE');
        },
      ),
      { numRuns: 200 },
    );
  });

  test('two third-party caveats never share a nonce', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 30 }), keyArb, (count, key) => {
        const base = Macaroon.mint({ rootKey: key, identifier: 'n' });
        const nonces = new Set<string>();
        let chained = base;
        for (let k = 0; k < count; k++) {
          // same parent, same key and id: the nonce alone must differ
          const sibling = base.addThirdPartyCaveat({ key, identifier: 'same', location: 'tp' });
          chained = chained.addThirdPartyCaveat({ key, identifier: 'same', location: 'tp' });
          nonces.add(Buffer.from(must(must(sibling.caveats[0]).verificationId).subarray(0, 24)).toString('hex'));
        }
        for (const c of chained.caveats)
          nonces.add(Buffer.from(must(c.verificationId).subarray(0, 24)).toString('hex'));
        expect(nonces.size).toBe(2 * count);
      }),
      { numRuns: 100 },
    );
  });

  test('attenuation never widens: whatever the attenuated token accepts, the parent accepts', () => {
    fc.assert(
      fc.property(
        keyArb,
        fc.array(fc.string({ minLength: 1, maxLength: 6 }), { maxLength: 6 }),
        fc.array(fc.string({ minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.string({ minLength: 1, maxLength: 6 }), { maxLength: 12 }),
        fc.boolean(),
        (rootKey, parentPredicates, extra, accepted, thirdParty) => {
          const allowed = new Set(accepted);
          const satisfies = (p: Uint8Array) => allowed.has(text(p));
          let parent = Macaroon.mint({ rootKey, identifier: 'parent' });
          for (const p of parentPredicates) parent = parent.addFirstPartyCaveat(p);
          const tp = { key: 'tp', identifier: 'tp-id', location: 'tp' };
          if (thirdParty) parent = parent.addThirdPartyCaveat(tp);
          let child = parent;
          for (const p of extra) child = child.addFirstPartyCaveat(p);
          const d = Macaroon.mint({ rootKey: tp.key, identifier: tp.identifier });
          const dParent = thirdParty ? [parent.bindDischarge(d)] : [];
          const dChild = thirdParty ? [child.bindDischarge(d)] : [];
          const childOk = codeOf(() => verifyMacaroon(child, { rootKey, discharges: dChild, satisfies })) === 'ok';
          const parentOk = codeOf(() => verifyMacaroon(parent, { rootKey, discharges: dParent, satisfies })) === 'ok';
          if (childOk) expect(parentOk).toBe(true);
          // and the child never accepts a predicate set that misses one of its own caveats
          if (extra.some((p) => !allowed.has(p))) expect(childOk).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('HMAC-SHA256 used by the chain', () => {
  test('matches RFC 4231 test cases 1, 2, 6 and 7', async () => {
    const { hmacSha256 } = await import('../../src/delegation/macaroon/hmac-sha256.js');
    const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
    expect(hex(hmacSha256(new Uint8Array(20).fill(0x0b), utf8('Hi There')))).toBe(
      'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7',
    );
    expect(hex(hmacSha256(utf8('Jefe'), utf8('what do ya want for nothing?')))).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
    expect(
      hex(hmacSha256(new Uint8Array(131).fill(0xaa), utf8('Test Using Larger Than Block-Size Key - Hash Key First'))),
    ).toBe('60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54');
    expect(
      hex(
        hmacSha256(
          new Uint8Array(131).fill(0xaa),
          utf8(
            'This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.',
          ),
        ),
      ),
    ).toBe('9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2');
  });

  test('agrees with node:crypto for any key and message, with and without precomputed pads', async () => {
    const { createHmac } = await import('node:crypto');
    const { hmacKey, hmacSha256 } = await import('../../src/delegation/macaroon/hmac-sha256.js');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 300 }), (key, message) => {
        const expected = createHmac('sha256', key).update(message).digest();
        expect(Buffer.from(hmacSha256(key, message)).equals(expected)).toBe(true);
        expect(Buffer.from(hmacSha256(hmacKey(key), message)).equals(expected)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
