/**
 * Conformance against a second independent CTAP2 client: libfido2 (Debian libfido2-dev). A tiny
 * C harness (test/hardware/fixtures/libfido2_pipe.c), compiled here with `cc -lfido2`, plugs
 * the pipe fob in with fido_dev_set_io_functions and does what systemd-cryptenroll does: set a
 * PIN, makeCredential with hmac-secret (packed self attestation checked by
 * fido_cred_verify_self), getAssertion with one salt twice (same secret, signature checked by
 * fido_assert_verify), a wrong PIN (FIDO_ERR_PIN_INVALID), and a restart from the state file.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Component, command, need, repoRoot } from '../helpers/components.js';
import { builtVirtualFob, pipeFobCommand } from './pipe-fob.js';

function libfido2Headers(): Component {
  const available = existsSync('/usr/include/fido.h');
  return { name: 'libfido2-dev', available, reason: available ? '' : '/usr/include/fido.h is missing' };
}

const dir = mkdtempSync(join(tmpdir(), 'latchkey-libfido2-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.runIf(need(command('cc', ['--version']), libfido2Headers(), builtVirtualFob()))(
  'libfido2 drives the pipe fob (systemd-cryptenroll flow)',
  () => {
    it('sets a PIN, enrols with hmac-secret, derives the same secret twice, refuses a wrong PIN', () => {
      const harness = join(dir, 'libfido2_pipe');
      const build = spawnSync(
        'cc',
        ['-Wall', '-o', harness, join(repoRoot, 'test/hardware/fixtures/libfido2_pipe.c'), '-lfido2'],
        { encoding: 'utf8' },
      );
      expect(build.stderr).toBe('');
      expect(build.status).toBe(0);
      const state = join(dir, 'fob.json');
      const result = spawnSync(harness, pipeFobCommand('--touch-ms', '1', '--state', state), {
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(result.status, result.stderr).toBe(0);
      const out = JSON.parse(result.stdout) as Record<string, unknown>;
      expect(out).toMatchObject({
        is_fido2: true,
        versions: ['FIDO_2_0', 'FIDO_2_1'],
        protocols: [2, 1],
        set_pin: 'FIDO_ERR_SUCCESS',
        retries: 8,
        make_cred: 'FIDO_ERR_SUCCESS',
        fmt: 'packed',
        verify_self: 'FIDO_ERR_SUCCESS',
        assert_1: 'FIDO_ERR_SUCCESS',
        assert_2: 'FIDO_ERR_SUCCESS',
        uv: true,
        same_secret: true,
        wrong_pin: 'FIDO_ERR_PIN_INVALID',
        retries_after_wrong: 7,
        exit_code: 0,
        assert_after_restart: 'FIDO_ERR_SUCCESS',
        same_secret_after_restart: true,
        result: 'FIDO_ERR_SUCCESS',
      });
      // UP | UV | AT | ED: user present, verified by PIN, attested, hmac-secret extension.
      expect(out.cred_flags).toBe(0x01 | 0x04 | 0x40 | 0x80);
    });
  },
);
