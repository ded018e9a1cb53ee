/**
 * `latchkey virtual-fob --pipe [--state FILE] [--touch-ms N] [--deny-touch] [--up-timeout-ms N]`:
 * the virtual fob speaking the pipe-HID contract (DESIGN.md "Hardware contracts"). Host to fob:
 * exactly 64-byte CTAPHID reports on stdin, no report-ID byte. Fob to host: 64-byte reports on
 * stdout. Logs go to stderr only. EOF on stdin: exit 0. Being killed is the fob being pulled
 * out. `--state` keeps its secrets, PIN and counters across restarts (each start is a power-up).
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isLatchkeyError } from '../core/errors.js';
import { HID_REPORT_SIZE } from '../hardware/connection.js';
import { parseVirtualFobState, type VirtualFobState } from '../hardware/virtual-authenticator.js';
import { VirtualFob } from '../hardware/virtual-fob.js';

const USAGE = `usage: latchkey virtual-fob --pipe [--state FILE] [--touch-ms N] [--deny-touch] [--up-timeout-ms N]

  --pipe            speak CTAPHID over stdin/stdout (64-byte reports, no report-ID byte)
  --state FILE      keep secrets, PIN and counters in FILE across restarts (created if missing)
  --touch-ms N      the user touches N ms after being asked (default 0); KEEPALIVE meanwhile
  --deny-touch      the user never touches: requests for presence time out
  --up-timeout-ms N how long to wait for a touch before CTAP2_ERR_USER_ACTION_TIMEOUT (default 30000)
`;

function log(line: string): void {
  process.stderr.write(`latchkey virtual-fob: ${line}\n`);
}

function saveState(file: string, state: VirtualFobState): void {
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(temporary, file);
}

function nonNegativeInteger(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(parsed) || parsed > 600_000) {
    throw new Error(`\`--${name}\` must be a whole number of milliseconds up to 600000`);
  }
  return parsed;
}

/**
 * Run the virtual fob on this process's stdin and stdout. Resolves with the exit code: 0 at EOF,
 * 1 when the state file cannot be used, 2 for a usage error.
 */
export async function virtualFobCommand(args: readonly string[]): Promise<number> {
  let options: {
    state: string | undefined;
    touchMs: number | undefined;
    denyTouch: boolean;
    upTimeoutMs: number | undefined;
  };
  try {
    const { values, positionals } = parseArgs({
      args: [...args],
      allowPositionals: true,
      options: {
        pipe: { type: 'boolean' },
        state: { type: 'string' },
        'touch-ms': { type: 'string' },
        'deny-touch': { type: 'boolean' },
        'up-timeout-ms': { type: 'string' },
        help: { type: 'boolean' },
      },
    });
    if (values.help === true) {
      process.stderr.write(USAGE);
      return 0;
    }
    if (values.pipe !== true || positionals.length > 0) throw new Error('expected `virtual-fob --pipe`');
    options = {
      state: values.state,
      touchMs: nonNegativeInteger(values['touch-ms'], 'touch-ms'),
      denyTouch: values['deny-touch'] === true,
      upTimeoutMs: nonNegativeInteger(values['up-timeout-ms'], 'up-timeout-ms'),
    };
  } catch (error) {
    process.stderr.write(`latchkey: ${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
    return 2;
  }

  let state: VirtualFobState | undefined;
  const file = options.state;
  if (file !== undefined && existsSync(file)) {
    try {
      state = parseVirtualFobState(JSON.parse(readFileSync(file, 'utf8')));
    } catch (error) {
      const reason = isLatchkeyError(error) ? error.message : 'it is not JSON';
      process.stderr.write(`latchkey: ERR_INVALID_ARGUMENT: cannot use state file \`${file}\`: ${reason}\n`);
      return 1;
    }
  }

  const fob = new VirtualFob({
    ...(state === undefined ? {} : { state }),
    ...(file === undefined ? {} : { onStateChange: (next: VirtualFobState) => saveState(file, next) }),
    ...(options.touchMs === undefined ? {} : { touchDelayMs: options.touchMs }),
    ...(options.upTimeoutMs === undefined ? {} : { upTimeoutMs: options.upTimeoutMs }),
    denyTouch: options.denyTouch,
    log,
  });
  if (file !== undefined && state === undefined) saveState(file, fob.state);
  log(
    `ready: aaguid ${fob.state.aaguid}${file === undefined ? ', no state file' : `, state in ${file}`}` +
      `${options.denyTouch ? ', never touched' : `, touched after ${options.touchMs ?? 0} ms`}`,
  );

  return new Promise<number>((resolve) => {
    let pending: Buffer = Buffer.alloc(0);
    let done = false;
    const finish = (code: number): void => {
      if (done) return;
      done = true;
      process.stdin.off('data', onData);
      resolve(code);
    };
    const receive = fob.attach((report) => {
      if (!done) process.stdout.write(report);
    });
    const onData = (chunk: Buffer): void => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= HID_REPORT_SIZE) {
        receive(new Uint8Array(pending.subarray(0, HID_REPORT_SIZE)));
        pending = pending.subarray(HID_REPORT_SIZE);
      }
    };
    process.stdin.on('data', onData);
    process.stdin.once('end', () => {
      log('end of input: exiting');
      finish(0);
    });
    process.stdout.once('error', () => finish(0));
  });
}
