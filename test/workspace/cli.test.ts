/**
 * `latchkey workspace …` end to end, as a person or a script runs it: the built bin, virtual
 * fobs over the pipe, the agent on its socket, the fob killed under the agent, and `shell`.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { builtPackage, need, repoRoot } from '../helpers/components.js';

const root = mkdtempSync(join(tmpdir(), 'latchkey-wscli-'));
const dir = join(root, 'ws');
const env = { ...process.env, XDG_STATE_HOME: join(root, 'state'), XDG_RUNTIME_DIR: join(root, 'run') };
mkdirSync(env.XDG_RUNTIME_DIR, { recursive: true });
chmodSync(env.XDG_RUNTIME_DIR, 0o700);
const bin = join(repoRoot, 'bin', 'latchkey.js');
const agents: ChildProcess[] = [];
afterAll(() => {
  for (const agent of agents) agent.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

function run(args: string[], input = '') {
  const result = spawnSync(process.execPath, [bin, 'workspace', ...args, '--dir', dir], {
    input,
    env,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: result.status, out: result.stdout, err: result.stderr };
}

const fob = (name: string) => ['--fob', 'virtual', '--fob-state', join(root, `${name}.json`)];

/** Start the agent; resolves once it says it is unlocked. */
function startAgent(args: string[], input: string): Promise<{ child: ChildProcess; err: () => string }> {
  const child = spawn(process.execPath, [bin, 'workspace', 'unlock', ...args, '--dir', dir], { env });
  agents.push(child);
  let err = '';
  child.stdin?.end(input);
  return new Promise((resolve, reject) => {
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      err += text;
      if (err.includes('unlocked;')) resolve({ child, err: () => err });
    });
    child.once('exit', () => reject(new Error(`agent exited: ${err}`)));
  });
}

describe.runIf(need(builtPackage()))('latchkey workspace (CLI)', () => {
  let code = '';

  it('init with a fob (setting its PIN) and a recovery code; enrol a backup fob', () => {
    const init = run(
      ['init', ...fob('a'), '--set-pin', '--pin-stdin', '--recovery-code', '--kdf-memory', '1024'],
      '2468\n',
    );
    expect(init.err).toContain('touch your key');
    expect(init.status).toBe(0);
    code = /recovery code \(shown once, keep it offline\): (\S+)/.exec(init.out)?.[1] ?? '';
    expect(code).toMatch(/^[0-9A-Z]{4}(-[0-9A-Z]{4}){5}$/);
    const enrol = run(
      [
        'enrol',
        'fob',
        ...fob('a'),
        '--new-fob',
        'virtual',
        '--new-fob-state',
        join(root, 'b.json'),
        '--set-pin',
        '--pin-stdin',
        '--label',
        'backup',
      ],
      '2468\n1357\n',
    );
    expect(enrol.status, enrol.err).toBe(0);
    const status = run(['status']);
    expect(status.out).toMatch(/fob \(with PIN\)\s+"fob"/);
    expect(status.out).toMatch(/fob \(with PIN\)\s+"backup"/);
    expect(status.out).toContain('recovery-code');
    expect(status.out).toContain('agent: none (locked)');
  }, 60_000);

  it('clear errors: wrong PIN, a fob never enrolled, no agent', () => {
    const wrong = run(['enrol', 'recovery-code', ...fob('a'), '--pin-stdin'], '0000\n');
    expect(wrong.status).toBe(1);
    expect(wrong.err).toContain('ERR_CTAP2_PIN_INVALID');
    const stranger = run(['enrol', 'recovery-code', ...fob('c'), '--set-pin', '--pin-stdin'], '2468\n');
    expect(stranger.status).toBe(1);
    expect(stranger.err).toContain('ERR_WORKSPACE_FOB_NOT_ENROLLED');
    const none = run(['ls']);
    expect(none.status).toBe(1);
    expect(none.err).toContain('ERR_WORKSPACE_AGENT');
  }, 60_000);

  it('the agent serves put/get/ls and locks when its fob process is killed', async () => {
    const agent = await startAgent([...fob('b'), '--pin-stdin'], '1357\n');
    expect(run(['put', 'notes.txt'], 'hello from the agent\n').status).toBe(0);
    expect(run(['get', 'notes.txt']).out).toBe('hello from the agent\n');
    expect(run(['ls']).out).toMatch(/-\s+21\s+notes\.txt/);
    const status = run(['status']);
    const fobPid = Number(/agent: unlocked, pid (\d+)/.exec(status.out)?.[1]);
    expect(fobPid).toBe(agent.child.pid);
    // find the fob's pid from the agent and pull it
    const pid = spawnSync('pgrep', ['-P', String(agent.child.pid)], { encoding: 'utf8' })
      .stdout.trim()
      .split('\n')[0];
    expect(Number(pid)).toBeGreaterThan(0);
    const exited = new Promise<number | null>((resolve) => agent.child.once('exit', resolve));
    process.kill(Number(pid), 'SIGKILL');
    expect(await exited).toBe(0);
    expect(agent.err()).toMatch(/locked \(the fob closed its end of the pipe\); key wiped \d+ ms after removal/);
    expect(run(['get', 'notes.txt']).err).toContain('ERR_WORKSPACE_AGENT');
  }, 60_000);

  it('shell: files as a private plaintext folder, changes sealed back on exit', () => {
    const first = run(
      ['shell', '--recovery-code-stdin', '--command', 'cat notes.txt && echo "new file" > made.txt && rm notes.txt'],
      `${code}\n`,
    );
    expect(first.status, first.err).toBe(0);
    expect(first.out).toBe('hello from the agent\n');
    const second = run(['shell', ...fob('a'), '--pin-stdin', '--command', 'ls; pwd'], '2468\n');
    expect(second.status, second.err).toBe(0);
    const [listing, cwd] = second.out.trim().split('\n');
    expect(listing).toBe('made.txt');
    expect(cwd).toMatch(/^\/dev\/shm\/latchkey-ws-|latchkey-ws-/);
    expect(existsSync(cwd as string)).toBe(false);
  }, 60_000);

  it('shell: the fob pulled while the shell runs seals the change, wipes the folder and ends the shell', () => {
    const pulled = run(
      [
        'shell',
        ...fob('a'),
        '--pin-stdin',
        '--command',
        'echo draft > draft.txt; echo "$PWD"; kill -9 "$LATCHKEY_VIRTUAL_FOB_PID"; sleep 20; echo not reached',
      ],
      '2468\n',
    );
    expect(pulled.status).toBe(1);
    expect(pulled.out).not.toContain('not reached');
    expect(pulled.err).toContain('workspace sealed and locked');
    expect(existsSync(pulled.out.trim())).toBe(false);
    const check = run(['shell', '--recovery-code-stdin', '--command', 'cat draft.txt'], `${code}\n`);
    expect(check.out).toBe('draft\n');
  }, 60_000);
});
