/**
 * A plaintext view of an unlocked workspace: its files written to a private folder in memory
 * (`/dev/shm` on Linux, mode 0700, files 0600) for a sub-shell or an app, and sealed back with
 * {@link PlaintextView.sync}: new and changed files are put, deleted ones removed, in one commit.
 * {@link PlaintextView.close} syncs, overwrites every file with zeros and removes the folder.
 *
 * Honest limits: the plaintext lives in tmpfs (RAM, possibly swap unless swap is encrypted or
 * off) and in the page cache of whoever reads it; other processes of the same user can read it
 * while it is open. Only `file` entries are shown; settings stay in the workspace.
 *
 * @module latchkey/workspace
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { wipe } from '../core/bytes.js';
import { LatchkeyError } from '../core/errors.js';
import type { Progress, UnlockedWorkspace } from './workspace.js';

function digest(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The default parent of views: /dev/shm when it exists, else the OS temp folder. */
export function defaultViewParent(): string {
  return existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
}

function walk(root: string, folder: string, out: string[]): void {
  for (const name of readdirSync(folder)) {
    const path = join(folder, name);
    const stat = lstatSync(path);
    if (stat.isDirectory()) walk(root, path, out);
    else if (stat.isFile()) out.push(relative(root, path).split(sep).join('/'));
  }
}

/** A private plaintext folder mirroring the workspace's files. */
export class PlaintextView {
  private readonly known = new Map<string, string>();
  private closed = false;

  private constructor(
    private readonly workspace: UnlockedWorkspace,
    /** The folder holding the plaintext. */
    readonly path: string,
  ) {}

  /** Write the workspace's files into a new private folder under `parent`. */
  static open(
    workspace: UnlockedWorkspace,
    options: { readonly parent?: string; readonly progress?: Progress } = {},
  ): PlaintextView {
    const path = mkdtempSync(join(options.parent ?? defaultViewParent(), 'latchkey-ws-'));
    const view = new PlaintextView(workspace, path);
    const files = workspace.list().filter((e) => e.kind === 'file');
    const total = files.reduce((sum, e) => sum + e.size, 0);
    let done = 0;
    for (const entry of files) {
      if (entry.name.split('/').some((part) => part === '..' || part === '.' || part === '')) continue;
      const target = join(path, ...entry.name.split('/'));
      mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
      const data = workspace.read(entry.name);
      writeFileSync(target, data, { mode: 0o600 });
      view.known.set(entry.name, digest(data));
      wipe(data);
      done += entry.size;
      options.progress?.(done, total);
    }
    return view;
  }

  /** Seal changes since the last sync in one commit; returns what changed. */
  sync(progress?: Progress | undefined): { put: number; removed: number } {
    if (this.closed) throw new LatchkeyError('ERR_WORKSPACE_LOCKED', 'the plaintext view is closed', {});
    const names: string[] = [];
    walk(this.path, this.path, names);
    const put: { name: string; data: Uint8Array; digest: string }[] = [];
    for (const name of names) {
      const data = new Uint8Array(readFileSync(join(this.path, ...name.split('/'))));
      const hash = digest(data);
      if (this.known.get(name) !== hash) put.push({ name, data, digest: hash });
    }
    const present = new Set(names);
    const removed = [...this.known.keys()].filter((name) => !present.has(name) && this.workspace.has(name));
    if (put.length > 0 || removed.length > 0) {
      this.workspace.commit({ put: put.map(({ name, data }) => ({ name, data })), remove: removed }, progress);
    }
    for (const { name, data, digest: hash } of put) {
      this.known.set(name, hash);
      wipe(data);
    }
    for (const name of removed) this.known.delete(name);
    return { put: put.length, removed: removed.length };
  }

  /** Overwrite every file with zeros and remove the folder (no sync). */
  wipe(): void {
    if (this.closed) return;
    this.closed = true;
    const names: string[] = [];
    try {
      walk(this.path, this.path, names);
    } catch {
      // already gone
    }
    for (const name of names) {
      const file = join(this.path, ...name.split('/'));
      try {
        const size = lstatSync(file).size;
        const fd = openSync(file, 'r+');
        const zeros = new Uint8Array(Math.min(size, 1 << 20));
        for (let offset = 0; offset < size; offset += zeros.length) {
          writeSync(fd, zeros, 0, Math.min(zeros.length, size - offset), offset);
        }
        fsyncSync(fd);
        closeSync(fd);
      } catch {
        // best effort; the folder is removed next
      }
    }
    rmSync(this.path, { recursive: true, force: true });
  }

  /** Sync, then wipe. */
  close(progress?: Progress | undefined): { put: number; removed: number } {
    try {
      return this.sync(progress);
    } finally {
      this.wipe();
    }
  }
}
