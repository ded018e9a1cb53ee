/**
 * `latchkey workspace …`: the workspace from a terminal. `unlock` runs the agent in the
 * foreground (until the fob is pulled or `lock`); `put`, `get`, `ls`, `rm`, `status` and `lock`
 * talk to it over its private socket; `init`, `enrol` and `shell` unlock by themselves.
 *
 * Secrets come from a prompt without echo when stdin is a terminal, and otherwise from one line of
 * stdin each (`--pin -`, `--recovery-code -`, `--password -`) or `LATCHKEY_PIN`, for scripts.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { LatchkeyError } from '../core/errors.js';
import type { HidConnection } from '../hardware/connection.js';
import { Ctap2Client } from '../hardware/ctap2.js';
import { agentRequest, serveAgent, WorkspaceAgent } from '../workspace/agent.js';
import {
  fobUnlocker,
  newRecoveryCode,
  passwordUnlocker,
  recoveryCodeUnlocker,
  type Unlocker,
} from '../workspace/unlockers.js';
import { Workspace } from '../workspace/workspace.js';
import type { Io } from './main.js';

export const WORKSPACE_USAGE = `usage: latchkey workspace <action> <dir> [options]

actions:
  init <dir>             make a workspace opened by a fob (or --recovery-code new)
  enrol <dir> --add fob|recovery-code|password   add a key slot (unlocks first)
  unlock <dir>           open it and hold it (the agent) until the fob is pulled or \`lock\`
  lock <dir>             lock a held workspace: changes sealed, keys wiped
  status <dir>           slots, and whether an agent holds it
  put <dir> <name> [file]   store a file (stdin without one)     } through the agent
  get <dir> <name>          print an entry                        }
  ls <dir> | rm <dir> <name>                                       }
  shell <dir>            open it as a private folder in /dev/shm for a sub-shell; sealed back on exit

unlock options:
  --fob virtual --fob-state FILE   latchkey's virtual fob (a child process keeping FILE)
  --fob hid                        the first FIDO2 key over USB
  --pin -                          read the PIN from stdin (default: prompt, or LATCHKEY_PIN)
  --recovery-code CODE|-           a recovery code
  --password -                     a password (where the unlock policy names one)
enrol options:
  --add-fob-state FILE             the virtual fob to add (with --add fob)
  --add-pin -                      its PIN
`;

interface Options {
  fob?: string;
  'fob-state'?: string;
  pin?: string;
  'recovery-code'?: string;
  password?: string;
  add?: string;
  'add-fob-state'?: string;
  'add-pin'?: string;
  socket?: string;
}

function usage(message: string): LatchkeyError {
  return new LatchkeyError('ERR_INVALID_ARGUMENT', message, { usage: true });
}

/** Lines of stdin, read one at a time on demand (for `-` secrets in scripts). */
class Lines {
  #lines: string[] = [];
  #waiting: ((line: string | undefined) => void)[] = [];
  #ended = false;
  #reader: ReturnType<typeof createInterface> | null = null;

  next(): Promise<string | undefined> {
    if (this.#reader === null) {
      this.#reader = createInterface({ input: process.stdin, terminal: false });
      this.#reader.on('line', (line) => {
        const waiter = this.#waiting.shift();
        if (waiter !== undefined) waiter(line);
        else this.#lines.push(line);
      });
      this.#reader.on('close', () => {
        this.#ended = true;
        for (const waiter of this.#waiting.splice(0)) waiter(undefined);
      });
    }
    const line = this.#lines.shift();
    if (line !== undefined || this.#ended) return Promise.resolve(line);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  close(): void {
    this.#reader?.close();
  }
}

/** A secret: `-` reads a line of stdin; otherwise a prompt without echo on a terminal. */
async function secret(io: Io, lines: Lines, given: string | undefined, prompt: string, env?: string): Promise<string> {
  if (given !== undefined && given !== '-') return given;
  if (given === undefined && env !== undefined && process.env[env] !== undefined) return process.env[env] as string;
  if (given === undefined && process.stdin.isTTY) return promptHidden(io, prompt);
  const line = await lines.next();
  if (line === undefined) throw usage(`${prompt.replace(/: $/, '')}: expected a line on stdin`);
  return line;
}

async function promptHidden(io: Io, prompt: string): Promise<string> {
  io.err(prompt);
  const stdin = process.stdin;
  stdin.setRawMode(true);
  stdin.resume();
  stdin.setEncoding('utf8');
  return new Promise((resolve, reject) => {
    let value = '';
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n') {
          done();
          resolve(value);
          return;
        }
        if (char === '\u0003') {
          done();
          reject(new LatchkeyError('ERR_INVALID_ARGUMENT', 'cancelled'));
          return;
        }
        if (char === '\u007f') value = value.slice(0, -1);
        else value += char;
      }
    };
    const done = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      io.err('\n');
    };
    stdin.on('data', onData);
  });
}

/** "touch your key" with a spinner while the fob waits (a single line when not on a terminal). */
function touchPrompt(io: Io): { onTouch: () => void; stop: () => void } {
  let timer: NodeJS.Timeout | undefined;
  return {
    onTouch: () => {
      if (!process.stderr.isTTY) {
        io.err('touch your key\n');
        return;
      }
      const frames = '|/-\\';
      let i = 0;
      clearInterval(timer);
      timer = setInterval(() => io.err(`\r${frames[i++ % 4]} touch your key `), 120);
      timer.unref();
    },
    stop: () => {
      if (timer !== undefined) {
        clearInterval(timer);
        io.err('\r                 \r');
      }
    },
  };
}

interface OpenedFob {
  readonly client: Ctap2Client;
  readonly connection: HidConnection;
  close(): Promise<void>;
}

async function openFob(kind: string, state: string | undefined): Promise<OpenedFob> {
  if (kind === 'virtual') {
    if (state === undefined)
      throw usage('--fob virtual needs --fob-state FILE (the virtual fob keeps its secrets there)');
    const { spawnPipeFob } = await import('../hardware/pipe-connection.js');
    const bin = new URL('../../bin/latchkey.js', import.meta.url).pathname;
    const fob = spawnPipeFob(process.execPath, [bin, 'virtual-fob', '--pipe', '--state', state, '--touch-ms', '300']);
    const client = await Ctap2Client.open(fob.connection);
    return { client, connection: fob.connection, close: () => client.close() };
  }
  if (kind === 'hid') {
    const { listFobs, openFob: openHid } = await import('../hardware/node-hid.js');
    const [first] = await listFobs();
    if (first === undefined) throw new LatchkeyError('ERR_FOB_NOT_FOUND', 'no FIDO2 key is plugged in');
    const connection = await openHid(first.path);
    const client = await Ctap2Client.open(connection);
    return { client, connection, close: () => client.close() };
  }
  throw usage('--fob must be `virtual` or `hid`');
}

/** A fob's PIN; a fob without one gets it set (a new virtual fob, a key fresh from its box). */
async function fobWithPin(fob: OpenedFob, pin: string | undefined): Promise<void> {
  if (pin !== undefined && fob.client.info.options.clientPin === false) await fob.client.setPin(pin);
}

interface Unlocking {
  readonly unlockers: Unlocker[];
  readonly removal: AbortSignal[];
  close(): Promise<void>;
}

async function unlockersFrom(
  values: Options,
  io: Io,
  lines: Lines,
  spinner: ReturnType<typeof touchPrompt>,
): Promise<Unlocking> {
  const unlockers: Unlocker[] = [];
  const removal: AbortSignal[] = [];
  const fobs: OpenedFob[] = [];
  if (values.fob !== undefined) {
    const fob = await openFob(values.fob, values['fob-state']);
    fobs.push(fob);
    removal.push(fob.connection.removed);
    const needsPin = fob.client.info.options.clientPin === true || values.pin !== undefined;
    const pin = needsPin ? await secret(io, lines, values.pin, 'PIN: ', 'LATCHKEY_PIN') : undefined;
    unlockers.push(
      fobUnlocker({ client: fob.client, ...(pin === undefined ? {} : { pin }), onTouch: spinner.onTouch }),
    );
  }
  if (values['recovery-code'] !== undefined) {
    unlockers.push(recoveryCodeUnlocker(await secret(io, lines, values['recovery-code'], 'recovery code: ')));
  }
  if (values.password !== undefined) {
    unlockers.push(passwordUnlocker(await secret(io, lines, values.password, 'password: ')));
  }
  if (unlockers.length === 0) throw usage('how should it be opened? give --fob, --recovery-code or --password');
  return {
    unlockers,
    removal,
    close: async () => {
      for (const fob of fobs) await fob.close().catch(() => undefined);
    },
  };
}

function stateFile(id: string): string {
  const base = process.env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state');
  return join(base, 'latchkey', 'workspaces', `${id}.json`);
}

function socketPath(id: string, given: string | undefined): string {
  if (given !== undefined) return given;
  const base = process.env.XDG_RUNTIME_DIR ?? join('/tmp', `latchkey-${process.getuid?.() ?? 'user'}`);
  return join(base, 'latchkey', `${id}.sock`);
}

async function unlock(
  dir: string,
  values: Options,
  io: Io,
  lines: Lines,
): Promise<{ ws: Workspace; removal: AbortSignal[]; close(): Promise<void> }> {
  const { id } = await Workspace.inspect(dir);
  const spinner = touchPrompt(io);
  const opening = await unlockersFrom(values, io, lines, spinner);
  try {
    const ws = await Workspace.unlock(dir, opening.unlockers, { stateFile: stateFile(id) });
    return { ws, removal: opening.removal, close: opening.close };
  } catch (error) {
    await opening.close();
    throw error;
  } finally {
    spinner.stop();
  }
}

/** Run `latchkey workspace …`. */
export async function workspaceCommand(args: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: {
      fob: { type: 'string' },
      'fob-state': { type: 'string' },
      pin: { type: 'string' },
      'recovery-code': { type: 'string' },
      password: { type: 'string' },
      add: { type: 'string' },
      'add-fob-state': { type: 'string' },
      'add-pin': { type: 'string' },
      socket: { type: 'string' },
    },
  });
  const [action, dir, ...rest] = positionals;
  if (action === undefined || dir === undefined) throw usage('expected `workspace <action> <dir>`');
  const lines = new Lines();
  try {
    return await run(action, dir, rest, values as Options, io, lines);
  } finally {
    lines.close();
  }
}

async function run(
  action: string,
  dir: string,
  rest: string[],
  values: Options,
  io: Io,
  lines: Lines,
): Promise<number> {
  switch (action) {
    case 'init': {
      const spinner = touchPrompt(io);
      let first: Unlocker;
      let close = async () => {};
      let code: string | undefined;
      if (values['recovery-code'] === 'new') {
        code = newRecoveryCode();
        first = recoveryCodeUnlocker(code);
      } else {
        if (values.fob === undefined) throw usage('init needs --fob (or --recovery-code new)');
        const fob = await openFob(values.fob, values['fob-state']);
        close = fob.close;
        const pin =
          values.pin === undefined && process.env.LATCHKEY_PIN === undefined && !process.stdin.isTTY
            ? undefined
            : await secret(io, lines, values.pin, 'PIN for the fob: ', 'LATCHKEY_PIN');
        await fobWithPin(fob, pin);
        first = fobUnlocker({ client: fob.client, ...(pin === undefined ? {} : { pin }), onTouch: spinner.onTouch });
      }
      try {
        const ws = await Workspace.create(dir, first);
        const [slot] = ws.slots();
        await ws.lock();
        io.out(
          `${dir}: workspace ${ws.id}, first key slot ${slot?.id} (${slot?.kind}${slot?.userVerified ? ', with PIN' : ''})\n`,
        );
        if (code !== undefined) io.out(`recovery code (shown once, keep it safe): ${code}\n`);
      } finally {
        spinner.stop();
        await close();
      }
      return 0;
    }
    case 'enrol': {
      const { ws, close } = await unlock(dir, values, io, lines);
      try {
        const kind = values.add;
        let added: { readonly id: string; readonly kind: string };
        if (kind === 'recovery-code') {
          const code = newRecoveryCode();
          added = await ws.addSlot(recoveryCodeUnlocker(code));
          io.out(`recovery code (shown once, keep it safe): ${code}\n`);
        } else if (kind === 'password') {
          added = await ws.addSlot(
            passwordUnlocker(await secret(io, lines, values['add-pin'] ?? '-', 'new password: ')),
          );
        } else if (kind === 'fob') {
          const fob = await openFob(values.fob ?? 'virtual', values['add-fob-state']);
          try {
            const pin =
              values['add-pin'] === undefined
                ? undefined
                : await secret(io, lines, values['add-pin'], 'PIN for the new fob: ');
            await fobWithPin(fob, pin);
            const spinner = touchPrompt(io);
            added = await ws.addSlot(
              fobUnlocker({ client: fob.client, ...(pin === undefined ? {} : { pin }), onTouch: spinner.onTouch }),
            );
            spinner.stop();
          } finally {
            await fob.close();
          }
        } else {
          throw usage('--add must be fob, recovery-code or password');
        }
        io.out(`added key slot ${added.id} (${added.kind})\n`);
      } finally {
        await ws.lock();
        await close();
      }
      return 0;
    }
    case 'unlock': {
      const { ws, removal, close } = await unlock(dir, values, io, lines);
      const agent = new WorkspaceAgent(ws, { removal });
      const path = socketPath(ws.id, values.socket);
      await serveAgent(agent, path);
      io.out(`unlocked ${dir} (generation ${ws.generation}); agent on ${path}\n`);
      const stop = () => void agent.lock('signal');
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const locked = await agent.locked;
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      await close();
      io.out(`locked (${locked.reason}); keys wiped ${locked.wipedAfterMs.toFixed(1)} ms after\n`);
      return 0;
    }
    case 'status': {
      const header = await Workspace.inspect(dir);
      io.out(`workspace ${header.id}\n`);
      for (const slot of header.slots) {
        io.out(`  slot ${slot.id}: ${slot.kind} "${slot.label}"${slot.userVerified ? ' (PIN)' : ''}\n`);
      }
      try {
        const status = await agentRequest(socketPath(header.id, values.socket), { op: 'status' });
        io.out(`unlocked: generation ${String(status.generation)}, ${String(status.entries)} entries\n`);
      } catch {
        io.out('locked\n');
      }
      return 0;
    }
    case 'lock':
    case 'ls':
    case 'get':
    case 'put':
    case 'rm': {
      const { id } = await Workspace.inspect(dir);
      const path = socketPath(id, values.socket);
      const name = rest[0];
      if (action === 'lock') {
        const done = await agentRequest(path, { op: 'lock' });
        io.out(`locked; keys wiped ${Number(done.wipedAfterMs).toFixed(1)} ms after\n`);
      } else if (action === 'ls') {
        const { entries } = await agentRequest(path, { op: 'ls' });
        for (const e of entries as { name: string; size: number; kind: string }[])
          io.out(`${String(e.size).padStart(10)}  ${e.kind === 'setting' ? '(setting) ' : ''}${e.name}\n`);
      } else {
        if (name === undefined) throw usage(`\`${action}\` needs an entry name`);
        if (action === 'get') {
          const { data } = await agentRequest(path, { op: 'get', name });
          process.stdout.write(Buffer.from(String(data), 'base64'));
        } else if (action === 'rm') {
          await agentRequest(path, { op: 'rm', name });
        } else {
          const file = rest[1];
          const bytes = file === undefined ? await readStdin() : await readFile(file);
          await agentRequest(path, { op: 'put', name, data: bytes.toString('base64') });
        }
      }
      return 0;
    }
    case 'shell':
      return shell(dir, values, io, lines);
    default:
      throw usage(`unknown workspace action \`${action}\``);
  }
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Every file under `root`, as paths relative to it. */
async function walk(root: string, at = root): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(at, { withFileTypes: true })) {
    const path = join(at, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(root, path)));
    else if (entry.isFile()) out.push(relative(root, path));
  }
  return out;
}

/**
 * Open the workspace as a private folder in memory (/dev/shm, mode 0700) for a sub-shell; when
 * the shell exits, or the fob is pulled (the shell is then ended), changed and new files are
 * sealed back, deleted ones removed, and the folder wiped.
 */
async function shell(dir: string, values: Options, io: Io, lines: Lines): Promise<number> {
  const { ws, removal, close } = await unlock(dir, values, io, lines);
  const base = (await stat('/dev/shm').catch(() => null)) === null ? undefined : '/dev/shm';
  if (base === undefined) throw new LatchkeyError('ERR_UNSUPPORTED', 'shell needs /dev/shm (memory-backed files)');
  const folder = await mkdtemp(join(base, 'latchkey-'));
  const before = new Map<string, string>();
  try {
    const entries = ws.list().filter((e) => e.kind === 'file');
    let opened = 0;
    for (const entry of entries) {
      io.err(`\ropening ${++opened}/${entries.length}`);
      const target = join(folder, entry.name);
      if (relative(folder, target).startsWith('..')) continue;
      await mkdir(dirname(target), { recursive: true, mode: 0o700 });
      const bytes = await ws.get(entry.name);
      await writeFile(target, bytes, { mode: 0o600 });
      before.set(entry.name, Buffer.from(bytes).toString('base64'));
    }
    if (entries.length > 0) io.err('\n');
    io.err(`workspace open in ${folder}; exit the shell to seal it\n`);
    const child = spawn(process.env.SHELL ?? '/bin/sh', [], { cwd: folder, stdio: 'inherit' });
    const pulled = () => child.kill('SIGHUP');
    for (const signal of removal) signal.addEventListener('abort', pulled, { once: true });
    await new Promise((resolve) => child.once('exit', resolve));
    let sealed = 0;
    const now = new Set(await walk(folder));
    for (const name of now) {
      const bytes = await readFile(join(folder, name));
      if (before.get(name) !== bytes.toString('base64')) {
        await ws.put(name, bytes);
        sealed++;
      }
    }
    for (const name of before.keys()) if (!now.has(name)) await ws.remove(name);
    io.err(`sealed ${sealed} changed file(s)\n`);
  } finally {
    await rm(folder, { recursive: true, force: true });
    await ws.lock();
    await close();
  }
  return 0;
}
