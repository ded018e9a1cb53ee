/**
 * The workspace on real parts: latchkey's virtual CTAP2 fob (in process, and as the
 * `latchkey virtual-fob --pipe` process that a test kills to pull the fob), argon2id through
 * @node-rs/argon2, the policy engine, and the file system.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { Ctap2Client } from '../../src/hardware/ctap2.js';
import { spawnPipeFob } from '../../src/hardware/pipe-connection.js';
import { VirtualFob } from '../../src/hardware/virtual-fob.js';
import type { Policy } from '../../src/policy/types.js';
import {
  agentRequest,
  fobUnlocker,
  newRecoveryCode,
  passwordUnlocker,
  recoveryCodeUnlocker,
  serveAgent,
  Workspace,
  WorkspaceAgent,
} from '../../src/workspace/index.js';
import { builtVirtualFob, pipeFobCommand } from '../hardware/pipe-fob.js';
import { builtPackage, need } from '../helpers/components.js';
import { rejection } from '../helpers/errors.js';

const root = mkdtempSync(join(tmpdir(), 'latchkey-workspace-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (name: string) => join(root, `${name}-${n++}`);
/** Cheap argon2 for tests (the real default is 64 MiB, t=3, p=4). */
const cost = { m: 256, t: 1, p: 1 } as const;

async function fob(pin?: string): Promise<Ctap2Client> {
  const client = await Ctap2Client.open(new VirtualFob().connect());
  if (pin !== undefined) await client.setPin(pin);
  return client;
}

/** A workspace opened by fob A (with PIN), with fob B (no PIN) and a recovery code enrolled. */
async function threeSlots() {
  const dir = fresh('ws');
  const a = await fob('2468');
  const b = await fob();
  const code = newRecoveryCode();
  const ws = await Workspace.create(dir, fobUnlocker({ client: a, pin: '2468', label: 'blue key' }));
  await ws.addSlot(fobUnlocker({ client: b, label: 'backup key' }));
  await ws.addSlot(recoveryCodeUnlocker(code, { cost }));
  await ws.put('notes/todo.txt', 'buy milk');
  await ws.put('settings/theme', 'dark', 'setting');
  await ws.lock();
  return { dir, a, b, code };
}

describe('workspace: key slots and unlocking', () => {
  test('enrol two fobs and a recovery code; each one unlocks; contents and names come back', async () => {
    const { dir, a, b, code } = await threeSlots();
    for (const unlocker of [
      fobUnlocker({ client: a, pin: '2468' }),
      fobUnlocker({ client: b }),
      recoveryCodeUnlocker(code.toLowerCase().replace(/-/g, ' ')),
    ]) {
      const ws = await Workspace.unlock(dir, [unlocker]);
      expect(Buffer.from(await ws.get('notes/todo.txt')).toString()).toBe('buy milk');
      expect(ws.list().map((e) => [e.name, e.kind, e.size])).toEqual([
        ['notes/todo.txt', 'file', 8],
        ['settings/theme', 'setting', 4],
      ]);
      expect(ws.slots().map((s) => [s.kind, s.label, s.userVerified])).toEqual([
        ['fob', 'blue key', true],
        ['fob', 'backup key', false],
        ['recovery-code', 'recovery-code', undefined],
      ]);
      await ws.lock();
      expect((await rejection(ws.get('notes/todo.txt'))).code).toBe('ERR_WORKSPACE_LOCKED');
    }
  });

  test('names and contents are not on disk in clear', async () => {
    const { dir } = await threeSlots();
    const all = [
      readFileSync(join(dir, 'manifest')),
      ...readdirSync(join(dir, 'objects')).map((f) => readFileSync(join(dir, 'objects', f))),
    ];
    for (const bytes of all) {
      expect(bytes.includes('todo')).toBe(false);
      expect(bytes.includes('buy milk')).toBe(false);
      expect(bytes.includes('theme')).toBe(false);
    }
    // sizes are padded to 4 KiB (plus nonce and tag)
    for (const f of readdirSync(join(dir, 'objects')))
      expect(readFileSync(join(dir, 'objects', f)).length).toBe(4096 + 28);
  });

  test('wrong PIN, a PIN-enrolled slot without the PIN, and a fob that was never enrolled (identified without a touch)', async () => {
    const { dir, a } = await threeSlots();
    expect((await rejection(Workspace.unlock(dir, [fobUnlocker({ client: a, pin: '0000' })]))).code).toBe(
      'ERR_CTAP2_PIN_INVALID',
    );
    expect((await rejection(Workspace.unlock(dir, [fobUnlocker({ client: a })]))).code).toBe('ERR_CTAP2_PIN_REQUIRED');
    const stranger = await fob();
    let touches = 0;
    const refused = await rejection(
      Workspace.unlock(dir, [fobUnlocker({ client: stranger, onTouch: () => touches++ })]),
    );
    expect(refused.code).toBe('ERR_WORKSPACE_NO_SLOT');
    expect(refused.message).toMatch(/not enrolled/);
    expect(touches).toBe(0);
    expect((await rejection(Workspace.unlock(dir, [recoveryCodeUnlocker(newRecoveryCode())]))).code).toBe(
      'ERR_WORKSPACE_WRONG_KEY',
    );
  });

  test('the unlock policy decides, as for web sign-in: "fob with PIN, or recovery code plus password"', async () => {
    const policy: Policy = {
      rules: [
        {
          id: 'unlock',
          effect: 'permit',
          actions: ['unlock'],
          require: {
            any: [
              { factor: { factor: 'fob', userVerified: true } },
              { all: [{ factor: { factor: 'recovery-code' } }, { factor: { factor: 'password' } }] },
            ],
          },
        },
      ],
    };
    const dir = fresh('policy');
    const a = await fob('2468');
    const b = await fob();
    const code = newRecoveryCode();
    const ws = await Workspace.create(dir, fobUnlocker({ client: a, pin: '2468' }), { policy });
    await ws.addSlot(recoveryCodeUnlocker(code, { cost }));
    await ws.addSlot(passwordUnlocker('correct horse battery staple', { cost }));
    await ws.addSlot(fobUnlocker({ client: b }));
    await ws.lock();

    const alone = await rejection(Workspace.unlock(dir, [recoveryCodeUnlocker(code)]));
    expect(alone.code).toBe('ERR_WORKSPACE_POLICY');
    expect(JSON.stringify(alone.detail.stepUp)).toMatch(/password/);
    expect((await rejection(Workspace.unlock(dir, [fobUnlocker({ client: b })]))).code).toBe('ERR_WORKSPACE_POLICY');
    const both = await Workspace.unlock(dir, [
      recoveryCodeUnlocker(code),
      passwordUnlocker('correct horse battery staple'),
    ]);
    expect(both.decision?.allow).toBe(true);
    await both.lock();
    expect(
      (await rejection(Workspace.unlock(dir, [recoveryCodeUnlocker(code), passwordUnlocker('wrong horse')]))).code,
    ).toBe('ERR_WORKSPACE_WRONG_KEY');
    // the default policy names no password: no password slot
    const { dir: other, a: otherFob } = await threeSlots();
    const open = await Workspace.unlock(other, [fobUnlocker({ client: otherFob, pin: '2468' })]);
    expect((await rejection(open.addSlot(passwordUnlocker('a password', { cost })))).code).toBe('ERR_WORKSPACE_POLICY');
  });

  test('slots change only while unlocked, and the last one cannot be removed', async () => {
    const dir = fresh('slots');
    const a = await fob();
    const ws = await Workspace.create(dir, fobUnlocker({ client: a }));
    const [only] = ws.slots();
    expect((await rejection(ws.removeSlot(only?.id ?? ''))).code).toBe('ERR_WORKSPACE_LAST_SLOT');
    const code = newRecoveryCode();
    const added = await ws.addSlot(recoveryCodeUnlocker(code, { cost }));
    await ws.removeSlot(only?.id ?? '');
    expect(ws.slots().map((s) => s.id)).toEqual([added.id]);
    await ws.lock();
    expect((await rejection(ws.addSlot(fobUnlocker({ client: a })))).code).toBe('ERR_WORKSPACE_LOCKED');
    // the removed fob no longer opens it; the code does
    expect((await rejection(Workspace.unlock(dir, [fobUnlocker({ client: a })]))).code).toBe('ERR_WORKSPACE_NO_SLOT');
    await (await Workspace.unlock(dir, [recoveryCodeUnlocker(code)])).lock();
  });
});

describe('workspace: attacks on the folder', () => {
  async function opened() {
    const dir = fresh('attack');
    const code = newRecoveryCode();
    const state = join(root, `state-${n++}.json`);
    const ws = await Workspace.create(dir, recoveryCodeUnlocker(code, { cost }), { stateFile: state });
    await ws.put('a', 'alpha');
    await ws.put('b', 'bravo');
    await ws.lock();
    const reopen = () => Workspace.unlock(dir, [recoveryCodeUnlocker(code)], { stateFile: state });
    const objects = () => readdirSync(join(dir, 'objects')).map((f) => join(dir, 'objects', f));
    return { dir, code, state, reopen, objects };
  }
  async function objectOf(ws: Workspace, dir: string, name: string): Promise<string> {
    // the manifest is sealed: find the object by trying which one fails when removed
    for (const file of readdirSync(join(dir, 'objects'))) {
      const path = join(dir, 'objects', file);
      const saved = readFileSync(path);
      rmSync(path);
      const failed = await ws.get(name).then(
        () => false,
        () => true,
      );
      writeFileSync(path, saved);
      if (failed) return path;
    }
    throw new Error(`no object for ${name}`);
  }

  test('attack: a tampered object (one flipped bit) is refused', async () => {
    const { reopen, dir } = await opened();
    const ws = await reopen();
    const path = await objectOf(ws, dir, 'a');
    const bytes = readFileSync(path);
    bytes[100] = (bytes[100] as number) ^ 1;
    writeFileSync(path, bytes);
    const error = await rejection(ws.get('a'));
    expect(error.code).toBe('ERR_WORKSPACE_TAMPERED');
    expect(Buffer.from(await ws.get('b')).toString()).toBe('bravo');
  });

  test('attack: swapped objects are refused', async () => {
    const { reopen, dir } = await opened();
    const ws = await reopen();
    const pa = await objectOf(ws, dir, 'a');
    const pb = await objectOf(ws, dir, 'b');
    const [ba, bb] = [readFileSync(pa), readFileSync(pb)];
    writeFileSync(pa, bb);
    writeFileSync(pb, ba);
    expect((await rejection(ws.get('a'))).code).toBe('ERR_WORKSPACE_TAMPERED');
    expect((await rejection(ws.get('b'))).code).toBe('ERR_WORKSPACE_TAMPERED');
  });

  test('attack: a truncated object and a truncated manifest are refused', async () => {
    const { reopen, dir } = await opened();
    const ws = await reopen();
    truncateSync(await objectOf(ws, dir, 'a'), 50);
    expect((await rejection(ws.get('a'))).code).toBe('ERR_WORKSPACE_TAMPERED');
    await ws.lock();
    truncateSync(join(dir, 'manifest'), 40);
    expect((await rejection(reopen())).code).toBe('ERR_WORKSPACE_TAMPERED');
  });

  test('attack: a rolled-back entry (its older object put back) is refused', async () => {
    const { reopen, dir } = await opened();
    const ws = await reopen();
    const old = readFileSync(await objectOf(ws, dir, 'a'));
    await ws.put('a', 'alpha, version 2');
    writeFileSync(await objectOf(ws, dir, 'a'), old);
    expect((await rejection(ws.get('a'))).code).toBe('ERR_WORKSPACE_TAMPERED');
  });

  test('attack: the whole folder rolled back to an older copy is refused against the generation kept outside it', async () => {
    const { reopen, dir } = await opened();
    const copy = `${dir}-copy`;
    const { cpSync } = await import('node:fs');
    cpSync(dir, copy, { recursive: true });
    const ws = await reopen();
    await ws.put('a', 'alpha, version 2');
    await ws.lock();
    rmSync(dir, { recursive: true });
    cpSync(copy, dir, { recursive: true });
    const error = await rejection(reopen());
    expect(error.code).toBe('ERR_WORKSPACE_ROLLED_BACK');
  });

  test('attack: an old header put back (a removed slot restored) is refused; an edited header is refused', async () => {
    const { reopen, dir, code } = await opened();
    const oldHeader = readFileSync(join(dir, 'latchkey-workspace.json'));
    const ws = await reopen();
    const extra = newRecoveryCode();
    const added = await ws.addSlot(recoveryCodeUnlocker(extra, { cost }));
    const first = ws.slots().find((s) => s.id !== added.id);
    await ws.removeSlot(first?.id ?? '');
    await ws.lock();
    writeFileSync(join(dir, 'latchkey-workspace.json'), oldHeader);
    expect((await rejection(Workspace.unlock(dir, [recoveryCodeUnlocker(code)]))).code).toBe(
      'ERR_WORKSPACE_ROLLED_BACK',
    );
    // put the current header back, then weaken its policy by hand
    const current = await reopen().catch(() => null);
    expect(current).toBeNull();
    const header = JSON.parse(oldHeader.toString());
    header.policy = { rules: [{ id: 'any', effect: 'permit', actions: ['unlock'] }] };
    writeFileSync(join(dir, 'latchkey-workspace.json'), JSON.stringify(header));
    expect((await rejection(Workspace.unlock(dir, [recoveryCodeUnlocker(code)]))).code).toBe('ERR_WORKSPACE_TAMPERED');
  });

  test('bad input is a clear error: no workspace, a malformed header, bad names', async () => {
    expect((await rejection(Workspace.unlock(fresh('none'), [recoveryCodeUnlocker(newRecoveryCode())]))).code).toBe(
      'ERR_WORKSPACE_NOT_FOUND',
    );
    const { dir, reopen } = await opened();
    const ws = await reopen();
    expect((await rejection(ws.put('', 'x'))).code).toBe('ERR_INVALID_ARGUMENT');
    expect((await rejection(ws.get('missing'))).code).toBe('ERR_WORKSPACE_ENTRY_NOT_FOUND');
    await ws.lock();
    writeFileSync(join(dir, 'latchkey-workspace.json'), '{"format":"latchkey-workspace","version":1');
    expect((await rejection(reopen())).code).toBe('ERR_WORKSPACE_FORMAT');
    expect((await rejection(Workspace.create(dir, recoveryCodeUnlocker(newRecoveryCode())))).code).toBe(
      'ERR_WORKSPACE_EXISTS',
    );
  });
});

describe.runIf(need(builtVirtualFob(), builtPackage()))('workspace: lock on removal, crash safety (processes)', () => {
  test('pulling the fob (killing the virtual fob process) locks and wipes within one second; the change just before is sealed', async () => {
    const dir = fresh('pull');
    const state = join(root, `fob-${n++}.json`);
    const start = () => {
      const [node, ...rest] = pipeFobCommand('--state', state, '--touch-ms', '10');
      return spawnPipeFob(node as string, rest);
    };
    const first = start();
    const client = await Ctap2Client.open(first.connection);
    await client.setPin('2468');
    const ws = await Workspace.create(dir, fobUnlocker({ client, pin: '2468' }));
    const agent = new WorkspaceAgent(ws, { removal: [first.connection.removed] });
    const socket = join(root, `agent-${n++}`, 'agent.sock');
    await serveAgent(agent, socket);
    await agentRequest(socket, {
      op: 'put',
      name: 'draft.txt',
      data: Buffer.from('written just before').toString('base64'),
    });
    const inFlight = ws.put('in-flight.txt', 'racing the pull').then(
      () => true,
      () => false,
    );
    const pulled = performance.now();
    await first.kill();
    const locked = await agent.locked;
    const wiped = performance.now() - pulled;
    expect(locked.reason).toMatch(/^removed/);
    expect(wiped).toBeLessThan(1000);
    expect((await rejection(ws.get('draft.txt'))).code).toBe('ERR_WORKSPACE_LOCKED');
    expect((await rejection(agentRequest(socket, { op: 'ls' }))).code).toBe('ERR_WORKSPACE_LOCKED');
    const acknowledged = await inFlight;

    const again = start();
    const back = await Ctap2Client.open(again.connection);
    const reopened = await Workspace.unlock(dir, [fobUnlocker({ client: back, pin: '2468' })]);
    expect(Buffer.from(await reopened.get('draft.txt')).toString()).toBe('written just before');
    if (acknowledged) expect(Buffer.from(await reopened.get('in-flight.txt')).toString()).toBe('racing the pull');
    await reopened.lock();
    await back.close();
  });

  test('kill -9 during a long series of writes: every acknowledged write is intact', async () => {
    const dir = fresh('crash');
    const code = newRecoveryCode();
    const child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', 'writer.mjs'), dir, code], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const acked: number[] = [];
    await new Promise<void>((resolve) => {
      let buffer = '';
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
        buffer += chunk;
        for (const line of buffer.split('\n').slice(0, -1)) {
          const match = /^ack (\d+)$/.exec(line);
          if (match) acked.push(Number(match[1]));
        }
        buffer = buffer.slice(buffer.lastIndexOf('\n') + 1);
        if (acked.length >= 40 && child.exitCode === null && !child.killed) {
          child.kill('SIGKILL');
        }
      });
      child.once('exit', () => resolve());
    });
    expect(child.signalCode).toBe('SIGKILL');
    expect(acked.length).toBeGreaterThanOrEqual(40);
    const ws = await Workspace.unlock(dir, [recoveryCodeUnlocker(code)]);
    for (const i of acked) {
      expect(Buffer.from(await ws.get(`file-${i}`)).toString()).toBe(`content ${i} `.repeat(200));
    }
    // no temporary files or unreferenced objects are left behind
    expect(readdirSync(dir).filter((f) => f.startsWith('.tmp-'))).toEqual([]);
    expect(readdirSync(join(dir, 'objects')).length).toBe(ws.list().length);
    await ws.lock();
  });
});

describe('workspace agent protocol', () => {
  test('status, put, get, ls, rm and lock over the socket; the socket is private', async () => {
    const dir = fresh('agent');
    const ws = await Workspace.create(dir, recoveryCodeUnlocker(newRecoveryCode(), { cost }));
    const agent = new WorkspaceAgent(ws);
    const socket = join(root, `agent-${n++}`, 'agent.sock');
    await serveAgent(agent, socket);
    const { statSync } = await import('node:fs');
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    await agentRequest(socket, { op: 'put', name: 'x', data: Buffer.from('hello').toString('base64') });
    expect(Buffer.from(String((await agentRequest(socket, { op: 'get', name: 'x' })).data), 'base64').toString()).toBe(
      'hello',
    );
    expect((await agentRequest(socket, { op: 'status' })).entries).toBe(1);
    await agentRequest(socket, { op: 'rm', name: 'x' });
    expect((await agentRequest(socket, { op: 'ls' })).entries).toEqual([]);
    expect((await rejection(agentRequest(socket, { op: 'get', name: 'x' }))).code).toBe(
      'ERR_WORKSPACE_ENTRY_NOT_FOUND',
    );
    await agentRequest(socket, { op: 'lock' });
    expect(ws.locked).toBe(true);
  });
});
