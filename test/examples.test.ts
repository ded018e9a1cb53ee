import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { builtPackage, need, repoRoot } from './helpers/components.js';

describe.runIf(need(builtPackage()))('examples (the demo that `npm run demo` runs)', () => {
  it('runs every built story without failure and shows what it promises', () => {
    const result = spawnSync(process.execPath, ['examples/demo.js'], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('two racing takes of one challenge: 1 succeeded');
    expect(result.stdout).toContain('presented three times: true, false, false');
    expect(result.stdout).toContain('Alice sees [login], the operator sees [login,duress]');
    expect(result.stdout).toContain('pulled the fob: sealed the draft, key wiped within 1 s: true');
    expect(result.stdout).toContain('reads after removal: ERR_WORKSPACE_LOCKED');
    expect(result.stdout).toContain('move $250: denied — needs a fob; you presented a synced passkey');
    expect(result.stdout).toContain('one touch of the fob steps up: move $250 allowed');
    expect(result.stdout).not.toContain('not built yet');
  });
});
