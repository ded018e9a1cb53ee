/**
 * Interop with independent implementations from Debian, both ways: argon2-cffi (libargon2),
 * passlib and python3-bcrypt under /usr/bin/python3, the reference `argon2` CLI, and PHP's
 * password_hash/password_verify. Under CI a missing peer fails the suite.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { nodeRsArgon2 } from '../../../src/factors/password/argon2-backend.js';
import { PasswordHasher } from '../../../src/factors/password/hasher.js';
import { normalisePassword } from '../../../src/factors/password/normalise.js';
import { parseArgon2 } from '../../../src/factors/password/phc.js';
import { describeWithPeer, type PeerStatus } from '../../helpers/peers.js';
import { SMALL } from './helpers.js';

const PYTHON = '/usr/bin/python3';
const PEER = new URL('./fixtures/python_peer.py', import.meta.url).pathname;

type Op = Record<string, unknown> & { op: string };

function python(ops: readonly Op[]): unknown[] {
  const run = spawnSync(PYTHON, [PEER], { input: JSON.stringify(ops), encoding: 'utf8', maxBuffer: 16 << 20 });
  if (run.status !== 0) throw new Error(`python peer failed: ${run.stderr}`);
  const results = JSON.parse(run.stdout) as { ok: boolean; value?: unknown; error?: string }[];
  return results.map((result, i) => {
    if (!result.ok) throw new Error(`python peer op ${JSON.stringify(ops[i]?.op)} failed: ${result.error}`);
    return result.value;
  });
}

function status(probe: () => boolean, reason: string): PeerStatus {
  try {
    return probe() ? { available: true, reason: '' } : { available: false, reason };
  } catch {
    return { available: false, reason };
  }
}

const pythonPeers = status(
  () =>
    existsSync(PYTHON) &&
    spawnSync(PYTHON, ['-c', 'import argon2, argon2.low_level, passlib.hash, bcrypt'], { encoding: 'utf8' }).status ===
      0,
  'python3-argon2, python3-passlib and python3-bcrypt must be importable by /usr/bin/python3',
);
const argon2Cli = status(
  () => spawnSync('argon2', ['-h'], { encoding: 'utf8' }).error === undefined,
  'the argon2 CLI is missing (apt-get install argon2)',
);
const php = status(
  () => spawnSync('php', ['-r', 'echo PASSWORD_ARGON2ID;'], { encoding: 'utf8' }).stdout === 'argon2id',
  'php-cli with argon2 support is missing (apt-get install php-cli)',
);

const UNICODE = 'interop passphrase ünïcödé ｆｕｌｌ';

describeWithPeer('interop: argon2-cffi and passlib (Debian python3-argon2, python3-passlib)', pythonPeers, () => {
  test("latchkey's hashes (default and high profiles, NFKC text) verify in argon2-cffi and passlib", async () => {
    const password = UNICODE.normalize('NFKC');
    const stored = [
      await new PasswordHasher().hash(UNICODE),
      await new PasswordHasher({ profile: 'high' }).hash(UNICODE),
    ];
    const out = python(
      stored.flatMap((hash) => [
        { op: 'cffi-verify', hash, password },
        { op: 'passlib-verify', scheme: 'argon2', hash, password },
        { op: 'cffi-verify', hash, password: `${password}!` },
      ]),
    );
    expect(out).toEqual([true, true, false, true, true, false]);
  });

  test('argon2-cffi hashes (argon2id, argon2i, argon2d; several parameters) verify in latchkey, with rehash', async () => {
    const password = 'from python with love';
    const shapes = [
      { t: 1, m: 1024, p: 2, type: 'id' },
      { t: 3, m: 65_536, p: 4, type: 'id' },
      { t: 2, m: 512, p: 1, type: 'i' },
      { t: 2, m: 512, p: 1, type: 'd' },
    ];
    const hashes = python(shapes.map((shape) => ({ op: 'cffi-hash', password, ...shape }))) as string[];
    const hasher = new PasswordHasher();
    for (const [i, stored] of hashes.entries()) {
      expect(parseArgon2(stored)).toMatchObject({ m: shapes[i]?.m, t: shapes[i]?.t, p: shapes[i]?.p });
      const result = await hasher.verify(stored, password);
      expect({ stored, valid: result.valid }).toEqual({ stored, valid: true });
      expect(result.rehash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
      expect((await hasher.verify(stored, 'from python with lov')).valid).toBe(false);
    }
    // argon2-cffi 21 uses the high profile's parameters but writes 16-byte hashes: latchkey
    // rehashes to its 32 bytes under the same parameters
    expect(parseArgon2(hashes[1] as string).hash).toHaveLength(16);
    const high = await new PasswordHasher({ profile: 'high' }).verify(hashes[1] as string, password);
    expect(high.rehash).toMatch(/^\$argon2id\$v=19\$m=65536,t=3,p=4\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
  });

  test('the RFC 9106 §5.3 argon2id vector, computed by libargon2 (the value the backend tests expect)', () => {
    expect(python([{ op: 'rfc9106' }])).toEqual(['0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659']);
  });

  test('a peppered latchkey hash is standard keyed argon2: libargon2 verifies it with the pepper as secret K, not without', async () => {
    const key = new Uint8Array(32).map((_, i) => i * 7);
    const hasher = new PasswordHasher({
      parameters: { m: 1024, t: 2, p: 2 },
      pepper: { current: 'k1', keys: { k1: key } },
    });
    const stored = await hasher.hash(UNICODE);
    const password = UNICODE.normalize('NFKC');
    const secret = Buffer.from(key).toString('hex');
    expect(
      python([
        { op: 'peppered-verify', hash: stored, password, secret },
        { op: 'peppered-verify', hash: stored, password, secret: '' },
        { op: 'peppered-verify', hash: stored, password: `${password}x`, secret },
      ]),
    ).toEqual([true, false, false]);
  });

  test('legacy hashes by passlib and python3-bcrypt (bcrypt, scrypt, PBKDF2; Django and Werkzeug forms) verify and rehash', async () => {
    const password = 'legacy passphrase ✓';
    const ops: Op[] = [
      { op: 'passlib-hash', scheme: 'bcrypt', using: { rounds: 4 } },
      { op: 'bcrypt-hash', prefix: '2a' },
      { op: 'bcrypt-hash', prefix: '2b' },
      { op: 'passlib-hash', scheme: 'scrypt', using: { rounds: 10 } },
      { op: 'passlib-hash', scheme: 'pbkdf2_sha256', using: { rounds: 1000 } },
      { op: 'passlib-hash', scheme: 'pbkdf2_sha512', using: { rounds: 1000 } },
      { op: 'passlib-hash', scheme: 'django_pbkdf2_sha256', using: { rounds: 1000 } },
      { op: 'passlib-hash', scheme: 'django_argon2', using: { rounds: 1, memory_cost: 512, parallelism: 1 } },
      { op: 'passlib-hash', scheme: 'django_bcrypt', using: { rounds: 4 } },
      { op: 'passlib-hash', scheme: 'django_bcrypt_sha256', using: { rounds: 4 } },
      { op: 'werkzeug-pbkdf2', digest: 'sha256' },
      { op: 'werkzeug-pbkdf2', digest: 'sha512' },
    ];
    const hashes = python(ops.map((op) => ({ ...op, password }))) as string[];
    expect(hashes[7]).toMatch(/^argon2\$argon2id?\$/);
    expect(hashes[9]).toMatch(/^bcrypt_sha256\$\$2/);
    const hasher = new PasswordHasher({ parameters: SMALL });
    for (const stored of hashes) {
      const result = await hasher.verify(stored, password);
      expect({ stored, valid: result.valid }).toEqual({ stored, valid: true });
      expect(result.rehash).toMatch(/^\$argon2id\$v=19\$m=256,t=1,p=1\$/);
      expect(await hasher.verify(stored, `${password}!`)).toEqual({ valid: false });
    }
  });

  test('PHP-style $2y$ bcrypt from python3-bcrypt verifies; bcrypt past 72 bytes warns and is not rehashed', async () => {
    const long = `${'b'.repeat(72)}-and-more`;
    const [stored] = python([{ op: 'bcrypt-hash', password: 'b'.repeat(72) }]) as [string];
    const hasher = new PasswordHasher({ parameters: SMALL });
    const php2y = stored.replace('$2b$', '$2y$');
    expect((await hasher.verify(php2y, 'b'.repeat(72))).valid).toBe(true);
    const result = await hasher.verify(stored, long);
    expect(result).toEqual({ valid: true, warning: expect.stringMatching(/72 bytes/) });
  });
});

describeWithPeer('interop: the reference argon2 CLI (Debian argon2)', argon2Cli, () => {
  test('hashes made by the CLI verify in latchkey, and the raw outputs agree byte for byte', async () => {
    const hasher = new PasswordHasher({ parameters: SMALL });
    for (const [type, t, k, p] of [
      ['-id', '2', '12', '2'],
      ['-i', '3', '10', '1'],
      ['-d', '1', '11', '4'],
    ] as const) {
      const run = spawnSync('argon2', ['somesaltvalue', type, '-t', t, '-m', k, '-p', p, '-e'], {
        input: 'cli password',
        encoding: 'utf8',
      });
      expect(run.status).toBe(0);
      const stored = run.stdout.trim();
      expect((await hasher.verify(stored, 'cli password')).valid).toBe(true);
      expect((await hasher.verify(stored, 'cli passw0rd')).valid).toBe(false);
      const raw = spawnSync('argon2', ['somesaltvalue', type, '-t', t, '-m', k, '-p', p, '-r'], {
        input: 'cli password',
        encoding: 'utf8',
      });
      const ours = await nodeRsArgon2.hashRaw({
        algorithm: type === '-id' ? 'argon2id' : type === '-i' ? 'argon2i' : 'argon2d',
        version: 19,
        password: normalisePassword('cli password'),
        salt: new TextEncoder().encode('somesaltvalue'),
        m: 2 ** Number(k),
        t: Number(t),
        p: Number(p),
        outputLength: 32,
      });
      expect(Buffer.from(ours).toString('hex')).toBe(raw.stdout.trim());
    }
  });
});

describeWithPeer("interop: PHP's password_hash and password_verify (Debian php-cli)", php, () => {
  test("latchkey's hashes verify in PHP, and PHP's argon2id, argon2i and bcrypt verify in latchkey", async () => {
    const password = 'php says hello ü';
    const ours = [
      await new PasswordHasher().hash(password),
      await new PasswordHasher({ profile: 'high' }).hash(password),
    ];
    const script = `
      $pw = $argv[1];
      foreach (array_slice($argv, 2) as $h) echo password_verify($pw, $h) ? "yes\\n" : "no\\n";
      echo password_verify($pw . "x", $argv[2]) ? "yes\\n" : "no\\n";
      echo password_hash($pw, PASSWORD_ARGON2ID), "\\n";
      echo password_hash($pw, PASSWORD_ARGON2I, ['memory_cost' => 1024, 'time_cost' => 2, 'threads' => 1]), "\\n";
      echo password_hash($pw, PASSWORD_BCRYPT, ['cost' => 4]), "\\n";`;
    const run = spawnSync('php', ['-r', script, password.normalize('NFKC'), ...ours], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines.slice(0, 3)).toEqual(['yes', 'yes', 'no']);
    const theirs = lines.slice(3);
    expect(theirs[2]).toMatch(/^\$2y\$04\$/);
    const hasher = new PasswordHasher();
    for (const stored of theirs) {
      const result = await hasher.verify(stored, password);
      expect({ stored, valid: result.valid }).toEqual({ stored, valid: true });
      expect(result.rehash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    }
  });
});

describe('interop peers are looked for where CI installs them', () => {
  test('scripts/setup-system.sh installs every Debian peer this suite uses', async () => {
    const { readFileSync } = await import('node:fs');
    const script = readFileSync(new URL('../../../scripts/setup-system.sh', import.meta.url), 'utf8');
    for (const pkg of ['argon2', 'python3-argon2', 'python3-passlib', 'python3-bcrypt', 'php-cli']) {
      expect(script).toMatch(new RegExp(`\\s${pkg}(\\s|$)`));
    }
  });
});
