/**
 * The in-memory connection: a host end ({@link HidConnection}) wired to a device end, with no
 * operating system in between. The virtual fob plugs into the device end; tests of the framing
 * and protocol layers run over it exactly as they run over node-hid or a pipe.
 *
 * @module latchkey/testing
 */
import { LatchkeyError } from '../core/errors.js';
import { checkReport, fobRemoved, HID_REPORT_SIZE, type HidConnection, ReportQueue } from './connection.js';

/** What a device implementation gives the link: where host reports go, and an unplug hook. */
export interface HidDeviceHandler {
  receive(report: Uint8Array): void;
}

/**
 * A host connection wired to `device`. Reports written by the host are delivered to
 * `device.receive` on a later microtask (never re-entrantly); `deliver` puts a device report in
 * the host's queue. `unplug` removes the device: pending and later reads fail with
 * `ERR_FOB_REMOVED`.
 *
 * @example
 * ```ts
 * import { createMemoryConnection } from 'latchkey/testing';
 * const { host, deliver } = createMemoryConnection({ receive: (report) => deliver(report) }); // an echo device
 * ```
 */
export function createMemoryConnection(
  device: HidDeviceHandler,
  options: { readonly onClose?: () => void } = {},
): { host: HidConnection; deliver: (report: Uint8Array) => void; unplug: (reason?: string) => void } {
  const queue = new ReportQueue();
  const removal = new AbortController();
  let closed = false;

  const unplug = (reason?: string): void => {
    if (removal.signal.aborted) return;
    const error = fobRemoved(reason);
    removal.abort(error);
    queue.fail(error);
  };

  const host: HidConnection = {
    reportSize: HID_REPORT_SIZE,
    removed: removal.signal,
    async write(report) {
      checkReport(report);
      if (closed) throw new LatchkeyError('ERR_FOB_REMOVED', 'the connection is closed');
      if (removal.signal.aborted) throw removal.signal.reason as LatchkeyError;
      const copy = report.slice();
      queueMicrotask(() => {
        if (!removal.signal.aborted && !closed) device.receive(copy);
      });
    },
    read(timeoutMs) {
      if (closed) return Promise.reject(new LatchkeyError('ERR_FOB_REMOVED', 'the connection is closed'));
      return queue.read(timeoutMs);
    },
    async close() {
      if (closed) return;
      closed = true;
      queue.fail(new LatchkeyError('ERR_FOB_REMOVED', 'the connection is closed'));
      options.onClose?.();
    },
  };

  const deliver = (report: Uint8Array): void => {
    if (!closed && !removal.signal.aborted) queue.push(report.slice());
  };
  return { host, deliver, unplug };
}
