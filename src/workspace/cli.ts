/**
 * `latchkey workspace …`: the workspace CLI. Thin: it parses arguments, talks to the person
 * (a "touch your key" spinner, a PIN prompt without echo, progress) and calls the library.
 *
 * The agent is `latchkey workspace unlock`: a foreground process holding the unlocked workspace
 * and the fob connection, serving put/get/ls/rm/status/lock on a Unix socket in a user-only
 * folder (0700, socket 0600), like ssh-agent. Run it in the background (`&`, systemd-run) to use
 * it as a daemon. It locks and exits when the fob is pulled, on `lock`, or on SIGINT/SIGTERM.
 *
 * Non-interactive use: `--pin-stdin` / `--recovery-code-stdin` read the secret from the first
 * line(s) of stdin, in that order; `LATCHKEY_PIN` works too.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { base64, fromBase64, wipe } from '../core/bytes.js';
import { isLatchkeyError, LatchkeyError } from '../core/errors.js';
import type { HidConnection } from '../hardware/connection.js';
import { Ctap2Client } from '../hardware/ctap2.js';
import type { Pkcs11Module } from '../hardware/pkcs11/module.js';
import type { Policy } from '../policy/types.js';
import { WorkspaceAgent } from './agent.js';
import { fobEnroller, fobOpener } from './fob-slot.js';
import type { Pkcs11Part } from './format.js';
import { pkcs11Enroller, pkcs11Opener, tokenRemovalSignal } from './pkcs11-slot.js';
import { PlaintextView } from './plaintext-view.js';
import { generateRecoveryCode, kdfEnroller, kdfOpener, type PartEnroller, type PartOpener } from './slots.js';
import { createWorkspace, inspectWorkspace, type UnlockedWorkspace, unlockWorkspace } from './workspace.js';

export interface Io {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

const USAGE = `usage: latchkey workspace <command> --dir DIR [options]

commands:
  init                 create a workspace: a fob slot (--fob) and/or a recovery code (--recovery-code)
  enrol fob|pkcs11|recovery-code|password
                       add a slot (unlocks first with --fob or --recovery-code-stdin); the new fob is --new-fob
  remove-slot ID       remove a slot (not the last)
  unlock               unlock and run the agent on --socket until the fob is pulled or \`lock\`
  lock                 lock the agent
  status               the header (slots, generation) and whether an agent holds it
  put NAME [FILE]      store FILE (or stdin) as NAME, through the agent
  get NAME             print NAME, through the agent
  ls                   list entries, through the agent
  rm NAME              remove NAME, through the agent
  shell                unlock, open the files as a private folder in /dev/shm, run $SHELL (or --command)
                       there, seal changes back when it exits or the fob is pulled

options:
  --dir DIR                 the workspace folder (or LATCHKEY_WORKSPACE)
  --fob virtual|hid         the fob to use: the virtual fob (with --fob-state FILE) or a USB fob
  --fob-state FILE          the virtual fob's state file  --touch-ms N  its touch delay
  --new-fob virtual|hid     the fob to enrol (--new-fob-state FILE for a virtual one)
  --pkcs11 MODULE           a PKCS#11 module path (SoftHSM2, OpenSC, ykcs11): unlock with its token,
                            or with \`enrol pkcs11 --token LABEL --key-id HEX\` enrol that token's key
  --recovery-code           init: also add a recovery code slot and print the code once
  --recovery-code-stdin     read a recovery code from stdin (unlock with it)
  --pin-stdin               read the fob PIN from stdin (else LATCHKEY_PIN, else a prompt)
  --set-pin                 init/enrol: set that PIN on a fob that has none
  --password-stdin          enrol password: read the password from stdin
  --policy FILE             init: the unlock policy (JSON); the default is fob with PIN, token, or recovery code
  --socket PATH             the agent's socket (default: per user and workspace)
  --command CMD             shell: run CMD with sh -c instead of an interactive $SHELL
  --kdf-memory KIB          argon2id memory for recovery-code and password slots (default 65536)
`;

function usage(message: string): LatchkeyError {
  return new LatchkeyError('ERR_INVALID_ARGUMENT', message, { usage: true });
}

/** Lines of stdin, read once, handed out in order. */
class StdinLines {
  private lines: string[] | undefined;
  next(label: string): string {
    this.lines ??= readFileSync(0, 'utf8').split(/\r?\n/);
    const line = this.lines.shift();
    if (line === undefined || line === '') throw usage(`expected ${label} on stdin`);
    return line;
  }
}

/** Ask for a secret on the terminal without echo. */
async function promptHidden(question: string): Promise<string> {
  const input = process.stdin;
  if (!input.isTTY) throw usage(`${question.trim()}: no terminal to ask on (use --pin-stdin or LATCHKEY_PIN)`);
  process.stderr.write(question);
  input.setRawMode(true);
  input.resume();
  input.setEncoding('utf8');
  return new Promise((resolvePin, reject) => {
    let value = '';
    const onData = (chunk: string): void => {
      for (const c of chunk) {
        if (c === '\r' || c === '\n') {
          done();
          resolvePin(value);
          return;
        }
        if (c === '\u0003') {
          done();
          reject(new LatchkeyError('ERR_INVALID_ARGUMENT', 'cancelled', {}));
          return;
        }
        if (c === '\u007f') value = value.slice(0, -1);
        else value += c;
      }
    };
    const done = (): void => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write('\n');
    };
    input.on('data', onData);
  });
}

/** "touch your key" with a spinner on a terminal, a plain line otherwise. */
class TouchPrompt {
  private timer: NodeJS.Timeout | undefined;
  constructor(private readonly io: Io) {}
  start(): void {
    this.stop();
    if (!process.stderr.isTTY) {
      this.io.err('touch your key\n');
      return;
    }
    const frames = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏';
    let i = 0;
    this.timer = setInterval(() => {
      process.stderr.write(`\r${frames[i++ % frames.length]} touch your key`);
    }, 80);
  }
  stop(): void {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
    process.stderr.write('\r\u001b[K');
  }
}

function progress(io: Io, label: string): ((done: number, total: number) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  return (done, total) => {
    if (total < 1 << 20) return;
    io.err(
      `\r${label} ${Math.floor((done / total) * 100)}% (${(done / 2 ** 20).toFixed(1)} of ${(total / 2 ** 20).toFixed(1)} MiB)`,
    );
    if (done >= total) io.err('\n');
  };
}

interface FobHandle {
  readonly connection: HidConnection;
  readonly client: Ctap2Client;
  readonly pid?: number;
  close(): Promise<void>;
}

async function connectFob(kind: string, state: string | undefined, touchMs: string | undefined): Promise<FobHandle> {
  let connection: HidConnection;
  let pid: number | undefined;
  if (kind === 'virtual') {
    if (state === undefined)
      throw usage('`--fob virtual` needs `--fob-state FILE` (the virtual fob keeps its secrets there)');
    const { spawnPipeFob } = await import('../hardware/pipe-connection.js');
    const bin = new URL('../../bin/latchkey.js', import.meta.url).pathname;
    const fob = spawnPipeFob(
      process.execPath,
      [
        bin,
        'virtual-fob',
        '--pipe',
        '--state',
        resolve(state),
        ...(touchMs === undefined ? [] : ['--touch-ms', touchMs]),
      ],
      { stderr: 'ignore' },
    );
    connection = fob.connection;
    pid = fob.child.pid;
  } else if (kind === 'hid') {
    const { openFob } = await import('../hardware/node-hid.js');
    connection = await openFob();
  } else {
    throw usage(`unknown fob \`${kind}\`: expected \`virtual\` or \`hid\``);
  }
  const client = await Ctap2Client.open(connection);
  return {
    connection,
    client,
    ...(pid === undefined ? {} : { pid }),
    close: () => client.close(),
  };
}

const OPTIONS = {
  dir: { type: 'string' },
  fob: { type: 'string' },
  'fob-state': { type: 'string' },
  'touch-ms': { type: 'string' },
  'new-fob': { type: 'string' },
  'new-fob-state': { type: 'string' },
  pkcs11: { type: 'string' },
  token: { type: 'string' },
  'key-id': { type: 'string' },
  'recovery-code': { type: 'boolean' },
  'recovery-code-stdin': { type: 'boolean' },
  'pin-stdin': { type: 'boolean' },
  'set-pin': { type: 'boolean' },
  'password-stdin': { type: 'boolean' },
  policy: { type: 'string' },
  socket: { type: 'string' },
  command: { type: 'string' },
  label: { type: 'string' },
  'kdf-memory': { type: 'string' },
} as const;

type Values = {
  [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string;
};

class Session {
  readonly stdin = new StdinLines();
  readonly touch: TouchPrompt;
  private fobs: FobHandle[] = [];
  constructor(
    readonly values: Values,
    readonly io: Io,
  ) {
    this.touch = new TouchPrompt(io);
  }

  get dir(): string {
    const dir = this.values.dir ?? process.env.LATCHKEY_WORKSPACE;
    if (dir === undefined) throw usage('which workspace? give `--dir DIR` or set LATCHKEY_WORKSPACE');
    return resolve(dir);
  }

  get cost(): { m?: number } {
    const m = this.values['kdf-memory'];
    return m === undefined ? {} : { m: Number(m) };
  }

  async pin(what = 'fob'): Promise<string> {
    if (this.values['pin-stdin'] === true) return this.stdin.next('the PIN');
    const env = process.env.LATCHKEY_PIN;
    if (env !== undefined && env !== '') return env;
    return promptHidden(`${what} PIN: `);
  }

  private pkcs11Module: Pkcs11Module | undefined;

  async module(): Promise<Pkcs11Module> {
    const path = this.values.pkcs11;
    if (path === undefined) throw usage('give the PKCS#11 module with `--pkcs11 MODULE`');
    const { openPkcs11Module } = await import('../hardware/pkcs11/module.js');
    this.pkcs11Module ??= await openPkcs11Module(resolve(path));
    return this.pkcs11Module;
  }

  async fob(kind: string, state: string | undefined): Promise<FobHandle> {
    const handle = await connectFob(kind, state, this.values['touch-ms']);
    this.fobs.push(handle);
    return handle;
  }

  async fobPin(client: Ctap2Client): Promise<string | undefined> {
    if (client.info.options.clientPin === true) return this.pin();
    if (this.values['set-pin'] !== true) return undefined;
    const pin = await this.pin();
    await client.setPin(pin);
    return pin;
  }

  /** Openers from the options: the fob (--fob), a recovery code (--recovery-code-stdin). */
  async openers(withToken = true): Promise<{ openers: PartOpener[]; fob?: FobHandle }> {
    const openers: PartOpener[] = [];
    if (withToken && this.values.pkcs11 !== undefined) {
      openers.push(pkcs11Opener({ module: await this.module(), pin: await this.pin('token') }));
    }
    let fob: FobHandle | undefined;
    if (this.values['recovery-code-stdin'] === true) {
      openers.push(kdfOpener('recovery-code', this.stdin.next('the recovery code')));
    }
    if (this.values.fob !== undefined) {
      fob = await this.fob(this.values.fob, this.values['fob-state']);
      const client = fob.client;
      // asked only once the fob is known to be enrolled with its PIN
      openers.push(fobOpener({ client, pin: () => this.fobPin(client), onTouch: () => this.touch.start() }));
    }
    if (openers.length === 0) {
      throw usage('how to unlock? give `--fob virtual|hid`, `--pkcs11 MODULE` or `--recovery-code-stdin`');
    }
    return fob === undefined ? { openers } : { openers, fob };
  }

  async unlock(withToken = true): Promise<{ workspace: UnlockedWorkspace; fob?: FobHandle }> {
    const { openers, fob } = await this.openers(withToken);
    try {
      const seen = readSeen(this.dir);
      const { workspace } = await unlockWorkspace(this.dir, {
        openers,
        ...(seen === undefined ? {} : { minGeneration: seen }),
      });
      writeSeen(this.dir, workspace.generation);
      return fob === undefined ? { workspace } : { workspace, fob };
    } finally {
      this.touch.stop();
    }
  }

  /** Signals that mean the fob or token that opened `workspace` is gone. */
  async removal(
    workspace: UnlockedWorkspace,
    fob: FobHandle | undefined,
  ): Promise<{ signals: AbortSignal[]; stop(): void }> {
    const signals: AbortSignal[] = fob === undefined ? [] : [fob.connection.removed];
    const slot = workspace.slots().find((s) => s.id === workspace.openedBy);
    const token = slot?.parts.find((p): p is Pkcs11Part => p.kind === 'pkcs11');
    if (token === undefined) return { signals, stop: () => undefined };
    const watch = tokenRemovalSignal(await this.module(), token.tokenSerial);
    return { signals: [...signals, watch.signal], stop: () => watch.stop() };
  }

  async close(): Promise<void> {
    this.touch.stop();
    await this.pkcs11Module?.close().catch(() => undefined);
    for (const fob of this.fobs) await fob.close().catch(() => undefined);
  }
}

// --- the outside rollback counter: the highest generation this user has seen per workspace ---

function stateFolder(): string {
  const base = process.env.XDG_STATE_HOME ?? join(process.env.HOME ?? tmpdir(), '.local', 'state');
  return join(base, 'latchkey', 'workspaces');
}

function readSeen(dir: string): number | undefined {
  try {
    const id = inspectWorkspace(dir).id;
    const value = Number(readFileSync(join(stateFolder(), id), 'utf8'));
    return Number.isSafeInteger(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function writeSeen(dir: string, generation: number): void {
  try {
    const folder = stateFolder();
    mkdirSync(folder, { recursive: true, mode: 0o700 });
    writeFileSync(join(folder, inspectWorkspace(dir).id), String(generation), { mode: 0o600 });
  } catch {
    // best effort: without it only whole-folder rollback goes undetected
  }
}

// --- the agent socket ------------------------------------------------------------------------------

function defaultSocket(dir: string): string {
  const base = process.env.XDG_RUNTIME_DIR ?? join(tmpdir(), `latchkey-${process.getuid?.() ?? 'user'}`);
  return join(base, 'latchkey', `workspace-${inspectWorkspace(dir).id}.sock`);
}

function socketPath(session: Session): string {
  return session.values.socket === undefined ? defaultSocket(session.dir) : resolve(session.values.socket);
}

interface Request {
  readonly op: 'status' | 'put' | 'get' | 'ls' | 'rm' | 'lock';
  readonly name?: string;
  readonly data?: string;
}

const MAX_REQUEST = 96 << 20;

async function serve(agent: WorkspaceAgent, path: string, extra: () => Record<string, unknown>): Promise<() => void> {
  const folder = join(path, '..');
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  const stat = statSync(folder);
  if ((stat.mode & 0o077) !== 0 || (process.getuid !== undefined && stat.uid !== process.getuid())) {
    throw new LatchkeyError('ERR_WORKSPACE_AGENT', `the socket folder \`${folder}\` is not private to this user`, {});
  }
  try {
    await call(path, { op: 'status' });
    throw new LatchkeyError('ERR_WORKSPACE_AGENT', 'an agent already holds this workspace: `lock` it first', {});
  } catch (error) {
    if (!isLatchkeyError(error, 'ERR_WORKSPACE_AGENT') || error.message.startsWith('an agent already')) throw error;
  }
  rmSync(path, { force: true });
  const handle = async (request: Request): Promise<Record<string, unknown>> => {
    switch (request.op) {
      case 'status':
        return { locked: agent.isLocked, entries: agent.list().length, ...extra() };
      case 'put':
        await agent.put(String(request.name), fromBase64(String(request.data ?? ''), 'data'));
        return {};
      case 'get':
        return { data: base64(await agent.get(String(request.name))) };
      case 'ls':
        return { entries: agent.list() };
      case 'rm':
        await agent.remove(String(request.name));
        return {};
      case 'lock':
        agent.lock('requested', 'locked by `latchkey workspace lock`');
        return {};
      default:
        throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'unknown agent request', {});
    }
  };
  const server = createServer((socket: Socket) => {
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('error', () => undefined);
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      if (buffered.length > MAX_REQUEST) {
        socket.destroy();
        return;
      }
      const end = buffered.indexOf('\n');
      if (end < 0) return;
      const line = buffered.slice(0, end);
      buffered = '';
      let request: Request;
      try {
        request = JSON.parse(line) as Request;
      } catch {
        socket.end(`${JSON.stringify({ ok: false, code: 'ERR_INVALID_ARGUMENT', message: 'bad request' })}\n`);
        return;
      }
      handle(request).then(
        (result) => socket.end(`${JSON.stringify({ ok: true, ...result })}\n`),
        (error: unknown) => {
          const e = isLatchkeyError(error) ? error : new LatchkeyError('ERR_INTERNAL', (error as Error).message, {});
          socket.end(`${JSON.stringify({ ok: false, code: e.code, message: e.message })}\n`);
        },
      );
    });
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolveListen());
  });
  chmodSync(path, 0o600);
  return () => {
    server.close();
    rmSync(path, { force: true });
  };
}

async function call(path: string, request: Request): Promise<Record<string, unknown>> {
  return new Promise((resolveCall, reject) => {
    const socket = createConnection(path);
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('data', (chunk: string) => {
      buffered += chunk;
    });
    socket.on('error', (cause) =>
      reject(
        new LatchkeyError(
          'ERR_WORKSPACE_AGENT',
          'no agent holds this workspace: unlock it first (`latchkey workspace unlock`)',
          {},
          { cause },
        ),
      ),
    );
    socket.on('end', () => {
      try {
        const response = JSON.parse(buffered) as { ok: boolean; code?: string; message?: string };
        if (response.ok) resolveCall(response);
        else {
          reject(
            new LatchkeyError(
              (response.code ?? 'ERR_WORKSPACE_AGENT') as 'ERR_WORKSPACE_AGENT',
              response.message ?? 'the agent failed',
              {},
            ),
          );
        }
      } catch (cause) {
        reject(new LatchkeyError('ERR_WORKSPACE_AGENT', 'the agent closed the connection', {}, { cause }));
      }
    });
  });
}

// --- commands ----------------------------------------------------------------------------------------

async function init(session: Session): Promise<void> {
  const { values, io } = session;
  const enrollers: PartEnroller[] = [];
  let code: string | undefined;
  const policy = values.policy === undefined ? undefined : (JSON.parse(readFileSync(values.policy, 'utf8')) as Policy);
  if (values.fob !== undefined) {
    const fob = await session.fob(values.fob, values['fob-state']);
    const pin = await session.fobPin(fob.client);
    enrollers.push(
      fobEnroller({ client: fob.client, ...(pin === undefined ? {} : { pin }), onTouch: () => session.touch.start() }),
    );
  } else if (values['recovery-code'] === true) {
    code = generateRecoveryCode();
    enrollers.push(kdfEnroller('recovery-code', code, session.cost));
  } else {
    throw usage('init needs `--fob virtual|hid` and/or `--recovery-code`');
  }
  const workspace = await createWorkspace(session.dir, {
    slot: enrollers,
    ...(values.label === undefined ? {} : { label: values.label }),
    ...(policy === undefined ? {} : { policy }),
  });
  session.touch.stop();
  try {
    if (values.fob !== undefined && values['recovery-code'] === true) {
      code = generateRecoveryCode();
      await workspace.addSlot([kdfEnroller('recovery-code', code, session.cost)], { label: 'recovery code' });
    }
    writeSeen(session.dir, workspace.generation);
    io.out(`created workspace ${workspace.id} in ${session.dir}\n`);
    if (code !== undefined) io.out(`recovery code (shown once, keep it offline): ${code}\n`);
  } finally {
    workspace.lock();
  }
}

async function enrol(session: Session, what: string | undefined): Promise<void> {
  const { values, io } = session;
  const { workspace } = await session.unlock(what !== 'pkcs11');
  try {
    let id: string;
    if (what === 'fob') {
      const kind = values['new-fob'];
      if (kind === undefined) throw usage('enrol fob needs `--new-fob virtual|hid` (and `--new-fob-state FILE`)');
      const fob = await session.fob(kind, values['new-fob-state']);
      const pin = await session.fobPin(fob.client);
      id = await workspace.addSlot(
        [
          fobEnroller({
            client: fob.client,
            ...(pin === undefined ? {} : { pin }),
            onTouch: () => session.touch.start(),
          }),
        ],
        { label: values.label ?? 'fob' },
      );
      session.touch.stop();
    } else if (what === 'pkcs11') {
      const token = values.token;
      const keyId = values['key-id'];
      if (token === undefined || keyId === undefined) {
        throw usage('enrol pkcs11 needs `--pkcs11 MODULE --token LABEL --key-id HEX`');
      }
      id = await workspace.addSlot(
        [
          pkcs11Enroller({
            module: await session.module(),
            token: { label: token },
            key: { id: keyId },
            pin: await session.pin('token'),
          }),
        ],
        { label: values.label ?? `token ${token}` },
      );
    } else if (what === 'recovery-code') {
      const code = generateRecoveryCode();
      id = await workspace.addSlot([kdfEnroller('recovery-code', code, session.cost)], {
        label: values.label ?? 'recovery code',
      });
      io.out(`recovery code (shown once, keep it offline): ${code}\n`);
    } else if (what === 'password') {
      const password =
        values['password-stdin'] === true ? session.stdin.next('the password') : await promptHidden('new password: ');
      id = await workspace.addSlot([kdfEnroller('password', password, session.cost)], {
        label: values.label ?? 'password',
      });
    } else {
      throw usage('expected `enrol fob`, `enrol pkcs11`, `enrol recovery-code` or `enrol password`');
    }
    io.out(`added slot ${id}\n`);
  } finally {
    workspace.lock();
  }
}

async function removeSlot(session: Session, id: string | undefined): Promise<void> {
  if (id === undefined) throw usage('expected `remove-slot ID` (see `status`)');
  const { workspace } = await session.unlock();
  try {
    await workspace.removeSlot(id);
    session.io.out(`removed slot ${id}\n`);
  } finally {
    workspace.lock();
  }
}

async function unlock(session: Session): Promise<void> {
  const { workspace, fob } = await session.unlock();
  const removal = await session.removal(workspace, fob);
  const agent = new WorkspaceAgent(workspace, { removed: removal.signals });
  void agent.whenLocked().then(() => removal.stop());
  const path = socketPath(session);
  const stop = await serve(agent, path, () => ({ id: workspace.id, fobPid: fob?.pid ?? null, pid: process.pid }));
  const onSignal = (): void => {
    agent.lock('requested', 'the agent was stopped');
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  session.io.err(`unlocked; agent pid ${process.pid} on ${path}\n`);
  const event = await agent.whenLocked();
  stop();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  session.io.err(
    `locked (${event.message}); key wiped ${event.wipedAt - event.at} ms after${event.reason === 'removed' ? ' removal' : ''}\n`,
  );
}

async function shell(session: Session): Promise<number> {
  const { workspace, fob } = await session.unlock();
  const removal = await session.removal(workspace, fob);
  const agent = new WorkspaceAgent(workspace, { removed: removal.signals });
  void agent.whenLocked().then(() => removal.stop());
  const opening = progress(session.io, 'opening');
  const view = PlaintextView.open(workspace, opening === undefined ? {} : { progress: opening });
  agent.addFlusher(() => view.close(progress(session.io, 'sealing')));
  const command = session.values.command;
  const child = spawn(
    command === undefined ? (process.env.SHELL ?? '/bin/sh') : '/bin/sh',
    command === undefined ? [] : ['-c', command],
    {
      cwd: view.path,
      stdio: 'inherit',
      // A script runs in its own process group, so that removal ends everything it started; an
      // interactive shell stays in the terminal's foreground group (it hangs up its own jobs).
      detached: command !== undefined,
      env: {
        ...process.env,
        LATCHKEY_WORKSPACE_VIEW: view.path,
        // for demos and tests: the virtual fob's process, so that a script can "pull" it
        ...(fob?.pid === undefined ? {} : { LATCHKEY_VIRTUAL_FOB_PID: String(fob.pid) }),
      },
    },
  );
  session.io.err(`workspace open in ${view.path}; exit the shell to seal it\n`);
  const exited = new Promise<number>((resolveExit) => {
    child.once('exit', (status, signal) => resolveExit(status ?? (signal === null ? 1 : 128)));
    child.once('error', () => resolveExit(127));
  });
  const removed = agent.whenLocked().then((event) => {
    session.io.err(`\nlatchkey: ${event.message}: workspace sealed and locked\n`);
    if (command !== undefined && child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGHUP');
      } catch {
        // already gone
      }
    } else child.kill('SIGHUP');
  });
  const status = await exited;
  if (!agent.isLocked) agent.lock('requested', 'the shell exited');
  void removed;
  const event = agent.lockEvent;
  if (event !== undefined && !event.flushed) {
    throw new LatchkeyError(
      'ERR_WORKSPACE_AGENT',
      `changes could not be sealed: ${event.error ?? 'unknown error'}`,
      {},
    );
  }
  return event?.reason === 'removed' ? 1 : status;
}

async function status(session: Session): Promise<void> {
  const info = inspectWorkspace(session.dir);
  const { io } = session;
  io.out(
    `workspace ${info.id} (format v${info.version}), generation ${info.generation}, ${info.entryFiles} entry files\n`,
  );
  for (const slot of info.slots) {
    const uv = slot.parts.some((p) => p.kind === 'fob' && p.uv) ? ' (with PIN)' : '';
    io.out(`  slot ${slot.id}  ${slot.kinds.join(' + ')}${uv}  ${JSON.stringify(slot.label)}\n`);
  }
  try {
    const agent = await call(socketPath(session), { op: 'status' });
    const fobPid = agent.fobPid === null ? '' : `, virtual fob pid ${String(agent.fobPid)}`;
    io.out(`agent: unlocked, pid ${String(agent.pid)}${fobPid}, ${String(agent.entries)} entries\n`);
  } catch {
    io.out('agent: none (locked)\n');
  }
}

/** Run `latchkey workspace …`; resolves to the exit code. */
export async function workspaceCommand(args: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({ args: [...args], allowPositionals: true, options: OPTIONS });
  const [command, ...rest] = positionals;
  const session = new Session(values as Values, io);
  try {
    switch (command) {
      case 'init':
        await init(session);
        return 0;
      case 'enrol':
      case 'enroll':
        await enrol(session, rest[0]);
        return 0;
      case 'remove-slot':
        await removeSlot(session, rest[0]);
        return 0;
      case 'unlock':
        await unlock(session);
        return 0;
      case 'shell':
        return await shell(session);
      case 'status':
        await status(session);
        return 0;
      case 'lock':
        await call(socketPath(session), { op: 'lock' });
        io.out('locked\n');
        return 0;
      case 'put': {
        const [name, file] = rest;
        if (name === undefined) throw usage('expected `put NAME [FILE]`');
        const data = new Uint8Array(readFileSync(file === undefined || file === '-' ? 0 : file));
        await call(socketPath(session), { op: 'put', name, data: base64(data) });
        wipe(data);
        return 0;
      }
      case 'get': {
        const [name] = rest;
        if (name === undefined) throw usage('expected `get NAME`');
        const response = await call(socketPath(session), { op: 'get', name });
        process.stdout.write(fromBase64(String(response.data), 'data'));
        return 0;
      }
      case 'ls': {
        const response = await call(socketPath(session), { op: 'ls' });
        for (const entry of response.entries as { name: string; kind: string; size: number }[]) {
          io.out(`${entry.kind === 'setting' ? 's' : '-'} ${String(entry.size).padStart(10)}  ${entry.name}\n`);
        }
        return 0;
      }
      case 'rm': {
        const [name] = rest;
        if (name === undefined) throw usage('expected `rm NAME`');
        await call(socketPath(session), { op: 'rm', name });
        return 0;
      }
      case undefined:
      case 'help':
        io.out(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw usage(`unknown workspace command \`${command}\``);
    }
  } finally {
    await session.close();
  }
}
