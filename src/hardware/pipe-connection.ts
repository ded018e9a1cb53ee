/**
 * The pipe connection: a fob behind a pair of byte streams speaking the pipe-HID contract
 * (DESIGN.md "Hardware contracts"): exactly 64-byte CTAPHID reports each way, no report-ID
 * byte. Usually the streams are a child process's stdin and stdout (`latchkey virtual-fob
 * --pipe`); the child exiting is the fob being pulled out.
 *
 * @module latchkey/fob
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { LatchkeyError } from '../core/errors.js';
import { ConnectionState, HID_REPORT_SIZE, type HidConnection } from './connection.js';

/**
 * A {@link HidConnection} over two streams: `fromFob` carries the fob's reports, `toFob` the
 * host's. End of `fromFob` (or an error on either) is removal.
 *
 * @example
 * ```ts
 * import { pipeConnection } from 'latchkey/fob';
 * const connection = pipeConnection(child.stdout, child.stdin);
 * ```
 */
export function pipeConnection(
  fromFob: Readable,
  toFob: Writable,
  options: { readonly onClose?: () => Promise<void> } = {},
): HidConnection {
  const state = new ConnectionState();
  const remove = (reason: string): void => state.remove(reason);
  let pending: Buffer = Buffer.alloc(0);

  const onData = (chunk: Buffer): void => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= HID_REPORT_SIZE) {
      state.push(new Uint8Array(pending.subarray(0, HID_REPORT_SIZE)));
      pending = pending.subarray(HID_REPORT_SIZE);
    }
  };
  fromFob.on('data', onData);
  fromFob.once('end', () => remove('the fob closed its end of the pipe'));
  fromFob.once('close', () => remove('the fob closed its end of the pipe'));
  fromFob.once('error', () => remove('reading from the fob failed'));
  toFob.once('error', () => remove('writing to the fob failed'));

  return {
    reportSize: HID_REPORT_SIZE,
    removed: state.removed,
    write(report) {
      const blocked = state.writeError(report);
      if (blocked) return Promise.reject(blocked);
      return new Promise((resolve, reject) => {
        toFob.write(Buffer.from(report), (error) => {
          if (error) {
            remove('writing to the fob failed');
            reject(state.removed.reason as LatchkeyError);
          } else resolve();
        });
      });
    },
    read: (timeoutMs) => state.read(timeoutMs),
    async close() {
      if (!state.close()) return;
      fromFob.off('data', onData);
      toFob.end();
      await options.onClose?.();
    },
  };
}

/** A child process speaking the pipe-HID contract, and the connection to it. */
export interface PipeFob {
  readonly connection: HidConnection;
  readonly child: ChildProcess;
  /** Everything the child wrote to stderr so far, when `stderr: 'pipe'`. */
  stderr(): string;
  /** Pull the fob out: kill the child (SIGKILL) and wait for it to exit. */
  kill(): Promise<void>;
}

/**
 * Start `command args…` (for example `latchkey virtual-fob --pipe`) and connect to it.
 * Closing the connection ends the child's stdin (the contract says it then exits 0) and waits
 * for it to exit, killing it after `exitTimeoutMs`.
 *
 * @example
 * ```ts
 * import { spawnPipeFob, CtapHid } from 'latchkey/fob';
 * const fob = spawnPipeFob('latchkey', ['virtual-fob', '--pipe', '--touch-ms', '50']);
 * const hid = await CtapHid.open(fob.connection);
 * ```
 */
export function spawnPipeFob(
  command: string,
  args: readonly string[],
  options: {
    readonly env?: NodeJS.ProcessEnv;
    readonly cwd?: string;
    readonly stderr?: 'inherit' | 'ignore' | 'pipe';
    readonly exitTimeoutMs?: number;
  } = {},
): PipeFob {
  const child = spawn(command, [...args], {
    stdio: ['pipe', 'pipe', options.stderr ?? 'pipe'],
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
  let errors = '';
  child.once('error', (error) => {
    errors += `latchkey: could not start \`${command}\`: ${error.message}\n`;
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    if (errors.length < 1 << 20) errors += text;
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    }
  });
  const stdin = child.stdin;
  const stdout = child.stdout;
  if (stdin === null || stdout === null) {
    throw new LatchkeyError('ERR_INTERNAL', 'the fob process has no pipes');
  }
  stdin.on('error', () => undefined);
  const waitOrKill = async (): Promise<void> => {
    const timer = setTimeout(() => child.kill('SIGKILL'), options.exitTimeoutMs ?? 5000);
    await exited;
    clearTimeout(timer);
  };
  const connection = pipeConnection(stdout, stdin, { onClose: waitOrKill });
  return {
    connection,
    child,
    stderr: () => errors,
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}
