/**
 * `latchkey/password` as a user installs it (the built package): importing it loads no native
 * addon; @node-rs/argon2 loads on the first hash and bcryptjs on the first bcrypt hash; without
 * them the error names the package to install, and the node:crypto paths still work.
 */
import { spawnSync } from 'node:child_process';
import { expect, test } from 'vitest';
import { builtPackage, need, repoRoot } from '../../helpers/components.js';

const guard = new URL('../../fixtures/import-guard.mjs', import.meta.url).pathname;

function run(code: string, guarded: boolean): Record<string, unknown> {
  const result = spawnSync(
    process.execPath,
    [...(guarded ? ['--import', guard] : []), '--input-type=module', '-e', code],
    { cwd: repoRoot, encoding: 'utf8', timeout: 30_000 },
  );
  if (result.status !== 0) throw new Error(`child failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

const built = need(builtPackage());

test.runIf(built)('importing latchkey/password loads no addon; the first hash loads exactly @node-rs/argon2', () => {
  const out = run(
    `
    const dl = []; const orig = process.dlopen;
    process.dlopen = function (m, f, ...r) { dl.push(f); return orig.call(this, m, f, ...r); };
    const password = await import('latchkey/password');
    const before = dl.length;
    const hasher = new password.PasswordHasher({ parameters: { m: 256, t: 1, p: 1 } });
    const stored = await hasher.hash('a long enough passphrase');
    const ok = (await hasher.verify(stored, 'a long enough passphrase')).valid;
    console.log(JSON.stringify({ before, after: dl.length, argon2: dl.some((f) => f.includes('argon2')), ok, exports: Object.keys(password).sort() }));
  `,
    false,
  );
  expect(out.before).toBe(0);
  expect(out.after).toBe(1);
  expect(out.argon2).toBe(true);
  expect(out.ok).toBe(true);
  expect(out.exports).toEqual(
    expect.arrayContaining([
      'PasswordHasher',
      'PasswordFactor',
      'checkNewPassword',
      'assessPassword',
      'estimateStrength',
      'HashLimiter',
    ]),
  );
});

test.runIf(built)(
  'without the optional peers: ERR_MISSING_DEPENDENCY naming each; node:crypto formats still verify',
  () => {
    const out = run(
      `
    const { PasswordHasher } = await import('latchkey/password');
    const hasher = new PasswordHasher({ parameters: { m: 256, t: 1, p: 1 } });
    const error = async (p) => { try { await p; return null; } catch (e) { return { code: e.code, detail: e.detail, message: e.message }; } };
    const argon2 = await error(hasher.hash('a long enough passphrase'));
    const bcrypt = await error(hasher.verify('$2b$04$fgu2tSHzWNTK/GKvUz1nHOXktTlrTGUUe1gww..rFjQLySoduZwhK', 'x'));
    const { pbkdf2Sync } = await import('node:crypto');
    const key = pbkdf2Sync('legacy', 'salt', 1000, 32, 'sha256').toString('base64');
    // a legacy check runs on node:crypto alone; only the rehash of a success needs argon2
    const pbkdf2 = (await hasher.verify('pbkdf2_sha256$1000$salt$' + key, 'not it')).valid;
    const rehash = await error(hasher.verify('pbkdf2_sha256$1000$salt$' + key, 'legacy'));
    console.log(JSON.stringify({ argon2, bcrypt, pbkdf2, rehash, dlopened: globalThis.__latchkeyDlopened }));
  `,
      true,
    );
    expect(out.argon2).toMatchObject({ code: 'ERR_MISSING_DEPENDENCY', detail: { package: '@node-rs/argon2' } });
    expect((out.argon2 as { message: string }).message).toContain('npm install @node-rs/argon2');
    expect(out.bcrypt).toMatchObject({ code: 'ERR_MISSING_DEPENDENCY', detail: { package: 'bcryptjs' } });
    expect(out.dlopened).toEqual([]);
  },
);
