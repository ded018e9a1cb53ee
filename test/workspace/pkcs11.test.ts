/**
 * PKCS#11 slots on SoftHSM2 tokens, reached through the fault-injecting module so that the
 * token can be pulled out: an EC (ECDH-ES) and an RSA (RSA-OAEP) slot unlock; a wrong PIN; the
 * token pulled locks the agent with a change made just before sealed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utf8 } from '../../src/core/bytes.js';
import { openPkcs11Module, type Pkcs11Module } from '../../src/hardware/pkcs11/module.js';
import {
  createWorkspace,
  generateRecoveryCode,
  kdfEnroller,
  kdfOpener,
  PlaintextView,
  pkcs11Enroller,
  pkcs11Opener,
  tokenRemovalSignal,
  unlockWorkspace,
  WorkspaceAgent,
} from '../../src/workspace/index.js';
import {
  buildFaultModule,
  createSoftHsm,
  type FaultControl,
  pkcs11Components,
  type SoftHsm,
} from '../hardware/pkcs11/softhsm.js';
import { need, repoRoot } from '../helpers/components.js';
import { rejection } from '../helpers/errors.js';

const PIN = '1234';
const cost = { m: 256, t: 1, p: 1 };

describe.runIf(need(...pkcs11Components()))('PKCS#11 slots on SoftHSM2', () => {
  let hsm: SoftHsm;
  let control: FaultControl;
  let module: Pkcs11Module;
  let serial: string;
  let modulePath: string;
  const root = mkdtempSync(join(tmpdir(), 'latchkey-wsp11-'));
  const folder = join(root, 'ws');
  const code = generateRecoveryCode();

  beforeAll(async () => {
    hsm = createSoftHsm();
    serial = hsm.initToken('ws-card', { pin: PIN, soPin: '5678' });
    const tool = (...args: string[]) => hsm.tool(['--token-label', 'ws-card', '--login', '--pin', PIN, ...args]);
    tool('--keypairgen', '--key-type', 'EC:prime256v1', '--id', '01', '--label', 'ec');
    tool('--keypairgen', '--key-type', 'rsa:2048', '--id', '02', '--label', 'rsa');
    const fault = buildFaultModule(hsm.dir);
    control = fault.control;
    modulePath = fault.path;
    module = await openPkcs11Module(fault.path);
    const ws = await createWorkspace(folder, { slot: [kdfEnroller('recovery-code', code, cost)] });
    await ws.addSlot([pkcs11Enroller({ module, token: { label: 'ws-card' }, key: { id: '01' }, pin: PIN })], {
      label: 'card (EC)',
    });
    await ws.addSlot(
      [pkcs11Enroller({ module, token: { label: 'ws-card' }, key: { id: '02' }, pin: PIN, algorithm: 'RSA-OAEP' })],
      { label: 'card (RSA)' },
    );
    await ws.put('notes.txt', utf8('on the card'));
    ws.lock();
  }, 60_000);

  afterAll(async () => {
    await module?.close();
    hsm?.dispose();
    rmSync(root, { recursive: true, force: true });
  });

  it('the slots store the token and key id and a JWE, no secret', () => {
    const header = JSON.parse(readFileSync(join(folder, 'workspace.json'), 'utf8'));
    const parts = header.slots.slice(1).map((s: { parts: { keyId: string; jwe: string }[] }) => s.parts[0]);
    expect(parts.map((p: { keyId: string }) => p.keyId)).toEqual(['01', '02']);
    expect(JSON.parse(Buffer.from(parts[0].jwe.split('.')[0], 'base64url').toString()).alg).toBe('ECDH-ES+A256KW');
    expect(JSON.parse(Buffer.from(parts[1].jwe.split('.')[0], 'base64url').toString()).alg).toBe('RSA-OAEP');
  });

  it('the token unlocks the workspace (policy: a PKCS#11 token)', async () => {
    const { workspace, decision } = await unlockWorkspace(folder, { openers: [pkcs11Opener({ module, pin: PIN })] });
    expect(decision.allow).toBe(true);
    expect(Buffer.from(workspace.read('notes.txt')).toString()).toBe('on the card');
    workspace.lock();
  });

  it('the RSA-OAEP slot unlocks too when the EC key is gone from the header', async () => {
    const header = JSON.parse(readFileSync(join(folder, 'workspace.json'), 'utf8'));
    // Unlocking with only the RSA slot: remove the EC slot through the API (needs the workspace unlocked).
    const { workspace } = await unlockWorkspace(folder, { openers: [kdfOpener('recovery-code', code)] });
    await workspace.removeSlot(header.slots[1].id);
    workspace.lock();
    const again = await unlockWorkspace(folder, { openers: [pkcs11Opener({ module, pin: PIN })] });
    expect(again.slotId).toBe(header.slots[2].id);
    again.workspace.lock();
  });

  it('a wrong token PIN is ERR_PKCS11_PIN_INCORRECT', async () => {
    const error = await rejection(unlockWorkspace(folder, { openers: [pkcs11Opener({ module, pin: '0000' })] }));
    expect(error.code).toBe('ERR_PKCS11_PIN_INCORRECT');
  });

  it('token pulled: the agent seals a change made just before, wipes and refuses within one second', async () => {
    const { workspace } = await unlockWorkspace(folder, { openers: [pkcs11Opener({ module, pin: PIN })] });
    const removal = tokenRemovalSignal(module, serial);
    const agent = new WorkspaceAgent(workspace, { removed: [removal.signal] });
    const view = PlaintextView.open(workspace, { parent: root });
    agent.addFlusher(() => view.close());
    writeFileSync(join(view.path, 'draft.txt'), 'just before the card was pulled');
    await new Promise((resolve) => setTimeout(resolve, 250)); // the watcher has seen the token
    const pulledAt = Date.now();
    control.unplug(serial);
    const event = await agent.whenLocked();
    removal.stop();
    expect(event.reason).toBe('removed');
    expect(event.flushed).toBe(true);
    expect(event.wipedAt - pulledAt).toBeLessThan(1000);
    await expect(agent.get('notes.txt')).rejects.toMatchObject({ code: 'ERR_WORKSPACE_LOCKED' });
    control.plug(serial);
    const again = await unlockWorkspace(folder, { openers: [kdfOpener('recovery-code', code)] });
    expect(Buffer.from(again.workspace.read('draft.txt')).toString()).toBe('just before the card was pulled');
    again.workspace.lock();
  });

  it('a token pulled before the removal watcher first lists it still counts as removed', async () => {
    const removal = tokenRemovalSignal(module, serial);
    control.unplug(serial);
    const aborted = await new Promise<boolean>((resolve) => {
      if (removal.signal.aborted) resolve(true);
      removal.signal.addEventListener('abort', () => resolve(true), { once: true });
      setTimeout(() => resolve(false), 1000).unref();
    });
    removal.stop();
    control.plug(serial);
    expect(aborted).toBe(true);
  });

  it('CLI: `enrol pkcs11` with a module path, then the agent on the token locks when it is pulled', async () => {
    const env = { ...process.env, XDG_STATE_HOME: join(root, 'state'), XDG_RUNTIME_DIR: join(root, 'run') };
    mkdirSync(env.XDG_RUNTIME_DIR, { recursive: true, mode: 0o700 });
    const bin = join(repoRoot, 'bin', 'latchkey.js');
    const enrol = spawnSync(
      process.execPath,
      [
        bin,
        'workspace',
        'enrol',
        'pkcs11',
        '--dir',
        folder,
        '--recovery-code-stdin',
        '--pkcs11',
        modulePath,
        '--token',
        'ws-card',
        '--key-id',
        '01',
        '--pin-stdin',
      ],
      { env, input: `${code}\n${PIN}\n`, encoding: 'utf8', timeout: 60_000 },
    );
    expect(enrol.status, enrol.stderr).toBe(0);
    expect(enrol.stdout).toMatch(/added slot/);
    const agent = spawn(
      process.execPath,
      [bin, 'workspace', 'unlock', '--dir', folder, '--pkcs11', modulePath, '--pin-stdin'],
      { env },
    );
    agent.stdin.end(`${PIN}\n`);
    let err = '';
    agent.stderr.setEncoding('utf8');
    const exited = new Promise<number | null>((resolve) => agent.once('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      agent.stderr.on('data', (text: string) => {
        err += text;
        if (err.includes('unlocked;')) resolve();
      });
      agent.once('exit', () => reject(new Error(err)));
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    control.unplug(serial);
    expect(await exited).toBe(0);
    expect(err).toMatch(/locked \(the token was removed\); key wiped \d+ ms after removal/);
    control.plug(serial);
  }, 60_000);
});
