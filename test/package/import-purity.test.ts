import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { builtPackage, need, repoRoot } from '../helpers/components.js';

const guard = new URL('../fixtures/import-guard.mjs', import.meta.url).pathname;

/** Run ESM code in a fresh node with the guard preloaded; returns what it printed as JSON. */
function runGuarded(code: string): Record<string, unknown> {
  const result = spawnSync(process.execPath, ['--import', guard, '--input-type=module', '-e', code], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (result.status !== 0) throw new Error(`child failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

describe.runIf(need(builtPackage()))('the package root is pure TypeScript', () => {
  it("`import 'latchkey'` loads no native addon and no optional peer dependency", () => {
    const out = runGuarded(`
      const latchkey = await import('latchkey');
      const addons = process.report.getReport().sharedObjects.filter((f) => f.endsWith('.node'));
      console.log(JSON.stringify({ exports: Object.keys(latchkey).length, dlopened: globalThis.__latchkeyDlopened, addons }));
    `);
    expect(out.exports).toBeGreaterThan(10);
    expect(out.dlopened).toEqual([]);
    expect(out.addons).toEqual([]);
  });

  it('`latchkey/testing` is pure too', () => {
    const out = runGuarded(`
      await import('latchkey/testing');
      console.log(JSON.stringify({ dlopened: globalThis.__latchkeyDlopened }));
    `);
    expect(out.dlopened).toEqual([]);
  });

  it('`latchkey/workspace` is pure too (argon2, node-hid and pkcs11js load only when used)', () => {
    const out = runGuarded(`
      await import('latchkey/workspace');
      console.log(JSON.stringify({ dlopened: globalThis.__latchkeyDlopened }));
    `);
    expect(out.dlopened).toEqual([]);
  });

  it('the guard works: opening a SQLite store without better-sqlite3 gives ERR_MISSING_DEPENDENCY naming it', () => {
    const out = runGuarded(`
      const { openSqliteStore } = await import('latchkey/store/sqlite');
      try { await openSqliteStore({ filename: ':memory:' }); console.log('{}'); }
      catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, detail: e.detail, dlopened: globalThis.__latchkeyDlopened })); }
    `);
    expect(out.code).toBe('ERR_MISSING_DEPENDENCY');
    expect(out.detail).toEqual({ package: 'better-sqlite3' });
    expect(out.message).toContain('npm install better-sqlite3');
    expect(out.dlopened).toEqual([]);
  });

  it('the recorder works: with better-sqlite3 present, the SQLite subpath loads its addon only when a store opens', () => {
    const result = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `
        const dl = []; const orig = process.dlopen;
        process.dlopen = function (m, f, ...r) { dl.push(f); return orig.call(this, m, f, ...r); };
        const { openSqliteStore } = await import('latchkey/store/sqlite');
        const before = dl.length;
        const store = await openSqliteStore({ filename: ':memory:' });
        await store.close();
        console.log(JSON.stringify({ before, after: dl.length }));
      `,
      ],
      { cwd: repoRoot, encoding: 'utf8', timeout: 30_000 },
    );
    expect(JSON.parse(result.stdout)).toEqual({ before: 0, after: 1 });
  });
});
