/**
 * The connection layer: moving 64-byte HID reports to and from a fob, and noticing when it goes.
 * Modelled on python-fido2's `CtapHidConnection` (`read_packet`, `write_packet`, `close`). The
 * framing layer above ({@link CtapHid}) is written against this interface only, so node-hid, a
 * child process speaking the pipe-HID contract and the in-memory virtual fob are swapped, never
 * mocked.
 *
 * @module latchkey/fob
 */
import { LatchkeyError } from '../core/errors.js';

/** The report size of every FIDO HID device latchkey supports (CTAP 2.1 §11.2.4). */
export const HID_REPORT_SIZE = 64;

/**
 * A connection to one fob's FIDO HID interface.
 *
 * @example
 * ```ts
 * import { VirtualFob } from 'latchkey/testing';
 * const connection = new VirtualFob().connect();
 * connection.removed.addEventListener('abort', () => console.log('fob removed'));
 * ```
 */
export interface HidConnection {
  /** Bytes per report: 64. */
  readonly reportSize: number;
  /**
   * Aborted when the fob goes away: unplugged, the process behind a pipe exited, a read error.
   * Its `reason` is a `LatchkeyError` with code `ERR_FOB_REMOVED`.
   */
  readonly removed: AbortSignal;
  /** Send one report of exactly {@link reportSize} bytes (no report-ID byte). */
  write(report: Uint8Array): Promise<void>;
  /**
   * The next report from the fob. Rejects with `ERR_FOB_TIMEOUT` when none arrives within
   * `timeoutMs`, and with `ERR_FOB_REMOVED` once the fob is gone. One read at a time.
   */
  read(timeoutMs: number): Promise<Uint8Array>;
  /** Release the device. Idempotent. */
  close(): Promise<void>;
}

/** The `ERR_FOB_REMOVED` error. */
function fobRemoved(reason = 'the fob was removed'): LatchkeyError {
  return new LatchkeyError('ERR_FOB_REMOVED', reason);
}

/** Check that `report` is a full report before it is written. */
function checkReport(report: Uint8Array, size = HID_REPORT_SIZE): Uint8Array {
  if (!(report instanceof Uint8Array) || report.length !== size) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', `a HID report must be ${size} bytes`, {
      field: 'report',
      expected: size,
    });
  }
  return report;
}

/**
 * The state every {@link HidConnection} implementation keeps: the queue of incoming reports, the
 * removal signal, and whether the host closed it. Transports add only how bytes move.
 *
 * @internal
 */
export class ConnectionState {
  private readonly queue = new ReportQueue();
  private readonly removal = new AbortController();
  private isClosed = false;

  /** Aborted, with an `ERR_FOB_REMOVED` reason, when the fob goes away. */
  get removed(): AbortSignal {
    return this.removal.signal;
  }

  /** The fob went away: abort the signal and fail pending and later reads. Idempotent. */
  remove(reason?: string): void {
    if (this.removal.signal.aborted) return;
    const error = fobRemoved(reason);
    this.removal.abort(error);
    this.queue.fail(error);
  }

  /** Whether reports may still flow: neither closed nor removed. */
  get open(): boolean {
    return !this.isClosed && !this.removal.signal.aborted;
  }

  /** Check a report the host is about to write; the error to fail the write with when closed or removed. */
  writeError(report: Uint8Array): LatchkeyError | undefined {
    checkReport(report);
    if (this.isClosed) return closedError();
    if (this.removal.signal.aborted) return this.removal.signal.reason as LatchkeyError;
    return undefined;
  }

  /** A report from the fob (ignored once closed or removed). */
  push(report: Uint8Array): void {
    this.queue.push(report);
  }

  read(timeoutMs: number): Promise<Uint8Array> {
    if (this.isClosed) return Promise.reject(closedError());
    return this.queue.read(timeoutMs);
  }

  /** Mark the connection closed and fail reads; `false` when it already was closed. */
  close(): boolean {
    if (this.isClosed) return false;
    this.isClosed = true;
    this.queue.fail(closedError());
    return true;
  }
}

function closedError(): LatchkeyError {
  return new LatchkeyError('ERR_FOB_REMOVED', 'the connection is closed');
}

interface Waiter {
  resolve(report: Uint8Array): void;
  reject(error: LatchkeyError): void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Buffers reports that arrive before anyone reads them, serves `read(timeoutMs)`, and turns
 * removal into a rejected read. Held by {@link ConnectionState}.
 */
class ReportQueue {
  private readonly queue: Uint8Array[] = [];
  private waiter: Waiter | undefined;
  private failure: LatchkeyError | undefined;

  /** `capacity` reports are kept; older ones are dropped, as a HID driver's ring buffer does. */
  constructor(private readonly capacity = 4096) {}

  push(report: Uint8Array): void {
    if (this.failure !== undefined) return;
    const waiter = this.waiter;
    if (waiter !== undefined) {
      this.waiter = undefined;
      clearTimeout(waiter.timer);
      waiter.resolve(report);
      return;
    }
    this.queue.push(report);
    if (this.queue.length > this.capacity) this.queue.shift();
  }

  /** Fail the pending read and every later one (after the queued reports are read). */
  fail(error: LatchkeyError): void {
    if (this.failure !== undefined) return;
    this.failure = error;
    const waiter = this.waiter;
    if (waiter !== undefined) {
      this.waiter = undefined;
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
  }

  /** Forget reports that nobody read (before a new transaction). */
  drain(): void {
    this.queue.length = 0;
  }

  read(timeoutMs: number): Promise<Uint8Array> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.waiter !== undefined) {
      return Promise.reject(
        new LatchkeyError('ERR_INVALID_ARGUMENT', 'a read is already pending on this connection', {
          field: 'read',
        }),
      );
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => {
          this.waiter = undefined;
          reject(new LatchkeyError('ERR_FOB_TIMEOUT', 'the fob did not answer in time', { timeoutMs }));
        },
        Math.max(0, timeoutMs),
      );
      this.waiter = { resolve, reject, timer };
    });
  }
}
