import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  createWorkspace,
  generateRecoveryCode,
  kdfEnroller,
  kdfOpener,
  unlockWorkspace,
} from '../../src/workspace/index.js';
import { builtPackage, need } from '../helpers/components.js';

const writer = new URL('../fixtures/workspace-writer.mjs', import.meta.url).pathname;

/** Run the writer until it has acknowledged at least `acks` writes, then SIGKILL it mid-write. */
function writeThenKill(folder: string, code: string, acks: number, extraMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [writer, folder, code], { stdio: ['ignore', 'pipe', 'pipe'] });
    let last = -1;
    let buffered = '';
    let stderr = '';
    let killing = false;
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) if (line.startsWith('ack ')) last = Number(line.slice(4));
      if (last + 1 >= acks && !killing) {
        killing = true;
        setTimeout(() => child.kill('SIGKILL'), extraMs);
      }
    });
    child.once('exit', (status, signal) => {
      // acks printed after the kill was decided still count: parse what is left
      for (const line of buffered.split('\n')) if (line.startsWith('ack ')) last = Number(line.slice(4));
      if (signal !== 'SIGKILL') reject(new Error(`writer exited ${status}: ${stderr}`));
      else resolve(last);
    });
  });
}

describe.runIf(need(builtPackage()))('crash safety', () => {
  it('kill -9 during a long series of writes loses no acknowledged write', async () => {
    const root = mkdtempSync(join(tmpdir(), 'latchkey-crash-'));
    try {
      const folder = join(root, 'ws');
      const code = generateRecoveryCode();
      const ws = await createWorkspace(folder, { slot: [kdfEnroller('recovery-code', code, { m: 256, t: 1, p: 1 })] });
      ws.lock();
      let total = 0;
      for (const [round, extraMs] of [3, 7, 1, 13, 0].entries()) {
        const last = await writeThenKill(folder, code, 60 + round * 20, extraMs);
        total += last + 1;
        const { workspace } = await unlockWorkspace(folder, { openers: [kdfOpener('recovery-code', code)] });
        for (let n = Math.max(0, last - 39); n <= last; n++) {
          const name = `file-${n % 40}`;
          const data = workspace.read(name);
          // n is this name's last acknowledged write; n + 40 may have completed unacknowledged
          const acceptable = [n, n + 40];
          const size = data.length;
          const matches = acceptable.some(
            (k) => size === 1 + ((k * 7919) % 200_000) && data.every((b) => b === k % 251),
          );
          expect(matches, `${name} after round ${round}`).toBe(true);
        }
        expect(workspace.verifyAll()).toBe(40);
        workspace.lock();
      }
      expect(total).toBeGreaterThan(300);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }, 60_000);
});
