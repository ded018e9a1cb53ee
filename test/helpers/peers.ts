/**
 * Helpers that run latchkey's macaroon interop peers for real: Debian's pymacaroons (a batch
 * script under /usr/bin/python3) and libmacaroons (a tiny C harness compiled with `cc
 * -lmacaroons` into a temp folder). Under `CI` a missing peer fails the suite; locally it is
 * skipped with a loud warning.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'vitest';

const VECTORS_DIR = fileURLToPath(new URL('../vectors/macaroons/', import.meta.url));
const PYTHON = '/usr/bin/python3';
const PY_PEER = join(VECTORS_DIR, 'pymacaroons_peer.py');
const C_PEER_SOURCE = join(VECTORS_DIR, 'peer.c');

export interface PeerStatus {
  readonly available: boolean;
  readonly reason: string;
}

/** Whether Debian's pymacaroons (and PyNaCl) can be imported by /usr/bin/python3. */
export function pymacaroonsStatus(): PeerStatus {
  if (!existsSync(PYTHON)) return { available: false, reason: `${PYTHON} not found (apt-get install python3)` };
  const probe = spawnSync(PYTHON, ['-c', 'import pymacaroons, nacl.secret'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    return {
      available: false,
      reason: `pymacaroons not importable (apt-get install python3-pymacaroons): ${probe.stderr.trim()}`,
    };
  }
  return { available: true, reason: '' };
}

/** Whether a C compiler and libmacaroons' header are present. */
export function libmacaroonsStatus(): PeerStatus {
  const cc = spawnSync('cc', ['--version'], { encoding: 'utf8' });
  if (cc.status !== 0) return { available: false, reason: 'no C compiler `cc` (apt-get install gcc)' };
  if (!existsSync('/usr/include/macaroons.h')) {
    return { available: false, reason: 'libmacaroons headers missing (apt-get install libmacaroons-dev)' };
  }
  return { available: true, reason: '' };
}

/**
 * `describe` for a suite that needs a peer: runs it when the peer is there; otherwise fails
 * under `CI` and skips loudly elsewhere.
 */
export function describeWithPeer(name: string, status: PeerStatus, body: () => void): void {
  if (status.available) {
    describe(name, body);
  } else if (process.env.CI) {
    describe(name, () => {
      test('peer is available (required under CI)', () => {
        throw new Error(`${name}: ${status.reason}`);
      });
    });
  } else {
    console.warn(`\n!!!!!!!! SKIPPING ${name}: ${status.reason} (this would FAIL under CI) !!!!!!!!\n`);
    describe.skip(name, body);
  }
}

// ---- pymacaroons ---------------------------------------------------------------------------

export type PyCaveat = { fp: string } | { tp: { location: string; key: string; id: string }; nonce?: string };
export type PyOp =
  | { op: 'mint'; version: 1 | 2; json?: boolean; location: string; key: string; id: string; caveats: PyCaveat[] }
  | { op: 'bind'; root: string; discharge: string }
  | { op: 'verify'; key: string; token: string; discharges: string[]; exact: string[] };
export interface PyResult {
  token?: string;
  ok?: boolean;
  error?: string;
}

/** Run a batch of operations through the pymacaroons peer (one python process). */
export function runPymacaroons(ops: readonly PyOp[]): PyResult[] {
  const out = execFileSync(PYTHON, [PY_PEER], { input: JSON.stringify(ops), encoding: 'utf8', maxBuffer: 64 << 20 });
  const results = JSON.parse(out) as PyResult[];
  if (results.length !== ops.length) throw new Error('pymacaroons peer returned the wrong number of results');
  return results;
}

/** The token of a pymacaroons result, or a thrown error naming what went wrong. */
export function pyToken(result: PyResult | undefined): string {
  if (result?.token === undefined) throw new Error(`pymacaroons peer failed: ${result?.error ?? 'no result'}`);
  return result.token;
}

// ---- libmacaroons --------------------------------------------------------------------------

export interface CPeer {
  readonly path: string;
  /** Run the harness; `ok` is its exit status 0, `out` its trimmed stdout. */
  run(args: readonly string[]): { ok: boolean; out: string };
  dispose(): void;
}

/** Compile the libmacaroons harness into a fresh temp folder (call from `beforeAll`). */
export function buildLibmacaroonsPeer(): CPeer {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-libmacaroons-'));
  const path = join(dir, 'peer');
  execFileSync('cc', ['-O1', '-Wall', '-o', path, C_PEER_SOURCE, '-lmacaroons'], { stdio: ['ignore', 'pipe', 'pipe'] });
  return {
    path,
    run(args) {
      const r = spawnSync(path, args, { encoding: 'utf8', maxBuffer: 16 << 20 });
      if (r.status !== 0 && r.status !== 1)
        throw new Error(`libmacaroons peer crashed (${r.status ?? r.signal}): ${r.stderr}`);
      return { ok: r.status === 0, out: r.stdout.trim() };
    },
    dispose() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Hex of a string's UTF-8 bytes or of bytes. */
export function hexOf(value: string | Uint8Array): string {
  return Buffer.from(typeof value === 'string' ? Buffer.from(value, 'utf8') : value).toString('hex');
}
