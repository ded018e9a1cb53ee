/**
 * Real components that a suite needs (a Debian tool, a built dist/, a peer implementation).
 * Locally a missing component skips the suite with a loud reason; under CI=true it fails,
 * so a green CI never hides a suite that did not run.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const inCi = process.env.CI === 'true' || process.env.CI === '1';

export interface Component {
  readonly name: string;
  readonly available: boolean;
  readonly reason: string;
}

/** A command on PATH (or an absolute path) that runs with the given arguments. */
export function command(name: string, args: readonly string[] = ['--version']): Component {
  const result = spawnSync(name, args, { stdio: 'ignore', timeout: 10_000 });
  const available = result.error === undefined && result.status === 0;
  return { name, available, reason: available ? '' : `\`${name} ${args.join(' ')}\` did not run` };
}

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** The built package (dist/), needed by tests that run child processes against it. */
export function builtPackage(): Component {
  const available = existsSync(new URL('../../dist/index.js', import.meta.url));
  return { name: 'dist', available, reason: available ? '' : 'dist/ is missing: run `npm run build`' };
}

/**
 * Decide whether a suite runs. Returns true to run. Locally, a missing component prints a loud
 * warning and returns false (use with `describe.skipIf(!need(...))`); under CI it throws.
 */
export function need(...components: readonly Component[]): boolean {
  const missing = components.filter((component) => !component.available);
  if (missing.length === 0) return true;
  const message = `missing component(s): ${missing.map((c) => `${c.name} (${c.reason})`).join('; ')}`;
  if (inCi) throw new Error(`${message}; under CI=true a suite that would skip fails instead`);
  console.warn(`\n!!! SKIPPING: ${message}\n`);
  return false;
}
