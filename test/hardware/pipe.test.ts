/**
 * latchkey's own client against `latchkey virtual-fob --pipe` (the built command), through the
 * pipe connection: the same protocol layer as ctap2.test.ts with the backend swapped.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LatchkeyError } from '../../src/core/errors.js';
import { Ctap2Client } from '../../src/hardware/ctap2.js';
import { spawnPipeFob } from '../../src/hardware/pipe-connection.js';
import { need } from '../helpers/components.js';
import { builtVirtualFob, pipeFobCommand } from './pipe-fob.js';

const dir = mkdtempSync(join(tmpdir(), 'latchkey-pipe-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sha256 = (text: string): Uint8Array => new Uint8Array(createHash('sha256').update(text).digest());

function start(...args: string[]) {
  const [node, ...rest] = pipeFobCommand(...args);
  return spawnPipeFob(node as string, rest);
}

describe.runIf(need(builtVirtualFob()))('the pipe fob (latchkey virtual-fob --pipe)', () => {
  it('speaks CTAP2 to latchkey’s client, keeps state across restarts, exits 0 at EOF', async () => {
    const state = join(dir, 'state.json');
    const fob = start('--state', state, '--touch-ms', '20');
    const client = await Ctap2Client.open(fob.connection);
    await client.setPin('1234');
    const token = await client.getPinUvAuthToken('1234');
    const keepalives: number[] = [];
    const made = await client.makeCredential({
      clientDataHash: sha256('r'),
      rp: { id: 'example.com' },
      user: { id: new Uint8Array([1]) },
      hmacSecret: true,
      pinUvAuthToken: token,
      onKeepalive: (status) => keepalives.push(status),
    });
    expect(keepalives).toContain(2);
    const id = made.authData.attestedCredential.credentialId;
    const salt1 = new Uint8Array(32).fill(3);
    const before = await client.getAssertion({
      rpId: 'example.com',
      clientDataHash: sha256('a'),
      allowList: [id],
      hmacSecret: { salt1 },
    });
    await client.close();
    expect(fob.child.exitCode).toBe(0);
    expect(fob.stderr()).toContain('ready');
    expect(fob.stderr()).not.toContain('1234');
    expect(statSync(state).mode & 0o077).toBe(0);
    expect(JSON.parse(readFileSync(state, 'utf8')).pinRetries).toBe(8);

    const again = start('--state', state);
    const client2 = await Ctap2Client.open(again.connection);
    expect(client2.info.options.clientPin).toBe(true);
    const after = await client2.getAssertion({
      rpId: 'example.com',
      clientDataHash: sha256('a'),
      allowList: [id],
      hmacSecret: { salt1 },
    });
    expect(after.hmacSecret?.output1).toEqual(before.hmacSecret?.output1);
    expect(after.authData.signCount).toBeGreaterThan(before.authData.signCount);
    await client2.close();
  });

  it('being killed is the fob being pulled out', async () => {
    const fob = start('--deny-touch');
    const client = await Ctap2Client.open(fob.connection);
    const pending = client.selection();
    setTimeout(() => void fob.kill(), 100);
    const error = await pending.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LatchkeyError);
    expect((error as LatchkeyError).code).toBe('ERR_FOB_REMOVED');
    expect(fob.connection.removed.aborted).toBe(true);
  });

  it('refuses bad arguments with exit code 2 and a usage line on stderr', () => {
    const [node, ...args] = pipeFobCommand('--touch-ms', 'soon');
    const result = spawnSync(node as string, args, { encoding: 'utf8', input: '' });
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('usage: latchkey virtual-fob --pipe');
    const broken = spawnSync(node as string, [...args.slice(0, 2), '--state', '/dev/null'], {
      encoding: 'utf8',
      input: '',
    });
    expect(broken.status).toBe(1);
    expect(broken.stderr).toContain('cannot use state file');
  });
});
