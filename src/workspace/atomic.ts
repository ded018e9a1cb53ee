/**
 * Atomic file replacement: write a temporary file in the same folder, fsync it, rename it over
 * the target, fsync the folder. After `writeFileAtomic` resolves the new content survives a
 * crash or power loss; before, the old content (or nothing) does. A crash leaves at most a
 * stray `.tmp-*` file, which {@link removeStrayTemporaries} clears.
 *
 * @module latchkey/workspace
 */
import { closeSync, fsyncSync, openSync, readdirSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { LatchkeyError } from '../core/errors.js';
import { randomId } from '../core/random.js';

const TEMPORARY_PREFIX = '.tmp-';

function ioError(operation: string, path: string, cause: unknown): LatchkeyError {
  return new LatchkeyError(
    'ERR_STORE_IO',
    `could not ${operation} \`${basename(path)}\`: ${(cause as NodeJS.ErrnoException).code ?? 'I/O error'}`,
    { operation, file: basename(path) },
    { cause },
  );
}

/** fsync a folder so that a rename or unlink in it is durable. */
function fsyncFolder(folder: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(folder, 'r');
    fsyncSync(fd);
  } catch (cause) {
    throw ioError('sync', folder, cause);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Replace `path` with `parts` (written in order), atomically and durably. Mode 0600. */
export function writeFileAtomic(path: string, parts: readonly Uint8Array[]): void {
  const folder = dirname(path);
  const temporary = join(folder, `${TEMPORARY_PREFIX}${randomId(16)}`);
  let fd: number | undefined;
  try {
    fd = openSync(temporary, 'wx', 0o600);
    for (const part of parts) {
      let offset = 0;
      while (offset < part.length) offset += writeSync(fd, part, offset, part.length - offset);
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(temporary, path);
  } catch (cause) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(temporary);
    } catch {
      // already renamed or never created
    }
    throw ioError('write', path, cause);
  }
  fsyncFolder(folder);
}

/**
 * Remove a file; a missing file is fine. Not synced: used only for files nothing refers to any
 * more (an entry's previous version after the header committed), which the next unlock removes
 * anyway if a crash brings them back.
 */
export function removeFile(path: string): void {
  try {
    unlinkSync(path);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw ioError('remove', path, cause);
  }
}

/** Remove temporaries a crash left behind in `folder`; returns how many. */
export function removeStrayTemporaries(folder: string): number {
  let removed = 0;
  for (const name of readdirSync(folder)) {
    if (!name.startsWith(TEMPORARY_PREFIX)) continue;
    try {
      unlinkSync(join(folder, name));
      removed++;
    } catch {
      // raced with another cleaner
    }
  }
  return removed;
}
