/**
 * Regressions named after the attack they stop. Each test first shows the honest path works,
 * so that a failure of the attack is a real refusal and not a broken fixture.
 */
import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { CompactEncrypt } from 'jose';
import { describe, expect, test } from 'vitest';
import { isLatchkeyError } from '../../src/core/errors.js';
import { randomBytes } from '../../src/core/random.js';
import {
  attenuate,
  bindDischarge,
  CredentialIssuer,
  Discharger,
  inspectCredential,
  KeyRing,
  Macaroon,
} from '../../src/delegation/index.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { FakeClock } from '../../src/testing/clock.js';
import { rejection } from '../helpers/errors.js';

const T0 = Date.UTC(2030, 0, 1, 9);
const TONIGHT = Date.UTC(2030, 0, 1, 23, 59);
const SHOP = { action: 'purchase', merchant: 'corner-store', amount: 5 };

function must<T>(value: T | undefined | null): T {
  if (value === undefined || value === null) throw new Error('expected a value');
  return value;
}

function setup() {
  const clock = new FakeClock(T0);
  const store = createMemoryStore({ clock });
  const keys = KeyRing.generate();
  const issuer = new CredentialIssuer({ keys, store, clock });
  return { clock, store, keys, issuer };
}

async function card(issuer: CredentialIssuer, extra: { uses?: number } = {}) {
  return issuer.issue({
    sub: 'alice',
    amr: ['hwk'],
    expiry: TONIGHT,
    caveats: ['action == "purchase"', 'merchant == "corner-store"', 'amount <= 10'],
    ...extra,
  });
}

interface V2Json {
  v: 2;
  i?: string;
  i64?: string;
  c?: { i?: string; i64?: string; v64?: string; l?: string }[];
  s64: string;
}

/** Rewrite a token's caveat list (keeping its signature), as an attacker editing bytes would. */
function tamper(token: string, edit: (caveats: NonNullable<V2Json['c']>) => void): string {
  const json = JSON.parse(Macaroon.deserialize(token.slice(5)).serialize('v2j')) as V2Json;
  const caveats = json.c ?? [];
  edit(caveats);
  json.c = caveats;
  return `lkc1_${Macaroon.deserialize(JSON.stringify(json)).serialize('v2')}`;
}

describe('forgery', () => {
  test('caveat stripping: removing any caveat breaks the signature', async () => {
    const { issuer } = setup();
    const { token } = await attenuate((await card(issuer)).token, ['amount <= 2']);
    await expect(issuer.verify(token, { context: { ...SHOP, amount: 2 } })).resolves.toBeDefined();
    const count = Macaroon.deserialize(token.slice(5)).caveats.length;
    for (let i = 0; i < count; i++) {
      const stripped = tamper(token, (c) => c.splice(i, 1));
      const error = await rejection(issuer.verify(stripped, { context: { ...SHOP, amount: 9 } }));
      expect(error.code, `caveat ${i}`).toBe('ERR_MACAROON_SIGNATURE');
    }
  });

  test('caveat reordering: swapping two caveats breaks the signature', async () => {
    const { issuer } = setup();
    const { token } = await card(issuer);
    const swapped = tamper(token, (c) => {
      const [a, b] = [must(c[3]), must(c[4])];
      c[3] = b;
      c[4] = a;
    });
    expect((await rejection(issuer.verify(swapped, { context: SHOP }))).code).toBe('ERR_MACAROON_SIGNATURE');
  });

  test('caveat editing: `amount <= 10` rewritten to `amount <= 99` breaks the signature', async () => {
    const { issuer } = setup();
    const { token } = await card(issuer);
    const edited = tamper(token, (c) => {
      for (const caveat of c) if (caveat.i === 'amount <= 10') caveat.i = 'amount <= 99';
    });
    expect(edited).not.toBe(token);
    expect((await rejection(issuer.verify(edited, { context: { ...SHOP, amount: 50 } }))).code).toBe(
      'ERR_MACAROON_SIGNATURE',
    );
  });

  test('wrong key id: a credential under a key the ring does not hold', async () => {
    const { issuer } = setup();
    const elsewhere = new CredentialIssuer({
      keys: KeyRing.generate('k-other'),
      store: createMemoryStore(),
      clock: new FakeClock(T0),
    });
    const foreign = await card(elsewhere);
    const error = await rejection(issuer.verify(foreign.token, { context: SHOP }));
    expect(error.code).toBe('ERR_CREDENTIAL_UNKNOWN_KEY');
    expect(error.detail.keyId).toBe('k-other');
  });

  test('right key id, wrong key: a forger who guesses the key id still fails the signature', async () => {
    const { issuer } = setup();
    const forger = new CredentialIssuer({ keys: KeyRing.generate('k1'), store: createMemoryStore() });
    const forged = await card(forger);
    expect((await rejection(issuer.verify(forged.token, { context: SHOP }))).code).toBe('ERR_MACAROON_SIGNATURE');
  });

  test('identifier swap: pointing a credential at another key id of the ring fails the signature', async () => {
    const keys = new KeyRing([
      { id: 'k1', key: randomBytes(32) },
      { id: 'k2', key: randomBytes(32) },
    ]);
    const issuer = new CredentialIssuer({ keys, store: createMemoryStore(), clock: new FakeClock(T0) });
    const { token } = await card(issuer);
    const json = JSON.parse(Macaroon.deserialize(token.slice(5)).serialize('v2j')) as V2Json;
    json.i = must(json.i).replace('lk1.k2.', 'lk1.k1.');
    const swapped = `lkc1_${Macaroon.deserialize(JSON.stringify(json)).serialize('v2')}`;
    expect((await rejection(issuer.verify(swapped, { context: SHOP }))).code).toBe('ERR_MACAROON_SIGNATURE');
  });
});

describe('widening', () => {
  test('widening by appending `amount <= 1000`: the issuer’s `amount <= 10` still holds', async () => {
    const { issuer } = setup();
    const wide = await attenuate((await card(issuer)).token, ['amount <= 1000', 'amount > 0 || amount <= 1000']);
    const error = await rejection(issuer.verify(wide.token, { context: { ...SHOP, amount: 50 } }));
    expect(error.code).toBe('ERR_CREDENTIAL_CAVEAT_FAILED');
    expect(error.detail.caveat).toBe('amount <= 10');
  });

  test('extending the expiry by appending a later `time <` caveat', async () => {
    const { issuer, clock } = setup();
    const wide = await attenuate((await card(issuer)).token, { expiry: Date.UTC(2031, 0, 1) });
    clock.set(TONIGHT);
    expect((await rejection(issuer.verify(wide.token, { context: SHOP }))).code).toBe('ERR_CREDENTIAL_EXPIRED');
  });

  test('raising the use limit by appending `uses <= 1000`', async () => {
    const { issuer } = setup();
    const wide = await attenuate((await card(issuer, { uses: 1 })).token, { uses: 1000 });
    await issuer.verify(wide.token, { context: SHOP });
    expect((await rejection(issuer.verify(wide.token, { context: SHOP }))).code).toBe('ERR_CREDENTIAL_USES_EXHAUSTED');
  });

  test('widening the audience by appending another `aud`', async () => {
    const { issuer } = setup();
    const { token } = await issuer.issue({ expiry: TONIGHT, aud: 'shop-a' });
    const wide = await attenuate(token, { aud: ['shop-a', 'shop-b'] });
    expect((await issuer.verify(wide.token, { audience: 'shop-a' })).audience).toBe('shop-a');
    expect((await rejection(issuer.verify(wide.token, { audience: 'shop-b' }))).detail.caveat).toBe('aud = "shop-a"');
  });

  test('unknown names fail closed: a holder caveat over a name the request lacks never passes', async () => {
    const { issuer } = setup();
    const t = await attenuate((await card(issuer)).token, ['!(tip > 5)']);
    expect((await rejection(issuer.verify(t.token, { context: SHOP }))).code).toBe('ERR_CREDENTIAL_CAVEAT_FAILED');
  });
});

describe('claim spoofing', () => {
  test('subject spoofing: a holder-appended `sub = "mallory"` never changes the subject', async () => {
    const { issuer } = setup();
    const { token } = await card(issuer);
    const viaAttenuate = await attenuate(token, ['sub = "mallory"']);
    // An attacker need not use attenuate: append raw, without a `cid`.
    const raw = `lkc1_${Macaroon.deserialize(token.slice(5)).addFirstPartyCaveat('sub = "mallory"').serialize()}`;
    const rawAmr = `lkc1_${Macaroon.deserialize(token.slice(5)).addFirstPartyCaveat('amr = ["hwk","pin","fpt"]').serialize()}`;
    for (const spoofed of [viaAttenuate.token, raw, rawAmr]) {
      const error = await rejection(issuer.verify(spoofed, { context: SHOP }));
      expect(error.code).toBe('ERR_CREDENTIAL_CAVEAT_FAILED');
      expect(inspectCredential(spoofed).subject).toBe('alice');
    }
  });

  test('subject spoofing on a credential with no subject: a holder cannot add one', async () => {
    const { issuer } = setup();
    const { token } = await issuer.issue({ expiry: TONIGHT });
    const raw = `lkc1_${Macaroon.deserialize(token.slice(5)).addFirstPartyCaveat('sub = "mallory"').serialize()}`;
    expect((await rejection(issuer.verify(raw))).code).toBe('ERR_CREDENTIAL_CAVEAT_FAILED');
    expect((await issuer.verify(token)).subject).toBeUndefined();
  });

  test('context spoofing: the request cannot supply `sub`, `time` or `now`', async () => {
    const { issuer } = setup();
    const { token } = await issuer.issue({ expiry: TONIGHT, caveats: ['now < 2030-01-01T10:00'] });
    for (const context of [{ sub: 'mallory' }, { now: new Date(T0) }, { time: new Date(T0) }]) {
      expect((await rejection(issuer.verify(token, { context }))).code).toBe('ERR_INVALID_ARGUMENT');
    }
  });

  test('audience confusion: a credential for shop-a is refused at shop-b', async () => {
    const { issuer } = setup();
    const { token } = await issuer.issue({ expiry: TONIGHT, aud: 'shop-a' });
    await expect(issuer.verify(token, { audience: 'shop-a' })).resolves.toBeDefined();
    expect((await rejection(issuer.verify(token, { audience: 'shop-b' }))).code).toBe('ERR_CREDENTIAL_CAVEAT_FAILED');
  });

  test('location tampering does not matter: locations are not trusted for anything', async () => {
    const { issuer } = setup();
    const { token } = await card(issuer);
    const json = JSON.parse(Macaroon.deserialize(token.slice(5)).serialize('v2j')) as V2Json & { l?: string };
    json.l = 'https://evil.example';
    const moved = `lkc1_${Macaroon.deserialize(JSON.stringify(json)).serialize('v2')}`;
    expect((await issuer.verify(moved, { context: SHOP })).subject).toBe('alice');
  });
});

describe('replay and revocation', () => {
  test('replaying a `uses <= 1` token concurrently: 200 parallel verifies, exactly one succeeds', async () => {
    const { issuer } = setup();
    const { token } = await attenuate((await card(issuer, { uses: 1 })).token, ['amount <= 8']);
    const results = await Promise.allSettled(
      Array.from({ length: 200 }, () => issuer.verify(token, { context: SHOP })),
    );
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter(
      (r) => r.status === 'rejected' && isLatchkeyError(r.reason, 'ERR_CREDENTIAL_USES_EXHAUSTED'),
    );
    expect(ok).toHaveLength(1);
    expect(refused).toHaveLength(199);
  });

  test('uses theft by copying a `cid`: a sibling that appends another holder’s cid spends only its own uses', async () => {
    const { issuer } = setup();
    const root = await card(issuer);
    const bob = await attenuate(root.token, { uses: 1 });
    const dave = await attenuate(root.token, ['amount <= 9']);
    // Dave copies Bob's cid and a generous limit, hoping to burn Bob's single use.
    const copy = `lkc1_${Macaroon.deserialize(dave.token.slice(5))
      .addFirstPartyCaveat(`cid = "${bob.credentialId}"`)
      .addFirstPartyCaveat('uses <= 1000')
      .serialize()}`;
    for (let i = 0; i < 3; i++) await issuer.verify(copy, { context: SHOP });
    expect((await issuer.verify(bob.token, { context: SHOP })).credentialId).toBe(bob.credentialId);
  });

  test('revoked parent: every child and grandchild fails; an unrelated credential does not', async () => {
    const { issuer } = setup();
    const root = await card(issuer);
    const child = await attenuate(root.token, ['amount <= 8']);
    const grandchild = await attenuate(child.token, ['amount <= 6']);
    const unrelated = await card(issuer);
    await issuer.revoke(child.credentialId, { reason: 'compromised' });
    for (const t of [child, grandchild]) {
      const error = await rejection(issuer.verify(t.token, { context: SHOP }));
      expect(error.code).toBe('ERR_CREDENTIAL_REVOKED');
      expect(error.detail.credentialId).toBe(child.credentialId);
    }
    await expect(issuer.verify(root.token, { context: SHOP })).resolves.toBeDefined();
    await expect(issuer.verify(unrelated.token, { context: SHOP })).resolves.toBeDefined();
  });

  test('expired: one millisecond late is too late, and expiry is checked before caveats and uses', async () => {
    const { issuer, clock } = setup();
    const { token } = await card(issuer, { uses: 1 });
    clock.set(TONIGHT);
    const error = await rejection(issuer.verify(token, { context: { amount: 999 } }));
    expect(error.code).toBe('ERR_CREDENTIAL_EXPIRED');
    clock.set(TONIGHT - 1);
    await expect(issuer.verify(token, { context: SHOP })).resolves.toBeDefined();
  });
});

describe('third parties', () => {
  const tp = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' });

  async function gated() {
    const world = setup();
    const discharger = new Discharger({
      privateKey: tp.privateKey,
      location: 'https://tp.example',
      clock: world.clock,
      check: () => true,
    });
    const root = await card(world.issuer);
    const parent = await attenuate(root.token, {
      thirdParty: [{ location: discharger.location, publicKey: discharger.publicKey, condition: 'holder is bob' }],
    });
    const identifier = must(inspectCredential(parent.token).thirdParty[0]).identifier;
    return { ...world, discharger, root, parent, identifier };
  }

  test('discharge replay: a bound discharge is accepted once', async () => {
    const { issuer, discharger, parent, identifier } = await gated();
    const bound = bindDischarge(parent.token, await discharger.discharge(identifier));
    await issuer.verify(parent.token, { discharges: [bound], context: SHOP });
    const error = await rejection(issuer.verify(parent.token, { discharges: [bound], context: SHOP }));
    expect(error.code).toBe('ERR_CREDENTIAL_USES_EXHAUSTED');
    expect(error.detail.discharge).toBe(0);
    // A fresh proof works again.
    const fresh = bindDischarge(parent.token, await discharger.discharge(identifier));
    await expect(issuer.verify(parent.token, { discharges: [fresh], context: SHOP })).resolves.toBeDefined();
  });

  test('discharge binding to another root: a discharge bound to one child fails with its sibling', async () => {
    const { issuer, discharger, parent, identifier } = await gated();
    const a = await attenuate(parent.token, ['amount <= 4']);
    const b = await attenuate(parent.token, ['amount <= 6']);
    const discharge = await discharger.discharge(identifier);
    const boundToA = bindDischarge(a.token, discharge);
    const error = await rejection(issuer.verify(b.token, { discharges: [boundToA], context: SHOP }));
    expect(error.code).toBe('ERR_MACAROON_SIGNATURE');
    expect(error.detail.macaroon).toBe('discharge 0');
    // Unbound, it fails too.
    const unbound = await rejection(issuer.verify(a.token, { discharges: [discharge], context: { amount: 1 } }));
    expect(unbound.code).toBe('ERR_MACAROON_SIGNATURE');
    await expect(
      issuer.verify(a.token, { discharges: [boundToA], context: { ...SHOP, amount: 4 } }),
    ).resolves.toBeDefined();
  });

  test('forged JWE identifier: garbage, a foreign key, tampering and algorithm games are unreadable', async () => {
    const { discharger, identifier } = await gated();
    const parts = identifier.split('.');
    const flip = (i: number) =>
      parts.map((p, j) => (j === i ? `${p.slice(0, -2)}${p.at(-2) === 'A' ? 'B' : 'A'}${p.at(-1)}` : p)).join('.');
    const toStranger = await new CompactEncrypt(new TextEncoder().encode('{"v":1,"k":"AAAA","c":"x"}'))
      .setProtectedHeader({ alg: 'ECDH-ES', enc: 'A256GCM', typ: 'latchkey-caveat+jwe' })
      .encrypt(stranger.publicKey);
    const otherAlg = await new CompactEncrypt(new TextEncoder().encode('{"v":1}'))
      .setProtectedHeader({ alg: 'ECDH-ES+A128KW', enc: 'A128GCM', typ: 'latchkey-caveat+jwe' })
      .encrypt(tp.publicKey);
    const wrongTyp = await new CompactEncrypt(new TextEncoder().encode('{"v":1,"k":"","c":"x"}'))
      .setProtectedHeader({ alg: 'ECDH-ES', enc: 'A256GCM', typ: 'JWT' })
      .encrypt(tp.publicKey);
    const badPayload = await new CompactEncrypt(new TextEncoder().encode('{"v":1,"k":"AAAA","c":"x"}'))
      .setProtectedHeader({ alg: 'ECDH-ES', enc: 'A256GCM', typ: 'latchkey-caveat+jwe' })
      .encrypt(tp.publicKey);
    const forged = [
      '',
      'garbage',
      'a.b.c.d.e',
      `${identifier}x`,
      flip(0),
      flip(2),
      flip(3),
      flip(4),
      toStranger,
      otherAlg,
      wrongTyp,
      badPayload,
      'x'.repeat(100_000),
      42,
    ];
    for (const bad of forged) {
      const error = await rejection(discharger.discharge(bad as string));
      expect(error.code, String(bad).slice(0, 30)).toBe('ERR_DISCHARGE_UNREADABLE');
    }
    await expect(discharger.discharge(identifier)).resolves.toMatch(/^lkd1_/);
  });

  test('self-made discharge: a holder without the caveat key cannot mint one', async () => {
    const { issuer, parent, identifier } = await gated();
    const fake = Macaroon.mint({ rootKey: randomBytes(32), identifier }).addFirstPartyCaveat(
      `time < ${new Date(T0 + 60_000).toISOString()}`,
    );
    const bound = bindDischarge(parent.token, `lkd1_${fake.serialize()}`);
    expect((await rejection(issuer.verify(parent.token, { discharges: [bound], context: SHOP }))).code).toBe(
      'ERR_MACAROON_SIGNATURE',
    );
  });

  test('a discharge for a caveat the credential does not have is refused', async () => {
    const { issuer, discharger, root, parent, identifier } = await gated();
    const bound = bindDischarge(root.token, await discharger.discharge(identifier));
    expect((await rejection(issuer.verify(root.token, { discharges: [bound], context: SHOP }))).code).toBe(
      'ERR_MACAROON_DISCHARGE_UNUSED',
    );
    expect(parent.token).toBeDefined();
  });
});

describe('bad input', () => {
  test('oversized token: refused before any parsing, by verify, inspect, attenuate and bindDischarge', async () => {
    const { issuer } = setup();
    const { token } = await card(issuer);
    const huge = token + 'A'.repeat(16 * 1024);
    expect((await rejection(issuer.verify(huge))).code).toBe('ERR_LIMIT_EXCEEDED');
    expect(() => inspectCredential(huge)).toThrow(expect.objectContaining({ code: 'ERR_LIMIT_EXCEEDED' }));
    expect((await rejection(attenuate(huge, ['a == 1']))).code).toBe('ERR_LIMIT_EXCEEDED');
    expect(() => bindDischarge(huge, token)).toThrow(expect.objectContaining({ code: 'ERR_LIMIT_EXCEEDED' }));
    const many = Array.from({ length: 9 }, () => 'lkd1_x');
    expect((await rejection(issuer.verify(token, { discharges: many }))).code).toBe('ERR_LIMIT_EXCEEDED');
  });

  test('chain too long: a credential attenuated past maxChainLength is refused', async () => {
    const { issuer } = setup();
    let { token } = await issuer.issue({ expiry: TONIGHT });
    for (let i = 0; i < 16; i++) token = (await attenuate(token, ['a != 1'])).token;
    const error = await rejection(issuer.verify(token, { context: { a: 2 } }));
    expect(error.code).toBe('ERR_LIMIT_EXCEEDED');
    expect(error.detail.limit).toBe('maxChainLength');
  });

  test('mutated tokens and random strings: only LatchkeyError, never another exception', async () => {
    const { issuer } = setup();
    const { token } = await attenuate((await card(issuer)).token, ['amount <= 9']);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ maxLength: 400 }),
          fc
            .tuple(fc.nat(token.length - 1), fc.constantFrom(...'ABCxyz019-_=+/!.'))
            .map(([i, ch]) => token.slice(0, i) + ch + token.slice(i + 1)),
          fc.nat(token.length).map((i) => token.slice(0, i)),
        ),
        async (input) => {
          try {
            await issuer.verify(input, { context: SHOP });
          } catch (error) {
            expect(isLatchkeyError(error)).toBe(true);
          }
          try {
            inspectCredential(input);
          } catch (error) {
            expect(isLatchkeyError(error)).toBe(true);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
