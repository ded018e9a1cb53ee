/**
 * `latchkey/pkcs11` loads pkcs11js (a native addon) only when a module is opened, and a machine
 * without it gets ERR_MISSING_DEPENDENCY naming the package. Run against the built entry
 * (dist/factors/pkcs11/index.js) in fresh node processes, with the import guard that records
 * every addon loaded and makes optional peers unresolvable.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSoftHsm, pkcs11Components, SOFTHSM_MODULE, type SoftHsm } from '../../hardware/pkcs11/softhsm.js';
import { builtPackage, type Component, need, repoRoot } from '../../helpers/components.js';

const entry = join(repoRoot, 'dist/factors/pkcs11/index.js');
const guard = join(repoRoot, 'test/fixtures/import-guard.mjs');

function builtEntry(): Component {
  const available = existsSync(entry);
  return { name: 'dist/factors/pkcs11', available, reason: available ? '' : 'run `npm run build`' };
}

function run(code: string, guarded: boolean): Record<string, unknown> {
  const args = [...(guarded ? ['--import', guard] : []), '--input-type=module', '-e', code];
  const result = spawnSync(process.execPath, args, { cwd: repoRoot, encoding: 'utf8', timeout: 30_000 });
  if (result.status !== 0) throw new Error(`child failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

describe.runIf(need(builtPackage(), builtEntry(), ...pkcs11Components()))(
  'latchkey/pkcs11 loads pkcs11js lazily',
  () => {
    // SoftHSM in the children reads this process's SOFTHSM2_CONF: a private, empty token folder.
    let hsm: SoftHsm | undefined;
    beforeAll(() => {
      hsm = createSoftHsm();
    });
    afterAll(() => hsm?.dispose());

    it('without pkcs11js: importing loads nothing; opening a module is ERR_MISSING_DEPENDENCY naming it', () => {
      const out = run(
        `
      const p11 = await import(${JSON.stringify(entry)});
      const before = [...globalThis.__latchkeyDlopened];
      try { await p11.openPkcs11Module(${JSON.stringify(SOFTHSM_MODULE)}); console.log('{}'); }
      catch (e) { console.log(JSON.stringify({ before, code: e.code, message: e.message, detail: e.detail, after: globalThis.__latchkeyDlopened })); }
    `,
        true,
      );
      expect(out).toMatchObject({
        before: [],
        code: 'ERR_MISSING_DEPENDENCY',
        detail: { package: 'pkcs11js' },
        after: [],
      });
      expect(out.message).toContain('npm install pkcs11js');
    });

    it('with pkcs11js: importing loads no addon; opening a module loads exactly pkcs11js’s', () => {
      const out = run(
        `
      const dl = []; const orig = process.dlopen;
      process.dlopen = function (m, f, ...r) { dl.push(f); return orig.call(this, m, f, ...r); };
      const p11 = await import(${JSON.stringify(entry)});
      const before = dl.length;
      const module = await p11.openPkcs11Module(${JSON.stringify(SOFTHSM_MODULE)});
      await module.close();
      console.log(JSON.stringify({ before, after: dl }));
    `,
        false,
      );
      expect(out.before).toBe(0);
      expect(out.after).toHaveLength(1);
      expect((out.after as string[])[0]).toMatch(/pkcs11js\/build\/Release\/pkcs11\.node$/);
    });
  },
);
