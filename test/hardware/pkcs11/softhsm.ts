/**
 * Real PKCS#11 components for the tests: SoftHSM2 (Debian softhsm2) with a private SOFTHSM2_CONF
 * and tokens directory in a temp folder, OpenSC's `pkcs11-tool` as an independent client, and the
 * fault-injecting module (fault-module.c, compiled here with `cc`) that forwards to SoftHSM and
 * can be told to report removal, re-plug, PIN lockout, missing mechanisms and any CKR_* value.
 *
 * SoftHSM reads SOFTHSM2_CONF when the module is initialised, so `createSoftHsm()` must run
 * before a test file opens the module; vitest runs each file in its own process.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Component, command } from '../../helpers/components.js';

export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';
const FAULT_SOURCE = fileURLToPath(new URL('./fault-module.c', import.meta.url));

function file(name: string, path: string, hint: string): Component {
  const available = existsSync(path);
  return { name, available, reason: available ? '' : `${path} is missing (${hint})` };
}

function pkcs11js(): Component {
  try {
    createRequire(import.meta.url)('pkcs11js');
    return { name: 'pkcs11js', available: true, reason: '' };
  } catch (error) {
    return { name: 'pkcs11js', available: false, reason: `cannot load pkcs11js: ${(error as Error).message}` };
  }
}

/** OpenSC's pkcs11-tool (it exits 2 after printing its usage, so `command` cannot probe it). */
function pkcs11Tool(): Component {
  const probe = spawnSync('pkcs11-tool', ['--help'], { encoding: 'utf8', timeout: 10_000 });
  const available = probe.error === undefined && `${probe.stdout}${probe.stderr}`.includes('Usage: pkcs11-tool');
  return { name: 'pkcs11-tool', available, reason: available ? '' : 'OpenSC is missing (apt-get install opensc)' };
}

/** What the PKCS#11 suites need: SoftHSM2, its util, OpenSC's pkcs11-tool, pkcs11js, and a C compiler. */
export function pkcs11Components(): Component[] {
  return [
    file('softhsm2', SOFTHSM_MODULE, 'apt-get install softhsm2'),
    command('softhsm2-util', ['--version']),
    pkcs11Tool(),
    command('cc', ['--version']),
    pkcs11js(),
  ];
}

export interface SoftHsm {
  readonly dir: string;
  /** Initialise a token in the next free slot; returns its serial. */
  initToken(label: string, pins?: { pin?: string; soPin?: string }): string;
  /**
   * Run OpenSC's pkcs11-tool on SoftHSM (or `module`); returns stdout, or what it wrote to `@out`.
   * Throws with stderr on failure.
   */
  tool(args: readonly string[], module?: string): Buffer;
  dispose(): void;
}

/** A private SoftHSM2: its config and tokens directory in a fresh temp folder, set in the environment. */
export function createSoftHsm(): SoftHsm {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-softhsm-'));
  const tokens = join(dir, 'tokens');
  mkdirSync(tokens);
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(
    conf,
    `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = true\n`,
  );
  process.env.SOFTHSM2_CONF = conf;
  const env = { ...process.env, SOFTHSM2_CONF: conf };
  let outputs = 0;
  return {
    dir,
    initToken(label, pins = {}) {
      execFileSync(
        'softhsm2-util',
        ['--init-token', '--free', '--label', label, '--pin', pins.pin ?? '1234', '--so-pin', pins.soPin ?? '5678'],
        { env, stdio: 'pipe' },
      );
      const slots = execFileSync('softhsm2-util', ['--show-slots'], { env, encoding: 'utf8' });
      for (const block of slots.split(/\nSlot /)) {
        const labelMatch = /Label:\s+(.*)/.exec(block);
        const serialMatch = /Serial number:\s+([0-9a-f]+)/.exec(block);
        if (labelMatch?.[1]?.trim() === label && serialMatch?.[1] !== undefined) return serialMatch[1];
      }
      throw new Error(`token ${label} not found after initialisation`);
    },
    tool(args, module = SOFTHSM_MODULE) {
      // `-o @out` writes to a temp file whose contents are returned (pkcs11-tool cannot write to a pipe).
      const out = join(dir, `out-${++outputs}.bin`);
      const argv = args.map((arg) => (arg === '@out' ? out : arg));
      const result = spawnSync('pkcs11-tool', ['--module', module, ...argv], { env: { ...process.env, ...env } });
      if (result.status !== 0) {
        throw new Error(`pkcs11-tool ${args.join(' ')} failed: ${result.stderr.toString()}`);
      }
      if (!argv.includes(out)) return result.stdout;
      const bytes = readFileSync(out);
      rmSync(out);
      return bytes;
    },
    dispose() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The control file of the fault module (replaced atomically on every change). */
export class FaultControl {
  readonly #path: string;
  readonly #tokens = new Map<string, { present: boolean; generation: number }>();
  #rules: string[] = [];

  constructor(path: string) {
    this.#path = path;
    this.#write();
  }

  #write(): void {
    const lines = [...this.#rules];
    for (const [serial, state] of this.#tokens) {
      lines.push(`token ${serial} ${state.present ? 'present' : 'absent'} ${state.generation}`);
    }
    const temp = `${this.#path}.tmp`;
    writeFileSync(temp, `${lines.join('\n')}\n`);
    renameSync(temp, this.#path);
  }

  /** Replace the rules (`pin-tries 3`, `hide-mechanism 1041`, `fail C_Sign 30`, `serial a b`, `events off`). */
  rules(...lines: string[]): this {
    this.#rules = lines;
    this.#write();
    return this;
  }

  /** Pull the token out: its sessions die, and stay dead after it comes back. */
  unplug(serial: string): this {
    const state = this.#tokens.get(serial) ?? { present: true, generation: 0 };
    this.#tokens.set(serial, { present: false, generation: state.generation + 1 });
    this.#write();
    return this;
  }

  /** Put the token back. */
  plug(serial: string): this {
    const state = this.#tokens.get(serial) ?? { present: true, generation: 0 };
    this.#tokens.set(serial, { present: true, generation: state.generation });
    this.#write();
    return this;
  }

  /** Pull out and put back between two calls (a quick re-plug). */
  replug(serial: string): this {
    const state = this.#tokens.get(serial) ?? { present: true, generation: 0 };
    this.#tokens.set(serial, { present: true, generation: state.generation + 1 });
    this.#write();
    return this;
  }

  reset(): this {
    this.#rules = [];
    this.#tokens.clear();
    this.#write();
    return this;
  }
}

export interface FaultModule {
  readonly path: string;
  readonly control: FaultControl;
}

/**
 * Compile fault-module.c into `dir` (as macaroon-interop compiles its C peer) and point it at
 * SoftHSM through the environment. Call before the module is opened.
 */
export function buildFaultModule(dir: string): FaultModule {
  const path = join(dir, 'fault-pkcs11.so');
  execFileSync('cc', ['-shared', '-fPIC', '-O1', '-Wall', '-Werror', '-o', path, FAULT_SOURCE, '-ldl', '-lpthread'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const controlPath = join(dir, 'fault-control');
  process.env.FAULT_PKCS11_TARGET = SOFTHSM_MODULE;
  process.env.FAULT_PKCS11_CONTROL = controlPath;
  return { path, control: new FaultControl(controlPath) };
}
