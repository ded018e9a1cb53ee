// @ts-check
// Story 2, "a fob unlocks a workspace": Alice's files are encrypted at rest in a folder. Her fob
// (touch + PIN) opens it, offline; so do her backup fob and a printed recovery code; a password
// alone does not, and neither does a stranger's fob. She pulls the fob out: the agent seals what
// she just wrote, wipes the key and refuses reads within a second. The fobs are latchkey's
// virtual fob as separate processes over the pipe (`latchkey virtual-fob --pipe`); killing one
// is pulling it out. With a real key: `Ctap2Client.open(await openFob())`.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isLatchkeyError } from 'latchkey';
import { Ctap2Client, spawnPipeFob } from 'latchkey/fob';
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
} from 'latchkey/workspace';

const bin = new URL('../bin/latchkey.js', import.meta.url).pathname;
const PIN = '2468';
// Cheap argon2id for a demo; the default is 64 MiB, 3 passes.
const cost = { m: 1024, t: 1, p: 1 };

/** @param {(line: string) => void} say */
export async function run(say) {
  const root = mkdtempSync(join(tmpdir(), 'latchkey-story2-'));
  /** @type {import('latchkey/fob').PipeFob[]} */
  const fobs = [];
  /** @param {string} name */
  const plug = async (name) => {
    const fob = spawnPipeFob(process.execPath, [bin, 'virtual-fob', '--pipe', '--state', join(root, `${name}.json`)]);
    fobs.push(fob);
    return { fob, client: await Ctap2Client.open(fob.connection) };
  };
  /** @param {unknown} error */
  const code = (error) => (isLatchkeyError(error) ? error.code : String(error));
  try {
    const folder = join(root, 'alice-workspace');
    const alice = await plug('alice');
    await alice.client.setPin(PIN);
    let touches = 0;
    const ws = await createWorkspace(folder, {
      slot: [fobEnroller({ client: alice.client, pin: PIN, onTouch: () => touches++ })],
      label: 'blue fob',
    });
    say(`created workspace ${ws.id.slice(0, 8)}… with Alice's fob (${touches} touches, PIN)`);
    const backup = await plug('backup');
    await backup.client.setPin(PIN);
    await ws.addSlot([fobEnroller({ client: backup.client, pin: PIN })], { label: 'backup fob' });
    const recovery = generateRecoveryCode();
    await ws.addSlot([kdfEnroller('recovery-code', recovery, cost)], { label: 'recovery code' });
    try {
      await ws.addSlot([kdfEnroller('password', 'correct horse battery', cost)]);
    } catch (error) {
      say(`a password slot alone is refused by the unlock policy: ${code(error)}`);
    }
    await ws.put('notes/plan.txt', new TextEncoder().encode('buy milk'));
    await ws.put('theme', new TextEncoder().encode('dark'), { kind: 'setting' });
    say(
      `slots: ${ws
        .slots()
        .map((s) => s.label)
        .join(', ')}; entries: ${ws
        .list()
        .map((e) => e.name)
        .join(', ')}`,
    );
    ws.lock();
    await alice.client.close();

    const stranger = await plug('stranger');
    await stranger.client.setPin(PIN);
    try {
      await unlockWorkspace(folder, { openers: [fobOpener({ client: stranger.client, pin: PIN })] });
    } catch (error) {
      say(`a stranger's fob, found without a touch: ${code(error)}`);
    }
    try {
      await unlockWorkspace(folder, { openers: [fobOpener({ client: backup.client, pin: '0000' })] });
    } catch (error) {
      say(`the backup fob with a wrong PIN: ${code(error)}`);
    }

    const { workspace, decision } = await unlockWorkspace(folder, {
      openers: [fobOpener({ client: backup.client, pin: PIN })],
    });
    say(`the backup fob with its PIN opens it (rule ${decision.decidedBy}, AAL${decision.aal})`);
    const agent = new WorkspaceAgent(workspace, { removed: [backup.fob.connection.removed] });
    const view = PlaintextView.open(workspace, { parent: root });
    agent.addFlusher(() => view.close());
    writeFileSync(join(view.path, 'notes', 'draft.txt'), 'written a moment before the fob was pulled');
    const pulledAt = Date.now();
    await backup.fob.kill();
    const event = await agent.whenLocked();
    say(
      `pulled the fob: sealed ${event.flushed ? 'the draft' : 'nothing'}, key wiped within 1 s: ${event.wipedAt - pulledAt < 1000}`,
    );
    try {
      await agent.get('notes/plan.txt');
    } catch (error) {
      say(`reads after removal: ${code(error)}`);
    }

    const again = await unlockWorkspace(folder, { openers: [kdfOpener('recovery-code', recovery)] });
    const draft = new TextDecoder().decode(await again.workspace.get('notes/draft.txt'));
    say(`the recovery code opens it too; the draft survived: "${draft}"`);
    again.workspace.lock();
  } finally {
    for (const fob of fobs) await fob.kill();
    rmSync(root, { recursive: true, force: true });
  }
}
