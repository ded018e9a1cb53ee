/**
 * Passwords: the hasher, the NIST rules, the factor with throttling, and interop with
 * independent implementations from Debian (argon2-cffi, passlib, the `argon2` CLI, PHP).
 * Tests use small argon2 parameters where the parameters are not the point.
 */
import { spawnSync } from 'node:child_process';
import { pbkdf2Sync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { isLatchkeyError } from '../../../src/core/errors.js';
import { PasswordFactor } from '../../../src/factors/password/factor.js';
import { PASSWORD_PROFILES, PasswordHasher } from '../../../src/factors/password/hasher.js';
import { parseArgon2 } from '../../../src/factors/password/phc.js';
import { checkNewPassword } from '../../../src/factors/password/rules.js';
import { createMemoryStore } from '../../../src/store/memory.js';
import { FakeClock } from '../../../src/testing/clock.js';
import { codeOf, rejection } from '../../helpers/errors.js';
import { describeWithPeer, type PeerStatus } from '../../helpers/peers.js';

const SMALL = { m: 256, t: 1, p: 1 };
const PYTHON = '/usr/bin/python3';

function python(source: string, ...args: string[]): string {
  const run = spawnSync(PYTHON, ['-c', source, ...args], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`python failed: ${run.stderr}`);
  return run.stdout.trim();
}

function status(probe: () => boolean, reason: string): PeerStatus {
  try {
    return probe() ? { available: true, reason: '' } : { available: false, reason };
  } catch {
    return { available: false, reason };
  }
}

const pythonPeers = status(
  () => spawnSync(PYTHON, ['-c', 'import argon2, passlib.hash, bcrypt'], { encoding: 'utf8' }).status === 0,
  'python3-argon2, python3-passlib and python3-bcrypt must be importable by /usr/bin/python3',
);
const argon2Cli = status(() => existsSync('/usr/bin/argon2'), 'the argon2 CLI is missing (apt-get install argon2)');
const php = status(
  () => spawnSync('php', ['-r', 'echo PASSWORD_ARGON2ID;'], { encoding: 'utf8' }).stdout === 'argon2id',
  'php-cli with argon2 support is missing (apt-get install php-cli)',
);

describe('PasswordHasher', () => {
  test('writes canonical argon2id PHC strings with the OWASP defaults, and verifies them', async () => {
    const hasher = new PasswordHasher();
    const stored = await hasher.hash('correct horse battery staple');
    expect(stored).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(await hasher.verify(stored, 'correct horse battery staple')).toEqual({ valid: true });
    expect(await hasher.verify(stored, 'correct horse battery stapler')).toEqual({ valid: false });
    expect(PASSWORD_PROFILES.high).toEqual({ m: 65_536, t: 3, p: 4 });
  });

  test("the RFC 9106 argon2id test vector, through latchkey's own PHC parser and verify", async () => {
    // RFC 9106 §5.3 uses a secret and associated data, which PHC strings cannot carry; this is
    // instead the reference implementation's own argon2id test vector (phc-winner-argon2,
    // src/test.c: "password", "somesalt", t=2, m=65536, p=1, v=0x13).
    const hasher = new PasswordHasher({ parameters: { m: 65_536, t: 2, p: 1 } });
    const vector = '$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc';
    expect(await hasher.verify(vector, 'password')).toEqual({ valid: true, rehash: expect.any(String) });
  });

  test('rehash when parameters, pepper or format change', async () => {
    const weak = new PasswordHasher({ parameters: SMALL });
    const stored = await weak.hash('a long enough passphrase');
    const stronger = new PasswordHasher({ parameters: { m: 512, t: 2, p: 1 } });
    const result = await stronger.verify(stored, 'a long enough passphrase');
    expect(result.valid).toBe(true);
    expect(result.rehash).toMatch(/m=512,t=2,p=1\$/);
    expect(await stronger.verify(result.rehash as string, 'a long enough passphrase')).toEqual({ valid: true });
  });

  test('pepper with a key id; rotation keeps old hashes working and rehashes them', async () => {
    const k1 = new Uint8Array(32).fill(1);
    const k2 = new Uint8Array(32).fill(2);
    const first = new PasswordHasher({ parameters: SMALL, pepper: { current: 'k1', keys: { k1 } } });
    const stored = await first.hash('pepper and salt please');
    expect(stored).toContain(',keyid=k1$');
    const rotated = new PasswordHasher({ parameters: SMALL, pepper: { current: 'k2', keys: { k1, k2 } } });
    const result = await rotated.verify(stored, 'pepper and salt please');
    expect(result.valid).toBe(true);
    expect(result.rehash).toContain(',keyid=k2$');
    // the pepper matters: the same hash under another key value does not verify
    const wrong = new PasswordHasher({ parameters: SMALL, pepper: { current: 'k1', keys: { k1: k2 } } });
    expect((await wrong.verify(stored, 'pepper and salt please')).valid).toBe(false);
  });

  test('attack: a pepper-less verify of a peppered hash is refused, not silently false', async () => {
    const peppered = new PasswordHasher({
      parameters: SMALL,
      pepper: { current: 'k1', keys: { k1: new Uint8Array(32).fill(7) } },
    });
    const stored = await peppered.hash('pepper and salt please');
    const plain = new PasswordHasher({ parameters: SMALL });
    const error = await rejection(plain.verify(stored, 'pepper and salt please'));
    expect(error.code).toBe('ERR_PASSWORD_HASH_FORMAT');
    expect(error.detail.keyId).toBe('k1');
  });

  test('attack: a stored hash with huge parameters is refused before any work', async () => {
    const hasher = new PasswordHasher({ parameters: SMALL });
    const started = Date.now();
    for (const stored of [
      '$argon2id$v=19$m=1048576,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc',
      '$argon2id$v=19$m=65536,t=100000,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc',
      '$argon2id$v=19$m=65536,t=2,p=255$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc',
      '$pbkdf2-sha256$99999999$c2FsdA$XrNFZU9r9Zj5snIzwvrniUgHwCZx4xL4O1mwHOnFjpc',
      '$scrypt$ln=30,r=8,p=1$as35f08JYYwxpjQGQAghBA$obYAnCG+trca5OqgAak6qHL7XNUf/67V/VJF0WCOAYw',
      '$2b$31$2ao.F2190WjLZd3o/CE1geecDISNBolYm9klt.7.oymTsKEavBxZq',
    ]) {
      expect((await rejection(hasher.verify(stored, 'whatever'))).code).toBe('ERR_PASSWORD_HASH_PARAMETERS');
    }
    expect(Date.now() - started).toBeLessThan(5000);
  });

  test('attack: a 100 MiB password is refused at once, without normalising or hashing it', async () => {
    const hasher = new PasswordHasher({ parameters: SMALL });
    const huge = 'a'.repeat(100 * 1024 * 1024);
    const started = Date.now();
    expect(
      (
        await rejection(
          hasher.verify('$argon2id$v=19$m=256,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc', huge),
        )
      ).code,
    ).toBe('ERR_PASSWORD_TOO_LONG');
    expect((await rejection(hasher.hash(huge))).code).toBe('ERR_PASSWORD_TOO_LONG');
    expect(Date.now() - started).toBeLessThan(5000);
    // 1,024 bytes are accepted, 1,025 are not
    await hasher.hash('é'.repeat(512));
    expect((await rejection(hasher.hash(`${'é'.repeat(512)}x`))).code).toBe('ERR_PASSWORD_TOO_LONG');
  });

  test('attack: NFC and NFD spellings of one password are the same password', async () => {
    const hasher = new PasswordHasher({ parameters: SMALL });
    const nfc = 'Crème brûlée for everyone'.normalize('NFC');
    const nfd = nfc.normalize('NFD');
    expect(nfc).not.toBe(nfd);
    const stored = await hasher.hash(nfc);
    expect((await hasher.verify(stored, nfd)).valid).toBe(true);
  });

  test('garbage stored hashes are a clear error', async () => {
    const hasher = new PasswordHasher({ parameters: SMALL });
    for (const stored of [
      '',
      'plain',
      '$argon2id$',
      '$argon2id$v=19$m=x,t=1,p=1$a$b',
      '$md5$abc',
      'x'.repeat(10_000),
    ]) {
      expect((await rejection(hasher.verify(stored, 'pw'))).code).toBe('ERR_PASSWORD_HASH_FORMAT');
    }
  });

  test('a burst beyond the queue is refused with ERR_OVERLOADED; nothing else is lost', async () => {
    const hasher = new PasswordHasher({ parameters: SMALL, maxConcurrent: 1, maxQueue: 2 });
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => hasher.hash('a long enough passphrase')));
    const refused = results.filter((r) => r.status === 'rejected');
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    for (const r of refused) expect(isLatchkeyError((r as PromiseRejectedResult).reason, 'ERR_OVERLOADED')).toBe(true);
    // and the hasher still works afterwards
    await hasher.hash('a long enough passphrase');
  });
});

describe('NIST SP 800-63B-4 rules for new passwords', () => {
  test('15 characters alone, 8 with another factor; counted in code points; no composition rules', () => {
    expect(codeOf(() => checkNewPassword('fourteen chars'))).toBe('ERR_PASSWORD_TOO_SHORT');
    expect(codeOf(() => checkNewPassword('fifteen chars!!'))).toBe('ok');
    expect(codeOf(() => checkNewPassword('eight ch', { use: 'mfa' }))).toBe('ok');
    expect(codeOf(() => checkNewPassword('seven c', { use: 'mfa' }))).toBe('ERR_PASSWORD_TOO_SHORT');
    // eight emoji are eight characters (16 UTF-16 units)
    expect(codeOf(() => checkNewPassword('🐈🐈🐕🐕🐈🐈🐕🐇', { use: 'mfa' }))).toBe('ok');
    expect(codeOf(() => checkNewPassword('all lowercase and no digits at all'))).toBe('ok');
    expect(codeOf(() => checkNewPassword('x'.repeat(64)))).toBe('ERR_PASSWORD_BLOCKLISTED');
    expect(codeOf(() => checkNewPassword(`${'y'.repeat(63)}z`))).toBe('ok');
  });

  test('common and breached passwords are refused, saying why', () => {
    for (const common of ['password1234', 'qwertyuiop', 'iloveyou1', 'PASSWORD1234']) {
      try {
        checkNewPassword(common, { use: 'mfa' });
        expect.unreachable(common);
      } catch (error) {
        expect(isLatchkeyError(error, 'ERR_PASSWORD_BLOCKLISTED')).toBe(true);
        expect((error as { detail: { reason: string } }).detail.reason).toBe('common');
      }
    }
  });

  test('the user’s own names and the service’s words are refused', () => {
    expect(codeOf(() => checkNewPassword('alice-in-wonderland-2030', { userInputs: ['alice'] }))).toBe(
      'ERR_PASSWORD_BLOCKLISTED',
    );
    expect(codeOf(() => checkNewPassword('my latchkey password is long', { blocklist: ['latchkey'] }))).toBe(
      'ERR_PASSWORD_BLOCKLISTED',
    );
  });
});

describe('PasswordFactor', () => {
  async function setup(options: { maxFailures?: number; delayAfter?: number } = {}) {
    const clock = new FakeClock(Date.UTC(2030, 0, 1));
    const store = createMemoryStore({ clock });
    const hasher = new PasswordHasher({ parameters: SMALL });
    const factor = new PasswordFactor({ store, hasher, clock, ...options });
    const alice = await store.accounts.create({ username: 'alice' });
    await factor.enrol(alice.id, 'correct horse battery staple');
    return { clock, store, factor, alice, hasher };
  }

  test('verifies into knowledge evidence; wrong passwords fail', async () => {
    const { factor, alice } = await setup();
    const evidence = await factor.verify(alice.id, 'correct horse battery staple');
    expect(evidence).toMatchObject({ factor: 'password', subject: alice.id, amr: ['pwd'], kinds: ['knowledge'] });
    expect((await rejection(factor.verify(alice.id, 'wrong horse battery staple'))).code).toBe('ERR_PASSWORD_INVALID');
  });

  test('attack: guessing meets growing waits, then a lockout at maxFailures', async () => {
    const { factor, alice, clock } = await setup({ maxFailures: 8, delayAfter: 3 });
    const codes: string[] = [];
    for (let i = 0; i < 12; i++) {
      codes.push((await rejection(factor.verify(alice.id, `guess number ${i}`))).code);
      clock.advance(16 * 60_000);
    }
    expect(codes.slice(0, 8).every((c) => c === 'ERR_PASSWORD_INVALID')).toBe(true);
    expect(codes.slice(8).every((c) => c === 'ERR_PASSWORD_LOCKED')).toBe(true);
    // even the right password is locked out until unlock
    expect((await rejection(factor.verify(alice.id, 'correct horse battery staple'))).code).toBe('ERR_PASSWORD_LOCKED');
    await factor.unlock(alice.id);
    await factor.verify(alice.id, 'correct horse battery staple');
  });

  test('attack: rapid guesses after the free tries must wait (ERR_THROTTLED with retryAt)', async () => {
    const { factor, alice } = await setup({ delayAfter: 2 });
    await rejection(factor.verify(alice.id, 'guess one is wrong'));
    await rejection(factor.verify(alice.id, 'guess two is wrong'));
    const error = await rejection(factor.verify(alice.id, 'correct horse battery staple'));
    expect(error.code).toBe('ERR_THROTTLED');
    expect(typeof error.detail.retryAt).toBe('number');
  });

  test('attack: account enumeration by timing — an unknown account does the same hashing work', async () => {
    const { store } = await setup();
    const clock = new FakeClock(Date.UTC(2030, 0, 1));
    let calls = 0;
    const counting = new PasswordHasher({
      parameters: SMALL,
      backend: {
        name: 'counting',
        hashRaw: async (input) => {
          calls++;
          const { nodeRsArgon2 } = await import('../../../src/factors/password/argon2-backend.js');
          return nodeRsArgon2.hashRaw(input);
        },
      },
    });
    const factor = new PasswordFactor({ store, hasher: counting, clock });
    const bob = await store.accounts.create({ username: 'bob' });
    await factor.enrol(bob.id, 'another long passphrase');
    await rejection(factor.verify('nobody', 'first call warms the dummy'));
    calls = 0;
    const unknown = await rejection(factor.verify('nobody-at-all', 'a wrong passphrase here'));
    const unknownCalls = calls;
    calls = 0;
    const known = await rejection(factor.verify(bob.id, 'a wrong passphrase here'));
    expect(unknown.code).toBe(known.code);
    expect(unknown.message).toBe(known.message);
    expect(unknownCalls).toBe(1);
    expect(calls).toBe(1);
  });

  test('a legacy hash verifies and is replaced by argon2id on the next sign-in', async () => {
    const { factor, store, alice } = await setup();
    const [record] = await store.authenticators.listByAccount(alice.id, 'password');
    // passlib's $pbkdf2-sha256$ form (its adapted base64: '.' for '+', no padding)
    const salt = Buffer.from('salty salt');
    const key = pbkdf2Sync('legacy passphrase here', salt, 1000, 32, 'sha256');
    const ab64 = (bytes: Buffer) => bytes.toString('base64').replace(/=+$/, '').replace(/\+/g, '.');
    const legacy = `$pbkdf2-sha256$1000$${ab64(salt)}$${ab64(key)}`;
    if (record === undefined) throw new Error('no record');
    await store.authenticators.update(record.id, record.version, { data: { hash: legacy } });
    expect((await rejection(factor.verify(alice.id, 'legacy passphrase hero'))).code).toBe('ERR_PASSWORD_INVALID');
    await factor.verify(alice.id, 'legacy passphrase here');
    const updated = await store.authenticators.get(record.id);
    expect(String(updated?.data.hash)).toMatch(/^\$argon2id\$v=19\$m=256,t=1,p=1\$/);
    await factor.verify(alice.id, 'legacy passphrase here');
  });
});

describeWithPeer('interop: argon2-cffi, passlib and bcrypt from Debian', pythonPeers, () => {
  const hasher = new PasswordHasher({ parameters: SMALL });

  test("latchkey's hashes verify in argon2-cffi and in passlib (default and peppered-free)", async () => {
    const stored = await new PasswordHasher().hash('interop passphrase ünïcödé');
    const out = python(
      `import sys, argon2
from passlib.hash import argon2 as pl
ph = argon2.PasswordHasher()
print(ph.verify(sys.argv[1], sys.argv[2]), pl.verify(sys.argv[2], sys.argv[1]), ph.check_needs_rehash(sys.argv[1]))`,
      stored,
      'interop passphrase ünïcödé'.normalize('NFKC'),
    );
    expect(out.split(' ').slice(0, 2)).toEqual(['True', 'True']);
  });

  test('argon2-cffi hashes verify in latchkey, and come back with a rehash when weaker', async () => {
    const out = python(
      `import sys, argon2
print(argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=2).hash(sys.argv[1]))
print(argon2.PasswordHasher().hash(sys.argv[1]))`,
      'from python with love',
    );
    const [weak, strong] = out.split('\n') as [string, string];
    expect(parseArgon2(weak)).toMatchObject({ m: 1024, t: 1, p: 2 });
    const result = await new PasswordHasher().verify(weak, 'from python with love');
    expect(result.valid).toBe(true);
    expect(result.rehash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(
      (await new PasswordHasher({ parameters: { m: 65_536, t: 3, p: 4 } }).verify(strong, 'from python with love'))
        .valid,
    ).toBe(true);
    expect((await hasher.verify(weak, 'from python with lov')).valid).toBe(false);
  });

  test('legacy hashes made by passlib and bcrypt (bcrypt, scrypt, PBKDF2, Django, Werkzeug forms) verify and rehash', async () => {
    const password = 'legacy passphrase ✓';
    const out = python(
      `import sys, hashlib, base64, os, bcrypt
from passlib.hash import bcrypt as plb, scrypt, pbkdf2_sha256, pbkdf2_sha512, django_pbkdf2_sha256
pw = sys.argv[1]
salt = base64.b64encode(os.urandom(9)).decode()
print(plb.using(rounds=4).hash(pw))
print(bcrypt.hashpw(pw.encode(), bcrypt.gensalt(4, prefix=b'2a')).decode())
print(bcrypt.hashpw(pw.encode(), bcrypt.gensalt(4)).decode().replace('$2b$', '$2y$'))
print(scrypt.using(rounds=10).hash(pw))
print(pbkdf2_sha256.using(rounds=1000).hash(pw))
print(pbkdf2_sha512.using(rounds=1000).hash(pw))
print(django_pbkdf2_sha256.using(rounds=1000).hash(pw))
print('pbkdf2:sha256:1000$' + salt + '$' + hashlib.pbkdf2_hmac('sha256', pw.encode(), salt.encode(), 1000).hex())
print('scrypt$' + salt + '$1024$8$1$' + base64.b64encode(hashlib.scrypt(pw.encode(), salt=salt.encode(), n=1024, r=8, p=1, dklen=64)).decode())`,
      password,
    );
    const lines = out.split('\n');
    expect(lines).toHaveLength(9);
    for (const stored of lines) {
      const result = await hasher.verify(stored, password);
      expect({ stored, valid: result.valid }).toEqual({ stored, valid: true });
      expect(result.rehash).toMatch(/^\$argon2id\$/);
      expect((await hasher.verify(stored, `${password}!`)).valid).toBe(false);
    }
  });

  test('bcrypt beyond 72 bytes verifies with a warning (bcrypt ignores the rest)', async () => {
    const long = 'b'.repeat(80);
    const stored = python(
      `import sys, bcrypt
print(bcrypt.hashpw(sys.argv[1].encode()[:72], bcrypt.gensalt(4)).decode())`,
      long,
    );
    const result = await hasher.verify(stored, long);
    expect(result.valid).toBe(true);
    expect(result.warning).toMatch(/72 bytes/);
  });
});

describeWithPeer('interop: the argon2 CLI', argon2Cli, () => {
  test('a hash made by the reference CLI verifies in latchkey', async () => {
    const run = spawnSync('argon2', ['somesaltvalue', '-id', '-t', '2', '-k', '4096', '-p', '2', '-e'], {
      input: 'cli password',
      encoding: 'utf8',
    });
    expect(run.status).toBe(0);
    const stored = run.stdout.trim();
    const hasher = new PasswordHasher({ parameters: SMALL });
    expect((await hasher.verify(stored, 'cli password')).valid).toBe(true);
    expect((await hasher.verify(stored, 'cli passw0rd')).valid).toBe(false);
  });
});

describeWithPeer("interop: PHP's password_verify", php, () => {
  test("latchkey's hash verifies in PHP, and PHP's in latchkey", async () => {
    const stored = await new PasswordHasher().hash('php says hello');
    const run = spawnSync(
      'php',
      [
        '-r',
        'echo password_verify($argv[1], $argv[2]) ? "yes" : "no"; echo "\\n"; echo password_hash($argv[1], PASSWORD_ARGON2ID);',
        'php says hello',
        stored,
      ],
      { encoding: 'utf8' },
    );
    const [verdict, phpHash] = run.stdout.trim().split('\n') as [string, string];
    expect(verdict).toBe('yes');
    expect((await new PasswordHasher().verify(phpHash, 'php says hello')).valid).toBe(true);
  });
});
