/**
 * `latchkey workspace …` as a person or a script runs it: the built command, the virtual fob as
 * its own process, secrets on stdin (non-interactive), the agent on a private socket.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { builtVirtualFob } from '../hardware/pipe-fob.js';
import { builtPackage, need, repoRoot } from '../helpers/components.js';

const root = mkdtempSync(join(tmpdir(), 'latchkey-ws-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const bin = join(repoRoot, 'bin', 'latchkey.js');
const env = {
  ...process.env,
  XDG_STATE_HOME: join(root, 'state'),
  XDG_RUNTIME_DIR: join(root, 'run'),
  LATCHKEY_PIN: undefined,
};

function cli(args: string[], input = '', extra: NodeJS.ProcessEnv = {}) {
  const result = spawnSync(process.execPath, [bin, 'workspace', ...args], {
    input,
    env: { ...env, ...extra },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: result.status, out: result.stdout, err: result.stderr };
}

describe.runIf(need(builtPackage(), builtVirtualFob()))('latchkey workspace (the CLI)', () => {
  test('init with a fob and its PIN, enrol a recovery code, unlock (agent), put/get/ls/status, lock', async () => {
    const dir = join(root, 'ws');
    const fob = join(root, 'fob.json');
    const init = cli(['init', dir, '--fob', 'virtual', '--fob-state', fob, '--pin', '-'], '2468\n');
    expect(init.err).toBe('touch your key\ntouch your key\n'); // make the credential, then read its secret
    expect(init.code).toBe(0);
    expect(init.out).toMatch(/first key slot \S+ \(fob, with PIN\)/);

    const enrol = cli(
      ['enrol', dir, '--fob', 'virtual', '--fob-state', fob, '--pin', '-', '--add', 'recovery-code'],
      '2468\n',
    );
    expect(enrol.code).toBe(0);
    const code = /recovery code \(shown once, keep it safe\): (\S+)/.exec(enrol.out)?.[1] as string;
    expect(code).toMatch(/^[0-9A-Z]{4}(-[0-9A-Z]{4}){5}$/);

    const socket = join(root, 'run', 'agent.sock');
    const agent = spawn(
      process.execPath,
      [bin, 'workspace', 'unlock', dir, '--fob', 'virtual', '--fob-state', fob, '--pin', '-', '--socket', socket],
      { env },
    );
    agent.stdin.end('2468\n');
    let output = '';
    agent.stdout.setEncoding('utf8');
    await new Promise<void>((resolve, reject) => {
      agent.stdout.on('data', (chunk: string) => {
        output += chunk;
        if (output.includes('unlocked')) resolve();
      });
      agent.once('exit', () => reject(new Error(`the agent exited: ${output}`)));
    });
    expect(cli(['put', dir, 'notes.txt', '--socket', socket], 'buy milk\n').code).toBe(0);
    expect(cli(['get', dir, 'notes.txt', '--socket', socket]).out).toBe('buy milk\n');
    expect(cli(['ls', dir, '--socket', socket]).out).toMatch(/^\s+9 {2}notes\.txt\n$/);
    const status = cli(['status', dir, '--socket', socket]);
    expect(status.out).toMatch(/fob "fob \S+" \(PIN\)/);
    expect(status.out).toMatch(/recovery-code/);
    expect(status.out).toMatch(/unlocked: generation \d+, 1 entries/);
    const exited = new Promise<number | null>((resolve) => agent.once('exit', resolve));
    expect(cli(['lock', dir, '--socket', socket]).out).toMatch(/^locked; keys wiped/);
    expect(await exited).toBe(0);
    expect(output).toMatch(/locked \(lock\)/);
    const after = cli(['get', dir, 'notes.txt', '--socket', socket]);
    expect(after.code).toBe(1);
    expect(after.err).toMatch(/ERR_WORKSPACE_LOCKED/);
    expect(cli(['status', dir, '--socket', socket]).out).toMatch(/\nlocked\n$/);

    // clear errors: a wrong PIN, a wrong recovery code
    const wrong = cli(
      ['enrol', dir, '--fob', 'virtual', '--fob-state', fob, '--pin', '-', '--add', 'recovery-code'],
      '0000\n',
    );
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(/ERR_CTAP2_PIN_INVALID/);
    const badCode = cli(['enrol', dir, '--recovery-code', 'AAAA-AAAA-AAAA-AAAA-AAAA-AAAA', '--add', 'recovery-code']);
    expect(badCode.err).toMatch(/ERR_WORKSPACE_WRONG_KEY: that recovery code does not open the workspace/);

    // shell: the workspace as a folder in /dev/shm for a sub-shell; changes sealed back on exit
    const script = join(root, 'fake-shell.sh');
    writeFileSync(
      script,
      '#!/bin/sh\ncat notes.txt > seen.txt\necho "oat milk" > notes.txt\nmkdir -p a/b && echo deep > a/b/c.txt\n',
    );
    chmodSync(script, 0o755);
    const shell = cli(['shell', dir, '--recovery-code', code], '', { SHELL: script });
    expect(shell.code).toBe(0);
    expect(shell.err).toMatch(/sealed 3 changed file\(s\)/);
    const again = spawn(
      process.execPath,
      [bin, 'workspace', 'unlock', dir, '--recovery-code', code, '--socket', socket],
      { env },
    );
    await new Promise<void>((resolve) =>
      again.stdout.on('data', (c: Buffer) => c.toString().includes('unlocked') && resolve()),
    );
    expect(cli(['get', dir, 'seen.txt', '--socket', socket]).out).toBe('buy milk\n');
    expect(cli(['get', dir, 'notes.txt', '--socket', socket]).out).toBe('oat milk\n');
    expect(cli(['get', dir, 'a/b/c.txt', '--socket', socket]).out).toBe('deep\n');
    const ended = new Promise<number | null>((resolve) => again.once('exit', resolve));
    again.kill('SIGTERM');
    expect(await ended).toBe(0);
  });

  test('usage errors exit 2', () => {
    expect(cli(['frobnicate', join(root, 'x')]).code).toBe(2);
    expect(cli(['init', join(root, 'y')]).code).toBe(2);
  });
});
