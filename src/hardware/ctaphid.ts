/**
 * CTAPHID framing (CTAP 2.1 §11.2), host side: channel allocation with INIT, messages split into
 * an initialisation packet and up to 128 continuation packets (at most 7,609 bytes), KEEPALIVE,
 * CANCEL, ERROR, PING and WINK, with timeouts. Written against {@link HidConnection} only.
 * Modelled on python-fido2's `CtapHidDevice`.
 *
 * @module latchkey/fob
 */
import { equalBytes } from '../core/bytes.js';
import { LatchkeyError } from '../core/errors.js';
import { aint } from '../core/guards.js';
import { randomBytes } from '../core/random.js';
import { HID_REPORT_SIZE, type HidConnection } from './connection.js';
import { ctapError } from './ctap-status.js';

/** CTAPHID commands, with the initialisation-packet bit (0x80) set (CTAP 2.1 §11.2.9). */
export const CTAPHID = Object.freeze({
  PING: 0x81,
  MSG: 0x83,
  LOCK: 0x84,
  INIT: 0x86,
  WINK: 0x88,
  CBOR: 0x90,
  CANCEL: 0x91,
  KEEPALIVE: 0xbb,
  ERROR: 0xbf,
} as const);

/** INIT capability flags (CTAP 2.1 §11.2.9.1.3). */
export const CAPABILITY = Object.freeze({ WINK: 0x01, CBOR: 0x04, NMSG: 0x08 } as const);

/** KEEPALIVE status bytes (CTAP 2.1 §11.2.9.2.1). */
export const KEEPALIVE_STATUS = Object.freeze({ PROCESSING: 1, UP_NEEDED: 2 } as const);

/** The broadcast channel, used only to allocate a channel with INIT. */
export const BROADCAST_CID = 0xffffffff;

/** The largest CTAPHID message over 64-byte reports: 57 + 128 × 59 bytes. */
export const MAX_MESSAGE_SIZE = HID_REPORT_SIZE - 7 + 128 * (HID_REPORT_SIZE - 5);

/** A parsed CTAPHID packet. */
export type CtapHidPacket =
  | {
      readonly kind: 'init';
      readonly cid: number;
      readonly cmd: number;
      readonly length: number;
      readonly data: Uint8Array;
    }
  | { readonly kind: 'cont'; readonly cid: number; readonly seq: number; readonly data: Uint8Array };

/** Parse one report into a packet. Throws `ERR_CTAPHID_FRAMING` for a short report. */
export function parsePacket(report: Uint8Array): CtapHidPacket {
  if (report.length < 7) {
    throw new LatchkeyError('ERR_CTAPHID_FRAMING', 'a CTAPHID packet is too short', { length: report.length });
  }
  const view = new DataView(report.buffer, report.byteOffset, report.byteLength);
  const cid = view.getUint32(0);
  const byte = report[4] ?? 0;
  if ((byte & 0x80) !== 0) {
    return { kind: 'init', cid, cmd: byte, length: view.getUint16(5), data: report.subarray(7) };
  }
  return { kind: 'cont', cid, seq: byte, data: report.subarray(5) };
}

/**
 * Split a message into reports: one initialisation packet, then continuation packets with
 * sequence numbers 0 to 127, zero-padded. Throws `ERR_LIMIT_EXCEEDED` above 7,609 bytes.
 */
export function encodeMessage(
  cid: number,
  cmd: number,
  payload: Uint8Array,
  reportSize = HID_REPORT_SIZE,
): Uint8Array[] {
  const max = reportSize - 7 + 128 * (reportSize - 5);
  if (payload.length > max) {
    throw new LatchkeyError('ERR_LIMIT_EXCEEDED', `a CTAPHID message is at most ${max} bytes`, {
      limit: 'maxMessageSize',
      max,
      actual: payload.length,
    });
  }
  const reports: Uint8Array[] = [];
  const first = new Uint8Array(reportSize);
  const view = new DataView(first.buffer);
  view.setUint32(0, cid);
  first[4] = cmd | 0x80;
  view.setUint16(5, payload.length);
  let offset = Math.min(payload.length, reportSize - 7);
  first.set(payload.subarray(0, offset), 7);
  reports.push(first);
  let seq = 0;
  while (offset < payload.length) {
    const packet = new Uint8Array(reportSize);
    new DataView(packet.buffer).setUint32(0, cid);
    packet[4] = seq++;
    const chunk = payload.subarray(offset, offset + reportSize - 5);
    packet.set(chunk, 5);
    offset += chunk.length;
    reports.push(packet);
  }
  return reports;
}

/** Timeouts of the host-side framing layer. */
export interface CtapHidTimeouts {
  /** Longest silence between packets of a response, KEEPALIVEs included (ms). */
  readonly packetTimeoutMs: number;
  /** Longest a whole call may take, waiting for a touch included (ms). */
  readonly callTimeoutMs: number;
  /** After a CANCEL, how long to wait for the fob to answer (ms). */
  readonly cancelGraceMs: number;
}

/** Defaults: 1.5 s between packets (fobs send KEEPALIVE every 100 ms), 30 s a call. */
export const DEFAULT_CTAPHID_TIMEOUTS: CtapHidTimeouts = Object.freeze({
  packetTimeoutMs: 1500,
  callTimeoutMs: 30_000,
  cancelGraceMs: 1000,
});

/** Options for one {@link CtapHid.call}. */
export interface CtapHidCallOptions {
  /** Aborting sends CTAPHID_CANCEL; the call then rejects (CBOR calls with `ERR_CTAP2_KEEPALIVE_CANCEL`). */
  readonly signal?: AbortSignal;
  /** Called with each new KEEPALIVE status (1 processing, 2 user presence needed). */
  readonly onKeepalive?: (status: number) => void;
  /** Overrides {@link CtapHidTimeouts.callTimeoutMs} for this call. */
  readonly timeoutMs?: number;
}

/** What INIT told us about the device. */
export interface CtapHidDeviceInfo {
  readonly protocolVersion: number;
  readonly deviceVersion: readonly [number, number, number];
  readonly capabilities: number;
}

/**
 * A CTAPHID channel on one fob. Calls on one instance are serialised.
 *
 * @example
 * ```ts
 * import { CtapHid } from 'latchkey/fob';
 * import { VirtualFob } from 'latchkey/testing';
 * const hid = await CtapHid.open(new VirtualFob().connect());
 * await hid.ping(new Uint8Array([1, 2, 3]));
 * ```
 */
export class CtapHid {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly connection: HidConnection,
    readonly channel: number,
    readonly info: CtapHidDeviceInfo,
    private readonly timeouts: CtapHidTimeouts,
  ) {}

  /** Allocate a channel on the fob behind `connection` (CTAPHID_INIT with a random nonce). */
  static async open(connection: HidConnection, timeouts: Partial<CtapHidTimeouts> = {}): Promise<CtapHid> {
    const resolved = { ...DEFAULT_CTAPHID_TIMEOUTS, ...timeouts };
    const nonce = randomBytes(8);
    for (const report of encodeMessage(BROADCAST_CID, CTAPHID.INIT, nonce, connection.reportSize)) {
      await connection.write(report);
    }
    const deadline = Date.now() + resolved.packetTimeoutMs;
    for (;;) {
      const report = await connection.read(Math.max(1, deadline - Date.now()));
      const packet = parsePacket(report);
      // Other applications may be allocating channels at the same time: skip their answers.
      if (packet.kind !== 'init' || packet.cid !== BROADCAST_CID) continue;
      if (packet.cmd === CTAPHID.ERROR) throw ctapError(packet.data[0] ?? 0x7f, 'CTAPHID_INIT');
      if (packet.cmd !== CTAPHID.INIT || packet.length < 17) continue;
      if (!equalBytes(packet.data.subarray(0, 8), nonce)) continue;
      const view = new DataView(packet.data.buffer, packet.data.byteOffset, packet.data.byteLength);
      const channel = view.getUint32(8);
      if (channel === BROADCAST_CID || channel === 0) {
        throw new LatchkeyError('ERR_CTAPHID_FRAMING', 'the fob allocated an invalid channel', { channel });
      }
      const d = packet.data;
      return new CtapHid(
        connection,
        channel,
        {
          protocolVersion: d[12] ?? 0,
          deviceVersion: [d[13] ?? 0, d[14] ?? 0, d[15] ?? 0],
          capabilities: d[16] ?? 0,
        },
        resolved,
      );
    }
  }

  /** True when the fob speaks CTAP2 over CTAPHID_CBOR. */
  get supportsCbor(): boolean {
    return (this.info.capabilities & CAPABILITY.CBOR) !== 0;
  }

  /** Send `payload` as command `cmd` and return the response payload. */
  call(cmd: number, payload: Uint8Array, options: CtapHidCallOptions = {}): Promise<Uint8Array> {
    const run = this.queue.then(
      () => this.transact(cmd, payload, options),
      () => this.transact(cmd, payload, options),
    );
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** CTAPHID_PING: the fob echoes `data`. */
  async ping(data: Uint8Array, options: CtapHidCallOptions = {}): Promise<Uint8Array> {
    const echo = await this.call(CTAPHID.PING, data, options);
    if (!equalBytes(echo, data)) {
      throw new LatchkeyError('ERR_CTAPHID_FRAMING', 'the fob answered a ping with different data');
    }
    return echo;
  }

  /** CTAPHID_WINK: ask the fob to blink (a no-op for fobs without the WINK capability). */
  async wink(): Promise<void> {
    if ((this.info.capabilities & CAPABILITY.WINK) === 0) return;
    await this.call(CTAPHID.WINK, new Uint8Array(0));
  }

  /** CTAPHID_CBOR: one CTAP2 request; returns the status byte followed by the CBOR response. */
  cbor(request: Uint8Array, options: CtapHidCallOptions = {}): Promise<Uint8Array> {
    return this.call(CTAPHID.CBOR, request, options);
  }

  /** Release the connection. */
  async close(): Promise<void> {
    await this.connection.close();
  }

  private async sendCancel(): Promise<void> {
    const packet = new Uint8Array(this.connection.reportSize);
    new DataView(packet.buffer).setUint32(0, this.channel);
    packet[4] = CTAPHID.CANCEL;
    await this.connection.write(packet);
  }

  private async transact(cmd: number, payload: Uint8Array, options: CtapHidCallOptions): Promise<Uint8Array> {
    const { signal, onKeepalive } = options;
    const callTimeoutMs = aint(options.timeoutMs ?? this.timeouts.callTimeoutMs, 'timeoutMs', 1, 600_000);
    if (signal?.aborted) throw cancelled();
    for (const report of encodeMessage(this.channel, cmd, payload, this.connection.reportSize)) {
      await this.connection.write(report);
    }
    const started = Date.now();
    let cancelSentAt: number | undefined;
    let cancelReason: 'aborted' | 'timeout' | undefined;
    const requestCancel = (reason: 'aborted' | 'timeout'): void => {
      if (cancelSentAt !== undefined) return;
      cancelReason = reason;
      cancelSentAt = Date.now();
      this.sendCancel().catch(() => undefined);
    };
    const onAbort = (): void => requestCancel('aborted');
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      let lastKeepalive = -1;
      let response: Uint8Array | undefined;
      let received = 0;
      let seq = 0;
      for (;;) {
        const now = Date.now();
        if (cancelSentAt === undefined && now - started >= callTimeoutMs) requestCancel('timeout');
        let wait = this.timeouts.packetTimeoutMs;
        if (cancelSentAt !== undefined) wait = Math.min(wait, cancelSentAt + this.timeouts.cancelGraceMs - now);
        else wait = Math.min(wait, started + callTimeoutMs - now);
        let report: Uint8Array;
        try {
          report = await this.connection.read(Math.max(1, wait));
        } catch (error) {
          if (error instanceof LatchkeyError && error.code === 'ERR_FOB_TIMEOUT') {
            if (cancelReason === 'aborted') throw cancelled();
            if (cancelSentAt === undefined && Date.now() - started < callTimeoutMs) throw error;
            if (cancelSentAt === undefined) {
              requestCancel('timeout');
              continue;
            }
            throw new LatchkeyError('ERR_FOB_TIMEOUT', 'the fob did not finish in time', { timeoutMs: callTimeoutMs });
          }
          throw error;
        }
        const packet = parsePacket(report);
        if (packet.cid !== this.channel) continue;
        if (response === undefined) {
          if (packet.kind !== 'init') continue;
          if (packet.cmd === CTAPHID.KEEPALIVE) {
            const status = packet.data[0] ?? 0;
            if (status !== lastKeepalive) {
              lastKeepalive = status;
              onKeepalive?.(status);
            }
            continue;
          }
          if (packet.cmd === CTAPHID.ERROR) throw ctapError(packet.data[0] ?? 0x7f, 'CTAPHID');
          if (packet.cmd !== (cmd | 0x80)) {
            throw new LatchkeyError('ERR_CTAPHID_FRAMING', 'the fob answered a different command', {
              expected: cmd | 0x80,
              actual: packet.cmd,
            });
          }
          if (packet.length > MAX_MESSAGE_SIZE) {
            throw new LatchkeyError('ERR_CTAPHID_FRAMING', 'the fob announced an oversized message', {
              length: packet.length,
            });
          }
          response = new Uint8Array(packet.length);
          received = Math.min(packet.length, packet.data.length);
          response.set(packet.data.subarray(0, received));
        } else {
          if (packet.kind !== 'cont' || packet.seq !== seq) {
            throw new LatchkeyError('ERR_CTAPHID_FRAMING', 'the fob sent a packet out of sequence', {
              expected: seq,
            });
          }
          seq++;
          const chunk = packet.data.subarray(0, response.length - received);
          response.set(chunk, received);
          received += chunk.length;
        }
        if (received >= response.length) {
          if (cancelReason === 'timeout' && cmd === CTAPHID.CBOR && response[0] === 0x2d) {
            throw new LatchkeyError('ERR_FOB_TIMEOUT', 'the fob did not finish in time', { timeoutMs: callTimeoutMs });
          }
          if (cancelReason === 'aborted' && cmd !== CTAPHID.CBOR) throw cancelled();
          return response;
        }
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }
}

function cancelled(): LatchkeyError {
  return new LatchkeyError('ERR_CTAP2_KEEPALIVE_CANCEL', 'the operation was cancelled', {
    status: 0x2d,
    statusName: 'CTAP2_ERR_KEEPALIVE_CANCEL',
  });
}
