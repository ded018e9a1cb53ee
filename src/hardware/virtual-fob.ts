/**
 * The virtual fob: {@link VirtualAuthenticator} behind CTAPHID, pluggable into in-memory
 * connections (in-process tests) or a pair of byte streams (the pipe-HID contract).
 *
 * @module latchkey/testing
 */
import type { HidConnection } from './connection.js';
import { CtapHidDeviceFraming, type CtapHidDeviceOptions } from './ctaphid-device.js';
import { createMemoryConnection } from './memory-connection.js';
import {
  VirtualAuthenticator,
  type VirtualAuthenticatorOptions,
  type VirtualFobState,
} from './virtual-authenticator.js';

/** Options of a {@link VirtualFob}: the authenticator's, plus CTAPHID tunables. */
export interface VirtualFobOptions extends VirtualAuthenticatorOptions {
  readonly framing?: CtapHidDeviceOptions;
}

/**
 * A CTAP 2.1 security key in process memory, spoken to over CTAPHID like a USB one.
 *
 * @example
 * ```ts
 * import { VirtualFob } from 'latchkey/testing';
 * import { Ctap2Client } from 'latchkey/fob';
 * const fob = new VirtualFob({ touchDelayMs: 20 });
 * const client = await Ctap2Client.open(fob.connect());
 * await client.setPin('1234');
 * ```
 */
export class VirtualFob {
  /** The authenticator inside (state, power cycles). */
  readonly authenticator: VirtualAuthenticator;
  private readonly framing: CtapHidDeviceFraming;
  private readonly outputs = new Set<(report: Uint8Array) => void>();
  private readonly unplugs = new Set<(reason?: string) => void>();
  private winks = 0;

  constructor(options: VirtualFobOptions = {}) {
    this.authenticator = new VirtualAuthenticator(options);
    this.framing = new CtapHidDeviceFraming(
      (report) => {
        for (const output of this.outputs) output(report);
      },
      {
        cbor: (request, context) => this.authenticator.handle(request, context),
        wink: () => {
          this.winks++;
        },
      },
      options.framing,
    );
  }

  /** How many times a host asked the fob to wink. */
  get winkCount(): number {
    return this.winks;
  }

  /** A copy of the persistent state (save it to start a fob with the same secrets later). */
  get state(): VirtualFobState {
    return this.authenticator.state;
  }

  /**
   * A new host connection to this fob, as if a program opened its HID device. Every open
   * connection sees every report the fob sends, as with a real hidraw device.
   */
  connect(): HidConnection {
    let output: ((report: Uint8Array) => void) | undefined;
    const link = createMemoryConnection(
      { receive: (report) => this.framing.receive(report) },
      {
        onClose: () => {
          if (output !== undefined) this.outputs.delete(output);
          this.unplugs.delete(link.unplug);
        },
      },
    );
    output = link.deliver;
    this.outputs.add(output);
    this.unplugs.add(link.unplug);
    return link.host;
  }

  /**
   * Attach a raw report sink (the pipe command's stdout); returns the function that takes host
   * reports (from stdin).
   */
  attach(send: (report: Uint8Array) => void): (report: Uint8Array) => void {
    this.outputs.add(send);
    return (report) => this.framing.receive(report);
  }

  /** Pull the fob out: every connection sees removal, and the fob loses power. */
  unplug(): void {
    for (const unplug of [...this.unplugs]) unplug('the fob was unplugged');
    this.unplugs.clear();
    this.outputs.clear();
    this.powerCycle();
  }

  /** Lose and regain power without unplugging the connections (volatile state is lost). */
  powerCycle(): void {
    this.framing.reset();
    this.authenticator.powerCycle();
  }
}
