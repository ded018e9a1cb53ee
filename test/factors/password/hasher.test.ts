/**
 * PasswordHasher: canonical PHC strings, profiles, rehash decisions, pepper and rotation, the
 * limiter, backends, and the legacy formats computed here with node:crypto (the independent
 * implementations that wrote them are in interop.test.ts).
 */
import { pbkdf2Sync, scryptSync } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { isLatchkeyError } from '../../../src/core/errors.js';
import { nodeRsArgon2 } from '../../../src/factors/password/argon2-backend.js';
import { PASSWORD_PROFILES, PasswordHasher } from '../../../src/factors/password/hasher.js';
import { defaultConcurrency, HashLimiter } from '../../../src/factors/password/limiter.js';
import { nodeCryptoArgon2, nodeCryptoHasArgon2 } from '../../../src/factors/password/node-crypto-argon2.js';
import { normalisePassword } from '../../../src/factors/password/normalise.js';
import { parseArgon2, resolveStoredBounds } from '../../../src/factors/password/phc.js';
import { codeOf, rejection } from '../../helpers/errors.js';
import { countingBackend, SMALL } from './helpers.js';

const PHC = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)(,keyid=[\w-]+)?\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/;

describe('hashing', () => {
  test('writes canonical argon2id PHC strings with the OWASP defaults, and verifies them', async () => {
    const hasher = new PasswordHasher();
    const stored = await hasher.hash('correct horse battery staple');
    expect(stored).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(stored).toMatch(PHC);
    expect(await hasher.verify(stored, 'correct horse battery staple')).toEqual({ valid: true });
    expect(await hasher.verify(stored, 'correct horse battery stapler')).toEqual({ valid: false });
    expect(hasher.needsRehash(stored)).toBe(false);
  });

  test('the high profile is RFC 9106 §4 (64 MiB, t=3, p=4); salts are fresh for every hash', async () => {
    expect(PASSWORD_PROFILES.high).toEqual({ m: 65_536, t: 3, p: 4 });
    const backend = countingBackend();
    const hasher = new PasswordHasher({ profile: 'high', backend });
    const a = await hasher.hash('same password twice');
    const b = await hasher.hash('same password twice');
    expect(a).toMatch(/^\$argon2id\$v=19\$m=65536,t=3,p=4\$/);
    expect(a).not.toBe(b);
    expect(backend.inputs[0]).toMatchObject({ algorithm: 'argon2id', version: 19, m: 65_536, t: 3, p: 4 });
    expect(backend.inputs[0]?.outputLength).toBe(32);
    expect(backend.inputs[0]?.salt.length).toBe(16);
  });

  test('the phc-winner-argon2 reference vector verifies through latchkey’s own parser', async () => {
    // phc-winner-argon2 src/test.c: "password", "somesalt", t=2, m=65536, p=1, v=0x13
    const vector = '$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc';
    const hasher = new PasswordHasher({ parameters: SMALL });
    const result = await hasher.verify(vector, 'password');
    expect(result.valid).toBe(true);
    // an 8-byte salt and other parameters: rehash
    expect(result.rehash).toMatch(/^\$argon2id\$v=19\$m=256,t=1,p=1\$/);
    expect((await hasher.verify(vector, 'passwore')).valid).toBe(false);
  });

  test('the RFC 9106 §5.3 argon2id vector (secret and associated data) where a backend takes them', async () => {
    const input = {
      algorithm: 'argon2id' as const,
      version: 19 as const,
      password: new Uint8Array(32).fill(1),
      salt: new Uint8Array(16).fill(2),
      secret: new Uint8Array(8).fill(3),
      associatedData: new Uint8Array(12).fill(4),
      m: 32,
      t: 3,
      p: 4,
      outputLength: 32,
    };
    const expected = '0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659';
    // @node-rs/argon2 takes a secret but no associated data, and says so rather than ignoring it
    expect(nodeRsArgon2.associatedData).toBe(false);
    expect((await rejection(nodeRsArgon2.hashRaw(input))).code).toBe('ERR_UNSUPPORTED');
    if (nodeCryptoHasArgon2()) {
      expect(Buffer.from(await nodeCryptoArgon2.hashRaw(input)).toString('hex')).toBe(expected);
    } else {
      // Node < 24.7 has no crypto.argon2: the backend refuses clearly
      expect((await rejection(nodeCryptoArgon2.hashRaw(input))).code).toBe('ERR_UNSUPPORTED');
    }
  });

  test('verify computes with exactly the stored parameters, salt and length', async () => {
    const backend = countingBackend();
    const hasher = new PasswordHasher({ parameters: SMALL, backend });
    const stored = await new PasswordHasher({ parameters: { m: 512, t: 2, p: 2 } }).hash('parameters matter');
    await hasher.verify(stored, 'parameters matter');
    expect(backend.inputs[0]).toMatchObject({ algorithm: 'argon2id', m: 512, t: 2, p: 2, outputLength: 32 });
    expect(
      Buffer.from(backend.inputs[0]?.salt ?? [])
        .toString('base64')
        .replace(/=+$/, ''),
    ).toBe(stored.split('$')[4]);
  });

  test('argon2i, argon2d and version 16 hashes verify and are rehashed to argon2id v19', async () => {
    const password = 'older variants still verify';
    const salt = new Uint8Array(16).fill(9);
    for (const [algorithm, version] of [
      ['argon2i', 19],
      ['argon2d', 19],
      ['argon2id', 16],
    ] as const) {
      const raw = await nodeRsArgon2.hashRaw({
        algorithm,
        version,
        password: normalisePassword(password),
        salt,
        ...SMALL,
        outputLength: 32,
      });
      const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64').replace(/=+$/, '');
      const stored = `$${algorithm}$v=${version}$m=256,t=1,p=1$${b64(salt)}$${b64(raw)}`;
      const result = await new PasswordHasher({ parameters: SMALL }).verify(stored, password);
      expect({ algorithm, version, valid: result.valid }).toEqual({ algorithm, version, valid: true });
      expect(result.rehash).toMatch(/^\$argon2id\$v=19\$/);
    }
  });
});

describe('rehash', () => {
  test('when the parameters differ, in either direction', async () => {
    const weak = new PasswordHasher({ parameters: SMALL });
    const stored = await weak.hash('a long enough passphrase');
    const stronger = new PasswordHasher({ parameters: { m: 512, t: 2, p: 1 } });
    const result = await stronger.verify(stored, 'a long enough passphrase');
    expect(result.valid).toBe(true);
    expect(result.rehash).toMatch(/m=512,t=2,p=1\$/);
    expect(await stronger.verify(result.rehash as string, 'a long enough passphrase')).toEqual({ valid: true });
    expect((await weak.verify(result.rehash as string, 'a long enough passphrase')).rehash).toMatch(/m=256,t=1,p=1\$/);
    // a wrong password never comes back with a rehash
    expect(await stronger.verify(stored, 'a long enough passphrasE')).toEqual({ valid: false });
  });

  test('a non-canonical parameter order (npm argon2 writes m,p,t) verifies and is rewritten canonically', async () => {
    const hasher = new PasswordHasher({ parameters: SMALL });
    const stored = await hasher.hash('order of parameters');
    const reordered = stored.replace('m=256,t=1,p=1', 'm=256,p=1,t=1');
    expect(parseArgon2(reordered)).toMatchObject({ m: 256, t: 1, p: 1 });
    expect(hasher.needsRehash(reordered)).toBe(true);
    const result = await hasher.verify(reordered, 'order of parameters');
    expect(result.valid).toBe(true);
    expect(result.rehash).toMatch(/\$m=256,t=1,p=1\$/);
  });

  test("Django's `argon2$argon2id$…` wrapper verifies and is rehashed to a plain PHC string", async () => {
    const hasher = new PasswordHasher({ parameters: SMALL });
    const stored = await hasher.hash('django wrapped me');
    const result = await hasher.verify(`argon2${stored}`, 'django wrapped me');
    expect(result.valid).toBe(true);
    expect(result.rehash).toMatch(PHC);
    expect((await hasher.verify(`argon2${stored}`, 'django wrapped you')).valid).toBe(false);
  });
});

describe('pepper', () => {
  const k1 = new Uint8Array(32).fill(1);
  const k2 = new Uint8Array(32).fill(2);

  test('is argon2’s secret input, named by keyid; rotation keeps old hashes working and rehashes them', async () => {
    const backend = countingBackend();
    const first = new PasswordHasher({ parameters: SMALL, pepper: { current: 'k1', keys: { k1 } }, backend });
    const stored = await first.hash('pepper and salt please');
    expect(stored).toContain(',keyid=k1$');
    expect(backend.inputs[0]?.secret).toEqual(k1);
    const rotated = new PasswordHasher({ parameters: SMALL, pepper: { current: 'k2', keys: { k1, k2 } } });
    const result = await rotated.verify(stored, 'pepper and salt please');
    expect(result.valid).toBe(true);
    expect(result.rehash).toContain(',keyid=k2$');
    expect(await rotated.verify(result.rehash as string, 'pepper and salt please')).toEqual({ valid: true });
    // the pepper matters: the same hash under another key value does not verify
    const wrong = new PasswordHasher({ parameters: SMALL, pepper: { current: 'k1', keys: { k1: k2 } } });
    expect((await wrong.verify(stored, 'pepper and salt please')).valid).toBe(false);
    // adding a pepper to an unpeppered deployment rehashes everything on sign-in
    const plain = await new PasswordHasher({ parameters: SMALL }).hash('pepper and salt please');
    expect((await rotated.verify(plain, 'pepper and salt please')).rehash).toContain(',keyid=k2$');
  });

  test('bad pepper settings are refused up front', () => {
    const make = (pepper: unknown) => () =>
      new PasswordHasher({
        parameters: SMALL,
        pepper: pepper as { current: string; keys: Record<string, Uint8Array> },
      });
    expect(codeOf(make({ current: 'k1', keys: { k1: new Uint8Array(8) } }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(make({ current: 'k3', keys: { k1 } }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(make({ current: 'bad id!', keys: { 'bad id!': k1 } }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(make({ current: 'k1', keys: { k1: 'not bytes' } }))).toBe('ERR_INVALID_ARGUMENT');
  });
});

describe('settings and bounds', () => {
  test('parameters outside the bounds, or an unknown profile, are refused', () => {
    expect(codeOf(() => new PasswordHasher({ parameters: { m: 4, t: 1, p: 1 } }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => new PasswordHasher({ parameters: { m: 2 ** 22, t: 1, p: 1 } }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => new PasswordHasher({ parameters: { m: 256, t: 0, p: 1 } }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => new PasswordHasher({ profile: 'max' as 'high' }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => resolveStoredBounds({ maxMemoryKiB: 2 ** 30 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => resolveStoredBounds({ nonsense: 1 } as never))).toBe('ERR_INVALID_ARGUMENT');
  });

  test('passwords: strings only, well-formed, no NUL; NFKC; the empty password hashes', async () => {
    const hasher = new PasswordHasher({ parameters: SMALL });
    expect((await rejection(hasher.hash(undefined as unknown as string))).code).toBe('ERR_INVALID_ARGUMENT');
    expect((await rejection(hasher.hash('lone \ud800 surrogate'))).code).toBe('ERR_INVALID_ARGUMENT');
    expect((await rejection(hasher.hash('nul\u0000inside'))).code).toBe('ERR_INVALID_ARGUMENT');
    // full-width digits and a ligature are their NFKC forms
    const stored = await hasher.hash('ﬁsh １２３');
    expect((await hasher.verify(stored, 'fish 123')).valid).toBe(true);
    expect((await hasher.verify(await hasher.hash(''), '')).valid).toBe(true);
  });

  test('a missing stored hash or a non-string is an argument error, garbage is a format error', async () => {
    const hasher = new PasswordHasher({ parameters: SMALL });
    expect((await rejection(hasher.verify(null as unknown as string, 'x'))).code).toBe('ERR_INVALID_ARGUMENT');
    for (const stored of [
      '',
      'plain',
      '$argon2id$',
      '$argon2id$v=19$m=x,t=1,p=1$a$b',
      '$argon2id$v=18$m=256,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc',
      '$argon2id$v=19$m=256,t=1,p=1,x=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc',
      '$argon2id$v=19$m=256,m=256,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc',
      '$argon2id$v=19$m=256,t=1,p=1$c29t*XNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc',
      '$md5$abc',
      '$2x$04$uVf6h.NS/KPtx928CdYzc..sOnCQVUHAoEUTJt5xUtzpq.RpzEPX6',
      '$pbkdf2-sha256$1000$PCdkrHWude49J2TsvZcSYg$74NTd',
      'x'.repeat(10_000),
    ]) {
      expect({ stored: stored.slice(0, 40), code: (await rejection(hasher.verify(stored, 'pw'))).code }).toEqual({
        stored: stored.slice(0, 40),
        code: 'ERR_PASSWORD_HASH_FORMAT',
      });
    }
  });
});

describe('legacy formats (computed with node:crypto)', () => {
  const hasher = new PasswordHasher({ parameters: SMALL });
  const password = 'legacy passphrase ✓';
  const salt = 'c2FsdHNhbHQ';

  test('Werkzeug scrypt and Django scrypt and bcrypt_sha256 forms', async () => {
    const bytes = Buffer.from(password);
    const werkzeug = `scrypt:1024:8:1$${salt}$${scryptSync(bytes, salt, 64, { N: 1024, r: 8, p: 1 }).toString('hex')}`;
    const django = `scrypt$${salt}$1024$8$1$${scryptSync(bytes, salt, 64, { N: 1024, r: 8, p: 1 }).toString('base64')}`;
    const werkzeug512 = `pbkdf2:sha512:1000$${salt}$${pbkdf2Sync(bytes, salt, 1000, 64, 'sha512').toString('hex')}`;
    for (const stored of [werkzeug, django, werkzeug512]) {
      expect((await hasher.verify(stored, password)).valid).toBe(true);
      expect((await hasher.verify(stored, `${password} `)).valid).toBe(false);
      expect(hasher.needsRehash(stored)).toBe(true);
    }
  });

  test('a legacy hash of the un-normalised password (NFD) verifies once more as typed, and rehashes to NFKC', async () => {
    const typed = 'Crème brûlée for everyone'.normalize('NFD');
    const key = pbkdf2Sync(Buffer.from(typed), salt, 1000, 32, 'sha256');
    const stored = `pbkdf2_sha256$1000$${salt}$${key.toString('base64')}`;
    const result = await hasher.verify(stored, typed);
    expect(result.valid).toBe(true);
    const nfc = typed.normalize('NFC');
    expect((await hasher.verify(result.rehash as string, nfc)).valid).toBe(true);
    // the NFC spelling is not what that system stored
    expect((await hasher.verify(stored, nfc)).valid).toBe(false);
  });
});

describe('the limiter', () => {
  test('defaults leave a libuv thread free: min(cores, UV_THREADPOOL_SIZE - 1)', () => {
    const saved = process.env.UV_THREADPOOL_SIZE;
    try {
      process.env.UV_THREADPOOL_SIZE = '2';
      expect(defaultConcurrency()).toBe(1);
      process.env.UV_THREADPOOL_SIZE = '64';
      expect(defaultConcurrency()).toBeGreaterThanOrEqual(1);
      delete process.env.UV_THREADPOOL_SIZE;
      expect(defaultConcurrency()).toBeLessThanOrEqual(3);
    } finally {
      if (saved === undefined) delete process.env.UV_THREADPOOL_SIZE;
      else process.env.UV_THREADPOOL_SIZE = saved;
    }
    // hashers share one process-wide limiter unless given their own
    expect(new PasswordHasher().limiter).toBe(new PasswordHasher({ parameters: SMALL }).limiter);
    expect(new PasswordHasher({ maxConcurrent: 1 }).limiter.concurrency).toBe(1);
  });

  test('never more than `concurrency` hashes at once, and each waiter gets its turn', async () => {
    let running = 0;
    let peak = 0;
    const backend = {
      name: 'slow',
      async hashRaw(input: Parameters<typeof nodeRsArgon2.hashRaw>[0]) {
        running++;
        peak = Math.max(peak, running);
        await new Promise((resolve) => setTimeout(resolve, 5));
        running--;
        return nodeRsArgon2.hashRaw(input);
      },
    };
    const hasher = new PasswordHasher({ parameters: SMALL, backend, limiter: new HashLimiter({ concurrency: 2 }) });
    const all = await Promise.all(Array.from({ length: 12 }, (_, i) => hasher.hash(`password number ${i}`)));
    expect(all).toHaveLength(12);
    expect(peak).toBe(2);
    expect(hasher.limiter.running).toBe(0);
    expect(hasher.limiter.queued).toBe(0);
  });

  test('a burst beyond the queue is refused with ERR_OVERLOADED at once; nothing else is lost', async () => {
    const hasher = new PasswordHasher({ parameters: SMALL, maxConcurrent: 1, maxQueue: 2 });
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => hasher.hash('a long enough passphrase')));
    const refused = results.filter((r) => r.status === 'rejected');
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    for (const r of refused) expect(isLatchkeyError((r as PromiseRejectedResult).reason, 'ERR_OVERLOADED')).toBe(true);
    await hasher.hash('a long enough passphrase');
  });

  test('a waiter that waits longer than maxWaitMs is refused with ERR_OVERLOADED', async () => {
    const limiter = new HashLimiter({ concurrency: 1, maxWaitMs: 20 });
    let release: () => void = () => {};
    const blocker = limiter.run(() => new Promise<void>((resolve) => (release = resolve)));
    const waiting = limiter.run(async () => 'ran');
    expect((await rejection(waiting)).code).toBe('ERR_OVERLOADED');
    expect(limiter.queued).toBe(0);
    release();
    await blocker;
    expect(await limiter.run(async () => 'ok')).toBe('ok');
    expect(limiter.running).toBe(0);
  });

  test('a failing backend frees its slot and surfaces as a LatchkeyError', async () => {
    const backend = {
      name: 'broken',
      hashRaw: async () => {
        throw new Error('boom');
      },
    };
    const hasher = new PasswordHasher({ parameters: SMALL, backend, maxConcurrent: 1 });
    expect((await rejection(hasher.hash('first'))).code).toBe('ERR_INTERNAL');
    expect((await rejection(hasher.hash('second'))).code).toBe('ERR_INTERNAL');
    expect(hasher.limiter.running).toBe(0);
  });
});
