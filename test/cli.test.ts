import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import { builtPackage, need, repoRoot } from './helpers/components.js';

const dir = mkdtempSync(join(tmpdir(), 'latchkey-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(...argv: string[]) {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

describe('latchkey CLI', () => {
  it('prints help and version', async () => {
    expect((await run('help')).out).toContain('usage: latchkey');
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
    expect((await run('--version')).out.trim()).toBe(pkg.version);
  });

  it('initialises and checks a store, and prints a subject’s audit log without operator entries', async () => {
    const file = join(dir, 'a.db');
    expect(await run('store', 'init', file)).toMatchObject({
      code: 0,
      out: `${file}: latchkey store, schema version 1\n`,
    });
    const store = await openSqliteStore({ filename: file });
    await store.audit.append({ subject: 'alice', type: 'login' });
    await store.audit.append({ subject: 'alice', type: 'duress', audience: 'operator' });
    await store.close();
    expect(await run('store', 'check', file)).toMatchObject({ code: 0, out: `${file}: ok\n` });
    const subjectView = await run('audit', file, '--subject', 'alice');
    expect(
      subjectView.out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).type),
    ).toEqual(['login']);
    const operatorView = await run('audit', file, '--subject', 'alice', '--operator');
    expect(
      operatorView.out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).type),
    ).toEqual(['login', 'duress']);
  });

  it('answers bad usage with exit 2 and errors with their stable code and exit 1', async () => {
    expect((await run('frobnicate')).code).toBe(2);
    expect((await run('store', 'init')).code).toBe(2);
    expect((await run('audit', join(dir, 'a.db'), '--bogus')).code).toBe(2);
    const bad = await run('audit', join(dir, 'b.db'), '--subject', 'x', '--limit', '0');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^latchkey: ERR_INVALID_ARGUMENT: query\.limit must be/);
  });
});

describe.runIf(need(builtPackage()))('bin/latchkey.js', () => {
  it('runs from a built checkout', () => {
    const result = spawnSync(process.execPath, ['bin/latchkey.js', 'help'], { cwd: repoRoot, encoding: 'utf8' });
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('store init <file>');
  });
});
