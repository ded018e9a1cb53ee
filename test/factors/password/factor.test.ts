/** PasswordFactor: enrolment, evidence, rehash on sign-in, duress, on the memory and SQLite stores. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { PasswordFactor } from '../../../src/factors/password/factor.js';
import { PasswordHasher } from '../../../src/factors/password/hasher.js';
import { createMemoryStore } from '../../../src/store/memory.js';
import { openSqliteStore } from '../../../src/store/sqlite/index.js';
import type { Store } from '../../../src/store/types.js';
import { FakeClock } from '../../../src/testing/clock.js';
import { rejection } from '../../helpers/errors.js';
import { SMALL } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'latchkey-password-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

const stores: [string, (clock: FakeClock) => Promise<Store>][] = [
  ['memory', async (clock) => createMemoryStore({ clock })],
  ['sqlite', (clock) => openSqliteStore({ filename: join(dir, `password-${++files}.db`), clock })],
];

describe.each(stores)('PasswordFactor on the %s store', (_name, open) => {
  async function setup() {
    const clock = new FakeClock(Date.UTC(2030, 0, 1));
    const store = await open(clock);
    const hasher = new PasswordHasher({ parameters: SMALL });
    const factor = new PasswordFactor({ store, hasher, clock });
    const alice = await store.accounts.create({ username: 'alice' });
    await factor.enrol(alice.id, 'correct horse battery staple');
    return { clock, store, factor, alice, hasher };
  }

  test('verifies into knowledge evidence (amr pwd), by account id or username; wrong passwords fail', async () => {
    const { factor, alice, clock, store } = await setup();
    const evidence = await factor.verify(alice.id, 'correct horse battery staple');
    expect(evidence).toEqual({
      factor: 'password',
      subject: alice.id,
      authenticatorId: expect.any(String),
      amr: ['pwd'],
      kinds: ['knowledge'],
      phishingResistant: false,
      hardwareBound: false,
      userVerified: false,
      userPresent: false,
      replayResistant: false,
      at: clock.now(),
    });
    expect(Object.isFrozen(evidence)).toBe(true);
    expect((await factor.verifyUsername('Alice', 'correct horse battery staple')).subject).toBe(alice.id);
    expect((await rejection(factor.verify(alice.id, 'wrong horse battery staple'))).code).toBe('ERR_PASSWORD_INVALID');
    const [record] = await store.authenticators.listByAccount(alice.id, 'password');
    expect(record?.lastUsedAt).toBe(clock.now());
    expect(JSON.stringify(record?.data)).not.toContain('staple');
    await store.close();
  });

  test('enrolment applies the NIST rules, with the username as a user input, and replaces the old password', async () => {
    const { factor, alice, store } = await setup();
    expect((await rejection(factor.enrol(alice.id, 'too short'))).code).toBe('ERR_PASSWORD_TOO_SHORT');
    expect((await rejection(factor.enrol(alice.id, 'qwertyuiop', { use: 'mfa' }))).code).toBe(
      'ERR_PASSWORD_BLOCKLISTED',
    );
    expect((await rejection(factor.enrol(alice.id, 'alice-in-wonderland-2030'))).detail.reason).toBe('user-input');
    expect((await rejection(factor.enrol('nobody', 'a perfectly fine passphrase'))).code).toBe('ERR_STORE_NOT_FOUND');
    await factor.enrol(alice.id, 'a brand new passphrase here');
    expect(await store.authenticators.listByAccount(alice.id, 'password')).toHaveLength(1);
    expect((await rejection(factor.verify(alice.id, 'correct horse battery staple'))).code).toBe(
      'ERR_PASSWORD_INVALID',
    );
    await factor.verify(alice.id, 'a brand new passphrase here');
    await store.close();
  });

  test('a duress password verifies as its own record, and must differ from the password', async () => {
    const { factor, alice, store } = await setup();
    expect((await rejection(factor.enrol(alice.id, 'correct horse battery staple', { duress: true }))).code).toBe(
      'ERR_INVALID_ARGUMENT',
    );
    const duress = await factor.enrol(alice.id, 'the kettle is always on', { duress: true });
    expect(duress.duress).toBe(true);
    const evidence = await factor.verify(alice.id, 'the kettle is always on');
    expect(evidence.authenticatorId).toBe(duress.id);
    const real = await factor.verify(alice.id, 'correct horse battery staple');
    expect(real.authenticatorId).not.toBe(duress.id);
    // the evidence itself does not say duress: the gate looks the record up
    expect(Object.keys(evidence)).toEqual(Object.keys(real));
    await store.close();
  });

  test('a legacy or weaker hash is replaced by the current argon2id on the next sign-in', async () => {
    const { clock, store, alice } = await setup();
    const weak = new PasswordFactor({
      store,
      clock,
      hasher: new PasswordHasher({ parameters: { m: 128, t: 1, p: 1 } }),
    });
    await weak.enrol(alice.id, 'a passphrase from the old days');
    const [before] = await store.authenticators.listByAccount(alice.id, 'password');
    expect(String(before?.data.hash)).toMatch(/m=128,t=1,p=1\$/);
    const strong = new PasswordFactor({ store, clock, hasher: new PasswordHasher({ parameters: SMALL }) });
    await strong.verify(alice.id, 'a passphrase from the old days');
    const [after] = await store.authenticators.listByAccount(alice.id, 'password');
    expect(String(after?.data.hash)).toMatch(/m=256,t=1,p=1\$/);
    expect(after?.version).toBe((before?.version ?? 0) + 1);
    await strong.verify(alice.id, 'a passphrase from the old days');
    const [again] = await store.authenticators.listByAccount(alice.id, 'password');
    expect(again?.data.hash).toBe(after?.data.hash);
    await store.close();
  });

  test('concurrent sign-ins that both rehash: one update wins, both sign in', async () => {
    const { clock, store, alice } = await setup();
    const strong = new PasswordFactor({
      store,
      clock,
      hasher: new PasswordHasher({ parameters: { m: 512, t: 1, p: 1 } }),
    });
    const both = await Promise.all([
      strong.verify(alice.id, 'correct horse battery staple'),
      strong.verify(alice.id, 'correct horse battery staple'),
    ]);
    expect(both.map((e) => e.subject)).toEqual([alice.id, alice.id]);
    await store.close();
  });

  test('a disabled password record is as good as none', async () => {
    const { factor, alice, store } = await setup();
    const [record] = await store.authenticators.listByAccount(alice.id, 'password');
    if (record === undefined) throw new Error('no record');
    await store.authenticators.update(record.id, record.version, { disabled: true });
    expect((await rejection(factor.verify(alice.id, 'correct horse battery staple'))).code).toBe(
      'ERR_PASSWORD_INVALID',
    );
    await store.close();
  });
});

test('options are bounded: no lockout above NIST’s 100 failures', () => {
  const store = createMemoryStore();
  expect(() => new PasswordFactor({ store, maxFailures: 1000 })).toThrow(/maxFailures/);
  expect(() => new PasswordFactor({ store, baseDelayMs: 0 })).toThrow(/baseDelayMs/);
});
