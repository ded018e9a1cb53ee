/**
 * A workspace key slot on a PKCS#11 token: SoftHSM2 behind latchkey's fault-injecting module, so
 * that pulling the token out is simulated for real (the module reports the slot empty).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openPkcs11Module, type Pkcs11Module } from '../../src/hardware/pkcs11/module.js';
import type { Pkcs11Session } from '../../src/hardware/pkcs11/session.js';
import {
  newRecoveryCode,
  pkcs11Unlocker,
  recoveryCodeUnlocker,
  tokenRemovalSignal,
  Workspace,
  WorkspaceAgent,
} from '../../src/workspace/index.js';
import {
  buildFaultModule,
  createSoftHsm,
  type FaultControl,
  pkcs11Components,
  type SoftHsm,
} from '../hardware/pkcs11/softhsm.js';
import { need } from '../helpers/components.js';
import { rejection } from '../helpers/errors.js';

const PIN = '4321';
const cost = { m: 256, t: 1, p: 1 } as const;

describe.runIf(need(...pkcs11Components()))('workspace: a PKCS#11 slot on SoftHSM2', () => {
  let hsm: SoftHsm;
  let control: FaultControl;
  let module: Pkcs11Module;
  let serial: string;
  const root = mkdtempSync(join(tmpdir(), 'latchkey-ws-pkcs11-'));

  beforeAll(async () => {
    hsm = createSoftHsm();
    serial = hsm.initToken('desk-card', { pin: PIN, soPin: '8765' });
    const fault = buildFaultModule(hsm.dir);
    control = fault.control;
    module = await openPkcs11Module(fault.path);
    const session = await module.openSession({ label: 'desk-card' }, { readWrite: true });
    await session.login(PIN);
    await session.generateKeyPair({ type: 'EC', curve: 'P-256' }, { id: 'a1', label: 'workspace' });
    await session.logout();
    await session.close();
  });
  afterAll(async () => {
    await module?.close();
    hsm?.dispose();
    rmSync(root, { recursive: true, force: true });
  });

  async function unlockerOn(session: Pkcs11Session) {
    const privateKey = await session.findKey({ label: 'workspace', class: 'private' });
    return pkcs11Unlocker({ session, privateKey, publicKey: await session.publicKey(privateKey), label: 'desk card' });
  }

  test('the token opens its slot (ECDH on the token); a workspace without a token slot names what is missing', async () => {
    control.reset();
    const dir = join(root, 'ws');
    const code = newRecoveryCode();
    const ws = await Workspace.create(dir, recoveryCodeUnlocker(code, { cost }));
    const session = await module.openSession({ label: 'desk-card' });
    await session.login(PIN);
    const unlocker = await unlockerOn(session);
    expect((await rejection(Workspace.unlock(dir, [unlocker]))).code).toBe('ERR_WORKSPACE_NO_SLOT');
    const slot = await ws.addSlot(unlocker);
    expect(slot).toMatchObject({ kind: 'pkcs11', label: 'desk card' });
    await ws.put('ledger.csv', 'date,amount\n');
    await ws.lock();
    const opened = await Workspace.unlock(dir, [unlocker]);
    expect(opened.evidence[0]).toMatchObject({ factor: 'pkcs11', amr: ['sc', 'pin'], hardwareBound: true });
    expect(Buffer.from(await opened.get('ledger.csv')).toString()).toBe('date,amount\n');
    await opened.lock();
    await session.close();
  });

  test('pulling the token out locks the agent within one second, even while it sits idle', async () => {
    control.reset();
    const dir = join(root, 'ws-pull');
    const ws = await Workspace.create(dir, recoveryCodeUnlocker(newRecoveryCode(), { cost }));
    const session = await module.openSession({ label: 'desk-card' });
    await session.login(PIN);
    await ws.addSlot(await unlockerOn(session));
    await ws.lock();
    const opened = await Workspace.unlock(dir, [await unlockerOn(session)]);
    await opened.put('draft', 'sealed before the pull');
    const removal = await tokenRemovalSignal(module, serial, { session, intervalMs: 50 });
    const agent = new WorkspaceAgent(opened, { removal: [removal.signal] });
    const pulled = performance.now();
    control.unplug(serial);
    const locked = await agent.locked;
    expect(performance.now() - pulled).toBeLessThan(1000);
    expect(locked.reason).toMatch(/removed/);
    expect((await rejection(opened.get('draft'))).code).toBe('ERR_WORKSPACE_LOCKED');
    removal.stop();
    control.plug(serial);
    await session.close().catch(() => undefined);
    const again = await module.openSession({ label: 'desk-card' });
    await again.login(PIN);
    const back = await Workspace.unlock(dir, [await unlockerOn(again)]);
    expect(Buffer.from(await back.get('draft')).toString()).toBe('sealed before the pull');
    await back.lock();
    await again.close();
  });
});
