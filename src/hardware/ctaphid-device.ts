/**
 * CTAPHID framing, device side (CTAP 2.1 §11.2): what the virtual fob runs behind its HID
 * interface. Channels are allocated by INIT on the broadcast channel; a message is reassembled
 * from its packets with sequence checks and a per-packet timeout; one transaction runs at a time
 * and other channels are told CHANNEL_BUSY; KEEPALIVE is sent while a CBOR request is processed;
 * CANCEL aborts it; INIT on an allocated channel resynchronises it.
 *
 * @module latchkey/testing
 */
import { LatchkeyError } from '../core/errors.js';
import { HID_REPORT_SIZE } from './connection.js';
import { Status } from './ctap-status.js';
import { BROADCAST_CID, CAPABILITY, CTAPHID, encodeMessage, KEEPALIVE_STATUS, MAX_MESSAGE_SIZE } from './ctaphid.js';

/** What a CBOR request handler is given while it runs. */
export interface CborRequestContext {
  /** Aborted by CTAPHID_CANCEL, by INIT on the same channel, or by removal. */
  readonly signal: AbortSignal;
  /** Change the KEEPALIVE status being sent (2 while waiting for a touch). */
  keepalive(status: number): void;
}

/** The authenticator behind the framing. */
export interface CtapHidDeviceHandler {
  /** Handle one CTAP2 request; resolve with the status byte and CBOR response. */
  cbor(request: Uint8Array, context: CborRequestContext): Promise<Uint8Array>;
  /** CTAPHID_WINK. */
  wink?(): void;
}

/** Tunables of the device-side framing. */
export interface CtapHidDeviceOptions {
  /** How long to wait for the next packet of a message before ERR_MSG_TIMEOUT (ms). */
  readonly messageTimeoutMs?: number;
  /** How often KEEPALIVE is sent while a request is processed (ms). */
  readonly keepaliveIntervalMs?: number;
  /** Device version reported by INIT. */
  readonly deviceVersion?: readonly [number, number, number];
  /** Channels remembered at once; the oldest is forgotten first. */
  readonly maxChannels?: number;
}

interface Assembly {
  readonly cid: number;
  readonly cmd: number;
  readonly data: Uint8Array;
  received: number;
  seq: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

interface Busy {
  readonly cid: number;
  readonly abort: AbortController;
  timer: ReturnType<typeof setInterval> | undefined;
}

/**
 * The device side of CTAPHID. `send` is called with each 64-byte report for the host.
 *
 * @example
 * ```ts
 * const framing = new CtapHidDeviceFraming((report) => process.stdout.write(report), authenticator);
 * process.stdin.on('data', (chunk) => framing.receive(chunk));
 * ```
 */
export class CtapHidDeviceFraming {
  private readonly channels = new Set<number>();
  private nextChannel = 1;
  private assembly: Assembly | undefined;
  private busy: Busy | undefined;
  private readonly messageTimeoutMs: number;
  private readonly keepaliveIntervalMs: number;
  private readonly deviceVersion: readonly [number, number, number];
  private readonly maxChannels: number;

  constructor(
    private readonly send: (report: Uint8Array) => void,
    private readonly handler: CtapHidDeviceHandler,
    options: CtapHidDeviceOptions = {},
  ) {
    this.messageTimeoutMs = options.messageTimeoutMs ?? 500;
    this.keepaliveIntervalMs = options.keepaliveIntervalMs ?? 100;
    this.deviceVersion = options.deviceVersion ?? [0, 1, 0];
    this.maxChannels = options.maxChannels ?? 256;
  }

  /** Forget every channel and abort whatever runs: the fob lost power. */
  reset(): void {
    this.abortAssembly();
    if (this.busy !== undefined) this.finishBusy(this.busy, true);
    this.channels.clear();
  }

  /** Take one report from the host. Reports of the wrong size are ignored. */
  receive(report: Uint8Array): void {
    if (report.length !== HID_REPORT_SIZE) return;
    const view = new DataView(report.buffer, report.byteOffset, report.byteLength);
    const cid = view.getUint32(0);
    const byte = report[4] ?? 0;
    if ((byte & 0x80) !== 0) this.initPacket(cid, byte, view.getUint16(5), report.subarray(7));
    else this.continuationPacket(cid, byte, report.subarray(5));
  }

  private error(cid: number, status: number): void {
    this.respond(cid, CTAPHID.ERROR, new Uint8Array([status]));
  }

  private respond(cid: number, cmd: number, payload: Uint8Array): void {
    for (const report of encodeMessage(cid, cmd, payload)) this.send(report);
  }

  private allocate(): number {
    for (;;) {
      const cid = this.nextChannel;
      this.nextChannel = this.nextChannel >= 0xfffffffe ? 1 : this.nextChannel + 1;
      if (!this.channels.has(cid)) {
        this.channels.add(cid);
        if (this.channels.size > this.maxChannels) {
          const oldest = this.channels.values().next().value;
          if (oldest !== undefined) this.channels.delete(oldest);
        }
        return cid;
      }
    }
  }

  private initPacket(cid: number, cmd: number, length: number, data: Uint8Array): void {
    if (cmd === CTAPHID.INIT) {
      this.init(cid, length, data);
      return;
    }
    if (cmd === CTAPHID.CANCEL) {
      // CANCEL has no response; it only matters to the transaction running on its channel.
      if (this.busy !== undefined && this.busy.cid === cid) this.busy.abort.abort();
      return;
    }
    if (cid === 0 || cid === BROADCAST_CID || !this.channels.has(cid)) {
      this.error(cid, Status.INVALID_CHANNEL);
      return;
    }
    if (this.busy !== undefined) {
      this.error(cid, Status.CHANNEL_BUSY);
      return;
    }
    if (this.assembly !== undefined) {
      if (this.assembly.cid !== cid) {
        this.error(cid, Status.CHANNEL_BUSY);
        return;
      }
      // A new request on the channel mid-message: the message is abandoned.
      this.abortAssembly();
      this.error(cid, Status.INVALID_SEQ);
      return;
    }
    if (length > MAX_MESSAGE_SIZE) {
      this.error(cid, Status.INVALID_LENGTH);
      return;
    }
    const assembly: Assembly = { cid, cmd, data: new Uint8Array(length), received: 0, seq: 0, timer: undefined };
    const chunk = data.subarray(0, length);
    assembly.data.set(chunk);
    assembly.received = chunk.length;
    this.assembly = assembly;
    this.progress(assembly);
  }

  private continuationPacket(cid: number, seq: number, data: Uint8Array): void {
    const assembly = this.assembly;
    if (assembly === undefined || assembly.cid !== cid) {
      // Spurious continuation packets are ignored, unless another channel holds the device.
      if ((assembly !== undefined || this.busy !== undefined) && this.channels.has(cid)) {
        if (this.busy?.cid !== cid) this.error(cid, Status.CHANNEL_BUSY);
      }
      return;
    }
    if (seq !== assembly.seq) {
      this.abortAssembly();
      this.error(cid, Status.INVALID_SEQ);
      return;
    }
    assembly.seq++;
    const chunk = data.subarray(0, assembly.data.length - assembly.received);
    assembly.data.set(chunk, assembly.received);
    assembly.received += chunk.length;
    this.progress(assembly);
  }

  private progress(assembly: Assembly): void {
    if (assembly.timer !== undefined) clearTimeout(assembly.timer);
    if (assembly.received < assembly.data.length) {
      assembly.timer = setTimeout(() => {
        if (this.assembly !== assembly) return;
        this.assembly = undefined;
        this.error(assembly.cid, Status.TIMEOUT);
      }, this.messageTimeoutMs);
      return;
    }
    assembly.timer = undefined;
    this.assembly = undefined;
    this.dispatch(assembly.cid, assembly.cmd, assembly.data);
  }

  private abortAssembly(): void {
    if (this.assembly?.timer !== undefined) clearTimeout(this.assembly.timer);
    this.assembly = undefined;
  }

  private init(cid: number, length: number, data: Uint8Array): void {
    if (length !== 8) {
      this.error(cid, Status.INVALID_LENGTH);
      return;
    }
    let channel: number;
    if (cid === BROADCAST_CID) {
      channel = this.allocate();
    } else if (cid !== 0 && this.channels.has(cid)) {
      // Resynchronise: abandon whatever this channel was doing.
      if (this.assembly?.cid === cid) this.abortAssembly();
      if (this.busy?.cid === cid) this.finishBusy(this.busy, true);
      channel = cid;
    } else {
      this.error(cid, Status.INVALID_CHANNEL);
      return;
    }
    const payload = new Uint8Array(17);
    payload.set(data.subarray(0, 8));
    new DataView(payload.buffer).setUint32(8, channel);
    payload[12] = 2; // CTAPHID protocol version
    payload.set(this.deviceVersion, 13);
    payload[16] = CAPABILITY.WINK | CAPABILITY.CBOR | CAPABILITY.NMSG;
    this.respond(cid, CTAPHID.INIT, payload);
  }

  private dispatch(cid: number, cmd: number, payload: Uint8Array): void {
    switch (cmd) {
      case CTAPHID.PING:
        this.respond(cid, CTAPHID.PING, payload);
        return;
      case CTAPHID.WINK:
        if (payload.length !== 0) {
          this.error(cid, Status.INVALID_LENGTH);
          return;
        }
        this.handler.wink?.();
        this.respond(cid, CTAPHID.WINK, payload);
        return;
      case CTAPHID.CBOR:
        if (payload.length === 0) {
          this.error(cid, Status.INVALID_LENGTH);
          return;
        }
        this.runCbor(cid, payload);
        return;
      default:
        // MSG (CTAP1/U2F) and LOCK are not supported: INIT advertises NMSG and no LOCK.
        this.error(cid, Status.INVALID_COMMAND);
    }
  }

  private runCbor(cid: number, request: Uint8Array): void {
    const busy: Busy = { cid, abort: new AbortController(), timer: undefined };
    this.busy = busy;
    let status: number = KEEPALIVE_STATUS.PROCESSING;
    busy.timer = setInterval(() => {
      if (this.busy === busy && !busy.abort.signal.aborted) {
        this.respond(cid, CTAPHID.KEEPALIVE, new Uint8Array([status]));
      }
    }, this.keepaliveIntervalMs);
    const context: CborRequestContext = {
      signal: busy.abort.signal,
      keepalive: (next) => {
        const changed = next !== status;
        status = next;
        // Say at once that a touch is needed, rather than at the next tick.
        if (changed && next === KEEPALIVE_STATUS.UP_NEEDED && this.busy === busy && !busy.abort.signal.aborted) {
          this.respond(cid, CTAPHID.KEEPALIVE, new Uint8Array([status]));
        }
      },
    };
    let result: Promise<Uint8Array>;
    try {
      result = this.handler.cbor(request, context);
    } catch (error) {
      result = Promise.reject(error);
    }
    result.then(
      (response) => {
        if (this.busy !== busy) return; // resynchronised or powered off meanwhile
        this.finishBusy(busy, false);
        this.respond(cid, CTAPHID.CBOR, response);
      },
      (error: unknown) => {
        if (this.busy !== busy) return;
        this.finishBusy(busy, false);
        const code = error instanceof LatchkeyError ? error.code : 'ERR_INTERNAL';
        this.respond(
          cid,
          CTAPHID.CBOR,
          new Uint8Array([code === 'ERR_CTAP2_CBOR' ? Status.INVALID_CBOR : Status.OTHER]),
        );
      },
    );
  }

  private finishBusy(busy: Busy, abort: boolean): void {
    if (busy.timer !== undefined) clearInterval(busy.timer);
    busy.timer = undefined;
    if (abort) busy.abort.abort();
    if (this.busy === busy) this.busy = undefined;
  }
}
