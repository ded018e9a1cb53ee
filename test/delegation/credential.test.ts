/**
 * Unit tests for credentials: key ring, issue, attenuate, verify, revoke, uses, audience,
 * expiry, inspect, discharges. Revocation and uses run against the memory and SQLite stores.
 */
import { generateKeyPairSync } from 'node:crypto';
import { inspect as nodeInspect } from 'node:util';
import { describe, expect, test } from 'vitest';
import { LatchkeyError } from '../../src/core/errors.js';
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
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import type { Store } from '../../src/store/types.js';
import { FakeClock } from '../../src/testing/clock.js';
import { rejection } from '../helpers/errors.js';

const T0 = Date.UTC(2030, 0, 1, 9);
const TONIGHT = Date.UTC(2030, 0, 1, 23, 59);
const HOUR = 3_600_000;

function must<T>(value: T | undefined | null): T {
  if (value === undefined || value === null) throw new Error('expected a value');
  return value;
}

function setup(options: { store?: Store; clock?: FakeClock; keys?: KeyRing } = {}) {
  const clock = options.clock ?? new FakeClock(T0);
  const store = options.store ?? createMemoryStore({ clock });
  const keys = options.keys ?? KeyRing.generate();
  const issuer = new CredentialIssuer({ keys, store, clock });
  return { clock, store, keys, issuer };
}

/** The macaroon inside a credential token. */
function macaroonOf(token: string): Macaroon {
  return Macaroon.deserialize(token.replace(/^lk[cd]1_/, ''));
}

async function codeOfVerify(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    if (error instanceof LatchkeyError) return error.code;
    throw error;
  }
}

describe('KeyRing', () => {
  test('refuses short keys, bad and duplicate ids', () => {
    expect(() => new KeyRing([{ id: 'k1', key: randomBytes(16) }])).toThrow(/at least|between 32/);
    expect(() => new KeyRing([{ id: 'bad id', key: randomBytes(32) }])).toThrow(LatchkeyError);
    expect(() => new KeyRing([{ id: 'a.b', key: randomBytes(32) }])).toThrow(LatchkeyError);
    const ring = new KeyRing([{ id: 'k1', key: randomBytes(32) }]);
    expect(() => ring.add({ id: 'k1', key: randomBytes(32) })).toThrow(/already/);
  });

  test('the last key added is current; the current key cannot be removed', () => {
    const ring = new KeyRing([
      { id: 'k1', key: randomBytes(32) },
      { id: 'k2', key: randomBytes(32) },
    ]);
    expect(ring.currentKeyId).toBe('k2');
    expect(ring.keyIds).toEqual(['k1', 'k2']);
    expect(() => ring.remove('k2')).toThrow(/current/);
    ring.use('k1');
    expect(ring.remove('k2')).toBe(true);
    expect(ring.remove('k2')).toBe(false);
    expect(new KeyRing().keyIds).toEqual([]);
    expect(() => new KeyRing().currentKeyId).toThrow(LatchkeyError);
  });

  test('never shows key material through JSON or util.inspect', () => {
    const key = randomBytes(32);
    const ring = new KeyRing([{ id: 'k1', key }]);
    const hex = Buffer.from(key).toString('hex');
    const b64 = Buffer.from(key).toString('base64');
    for (const shown of [JSON.stringify(ring), nodeInspect(ring), String(ring)]) {
      expect(shown).not.toContain(hex);
      expect(shown).not.toContain(b64);
    }
    expect(JSON.parse(JSON.stringify(ring))).toEqual({ keyIds: ['k1'], current: 'k1' });
  });

  test('keeps a copy: wiping the caller buffer does not change the key', async () => {
    const key = randomBytes(32);
    const keys = new KeyRing([{ id: 'k1', key }]);
    const { issuer } = setup({ keys });
    const card = await issuer.issue({ expiry: TONIGHT });
    key.fill(0);
    expect((await issuer.verify(card.token)).keyId).toBe('k1');
  });

  test('rotation: new credentials use the new key, old ones verify until their key is removed', async () => {
    const keys = new KeyRing([{ id: 'k1', key: randomBytes(32) }]);
    const { issuer } = setup({ keys });
    const old = await issuer.issue({ sub: 'alice', expiry: TONIGHT });
    keys.add({ id: 'k2', key: randomBytes(32) });
    const fresh = await issuer.issue({ sub: 'alice', expiry: TONIGHT });
    expect(inspectCredential(old.token).keyId).toBe('k1');
    expect(inspectCredential(fresh.token).keyId).toBe('k2');
    expect((await issuer.verify(old.token)).keyId).toBe('k1');
    expect((await issuer.verify(fresh.token)).keyId).toBe('k2');
    keys.remove('k1');
    const error = await rejection(issuer.verify(old.token));
    expect(error.code).toBe('ERR_CREDENTIAL_UNKNOWN_KEY');
    expect(error.detail.keyId).toBe('k1');
    expect((await issuer.verify(fresh.token)).subject).toBe('alice');
  });
});

describe('issue', () => {
  test('writes an lkc1_ token whose body is a plain v2 macaroon with a compact text identifier', async () => {
    const { issuer } = setup();
    const card = await issuer.issue({ sub: 'alice', expiry: TONIGHT, id: 'card-1' });
    expect(card.credentialId).toBe('card-1');
    expect(card.token.startsWith('lkc1_')).toBe(true);
    const m = macaroonOf(card.token);
    expect(m.identifierText).toMatch(/^lk1\.k1\.card-1\.[A-Za-z0-9_-]{16}$/);
    expect(m.caveats.map((c) => c.text)).toEqual([
      'sub = "alice"',
      'cid = "card-1"',
      'time < 2030-01-01T23:59:00.000Z',
    ]);
  });

  test('a random 128-bit credential id by default; a caller id still gives distinct tokens', async () => {
    const { issuer } = setup();
    const a = await issuer.issue({ expiry: TONIGHT });
    const b = await issuer.issue({ expiry: TONIGHT });
    expect(a.credentialId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(a.credentialId).not.toBe(b.credentialId);
    const c = await issuer.issue({ expiry: TONIGHT, id: 'same' });
    const d = await issuer.issue({ expiry: TONIGHT, id: 'same' });
    expect(c.token).not.toBe(d.token);
  });

  test('requires an expiry and checks every claim', async () => {
    const { issuer } = setup();
    const bad: unknown[] = [
      {},
      { expiry: 'tomorrow' },
      { expiry: Number.NaN },
      { expiry: TONIGHT, sub: '' },
      { expiry: TONIGHT, sub: 7 },
      { expiry: TONIGHT, amr: 'hwk' },
      { expiry: TONIGHT, amr: [] },
      { expiry: TONIGHT, uses: 0 },
      { expiry: TONIGHT, uses: 1.5 },
      { expiry: TONIGHT, id: 'has.dot' },
      { expiry: TONIGHT, caveats: 'amount <= 10' },
      { expiry: TONIGHT, caveats: ['sub = "mallory"'] },
      { expiry: TONIGHT, caveats: ['cid = "x"'] },
      { expiry: TONIGHT, caveats: ['uses <= 0'] },
      { expiry: TONIGHT, caveats: ['amount <= 10\nsub = "x"'] },
      null,
    ];
    for (const claims of bad) {
      const error = await rejection(issuer.issue(claims as never));
      expect(error.code, JSON.stringify(claims)).toBe('ERR_INVALID_ARGUMENT');
    }
    expect((await rejection(issuer.issue({ expiry: TONIGHT, caveats: ['amount <= '] }))).code).toBe(
      'ERR_EXPRESSION_SYNTAX',
    );
  });
});

describe('verify', () => {
  test('returns every authenticated claim, every caveat and the chain', async () => {
    const { issuer } = setup();
    const card = await issuer.issue({
      sub: 'alice',
      amr: ['hwk', 'pin'],
      acr: 'aal2',
      auth_time: new Date(T0 - 60_000),
      expiry: new Date(TONIGHT),
      caveats: ['amount <= 10'],
    });
    const child = await attenuate(card.token, ['amount <= 5']);
    const claims = await issuer.verify(child.token, { context: { amount: 5 } });
    expect(claims).toMatchObject({
      subject: 'alice',
      amr: ['hwk', 'pin'],
      acr: 'aal2',
      authTime: T0 - 60_000,
      expiresAt: TONIGHT,
      keyId: 'k1',
      credentialId: child.credentialId,
      rootCredentialId: card.credentialId,
      chain: [card.credentialId, child.credentialId],
    });
    expect(claims.audience).toBeUndefined();
    expect(claims.caveats.map((c) => [c.kind, c.text, c.credentialId])).toEqual([
      ['declaration', 'sub = "alice"', undefined],
      ['declaration', 'amr = ["hwk","pin"]', undefined],
      ['declaration', 'acr = "aal2"', undefined],
      ['declaration', `auth_time = ${new Date(T0 - 60_000).toISOString()}`, undefined],
      ['cid', `cid = "${card.credentialId}"`, card.credentialId],
      ['expiry', 'time < 2030-01-01T23:59:00.000Z', card.credentialId],
      ['expression', 'amount <= 10', card.credentialId],
      ['cid', `cid = "${child.credentialId}"`, child.credentialId],
      ['expression', 'amount <= 5', child.credentialId],
    ]);
    expect(Object.isFrozen(claims)).toBe(true);
  });

  test('a failing caveat is named with the reason; the first failure in order wins', async () => {
    const { issuer } = setup();
    const card = await issuer.issue({ expiry: TONIGHT, caveats: ['merchant == "corner-store"', 'amount <= 10'] });
    const error = await rejection(issuer.verify(card.token, { context: { merchant: 'corner-store', amount: 11 } }));
    expect(error.code).toBe('ERR_CREDENTIAL_CAVEAT_FAILED');
    expect(error.detail.caveat).toBe('amount <= 10');
    expect(error.detail.index).toBe(3);
    expect(String(error.detail.reason)).toContain('11');
    expect(error.message).toContain('`amount <= 10`');
    const missing = await rejection(issuer.verify(card.token, { context: { amount: 1 } }));
    expect(missing.detail.caveat).toBe('merchant == "corner-store"');
  });

  test('binds time and now to the clock (or the now option), and the declarations to their names', async () => {
    const { issuer, clock } = setup();
    const card = await issuer.issue({
      sub: 'alice',
      amr: ['hwk', 'pin'],
      auth_time: T0,
      expiry: TONIGHT,
      caveats: ['now < 2030-01-01T12:00', 'sub == "alice"', '"pin" in amr', 'auth_time + 5m > now', 'cid != "nothing"'],
    });
    expect((await issuer.verify(card.token)).subject).toBe('alice');
    clock.advance(5 * 60_000);
    const stale = await rejection(issuer.verify(card.token));
    expect(stale.detail.caveat).toBe('auth_time + 5m > now');
    expect((await issuer.verify(card.token, { now: T0 + 60_000 })).subject).toBe('alice');
    const late = await rejection(issuer.verify(card.token, { now: new Date(Date.UTC(2030, 0, 1, 12)) }));
    expect(late.detail.caveat).toBe('now < 2030-01-01T12:00');
  });

  test('the context may not set a name the verifier binds', async () => {
    const { issuer } = setup();
    const card = await issuer.issue({ expiry: TONIGHT });
    for (const name of ['sub', 'amr', 'acr', 'auth_time', 'expiry', 'aud', 'cid', 'uses', 'time', 'now']) {
      const error = await rejection(issuer.verify(card.token, { context: { [name]: 'x' } }));
      expect(error.code, name).toBe('ERR_INVALID_ARGUMENT');
      expect(error.detail.field).toBe(`context.${name}`);
    }
    const polluted = JSON.parse('{"__proto__": {"amount": 1}}') as Record<string, never>;
    expect((await rejection(issuer.verify(card.token, { context: polluted }))).code).toBe('ERR_INVALID_ARGUMENT');
  });

  test('expiry: valid until the instant, the earliest time caveat wins, other tools’ forms are read', async () => {
    const { issuer, clock } = setup();
    const card = await issuer.issue({ expiry: T0 + HOUR });
    expect((await issuer.verify(card.token, { now: T0 + HOUR - 1 })).expiresAt).toBe(T0 + HOUR);
    const error = await rejection(issuer.verify(card.token, { now: T0 + HOUR }));
    expect(error.code).toBe('ERR_CREDENTIAL_EXPIRED');
    expect(error.detail.expiresAt).toBe(new Date(T0 + HOUR).toISOString());

    const sooner = await attenuate(card.token, { expiry: T0 + 60_000 });
    expect((await issuer.verify(sooner.token)).expiresAt).toBe(T0 + 60_000);
    expect((await rejection(issuer.verify(sooner.token, { now: T0 + 60_000 }))).code).toBe('ERR_CREDENTIAL_EXPIRED');

    // The conventional caveat as pymacaroons users write it: minutes, no seconds, no offset (UTC).
    const other = await attenuate(card.token, ['time < 2030-01-01T09:30']);
    expect((await issuer.verify(other.token)).expiresAt).toBe(Date.UTC(2030, 0, 1, 9, 30));
    const offset = await attenuate(card.token, ['time < 2030-01-01T10:15:00+01:00']);
    expect((await issuer.verify(offset.token)).expiresAt).toBe(Date.UTC(2030, 0, 1, 9, 15));
    clock.set(Date.UTC(2030, 0, 1, 9, 15));
    expect((await rejection(issuer.verify(offset.token))).code).toBe('ERR_CREDENTIAL_EXPIRED');
    expect((await issuer.verify(other.token)).expiresAt).toBe(Date.UTC(2030, 0, 1, 9, 30));
  });

  test('audience: needed when restricted, checked against every aud caveat', async () => {
    const { issuer } = setup();
    const card = await issuer.issue({ expiry: TONIGHT, aud: ['shop.example', 'pay.example'] });
    expect((await issuer.verify(card.token, { audience: 'shop.example' })).audience).toBe('shop.example');
    const none = await rejection(issuer.verify(card.token));
    expect(none.code).toBe('ERR_CREDENTIAL_CAVEAT_FAILED');
    expect(none.detail.caveat).toBe('aud = ["shop.example","pay.example"]');
    expect((await rejection(issuer.verify(card.token, { audience: 'evil.example' }))).code).toBe(
      'ERR_CREDENTIAL_CAVEAT_FAILED',
    );
    const narrowed = await attenuate(card.token, { aud: 'pay.example' });
    expect((await rejection(issuer.verify(narrowed.token, { audience: 'shop.example' }))).detail.caveat).toBe(
      'aud = "pay.example"',
    );
    expect((await issuer.verify(narrowed.token, { audience: 'pay.example' })).audience).toBe('pay.example');
    const open = await issuer.issue({ expiry: TONIGHT });
    expect((await issuer.verify(open.token, { audience: 'any.example' })).audience).toBeUndefined();
  });

  test('a holder may restate a declaration as a check; it must agree with the issuer', async () => {
    const { issuer } = setup();
    const card = await issuer.issue({ sub: 'alice', amr: ['hwk', 'pin'], acr: 'aal2', expiry: TONIGHT });
    for (const ok of ['sub = "alice"', 'amr = ["pin"]', 'acr = "aal2"']) {
      const child = await attenuate(card.token, [ok]);
      expect((await issuer.verify(child.token)).subject, ok).toBe('alice');
    }
    for (const bad of ['sub = "bob"', 'amr = ["pwd"]', 'acr = "aal3"', 'auth_time = 2030-01-01T09:00']) {
      const child = await attenuate(card.token, [bad]);
      const error = await rejection(issuer.verify(child.token));
      expect(error.code, bad).toBe('ERR_CREDENTIAL_CAVEAT_FAILED');
      expect(error.detail.caveat).toBe(bad);
    }
  });

  test('only LatchkeyError for any input', async () => {
    const { issuer } = setup();
    const card = await issuer.issue({ expiry: TONIGHT });
    const discharge = `lkd1_${card.token.slice(5)}`;
    const inputs: [unknown, string][] = [
      [undefined, 'ERR_INVALID_ARGUMENT'],
      [42, 'ERR_INVALID_ARGUMENT'],
      ['', 'ERR_MACAROON_FORMAT'],
      ['lkc1_', 'ERR_MACAROON_FORMAT'],
      ['lkc1_!!!', 'ERR_MACAROON_FORMAT'],
      ['{"v":2}', 'ERR_MACAROON_FORMAT'],
      [discharge, 'ERR_MACAROON_FORMAT'],
      [Macaroon.mint({ rootKey: randomBytes(32), identifier: 'other' }).serialize(), 'ERR_MACAROON_FORMAT'],
      [
        Macaroon.mint({ rootKey: randomBytes(32), identifier: 'lk9.k1.a.aaaaaaaaaaaaaaaa' }).serialize(),
        'ERR_MACAROON_FORMAT',
      ],
      [card.token.slice(0, -3), 'ERR_MACAROON_FORMAT'],
    ];
    for (const [token, code] of inputs) {
      expect(await codeOfVerify(issuer.verify(token as string)), String(token).slice(0, 40)).toBe(code);
    }
    expect(await codeOfVerify(issuer.verify(card.token, null as never))).toBe('ERR_INVALID_ARGUMENT');
    expect(await codeOfVerify(issuer.verify(card.token, { now: -1 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(await codeOfVerify(issuer.verify(card.token, { context: [] as never }))).toBe('ERR_INVALID_ARGUMENT');
    expect(await codeOfVerify(issuer.verify(card.token, { discharges: 'x' as never }))).toBe('ERR_INVALID_ARGUMENT');
    expect(await codeOfVerify(issuer.verify(card.token, { audience: '' }))).toBe('ERR_INVALID_ARGUMENT');
    const throwing = {
      get amount(): number {
        throw new Error('boom');
      },
    };
    const guarded = await issuer.issue({ expiry: TONIGHT, caveats: ['amount < 5'] });
    expect(await codeOfVerify(issuer.verify(guarded.token, { context: throwing }))).toMatch(/^ERR_/);
  });
});

describe('attenuate', () => {
  test('needs no key, returns a new credential id, and leaves the original working', async () => {
    const { issuer } = setup();
    const card = await issuer.issue({ expiry: TONIGHT, caveats: ['amount <= 10'] });
    const child = await attenuate(card.token, { caveats: ['amount <= 5'], uses: 3, aud: 'shop', expiry: TONIGHT });
    expect(child.credentialId).not.toBe(card.credentialId);
    expect(
      macaroonOf(child.token)
        .caveats.slice(-5)
        .map((c) => c.text),
    ).toEqual([
      `cid = "${child.credentialId}"`,
      'time < 2030-01-01T23:59:00.000Z',
      'aud = "shop"',
      'uses <= 3',
      'amount <= 5',
    ]);
    expect((await issuer.verify(card.token, { context: { amount: 9 } })).credentialId).toBe(card.credentialId);
    expect((await rejection(issuer.verify(child.token, { context: { amount: 9 }, audience: 'shop' }))).code).toBe(
      'ERR_CREDENTIAL_CAVEAT_FAILED',
    );
  });

  test('refuses caveats that could never hold, cid caveats, nothing at all, and non-credentials', async () => {
    const { issuer } = setup();
    const card = await issuer.issue({ expiry: TONIGHT });
    expect((await rejection(attenuate(card.token, ['amount <']))).code).toBe('ERR_EXPRESSION_SYNTAX');
    expect((await rejection(attenuate(card.token, ['cid = "abc"']))).code).toBe('ERR_INVALID_ARGUMENT');
    expect((await rejection(attenuate(card.token, ['uses <= many']))).code).toBe('ERR_INVALID_ARGUMENT');
    expect((await rejection(attenuate(card.token, ['sub = alice']))).code).toBe('ERR_INVALID_ARGUMENT');
    expect((await rejection(attenuate(card.token, []))).code).toBe('ERR_INVALID_ARGUMENT');
    expect((await rejection(attenuate(card.token, null as never))).code).toBe('ERR_INVALID_ARGUMENT');
    const other = Macaroon.mint({ rootKey: randomBytes(32), identifier: 'not ours' }).serialize();
    expect((await rejection(attenuate(other, ['a == 1']))).code).toBe('ERR_MACAROON_FORMAT');
  });

  test('refuses to produce a token larger than the verifier accepts', async () => {
    const { issuer } = setup();
    const card = await issuer.issue({ expiry: TONIGHT });
    const long = `note == "${'x'.repeat(4000)}"`;
    const error = await rejection(attenuate(card.token, [long, long, long, long, long]));
    expect(error.code).toBe('ERR_LIMIT_EXCEEDED');
    expect(error.detail.limit).toBe('maxTokenBytes');
  });
});

const stores: [string, (clock: FakeClock) => Promise<Store>][] = [
  ['memory', async (clock) => createMemoryStore({ clock })],
  ['sqlite', (clock) => openSqliteStore({ filename: ':memory:', clock })],
];

describe.each(stores)('revocation and uses against the %s store', (_name, open) => {
  async function withStore() {
    const clock = new FakeClock(T0);
    const store = await open(clock);
    return setup({ clock, store });
  }

  test('revoking a parent revokes every descendant; revoking a child leaves the parent', async () => {
    const { issuer, store } = await withStore();
    const card = await issuer.issue({ sub: 'alice', expiry: TONIGHT });
    const carol = await attenuate(card.token, ['amount <= 8']);
    const bob = await attenuate(carol.token, ['amount <= 5']);
    const sibling = await attenuate(card.token, ['amount <= 1']);
    const context = { context: { amount: 1 } };
    expect((await issuer.verify(bob.token, context)).chain).toHaveLength(3);

    const entry = await issuer.revoke(carol.credentialId, { reason: 'carol lost her phone' });
    expect(entry.id).toBe(carol.credentialId);
    const error = await rejection(issuer.verify(bob.token, context));
    expect(error.code).toBe('ERR_CREDENTIAL_REVOKED');
    expect(error.detail).toMatchObject({ credentialId: carol.credentialId, chainIndex: 1 });
    expect((await rejection(issuer.verify(carol.token, context))).code).toBe('ERR_CREDENTIAL_REVOKED');
    expect((await issuer.verify(card.token, context)).subject).toBe('alice');
    expect((await issuer.verify(sibling.token, context)).subject).toBe('alice');

    await issuer.revoke(card.credentialId, { reason: 'card lost', expiresAt: TONIGHT });
    await issuer.revoke(card.credentialId, { reason: 'again' });
    for (const t of [card, sibling, carol, bob]) {
      expect((await rejection(issuer.verify(t.token, context))).code).toBe('ERR_CREDENTIAL_REVOKED');
    }
    expect((await rejection(issuer.revoke('', { reason: 'x' }))).code).toBe('ERR_INVALID_ARGUMENT');
    expect((await rejection(issuer.revoke('abc', {} as never))).code).toBe('ERR_INVALID_ARGUMENT');
    await store.close();
  });

  test('uses <= N allows exactly N successes; failures before the last step spend nothing', async () => {
    const { issuer, store } = await withStore();
    const card = await issuer.issue({ expiry: TONIGHT, uses: 2, caveats: ['amount <= 10'] });
    for (let i = 0; i < 5; i++) {
      expect((await rejection(issuer.verify(card.token, { context: { amount: 50 } }))).code).toBe(
        'ERR_CREDENTIAL_CAVEAT_FAILED',
      );
    }
    await issuer.verify(card.token, { context: { amount: 1 } });
    await issuer.verify(card.token, { context: { amount: 1 } });
    const error = await rejection(issuer.verify(card.token, { context: { amount: 1 } }));
    expect(error.code).toBe('ERR_CREDENTIAL_USES_EXHAUSTED');
    expect(error.detail).toMatchObject({ credentialId: card.credentialId, limit: 2, used: 2, caveat: 'uses <= 2' });
    await store.close();
  });

  test('uses are shared down the chain: a child spends its parent’s uses, and has its own', async () => {
    const { issuer, store } = await withStore();
    const card = await issuer.issue({ expiry: TONIGHT, uses: 3 });
    const child = await attenuate(card.token, { uses: 1 });
    await issuer.verify(child.token);
    const error = await rejection(issuer.verify(child.token));
    expect(error.code).toBe('ERR_CREDENTIAL_USES_EXHAUSTED');
    expect(error.detail.credentialId).toBe(child.credentialId);
    await issuer.verify(card.token);
    expect((await rejection(issuer.verify(card.token))).detail.credentialId).toBe(card.credentialId);
    const other = await attenuate(card.token, { uses: 5 });
    expect((await rejection(issuer.verify(other.token))).detail.credentialId).toBe(card.credentialId);
    await store.close();
  });
  test('200 concurrent verifications of a `uses <= 3` credential: exactly 3 succeed', async () => {
    const { issuer, store } = await withStore();
    const { token } = await attenuate((await issuer.issue({ expiry: TONIGHT, uses: 3 })).token, ['a != 1']);
    const results = await Promise.allSettled(
      Array.from({ length: 200 }, () => issuer.verify(token, { context: { a: 0 } })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    const codes = new Set(results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as LatchkeyError).code] : [])));
    expect([...codes]).toEqual(['ERR_CREDENTIAL_USES_EXHAUSTED']);
    await store.close();
  });

  test('a discharge is accepted once, recorded in the store', async () => {
    const { issuer, store, clock } = await withStore();
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const discharger = new Discharger({ privateKey, location: 'tp', clock, check: () => true });
    const { token } = await attenuate((await issuer.issue({ expiry: TONIGHT })).token, {
      thirdParty: [{ location: 'tp', publicKey: discharger.publicKey, condition: 'c' }],
    });
    const identifier = must(inspectCredential(token).thirdParty[0]).identifier;
    const bound = bindDischarge(token, await discharger.discharge(identifier));
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => issuer.verify(token, { discharges: [bound] })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const again = await rejection(issuer.verify(token, { discharges: [bound] }));
    expect(again).toMatchObject({ code: 'ERR_CREDENTIAL_USES_EXHAUSTED', detail: { discharge: 0 } });
    await store.close();
  });

  test('singleUseDischarges: false lets a discharge be reused until it expires', async () => {
    const clock = new FakeClock(T0);
    const store = await open(clock);
    const issuer = new CredentialIssuer({ keys: KeyRing.generate(), store, clock, singleUseDischarges: false });
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const discharger = new Discharger({ privateKey, location: 'tp', clock, check: () => true });
    const { token } = await attenuate((await issuer.issue({ expiry: TONIGHT })).token, {
      thirdParty: [{ location: 'tp', publicKey: discharger.publicKey, condition: 'c' }],
    });
    const bound = bindDischarge(
      token,
      await discharger.discharge(must(inspectCredential(token).thirdParty[0]).identifier),
    );
    await issuer.verify(token, { discharges: [bound] });
    await issuer.verify(token, { discharges: [bound] });
    clock.advance(5 * 60_000);
    expect((await rejection(issuer.verify(token, { discharges: [bound] }))).code).toBe('ERR_CREDENTIAL_EXPIRED');
    await store.close();
  });
});

describe('inspectCredential', () => {
  test('says UNVERIFIED first, lists claims, chain, expiry and every caveat, never the signature', async () => {
    const { issuer } = setup();
    const card = await issuer.issue({
      sub: 'alice',
      amr: ['hwk'],
      expiry: TONIGHT,
      uses: 1,
      caveats: ['amount <= 10'],
    });
    const child = await attenuate(card.token, ['amount <= 5']);
    const seen = inspectCredential(child.token);
    expect(seen.verified).toBe(false);
    expect(seen.text.split('\n')[0]).toMatch(/^UNVERIFIED/);
    expect(seen).toMatchObject({
      keyId: 'k1',
      credentialId: child.credentialId,
      chain: [card.credentialId, child.credentialId],
      subject: 'alice',
      amr: ['hwk'],
      expiresAt: TONIGHT,
      problems: [],
      thirdParty: [],
    });
    expect(seen.caveats.map((c) => c.kind)).toEqual([
      'declaration',
      'declaration',
      'cid',
      'expiry',
      'uses',
      'expression',
      'cid',
      'expression',
    ]);
    for (const line of ['subject "alice"', 'uses <= 1', 'amount <= 10', 'amount <= 5', '2030-01-01T23:59:00.000Z']) {
      expect(seen.text).toContain(line);
    }
    expect(seen.text).toContain(`[holder ${child.credentialId}] amount <= 5`);
    const signature = macaroonOf(child.token).signature;
    expect(seen.text).not.toContain(Buffer.from(signature).toString('hex'));
    expect(seen.text).not.toContain(Buffer.from(signature).toString('base64url'));
  });

  test('shows problems instead of failing, escapes unprintable text, and throws only LatchkeyError', async () => {
    const { issuer } = setup();
    const card = await issuer.issue({ expiry: TONIGHT });
    const m = macaroonOf(card.token).addFirstPartyCaveat('uses <= lots').addFirstPartyCaveat('note == "\u202e"');
    const seen = inspectCredential(m.serialize());
    expect(seen.problems).toHaveLength(1);
    expect(seen.text).toContain('problem:');
    expect(seen.text).not.toContain('\u202e');
    for (const garbage of ['', 'lkc1_', '%%%', 'lkd1_AgE', 17, null]) {
      expect(() => inspectCredential(garbage as string)).toThrow(LatchkeyError);
    }
  });
});

describe('Discharger', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });

  test('accepts P-256 keys as KeyObject or JWK and publishes only the public half', () => {
    const d = new Discharger({ privateKey, location: 'https://tp.example', check: () => true, keyId: 'tp-1' });
    expect(d.publicKey).toMatchObject({ kty: 'EC', crv: 'P-256', kid: 'tp-1' });
    expect(d.publicKey).not.toHaveProperty('d');
    expect(JSON.stringify(d)).not.toContain(String(privateKey.export({ format: 'jwk' }).d));
    const jwk = privateKey.export({ format: 'jwk' });
    expect(new Discharger({ privateKey: jwk, location: 'x', check: () => true }).publicKey.x).toBe(jwk.x);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
    for (const bad of [rsa, p384, publicKey, 'key', null]) {
      expect(() => new Discharger({ privateKey: bad as never, location: 'x', check: () => true })).toThrow(
        LatchkeyError,
      );
    }
    expect(() => new Discharger({ privateKey, location: 'x', check: () => true, ttlMs: 3_600_000 })).toThrow(
      LatchkeyError,
    );
  });

  test('discharges for the verifier; the condition check sees the condition and the context', async () => {
    const { issuer, clock } = setup();
    const seen: unknown[] = [];
    const d = new Discharger({
      privateKey,
      location: 'https://tp.example',
      clock,
      check: async (request) => {
        seen.push(request);
        return request.context.ok === true;
      },
    });
    const card = await issuer.issue({ expiry: TONIGHT });
    const gated = await attenuate(card.token, {
      thirdParty: [{ location: d.location, publicKey: d.publicKey, condition: 'holder is bob' }],
    });
    const [caveat] = inspectCredential(gated.token).thirdParty;
    expect(caveat?.location).toBe('https://tp.example');
    const identifier = must(caveat).identifier;
    expect(identifier.split('.')).toHaveLength(5);
    expect(identifier).not.toContain('holder is bob');

    const refused = await rejection(d.discharge(identifier, { context: { ok: false } }));
    expect(refused.code).toBe('ERR_DISCHARGE_CONDITION_FAILED');
    expect(refused.detail.condition).toBe('holder is bob');

    const discharge = await d.discharge(identifier, { context: { ok: true } });
    expect(discharge.startsWith('lkd1_')).toBe(true);
    expect(seen).toEqual([
      { condition: 'holder is bob', context: { ok: false }, location: 'https://tp.example' },
      { condition: 'holder is bob', context: { ok: true }, location: 'https://tp.example' },
    ]);
    const [id, expiry] = macaroonOf(discharge).caveats.map((c) => c.text);
    expect(id).toMatch(/^cid = "[A-Za-z0-9_-]{22}"$/);
    expect(expiry).toBe('time < 2030-01-01T09:05:00.000Z');

    expect((await rejection(issuer.verify(gated.token))).code).toBe('ERR_MACAROON_DISCHARGE_MISSING');
    const claims = await issuer.verify(gated.token, { discharges: [bindDischarge(gated.token, discharge)] });
    expect(claims.caveats.at(-1)).toMatchObject({ macaroon: 'discharge 0', kind: 'expiry' });
    expect(claims.caveats.find((c) => c.kind === 'third-party')?.text).toBe('third-party caveat at https://tp.example');
  });

  test('a check that throws: LatchkeyError passes through, anything else is a condition failure', async () => {
    const { issuer } = setup();
    let thrown: unknown = new LatchkeyError('ERR_FOB_ASSERTION_INVALID', 'bad assertion');
    const d = new Discharger({
      privateKey,
      location: 'x',
      check: () => {
        throw thrown;
      },
    });
    const card = await issuer.issue({ expiry: TONIGHT });
    const gated = await attenuate(card.token, {
      thirdParty: [{ location: 'x', publicKey: d.publicKey, condition: 'c' }],
    });
    const identifier = must(inspectCredential(gated.token).thirdParty[0]).identifier;
    expect((await rejection(d.discharge(identifier))).code).toBe('ERR_FOB_ASSERTION_INVALID');
    thrown = new TypeError('oops');
    const error = await rejection(d.discharge(identifier));
    expect(error.code).toBe('ERR_DISCHARGE_CONDITION_FAILED');
    expect(error.detail.threw).toBe(true);
  });

  test('discharges expire, must carry an expiry, and may not live longer than the limit', async () => {
    const { issuer, clock } = setup();
    const d = new Discharger({ privateKey, location: 'x', clock, check: () => true, ttlMs: 60_000 });
    const card = await issuer.issue({ expiry: TONIGHT });
    const gated = await attenuate(card.token, {
      thirdParty: [{ location: 'x', publicKey: publicKey, condition: 'c' }],
    });
    const identifier = must(inspectCredential(gated.token).thirdParty[0]).identifier;
    const discharge = await d.discharge(identifier);
    clock.advance(60_000);
    const error = await rejection(issuer.verify(gated.token, { discharges: [bindDischarge(gated.token, discharge)] }));
    expect(error.code).toBe('ERR_CREDENTIAL_EXPIRED');
    expect(error.detail.macaroon).toBe('discharge 0');

    // A discharge minted by hand (another tool) without expiry, or with a long one, is refused.
    // The caveat key is only available to the discharger; recover it through a test-only decrypt.
    const { compactDecrypt } = await import('jose');
    const { plaintext } = await compactDecrypt(identifier, privateKey);
    const key = Buffer.from(JSON.parse(Buffer.from(plaintext).toString()).k, 'base64url');
    const bare = Macaroon.mint({ rootKey: key, identifier });
    const noExpiry = await rejection(
      issuer.verify(gated.token, { discharges: [bindDischarge(gated.token, `lkd1_${bare.serialize()}`)] }),
    );
    expect(noExpiry.code).toBe('ERR_CREDENTIAL_CAVEAT_FAILED');
    expect(noExpiry.detail.reason).toMatch(/must carry a `time <`/);
    const long = bare.addFirstPartyCaveat(`time < ${new Date(clock.now() + 3_600_000).toISOString()}`);
    const tooLong = await rejection(
      issuer.verify(gated.token, { discharges: [bindDischarge(gated.token, `lkd1_${long.serialize()}`)] }),
    );
    expect(tooLong.code).toBe('ERR_CREDENTIAL_CAVEAT_FAILED');
    expect(tooLong.detail.reason).toMatch(/maxDischargeTtlMs/);
    const withUses = bare
      .addFirstPartyCaveat(`time < ${new Date(clock.now() + 60_000).toISOString()}`)
      .addFirstPartyCaveat('uses <= 5');
    const misplaced = await rejection(
      issuer.verify(gated.token, { discharges: [bindDischarge(gated.token, `lkd1_${withUses.serialize()}`)] }),
    );
    expect(misplaced.code).toBe('ERR_CREDENTIAL_CAVEAT_FAILED');
    expect(misplaced.detail.caveat).toBe('uses <= 5');
    const checked = bare
      .addFirstPartyCaveat(`time < ${new Date(clock.now() + 60_000).toISOString()}`)
      .addFirstPartyCaveat('amount <= 3');
    const bound = bindDischarge(gated.token, `lkd1_${checked.serialize()}`);
    const failing = await rejection(issuer.verify(gated.token, { discharges: [bound], context: { amount: 4 } }));
    expect(failing.detail).toMatchObject({ macaroon: 'discharge 0', caveat: 'amount <= 3' });
    expect((await issuer.verify(gated.token, { discharges: [bound], context: { amount: 3 } })).chain).toHaveLength(2);
  });
});
