/**
 * Conformance against an independent CTAP2 client: Debian's python3-fido2 (0.9.x) drives the
 * virtual fob over the pipe-HID contract through test/hardware/fixtures/fido2_pipe.py.
 * python-fido2 checks that every response is canonical CBOR and verifies registrations and
 * assertions with its own Fido2Server (packed self attestation included).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { command, need, repoRoot } from '../helpers/components.js';
import { builtVirtualFob, pipeFobCommand } from './pipe-fob.js';

const PYTHON = '/usr/bin/python3';
const driver = join(repoRoot, 'test/hardware/fixtures/fido2_pipe.py');
const dir = mkdtempSync(join(tmpdir(), 'latchkey-fido2-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(scenario: string, fobArgs: readonly string[], state: string | null): Record<string, unknown> {
  const result = spawnSync(
    PYTHON,
    [driver, scenario, state === null ? '-' : join(dir, state), '--', ...pipeFobCommand(...fobArgs)],
    { encoding: 'utf8', timeout: 60_000 },
  );
  if (result.status !== 0) throw new Error(`${scenario} failed (${result.status}):\n${result.stderr}`);
  // The fob logs to stderr only: stdout is exactly the driver's one JSON line.
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

describe.runIf(need(command(PYTHON, ['-c', 'import fido2']), builtVirtualFob()))(
  'python-fido2 drives the pipe fob',
  () => {
    it('CTAPHID framing: channels, busy, sequence, resync, oversize, timeouts', () => {
      const out = run('framing', ['--touch-ms', '5'], 'framing.json');
      expect(out).toMatchObject({
        capabilities: 0x0d,
        protocol_version: 2,
        ping_small: true,
        ping_max: true,
        ping_oversize: 'INVALID_LENGTH',
        wink: true,
        distinct_channels: true,
        invalid_channel: [0x3f, 0x0b],
        busy: [0x3f, 0x06],
        busy_then_complete: true,
        invalid_seq: [0x3f, 0x04],
        init_mid_message: [0x3f, 0x04],
        resync: true,
        after_resync: true,
        spurious_continuation_ignored: true,
        message_timeout: [0x3f, 0x05],
        unknown_command: [0x3f, 0x01],
        msg: 0x01,
        init_wrong_length: 0x03,
        cbor_empty: 0x03,
        idle_cancel_silent: true,
        exit_code: 0,
      });
    });

    it('getInfo, makeCredential and getAssertion verified by Fido2Server', () => {
      const out = run('ctap2', ['--touch-ms', '5'], 'ctap2.json');
      expect(out).toMatchObject({
        versions: ['FIDO_2_0', 'FIDO_2_1'],
        extensions: ['hmac-secret'],
        pin_protocols: [2, 1],
        aaguid_len: 16,
        register_fmt: 'packed',
        register_flags: 0x41,
        authenticated: true,
        counter_increases: true,
        exclude: 'CREDENTIAL_EXCLUDED',
        resident_user_id: 'user-bob',
        wrong_rp: 'NO_CREDENTIALS',
        unsupported_algorithm: 'UNSUPPORTED_ALGORITHM',
        missing_parameter: 'MISSING_PARAMETER',
        invalid_command: 'INVALID_COMMAND',
        selection: 'OK',
        exit_code: 0,
      });
    });

    const pinExpectations = {
      client_pin_option: true,
      retries_initial: 8,
      set_again: 'NOT_ALLOWED',
      short_pin: 'PIN_POLICY_VIOLATION',
      wrong_1: 'PIN_INVALID',
      wrong_2: 'PIN_INVALID',
      wrong_3: 'PIN_AUTH_BLOCKED',
      right_while_blocked: 'PIN_AUTH_BLOCKED',
      retries_blocked: [5, true],
      retries_after_power_cycle: 5,
      token_length: 32,
      retries_after_success: 8,
      old_pin_after_change: 'PIN_INVALID',
      make_credential_uv: true,
      token_wrong_permission: 'PIN_AUTH_INVALID',
      rk_without_pin: 'PIN_REQUIRED',
      missing_permissions: 'MISSING_PARAMETER',
      // 7 retries left, then 3 per power cycle: blocked after the 8th wrong PIN.
      lockout_sequence: [
        'PIN_INVALID',
        'PIN_INVALID',
        'PIN_AUTH_BLOCKED',
        'PIN_INVALID',
        'PIN_INVALID',
        'PIN_AUTH_BLOCKED',
        'PIN_INVALID',
        'PIN_BLOCKED',
        'PIN_BLOCKED',
        'PIN_BLOCKED',
        'PIN_BLOCKED',
        'PIN_BLOCKED',
      ],
      retries_locked: 0,
      right_when_locked: 'PIN_BLOCKED',
      reset: 'OK',
      client_pin_after_reset: false,
    };

    it.each([1, 2])('clientPIN protocol %i: set, change, retries, per-power-cycle block, lockout, reset', (version) => {
      expect(run(`pin${version}`, ['--touch-ms', '1'], `pin${version}.json`)).toMatchObject(pinExpectations);
    });

    it('hmac-secret: stable per credential, different with and without UV, kept across restarts', () => {
      expect(run('hmac', ['--touch-ms', '1'], 'hmac.json')).toMatchObject({
        created: true,
        no_uv_flag: false,
        no_uv_stable: true,
        two_salts_differ: true,
        uv_flag: true,
        uv_stable: true,
        uv_differs_from_no_uv: true,
        stable_across_restart: true,
      });
    });

    it('--deny-touch: KEEPALIVE(UP needed) until CANCEL, answered with KEEPALIVE_CANCEL', () => {
      expect(run('cancel', ['--deny-touch'], null)).toMatchObject({
        result: 'KEEPALIVE_CANCEL',
        keepalive_statuses: [2],
        still_works: true,
        exit_code: 0,
      });
    });
  },
);
