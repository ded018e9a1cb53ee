// @ts-check
// Story 2, "a fob unlocks a workspace": Alice's files live encrypted in a folder. Her fob (the
// virtual fob, run as its own process, as a USB key would be its own device) and its PIN open it,
// offline; pulling the fob out (killing that process) locks it within a second. A backup fob and
// a recovery code open it too; a fob that was never enrolled does not, and is told apart without
// a touch.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isLatchkeyError } from 'latchkey';
import { Ctap2Client, spawnPipeFob } from 'latchkey/fob';
import { VirtualFob } from 'latchkey/testing';
import { fobUnlocker, newRecoveryCode, recoveryCodeUnlocker, Workspace, WorkspaceAgent } from 'latchkey/workspace';

const bin = new URL('../bin/latchkey.js', import.meta.url).pathname;

/** @param {(line: string) => void} say */
export async function run(say) {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-story2-'));
  const folder = join(dir, 'workspace');
  const plug = () =>
    spawnPipeFob(process.execPath, [
      bin,
      'virtual-fob',
      '--pipe',
      '--state',
      join(dir, 'blue-fob.json'),
      '--touch-ms',
      '50',
    ]);
  try {
    let fob = plug();
    let blue = await Ctap2Client.open(fob.connection);
    await blue.setPin('2468');
    const ws = await Workspace.create(folder, fobUnlocker({ client: blue, pin: '2468', label: 'blue key' }));
    const backup = await Ctap2Client.open(new VirtualFob().connect());
    await ws.addSlot(fobUnlocker({ client: backup, label: 'backup key' }));
    const code = newRecoveryCode();
    await ws.addSlot(recoveryCodeUnlocker(code, { cost: { m: 19_456, t: 2, p: 1 } }));
    await ws.put('letters/to-bob.txt', 'Dear Bob, the milk is on me.');
    await ws.put('settings/editor', '{"theme":"dark"}', 'setting');
    say(
      `made ${folder}: slots ${ws
        .slots()
        .map((s) => `${s.kind} "${s.label}"`)
        .join(', ')}`,
    );
    say(`on disk: ${readdirSync(folder).join(', ')} (names, contents and exact sizes sealed)`);
    await ws.lock();

    const opened = await Workspace.unlock(folder, [fobUnlocker({ client: blue, pin: '2468' })]);
    say(
      `blue key + PIN: unlocked (the policy says: ${opened.decision?.reasons[0]}); letters/to-bob.txt = "${Buffer.from(await opened.get('letters/to-bob.txt')).toString()}"`,
    );
    const agent = new WorkspaceAgent(opened, { removal: [fob.connection.removed] });
    await opened.put('letters/draft.txt', 'written a moment before the fob is pulled');
    const pulled = performance.now();
    fob.child.kill('SIGKILL');
    const locked = await agent.locked;
    say(`fob pulled: locked after ${(performance.now() - pulled).toFixed(0)} ms (${locked.reason})`);
    try {
      await opened.get('letters/to-bob.txt');
    } catch (error) {
      if (!isLatchkeyError(error)) throw error;
      say(`reading now: ${error.code}`);
    }

    const stranger = await Ctap2Client.open(new VirtualFob().connect());
    try {
      await Workspace.unlock(folder, [
        fobUnlocker({ client: stranger, onTouch: () => say('(a touch was asked: wrong!)') }),
      ]);
    } catch (error) {
      if (!isLatchkeyError(error)) throw error;
      say(`a fob never enrolled: ${error.code} — ${error.message}; no touch asked`);
    }
    const byBackup = await Workspace.unlock(folder, [fobUnlocker({ client: backup })]);
    say(
      `backup key: unlocked; the draft was sealed before the pull: "${Buffer.from(await byBackup.get('letters/draft.txt')).toString()}"`,
    );
    await byBackup.lock();
    const byCode = await Workspace.unlock(folder, [recoveryCodeUnlocker(code)]);
    say(`recovery code ${code.slice(0, 4)}-…: unlocked, ${byCode.list().length} entries`);
    await byCode.lock();

    fob = plug();
    blue = await Ctap2Client.open(fob.connection);
    try {
      await Workspace.unlock(folder, [fobUnlocker({ client: blue, pin: '1111' })]);
    } catch (error) {
      if (!isLatchkeyError(error)) throw error;
      say(`blue key plugged back, wrong PIN: ${error.code}`);
    }
    await blue.close();
    await backup.close();
    await stranger.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
