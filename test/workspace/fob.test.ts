/**
 * Fob slots with the virtual fob over the pipe (the built `latchkey virtual-fob --pipe`): two
 * fobs and a recovery code enrolled, each unlocks; wrong PIN; a fob never enrolled; the fob
 * pulled (process killed) locks the agent within a second with a change made just before sealed.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utf8 } from '../../src/core/bytes.js';
import { Ctap2Client } from '../../src/hardware/ctap2.js';
import { type PipeFob, spawnPipeFob } from '../../src/hardware/pipe-connection.js';
import {
  createWorkspace,
  fobEnroller,
  fobOpener,
  generateRecoveryCode,
  kdfEnroller,
  kdfOpener,
  PlaintextView,
  unlockWorkspace,
  WorkspaceAgent,
} from '../../src/workspace/index.js';
import { builtVirtualFob, pipeFobCommand } from '../hardware/pipe-fob.js';
import { need } from '../helpers/components.js';
import { rejection } from '../helpers/errors.js';

const root = mkdtempSync(join(tmpdir(), 'latchkey-wsfob-'));
const folder = join(root, 'ws');
const cost = { m: 256, t: 1, p: 1 };
const code = generateRecoveryCode();
const started: PipeFob[] = [];

function plug(name: string, touchMs = 20): { fob: PipeFob; open: () => Promise<Ctap2Client> } {
  const [node, ...rest] = pipeFobCommand('--state', join(root, `${name}.json`), '--touch-ms', String(touchMs));
  const fob = spawnPipeFob(node as string, rest);
  started.push(fob);
  return { fob, open: () => Ctap2Client.open(fob.connection) };
}

async function withFob<T>(name: string, run: (client: Ctap2Client, fob: PipeFob) => Promise<T>): Promise<T> {
  const { fob, open } = plug(name);
  const client = await open();
  try {
    return await run(client, fob);
  } finally {
    await client.close().catch(() => undefined);
  }
}

afterAll(async () => {
  for (const fob of started) await fob.kill().catch(() => undefined);
  rmSync(root, { recursive: true, force: true });
});

describe.runIf(need(builtVirtualFob()))('fob slots over the pipe', () => {
  beforeAll(async () => {
    for (const name of ['alice', 'backup', 'stranger']) {
      await withFob(name, (client) => client.setPin('2468'));
    }
    const touches: string[] = [];
    const ws = await withFob('alice', (client) =>
      createWorkspace(folder, {
        slot: [fobEnroller({ client, pin: '2468', onTouch: () => touches.push('alice') })],
        label: 'alice fob',
      }),
    );
    expect(touches).toEqual(['alice', 'alice']);
    await withFob('backup', (client) => ws.addSlot([fobEnroller({ client, pin: '2468' })], { label: 'backup fob' }));
    await ws.addSlot([kdfEnroller('recovery-code', code, cost)], { label: 'recovery code' });
    await ws.put('notes.txt', utf8('hello from alice'));
    ws.lock();
  }, 60_000);

  it('the slot stores credential id, rpId, salt and UV; the fob enrolled with its PIN', () => {
    const header = JSON.parse(readFileSync(join(folder, 'workspace.json'), 'utf8'));
    const part = header.slots[0].parts[0];
    expect(Object.keys(part).sort()).toEqual(['credentialId', 'kind', 'rpId', 'salt', 'uv']);
    expect(part.uv).toBe(true);
    expect(part.rpId).toBe('latchkey-workspace');
  });

  it('each enrolled fob and the recovery code unlock it', async () => {
    for (const name of ['alice', 'backup']) {
      const { workspace, slotId, decision } = await withFob(name, (client) =>
        unlockWorkspace(folder, { openers: [fobOpener({ client, pin: '2468' })] }),
      );
      expect(decision.allow).toBe(true);
      expect(workspace.slots().find((s) => s.id === slotId)?.label).toBe(`${name} fob`);
      expect(Buffer.from(workspace.read('notes.txt')).toString()).toBe('hello from alice');
      workspace.lock();
    }
    const { workspace } = await unlockWorkspace(folder, { openers: [kdfOpener('recovery-code', code)] });
    expect(workspace.list()).toHaveLength(1);
    workspace.lock();
  }, 30_000);

  it('a wrong PIN is ERR_CTAP2_PIN_INVALID, no PIN is ERR_CTAP2_PIN_REQUIRED', async () => {
    await withFob('alice', async (client) => {
      const wrong = await rejection(unlockWorkspace(folder, { openers: [fobOpener({ client, pin: '0000' })] }));
      expect(wrong.code).toBe('ERR_CTAP2_PIN_INVALID');
      const none = await rejection(unlockWorkspace(folder, { openers: [fobOpener({ client })] }));
      expect(none.code).toBe('ERR_CTAP2_PIN_REQUIRED');
      // the right PIN still works (retries were restored)
      const { workspace } = await unlockWorkspace(folder, { openers: [fobOpener({ client, pin: '2468' })] });
      workspace.lock();
    });
  }, 30_000);

  it('a fob that was never enrolled is identified without a touch or a PIN and refused', async () => {
    const touches: number[] = [];
    const asked: number[] = [];
    const error = await withFob('stranger', (client) =>
      rejection(
        unlockWorkspace(folder, {
          openers: [
            fobOpener({
              client,
              pin: async () => {
                asked.push(1);
                return '2468';
              },
              onTouch: () => touches.push(1),
            }),
          ],
        }),
      ),
    );
    expect(error.code).toBe('ERR_WORKSPACE_FOB_NOT_ENROLLED');
    expect(touches).toEqual([]);
    expect(asked).toEqual([]);
  });

  it('the same fob cannot be enrolled twice', async () => {
    const { workspace } = await unlockWorkspace(folder, { openers: [kdfOpener('recovery-code', code)] });
    const error = await withFob('backup', (client) =>
      rejection(workspace.addSlot([fobEnroller({ client, pin: '2468' })])),
    );
    expect(error.code).toBe('ERR_INVALID_ARGUMENT');
    expect(workspace.slots()).toHaveLength(3);
    workspace.lock();
  }, 30_000);

  it('the fob pulled while waiting for the touch is ERR_FOB_REMOVED, and nothing is unlocked', async () => {
    const { fob, open } = plug('alice', 10_000);
    const client = await open();
    const pending = unlockWorkspace(folder, {
      openers: [fobOpener({ client, pin: '2468', onTouch: () => setTimeout(() => void fob.kill(), 100) })],
    });
    const error = await rejection(pending);
    expect(error.code).toBe('ERR_FOB_REMOVED');
  }, 30_000);

  it('fob pulled: the agent seals a change made just before, wipes and refuses within one second', async () => {
    const { fob, open } = plug('alice');
    const client = await open();
    const { workspace } = await unlockWorkspace(folder, { openers: [fobOpener({ client, pin: '2468' })] });
    const agent = new WorkspaceAgent(workspace, { removed: [fob.connection.removed] });
    const view = PlaintextView.open(workspace, { parent: root });
    agent.addFlusher(() => view.close());
    expect(readFileSync(join(view.path, 'notes.txt'), 'utf8')).toBe('hello from alice');
    writeFileSync(join(view.path, 'draft.txt'), 'written just before the fob was pulled');

    const pulledAt = Date.now();
    await fob.kill();
    const event = await agent.whenLocked();
    expect(event.reason).toBe('removed');
    expect(event.flushed).toBe(true);
    expect(event.wipedAt - pulledAt).toBeLessThan(1000);
    await expect(agent.get('notes.txt')).rejects.toMatchObject({ code: 'ERR_WORKSPACE_LOCKED' });
    expect(() => workspace.read('notes.txt')).toThrow(expect.objectContaining({ code: 'ERR_WORKSPACE_LOCKED' }));
    expect(existsSync(view.path)).toBe(false);

    const again = await unlockWorkspace(folder, { openers: [kdfOpener('recovery-code', code)] });
    expect(Buffer.from(again.workspace.read('draft.txt')).toString()).toBe('written just before the fob was pulled');
    again.workspace.lock();
  }, 30_000);
});

describe.runIf(need(builtVirtualFob()))('a blocked PIN', () => {
  it('three wrong PINs block PIN auth until the fob is replugged; eight block the PIN; both are clear errors', async () => {
    const spare = join(root, 'spare-ws');
    await withFob('spare', (client) => client.setPin('2468'));
    const ws = await withFob('spare', (client) =>
      createWorkspace(spare, { slot: [fobEnroller({ client, pin: '2468' })] }),
    );
    ws.lock();
    const codes: string[] = [];
    for (let cycle = 0; cycle < 3 && !codes.includes('ERR_CTAP2_PIN_BLOCKED'); cycle++) {
      await withFob('spare', async (client) => {
        for (let attempt = 0; attempt < 3; attempt++) {
          const error = await rejection(unlockWorkspace(spare, { openers: [fobOpener({ client, pin: '0000' })] }));
          codes.push(error.code);
          if (error.code !== 'ERR_CTAP2_PIN_INVALID') break;
        }
      });
    }
    expect(codes.slice(0, 3)).toEqual(['ERR_CTAP2_PIN_INVALID', 'ERR_CTAP2_PIN_INVALID', 'ERR_CTAP2_PIN_AUTH_BLOCKED']);
    const final = await withFob('spare', (client) =>
      rejection(unlockWorkspace(spare, { openers: [fobOpener({ client, pin: '2468' })] })),
    );
    expect(final.code).toBe('ERR_CTAP2_PIN_BLOCKED');
  }, 60_000);
});
