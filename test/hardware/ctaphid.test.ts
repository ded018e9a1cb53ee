import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isLatchkeyError, LatchkeyError } from '../../src/core/errors.js';
import type { HidConnection } from '../../src/hardware/connection.js';
import { CTAP_STATUS, ctapError, ctapStatusName } from '../../src/hardware/ctap-status.js';
import {
  BROADCAST_CID,
  CTAPHID,
  CtapHid,
  encodeMessage,
  KEEPALIVE_STATUS,
  MAX_MESSAGE_SIZE,
  parsePacket,
} from '../../src/hardware/ctaphid.js';
import { CtapHidDeviceFraming } from '../../src/hardware/ctaphid-device.js';
import { createMemoryConnection } from '../../src/hardware/memory-connection.js';
import { VirtualFob } from '../../src/hardware/virtual-fob.js';
import { rejection } from '../helpers/errors.js';

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

/** A device whose framing runs a CBOR handler we control. */
function framedDevice(
  cbor: (request: Uint8Array, ctx: { signal: AbortSignal; keepalive(s: number): void }) => Promise<Uint8Array>,
) {
  let deliver: (report: Uint8Array) => void = () => undefined;
  const framing = new CtapHidDeviceFraming(
    (report) => deliver(report),
    { cbor },
    { keepaliveIntervalMs: 10, messageTimeoutMs: 50 },
  );
  const link = createMemoryConnection({ receive: (report) => framing.receive(report) });
  deliver = link.deliver;
  return { host: link.host, framing, unplug: link.unplug };
}

async function rawExchange(host: HidConnection, reports: Uint8Array[], cid: number): Promise<Uint8Array> {
  for (const report of reports) await host.write(report);
  for (;;) {
    const report = await host.read(500);
    const packet = parsePacket(report);
    if (packet.cid === cid && packet.kind === 'init' && packet.cmd !== CTAPHID.KEEPALIVE) return report;
  }
}

describe('CTAPHID packets', () => {
  it('splits the largest message into one init and 128 continuation packets and back', () => {
    const payload = new Uint8Array(MAX_MESSAGE_SIZE).map((_, i) => i & 0xff);
    const reports = encodeMessage(0x01020304, CTAPHID.PING, payload);
    expect(MAX_MESSAGE_SIZE).toBe(7609);
    expect(reports).toHaveLength(129);
    expect(reports.every((r) => r.length === 64)).toBe(true);
    const first = parsePacket(reports[0] as Uint8Array);
    expect(first).toMatchObject({ kind: 'init', cid: 0x01020304, cmd: 0x81, length: 7609 });
    expect(parsePacket(reports[128] as Uint8Array)).toMatchObject({ kind: 'cont', seq: 127 });
    expect(
      isLatchkeyError(
        caught(() => encodeMessage(1, CTAPHID.PING, new Uint8Array(7610))),
        'ERR_LIMIT_EXCEEDED',
      ),
    ).toBe(true);
  });

  it('maps every CTAP status to a stable code and its spec name', () => {
    expect(ctapError(0x31).code).toBe('ERR_CTAP2_PIN_INVALID');
    expect(ctapError(0x32).code).toBe('ERR_CTAP2_PIN_BLOCKED');
    expect(ctapError(0x34).code).toBe('ERR_CTAP2_PIN_AUTH_BLOCKED');
    expect(ctapError(0x36).detail.statusName).toBe('CTAP2_ERR_PUAT_REQUIRED');
    expect(ctapError(0x2e).code).toBe('ERR_CTAP2_NO_CREDENTIALS');
    expect(ctapError(0x06).code).toBe('ERR_CTAPHID_BUSY');
    expect(ctapError(0x40, 'authenticatorClientPIN')).toMatchObject({
      code: 'ERR_CTAP2_STATUS',
      detail: { status: 0x40, statusName: 'CTAP2_ERR_UNAUTHORIZED_PERMISSION', command: 'authenticatorClientPIN' },
    });
    expect(ctapStatusName(0xe3)).toBe('CTAP2_ERR_EXTENSION_0xe3');
    expect(ctapStatusName(0xf5)).toBe('CTAP2_ERR_VENDOR_0xf5');
    for (let status = 1; status < 256; status++) {
      const error = ctapError(status);
      expect(error).toBeInstanceOf(LatchkeyError);
      expect(error.message).not.toMatch(/\.$/);
      expect(typeof error.detail.statusName).toBe('string');
    }
    expect(Object.keys(CTAP_STATUS).length).toBeGreaterThan(50);
  });
});

describe('CTAPHID over the in-memory connection', () => {
  it('allocates distinct channels, pings up to 7,609 bytes and winks', async () => {
    const fob = new VirtualFob();
    const a = await CtapHid.open(fob.connect());
    const b = await CtapHid.open(fob.connect());
    expect(a.channel).not.toBe(b.channel);
    expect(a.info).toMatchObject({ protocolVersion: 2, capabilities: 0x0d });
    const big = new Uint8Array(MAX_MESSAGE_SIZE).map((_, i) => (i * 7) & 0xff);
    expect(await a.ping(big)).toEqual(big);
    expect(await b.ping(new Uint8Array([1, 2, 3]))).toEqual(new Uint8Array([1, 2, 3]));
    await a.wink();
    expect(fob.winkCount).toBe(1);
    await a.close();
    await b.close();
  });

  it('reports KEEPALIVE statuses and cancels with CTAPHID_CANCEL', async () => {
    const device = framedDevice(
      (_, ctx) =>
        new Promise((resolve) => {
          ctx.keepalive(KEEPALIVE_STATUS.UP_NEEDED);
          ctx.signal.addEventListener('abort', () => resolve(new Uint8Array([0x2d])));
        }),
    );
    const hid = await CtapHid.open(device.host);
    const statuses: number[] = [];
    const controller = new AbortController();
    const call = hid.cbor(new Uint8Array([0x01]), {
      signal: controller.signal,
      onKeepalive: (status) => {
        statuses.push(status);
        controller.abort();
      },
    });
    const response = await call;
    expect(response).toEqual(new Uint8Array([0x2d]));
    expect(statuses).toEqual([KEEPALIVE_STATUS.UP_NEEDED]);
  });

  it('times out a call that never finishes, after cancelling it', async () => {
    const device = framedDevice(
      (_, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(new Uint8Array([0x2d])))),
    );
    const hid = await CtapHid.open(device.host);
    const error = await rejection(hid.cbor(new Uint8Array([0x01]), { timeoutMs: 60 }));
    expect(error.code).toBe('ERR_FOB_TIMEOUT');
  });

  it('turns a silent device into ERR_FOB_TIMEOUT and removal into ERR_FOB_REMOVED', async () => {
    const silent = createMemoryConnection({ receive: () => undefined });
    expect((await rejection(CtapHid.open(silent.host, { packetTimeoutMs: 30 }))).code).toBe('ERR_FOB_TIMEOUT');
    const device = framedDevice(() => new Promise(() => undefined));
    const hid = await CtapHid.open(device.host);
    const pending = hid.cbor(new Uint8Array([0x04]));
    setTimeout(() => device.unplug(), 20);
    expect((await rejection(pending)).code).toBe('ERR_FOB_REMOVED');
    expect(device.host.removed.aborted).toBe(true);
    expect((await rejection(hid.ping(new Uint8Array(1)))).code).toBe('ERR_FOB_REMOVED');
  });

  it('answers framing errors with CTAPHID_ERROR (busy, invalid channel, sequence, length, timeout)', async () => {
    const device = framedDevice(async () => new Uint8Array([0]));
    const a = await CtapHid.open(device.host);
    const b = await CtapHid.open(device.host);
    const errorOf = (report: Uint8Array): [number, number] => {
      const packet = parsePacket(report);
      return [packet.kind === 'init' ? packet.cmd : -1, report[7] ?? -1];
    };
    const [first, second] = encodeMessage(a.channel, CTAPHID.PING, new Uint8Array(100));
    await device.host.write(first as Uint8Array);
    expect(
      errorOf(
        await rawExchange(
          device.host,
          [encodeMessage(b.channel, CTAPHID.PING, new Uint8Array(1))[0] as Uint8Array],
          b.channel,
        ),
      ),
    ).toEqual([CTAPHID.ERROR, 0x06]);
    const echo = await rawExchange(device.host, [second as Uint8Array], a.channel);
    expect(parsePacket(echo)).toMatchObject({ kind: 'init', cmd: CTAPHID.PING, length: 100 });
    await device.host.read(100); // its continuation packet
    expect(
      errorOf(await rawExchange(device.host, encodeMessage(0x55555555, CTAPHID.PING, new Uint8Array(1)), 0x55555555)),
    ).toEqual([CTAPHID.ERROR, 0x0b]);
    const badSeq = encodeMessage(a.channel, CTAPHID.PING, new Uint8Array(100));
    (badSeq[1] as Uint8Array)[4] = 3;
    expect(errorOf(await rawExchange(device.host, badSeq, a.channel))).toEqual([CTAPHID.ERROR, 0x04]);
    const oversize = encodeMessage(a.channel, CTAPHID.PING, new Uint8Array(1))[0] as Uint8Array;
    oversize[5] = 0x1d;
    oversize[6] = 0xba; // 7610
    expect(errorOf(await rawExchange(device.host, [oversize], a.channel))).toEqual([CTAPHID.ERROR, 0x03]);
    const half = encodeMessage(a.channel, CTAPHID.PING, new Uint8Array(100));
    expect(errorOf(await rawExchange(device.host, [half[0] as Uint8Array], a.channel))).toEqual([CTAPHID.ERROR, 0x05]);
    expect(
      errorOf(await rawExchange(device.host, encodeMessage(a.channel, CTAPHID.MSG, new Uint8Array(0)), a.channel)),
    ).toEqual([CTAPHID.ERROR, 0x01]);
    expect(
      errorOf(
        await rawExchange(device.host, encodeMessage(BROADCAST_CID, CTAPHID.PING, new Uint8Array(0)), BROADCAST_CID),
      ),
    ).toEqual([CTAPHID.ERROR, 0x0b]);
    // After all that, the channel still works.
    expect(await a.ping(new Uint8Array([9]))).toEqual(new Uint8Array([9]));
  });

  it('survives random reports without throwing (fuzz), and still answers afterwards', async () => {
    const fob = new VirtualFob({ framing: { messageTimeoutMs: 5 } });
    const sent: Uint8Array[] = [];
    const receive = fob.attach((report) => sent.push(report));
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 64, maxLength: 64 }), fc.boolean(), (report, broadcast) => {
        if (broadcast) report.set([0xff, 0xff, 0xff, 0xff]);
        if (report[4] === CTAPHID.INIT || report[4] === CTAPHID.CBOR) report[4] = CTAPHID.PING;
        receive(report);
      }),
      { numRuns: 2000 },
    );
    for (const report of sent) expect(() => parsePacket(report)).not.toThrow();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const hid = await CtapHid.open(fob.connect());
    expect(await hid.ping(new Uint8Array([1]))).toEqual(new Uint8Array([1]));
  });

  it('the host side refuses a device that answers out of sequence', async () => {
    let deliver: (report: Uint8Array) => void = () => undefined;
    let channel = 0;
    const link = createMemoryConnection({
      receive: (report) => {
        const packet = parsePacket(report);
        if (packet.kind === 'init' && packet.cmd === CTAPHID.INIT) {
          const payload = new Uint8Array(17);
          payload.set(packet.data.subarray(0, 8));
          channel = 7;
          new DataView(payload.buffer).setUint32(8, channel);
          payload[16] = 0x04;
          for (const r of encodeMessage(BROADCAST_CID, CTAPHID.INIT, payload)) deliver(r);
        } else if (packet.kind === 'init') {
          const reply = encodeMessage(channel, packet.cmd, new Uint8Array(200));
          (reply[2] as Uint8Array)[4] = 5;
          for (const r of reply) deliver(r);
        }
      },
    });
    deliver = link.deliver;
    const hid = await CtapHid.open(link.host);
    expect((await rejection(hid.call(CTAPHID.PING, new Uint8Array(200)))).code).toBe('ERR_CTAPHID_FRAMING');
  });
});
