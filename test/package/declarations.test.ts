/**
 * Every declaration file the build emits type-checks on its own: `stripInternal` drops a
 * declaration marked `@internal`, and a file-level `@internal` comment once took the file's first
 * import with it (dist/policy/selector.d.ts lost `Evidence`), leaving users a broken type.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { builtPackage, need, repoRoot } from '../helpers/components.js';

const DIST = join(repoRoot, 'dist');

describe.runIf(need(builtPackage()))('the published declarations', () => {
  it('every emitted .d.ts type-checks (no import lost to stripInternal)', () => {
    const files = readdirSync(DIST, { recursive: true, encoding: 'utf8' })
      .filter((name) => name.endsWith('.d.ts'))
      .map((name) => join(DIST, name));
    expect(files.length).toBeGreaterThan(50);
    const tsc = join(repoRoot, 'node_modules/typescript/bin/tsc');
    const args = ['--noEmit', '--strict', '--skipLibCheck', 'false', '--module', 'nodenext', '--types', 'node'];
    const result = spawnSync(process.execPath, [tsc, ...args, ...files], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(result.stdout).toBe('');
    expect(result.status).toBe(0);
  });
});
