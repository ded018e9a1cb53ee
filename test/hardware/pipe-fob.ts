/**
 * How hardware tests reach the pipe fob: the built `latchkey virtual-fob` command run through
 * test/hardware/fixtures/virtual-fob.mjs (which imports dist/cli/virtual-fob.js).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Component } from '../helpers/components.js';

const fixture = fileURLToPath(new URL('./fixtures/virtual-fob.mjs', import.meta.url));

/** The command line that starts a pipe fob. */
export function pipeFobCommand(...args: readonly string[]): string[] {
  return [process.execPath, fixture, '--pipe', ...args];
}

/** The built virtual-fob command (dist/cli/virtual-fob.js). */
export function builtVirtualFob(): Component {
  const available = existsSync(new URL('../../dist/cli/virtual-fob.js', import.meta.url));
  return {
    name: 'dist/cli/virtual-fob.js',
    available,
    reason: available ? '' : 'run `npx tsc -p tsconfig.build.json` (or `npm run build`)',
  };
}
