/**
 * The node-hid connection's framing, with a fake device object standing in for node-hid's
 * HIDAsync (there is no USB here): report-ID 0 prefixed on write, 64-byte input reports,
 * a device error is removal. A fake device that runs the virtual fob's framing behind it shows
 * the whole stack above works unchanged.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { LatchkeyError } from '../../src/core/errors.js';
import { Ctap2Client } from '../../src/hardware/ctap2.js';
import { hidConnection } from '../../src/hardware/node-hid.js';
import { VirtualFob } from '../../src/hardware/virtual-fob.js';

class FakeHidDevice extends EventEmitter {
  readonly written: Buffer[] = [];
  closed = false;
  constructor(private readonly onWrite?: (report: Uint8Array) => void) {
    super();
  }
  async write(values: number[] | Buffer): Promise<number> {
    const buffer = Buffer.from(values);
    this.written.push(buffer);
    this.onWrite?.(new Uint8Array(buffer.subarray(1)));
    return buffer.length;
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

describe('the node-hid connection (fake device)', () => {
  it('prefixes report ID 0 on write and reads 64-byte reports', async () => {
    const device = new FakeHidDevice();
    const connection = hidConnection(device);
    await connection.write(new Uint8Array(64).fill(7));
    expect(device.written[0]).toHaveLength(65);
    expect(device.written[0]?.[0]).toBe(0);
    expect(device.written[0]?.subarray(1)).toEqual(Buffer.alloc(64, 7));
    device.emit('data', Buffer.alloc(64, 1));
    device.emit('data', Buffer.concat([Buffer.from([0]), Buffer.alloc(64, 2)])); // with report ID
    device.emit('data', Buffer.alloc(10)); // short: ignored
    expect(await connection.read(100)).toEqual(new Uint8Array(64).fill(1));
    expect(await connection.read(100)).toEqual(new Uint8Array(64).fill(2));
    await expect(connection.read(20)).rejects.toMatchObject({ code: 'ERR_FOB_TIMEOUT' });
    await expect(connection.write(new Uint8Array(63))).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await connection.close();
    expect(device.closed).toBe(true);
  });

  it('treats a read error as removal', async () => {
    const device = new FakeHidDevice();
    const connection = hidConnection(device);
    const pending = connection.read(1000);
    device.emit('error', new Error('could not read from HID device'));
    const error = await pending.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LatchkeyError);
    expect((error as LatchkeyError).code).toBe('ERR_FOB_REMOVED');
    expect(connection.removed.aborted).toBe(true);
    await expect(connection.write(new Uint8Array(64))).rejects.toMatchObject({ code: 'ERR_FOB_REMOVED' });
  });

  it('carries CTAP2 end to end when the device behind it is the virtual fob', async () => {
    const fob = new VirtualFob();
    let device: FakeHidDevice;
    const receive = fob.attach((report) => device.emit('data', Buffer.from(report)));
    device = new FakeHidDevice((report) => queueMicrotask(() => receive(report)));
    const client = await Ctap2Client.open(hidConnection(device));
    expect(client.info.versions).toContain('FIDO_2_1');
    await client.close();
  });
});

describe('node-hid on this machine (no USB fobs here)', () => {
  it('lists fobs, or says which dependency is missing, with a LatchkeyError either way', async () => {
    const { listFobs, openFob } = await import('../../src/hardware/node-hid.js');
    let fobs: unknown;
    try {
      fobs = await listFobs();
    } catch (error) {
      expect(error).toBeInstanceOf(LatchkeyError);
      expect((error as LatchkeyError).code).toBe('ERR_MISSING_DEPENDENCY');
      expect((error as LatchkeyError).detail.package).toBe('node-hid');
      return;
    }
    expect(Array.isArray(fobs)).toBe(true);
    if ((fobs as unknown[]).length === 0) await expect(openFob()).rejects.toMatchObject({ code: 'ERR_FOB_NOT_FOUND' });
  });
});
