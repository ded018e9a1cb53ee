/**
 * The in-memory connection: a host end ({@link HidConnection}) wired to a device end, with no
 * operating system in between. The virtual fob plugs into the device end; tests of the framing
 * and protocol layers run over it exactly as they run over node-hid or a pipe.
 *
 * @module latchkey/testing
 */
import { ConnectionState, HID_REPORT_SIZE, type HidConnection } from './connection.js';

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
  const state = new ConnectionState();
  const unplug = (reason?: string): void => state.remove(reason);

  const host: HidConnection = {
    reportSize: HID_REPORT_SIZE,
    removed: state.removed,
    async write(report) {
      const blocked = state.writeError(report);
      if (blocked) throw blocked;
      const copy = report.slice();
      queueMicrotask(() => {
        if (state.open) device.receive(copy);
      });
    },
    read: (timeoutMs) => state.read(timeoutMs),
    async close() {
      if (state.close()) options.onClose?.();
    },
  };

  const deliver = (report: Uint8Array): void => {
    if (state.open) state.push(report.slice());
  };
  return { host, deliver, unplug };
}
