/**
 * Regressions named after the attack. Work is asserted by counting raw argon2 computations (not
 * by wall-clock time, which would be flaky); bounds are asserted by the backend never being
 * called.
 */
import { describe, expect, test } from 'vitest';
import { PasswordFactor } from '../../../src/factors/password/factor.js';
import { PasswordHasher } from '../../../src/factors/password/hasher.js';
import { assessPassword, checkNewPassword } from '../../../src/factors/password/rules.js';
import { createMemoryStore } from '../../../src/store/memory.js';
import { FakeClock } from '../../../src/testing/clock.js';
import { codeOf, rejection } from '../../helpers/errors.js';
import { countingBackend, SMALL } from './helpers.js';

async function world(options: { maxFailures?: number; delayAfter?: number; clientLimit?: number } = {}) {
  const clock = new FakeClock(Date.UTC(2030, 0, 1));
  const store = createMemoryStore({ clock });
  const backend = countingBackend();
  const hasher = new PasswordHasher({ parameters: SMALL, backend });
  const factor = new PasswordFactor({ store, hasher, clock, ...options });
  const alice = await store.accounts.create({ username: 'alice' });
  await factor.enrol(alice.id, 'correct horse battery staple');
  const carol = await store.accounts.create({ username: 'carol' });
  await factor.enrol(carol.id, 'the real one, kept safe');
  await factor.enrol(carol.id, 'the one for emergencies', { duress: true });
  const nopass = await store.accounts.create({ username: 'dave' });
  // warm the dummy hash so that its one-off creation is not counted below
  await rejection(factor.verify('warm-up', 'warm up the dummy hash'));
  clock.advance(3_600_000);
  return { clock, store, backend, hasher, factor, alice, carol, nopass };
}

describe('attack: account enumeration by timing (unknown vs known accounts)', () => {
  test('every attempt costs the same number of hashes: unknown, no password, password, password + duress', async () => {
    const { backend, factor, alice, carol, nopass } = await world();
    const attempt = async (run: () => Promise<unknown>) => {
      backend.calls = 0;
      const error = await rejection(run());
      return { calls: backend.calls, code: error.code, message: error.message };
    };
    const outcomes = [
      await attempt(() => factor.verify('no-such-account', 'a wrong passphrase here')),
      await attempt(() => factor.verify(nopass.id, 'a wrong passphrase here')),
      await attempt(() => factor.verify(alice.id, 'a wrong passphrase here')),
      await attempt(() => factor.verify(carol.id, 'a wrong passphrase here')),
      await attempt(() => factor.verifyUsername('nobody', 'a wrong passphrase here')),
      await attempt(() => factor.verifyUsername('ALICE', 'a wrong passphrase here')),
    ];
    for (const outcome of outcomes) {
      expect(outcome).toEqual({ calls: 2, code: 'ERR_PASSWORD_INVALID', message: 'wrong username or password' });
    }
  });

  test('success costs the same with the real password and with the duress one (a coercer cannot time it)', async () => {
    const { backend, factor, carol, alice } = await world();
    backend.calls = 0;
    const real = await factor.verify(carol.id, 'the real one, kept safe');
    const realCalls = backend.calls;
    backend.calls = 0;
    const duress = await factor.verify(carol.id, 'the one for emergencies');
    expect(duress.authenticatorId).not.toBe(real.authenticatorId);
    expect(backend.calls).toBe(realCalls);
    backend.calls = 0;
    await factor.verify(alice.id, 'correct horse battery staple');
    expect(backend.calls).toBe(realCalls);
    expect(realCalls).toBe(2);
  });

  test('unknown accounts are throttled and locked exactly like known ones', async () => {
    const { factor, alice, clock } = await world({ maxFailures: 6, delayAfter: 3 });
    const run = async (name: string) => {
      const codes: string[] = [];
      for (let i = 0; i < 8; i++) {
        codes.push((await rejection(factor.verify(name, `guess number ${i}`))).code);
        codes.push((await rejection(factor.verify(name, `again at once ${i}`))).code);
        clock.advance(16 * 60_000);
      }
      return codes;
    };
    const known = await run(alice.id);
    const unknown = await run('not-an-account');
    expect(unknown).toEqual(known);
    expect(known).toContain('ERR_THROTTLED');
    expect(known.at(-1)).toBe('ERR_PASSWORD_LOCKED');
  });

  test('with `duress: false` every attempt costs one hash, and duress enrolment is refused', async () => {
    const store = createMemoryStore();
    const backend = countingBackend();
    const factor = new PasswordFactor({
      store,
      hasher: new PasswordHasher({ parameters: SMALL, backend }),
      duress: false,
    });
    const bob = await store.accounts.create({ username: 'bob' });
    await factor.enrol(bob.id, 'only one password here');
    await rejection(factor.verify('warm', 'warm up the dummy hash'));
    expect((await rejection(factor.enrol(bob.id, 'a duress password too', { duress: true }))).code).toBe(
      'ERR_INVALID_ARGUMENT',
    );
    backend.calls = 0;
    await rejection(factor.verify('nobody', 'wrong'));
    expect(backend.calls).toBe(1);
    backend.calls = 0;
    await rejection(factor.verify(bob.id, 'wrong'));
    expect(backend.calls).toBe(1);
  });
});

describe('attack: online guessing (throttling and lockout)', () => {
  test('waits double after the free tries, then the password locks at maxFailures, even for the right one', async () => {
    const { factor, alice, clock } = await world({ maxFailures: 8, delayAfter: 3 });
    const waits: number[] = [];
    const codes: string[] = [];
    for (let i = 0; i < 10; i++) {
      const error = await rejection(factor.verify(alice.id, `guess number ${i}`));
      codes.push(error.code);
      if (error.code === 'ERR_PASSWORD_INVALID' && i + 1 >= 3) {
        // from the third failure on, even the right password must wait first
        const next = await rejection(factor.verify(alice.id, 'correct horse battery staple'));
        expect(next.code).toBe('ERR_THROTTLED');
        waits.push((next.detail.retryAt as number) - clock.now());
      }
      clock.advance(16 * 60_000);
    }
    expect(codes.slice(0, 8)).toEqual(Array(8).fill('ERR_PASSWORD_INVALID'));
    expect(codes.slice(8)).toEqual(['ERR_PASSWORD_LOCKED', 'ERR_PASSWORD_LOCKED']);
    expect(waits).toEqual([1000, 2000, 4000, 8000, 16000, 32000]);
    expect((await rejection(factor.verify(alice.id, 'correct horse battery staple'))).code).toBe('ERR_PASSWORD_LOCKED');
    await factor.unlock(alice.id);
    await factor.verify(alice.id, 'correct horse battery staple');
  });

  test('the default lockout is NIST’s ceiling: 100 consecutive failures, and a success resets the count', async () => {
    const { factor, alice, clock } = await world({ delayAfter: 100 });
    for (let i = 0; i < 99; i++) await rejection(factor.verify(alice.id, `guess ${i}`));
    await factor.verify(alice.id, 'correct horse battery staple');
    for (let i = 0; i < 99; i++) await rejection(factor.verify(alice.id, `guess ${i}`));
    expect((await rejection(factor.verify(alice.id, 'guess 99'))).code).toBe('ERR_PASSWORD_INVALID');
    clock.advance(86_400_000);
    expect((await rejection(factor.verify(alice.id, 'correct horse battery staple'))).code).toBe('ERR_PASSWORD_LOCKED');
  });

  test('parallel guesses cannot slip past the lockout: each reserves its place before hashing', async () => {
    const { factor, alice } = await world({ maxFailures: 5, delayAfter: 100 });
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) => factor.verify(alice.id, `parallel guess ${i}`)),
    );
    const codes = results.map((r) => (r.status === 'rejected' ? (r.reason as { code: string }).code : 'ok'));
    expect(codes.filter((c) => c === 'ERR_PASSWORD_INVALID')).toHaveLength(5);
    expect(codes.filter((c) => c === 'ERR_PASSWORD_LOCKED')).toHaveLength(25);
  });

  test('one client spraying many accounts is throttled across them', async () => {
    const { factor, alice, carol } = await world({ clientLimit: 3 });
    const client = '203.0.113.7';
    await rejection(factor.verify(alice.id, 'spray one', { client }));
    await rejection(factor.verify(carol.id, 'spray two', { client }));
    await rejection(factor.verify('someone', 'spray three', { client }));
    const error = await rejection(factor.verify(carol.id, 'the real one, kept safe', { client }));
    expect(error.code).toBe('ERR_THROTTLED');
    // another client is unaffected; a very long client id is hashed into a bounded key
    await factor.verify(carol.id, 'the real one, kept safe', { client: 'x'.repeat(1000) });
  });
});

describe('attack: a stored hash with huge parameters', () => {
  test('is refused before any work: argon2 memory, passes, lanes; scrypt memory; PBKDF2; bcrypt cost', async () => {
    const backend = countingBackend();
    const hasher = new PasswordHasher({ parameters: SMALL, backend });
    const started = performance.now();
    const rss = process.memoryUsage().rss;
    for (const stored of [
      '$argon2id$v=19$m=1048576,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc',
      '$argon2id$v=19$m=4294967295,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc',
      '$argon2id$v=19$m=65536,t=100000,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc',
      '$argon2id$v=19$m=65536,t=2,p=255$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc',
      `argon2$argon2id$v=19$m=2097152,t=2,p=8$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc`,
      '$pbkdf2-sha256$99999999$c2FsdA$XrNFZU9r9Zj5snIzwvrniUgHwCZx4xL4O1mwHOnFjpc',
      'pbkdf2:sha256:50000000$salt$9fe5e0b2730cb59c276d801c7a0fb489723f05b9fc474aa2f8b9f9ccfa565345',
      // scrypt asking for 1 GiB (N=2^20, r=8) and 2 GiB (N=2^20, r=16), in each scrypt format
      '$scrypt$ln=20,r=8,p=1$as35f08JYYwxpjQGQAghBA$obYAnCG+trca5OqgAak6qHL7XNUf/67V/VJF0WCOAYw',
      'scrypt$salt$1048576$16$1$obYAnCG+trca5OqgAak6qHL7XNUf/67V/VJF0WCOAYwobYAnCG+trca5OqgAak6qHL7XNUf/67V/VJF0WCOAYw=',
      'scrypt:1048576:8:1$salt$9fe5e0b2730cb59c276d801c7a0fb489723f05b9fc474aa2f8b9f9ccfa565345',
      '$2b$31$2ao.F2190WjLZd3o/CE1geecDISNBolYm9klt.7.oymTsKEavBxZq',
      'bcrypt$$2b$20$2ao.F2190WjLZd3o/CE1geecDISNBolYm9klt.7.oymTsKEavBxZq',
    ]) {
      const error = await rejection(hasher.verify(stored, 'whatever'));
      expect({ stored: stored.slice(0, 30), code: error.code }).toEqual({
        stored: stored.slice(0, 30),
        code: 'ERR_PASSWORD_HASH_PARAMETERS',
      });
    }
    expect(backend.calls).toBe(0);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(process.memoryUsage().rss - rss).toBeLessThan(256 * 2 ** 20);
  });

  test('the bounds are the app’s to tighten: a hash within the defaults but over a tighter bound is refused', async () => {
    const stored = await new PasswordHasher({ parameters: { m: 1024, t: 1, p: 1 } }).hash('bounded');
    const tight = new PasswordHasher({ parameters: SMALL, storedBounds: { maxMemoryKiB: 512 } });
    expect((await rejection(tight.verify(stored, 'bounded'))).code).toBe('ERR_PASSWORD_HASH_PARAMETERS');
  });
});

describe('attack: a 100 MiB password', () => {
  test('is refused at once everywhere, without normalising or hashing it', async () => {
    const backend = countingBackend();
    const hasher = new PasswordHasher({ parameters: SMALL, backend });
    const store = createMemoryStore();
    const factor = new PasswordFactor({ store, hasher });
    const alice = await store.accounts.create({ username: 'alice' });
    const huge = 'a'.repeat(100 * 2 ** 20);
    const started = performance.now();
    const stored = '$argon2id$v=19$m=256,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc';
    expect((await rejection(hasher.verify(stored, huge))).code).toBe('ERR_PASSWORD_TOO_LONG');
    expect((await rejection(hasher.hash(huge))).code).toBe('ERR_PASSWORD_TOO_LONG');
    expect(codeOf(() => checkNewPassword(huge))).toBe('ERR_PASSWORD_TOO_LONG');
    expect((await rejection(factor.enrol(alice.id, huge))).code).toBe('ERR_PASSWORD_TOO_LONG');
    expect(performance.now() - started).toBeLessThan(1000);
    expect(backend.calls).toBe(0);
  });

  test('the limit is 1,024 bytes after NFKC: 64+ characters of any script are accepted', async () => {
    const hasher = new PasswordHasher({ parameters: SMALL });
    await hasher.hash('é'.repeat(512));
    await hasher.hash('🐈'.repeat(256));
    expect((await rejection(hasher.hash(`${'é'.repeat(512)}x`))).code).toBe('ERR_PASSWORD_TOO_LONG');
    // a decomposed input that composes to fit is measured after NFKC
    await hasher.hash('e\u0301'.repeat(512));
    expect(assessPassword('Ἐν ἀρχῇ ἦν ὁ λόγος, καὶ ὁ λόγος ἦν πρὸς τὸν θεόν, καὶ θεὸς ἦν ὁ λόγος').ok).toBe(true);
  });
});

describe('attack: NFC vs NFD input', () => {
  test('composed and decomposed spellings of one password are the same password, both ways', async () => {
    const hasher = new PasswordHasher({ parameters: SMALL });
    for (const text of ['Crème brûlée for everyone', '한국어 비밀번호 입니다', 'Ångström über naïve café']) {
      const nfc = text.normalize('NFC');
      const nfd = text.normalize('NFD');
      expect(nfc).not.toBe(nfd);
      expect((await hasher.verify(await hasher.hash(nfc), nfd)).valid).toBe(true);
      expect((await hasher.verify(await hasher.hash(nfd), nfc)).valid).toBe(true);
      // and the length rule counts the same characters either way
      expect(assessPassword(nfd).length).toBe(assessPassword(nfc).length);
    }
    // different passwords stay different
    const stored = await hasher.hash('cafe au lait please');
    expect((await hasher.verify(stored, 'café au lait please')).valid).toBe(false);
  });
});

describe('attack: a pepper-less verify of a peppered hash', () => {
  const k1 = new Uint8Array(32).fill(7);

  test('is refused loudly, naming the missing key, instead of quietly failing every sign-in', async () => {
    const backend = countingBackend();
    const peppered = new PasswordHasher({ parameters: SMALL, pepper: { current: 'k1', keys: { k1 } } });
    const stored = await peppered.hash('pepper and salt please');
    const plain = new PasswordHasher({ parameters: SMALL, backend });
    const error = await rejection(plain.verify(stored, 'pepper and salt please'));
    expect(error.code).toBe('ERR_PASSWORD_HASH_FORMAT');
    expect(error.detail.keyId).toBe('k1');
    expect(error.message).not.toContain('pepper and salt please');
    expect(backend.calls).toBe(0);
  });

  test('stripping the keyid from the stored string (a database-only attacker) does not verify without the pepper', async () => {
    const peppered = new PasswordHasher({ parameters: SMALL, pepper: { current: 'k1', keys: { k1 } } });
    const stored = await peppered.hash('pepper and salt please');
    const stripped = stored.replace(',keyid=k1', '');
    expect(await new PasswordHasher({ parameters: SMALL }).verify(stripped, 'pepper and salt please')).toEqual({
      valid: false,
    });
    // nor does a hasher that holds a different key under the same id
    const impostor = new PasswordHasher({
      parameters: SMALL,
      pepper: { current: 'k1', keys: { k1: new Uint8Array(32).fill(8) } },
    });
    expect((await impostor.verify(stored, 'pepper and salt please')).valid).toBe(false);
  });
});

describe('attack: bcrypt’s 72-byte truncation', () => {
  test('a longer password verifies with a warning but is not rehashed: its tail was never checked', async () => {
    // bcrypt("a"×72) at cost 4, as PHP and every bcrypt write it (a fixed vector from python3-bcrypt)
    const stored = '$2b$04$fgu2tSHzWNTK/GKvUz1nHOXktTlrTGUUe1gww..rFjQLySoduZwhK';
    const hasher = new PasswordHasher({ parameters: SMALL });
    const typoInTail = `${'a'.repeat(72)}typo`;
    const result = await hasher.verify(stored, typoInTail);
    expect(result.valid).toBe(true);
    expect(result.rehash).toBeUndefined();
    expect(result.warning).toMatch(/72 bytes/);
    const exact = await hasher.verify(stored, 'a'.repeat(72));
    expect(exact.valid).toBe(true);
    expect(exact.rehash).toMatch(/^\$argon2id\$/);
  });
});
