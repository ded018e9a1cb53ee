/**
 * The node-hid connection: real USB fobs. This is the only file that imports `node-hid` (an
 * optional peer dependency), and only when a fob is listed or opened; a missing package gives
 * `ERR_MISSING_DEPENDENCY` naming it. FIDO devices are found by HID usage page 0xF1D0, usage 1.
 * Writes carry node-hid's report-ID byte (0) in front of the 64-byte report; a read error means
 * the fob was removed.
 *
 * Untested on real hardware in CI (there is no USB there): its framing is unit-tested with a
 * fake device object, and everything above it runs the same over the pipe and in memory.
 *
 * @module latchkey/fob
 */
import { LatchkeyError } from '../core/errors.js';
import { ConnectionState, HID_REPORT_SIZE, type HidConnection } from './connection.js';

/** The FIDO HID usage page and usage (CTAP 2.1 §11.2.8.1). */
export const FIDO_USAGE_PAGE = 0xf1d0;
export const FIDO_USAGE = 0x01;

/** A FIDO HID device as enumeration reports it. */
export interface FobDeviceInfo {
  readonly path: string;
  readonly vendorId: number;
  readonly productId: number;
  readonly product?: string;
  readonly manufacturer?: string;
  readonly serialNumber?: string;
}

/** What {@link hidConnection} needs of an open device: node-hid's `HIDAsync`, or a fake. */
export interface HidDeviceHandle {
  write(values: number[] | Buffer): Promise<number> | number;
  on(event: 'data', listener: (data: Buffer) => void): unknown;
  on(event: 'error', listener: (error: unknown) => void): unknown;
  close(): Promise<void> | void;
}

/**
 * A {@link HidConnection} over an open HID device: writes prefix report ID 0, input reports
 * arrive as `data` events, and an `error` event (the device went away) is removal.
 *
 * @example
 * ```ts
 * import { hidConnection } from 'latchkey/fob';
 * const connection = hidConnection(await HID.HIDAsync.open(path));
 * ```
 */
export function hidConnection(device: HidDeviceHandle): HidConnection {
  const state = new ConnectionState();
  const remove = (reason: string): void => state.remove(reason);
  device.on('data', (data: Buffer) => {
    // Some platforms hand back the report-ID byte, or a short report: keep the 64 report bytes.
    const bytes = data.length === HID_REPORT_SIZE + 1 && data[0] === 0 ? data.subarray(1) : data;
    if (bytes.length < HID_REPORT_SIZE) return;
    state.push(new Uint8Array(bytes.subarray(0, HID_REPORT_SIZE)));
  });
  device.on('error', () => remove('the fob was removed (read error)'));
  return {
    reportSize: HID_REPORT_SIZE,
    removed: state.removed,
    async write(report) {
      const blocked = state.writeError(report);
      if (blocked) throw blocked;
      const framed = Buffer.alloc(HID_REPORT_SIZE + 1);
      framed.set(report, 1);
      let written: number;
      try {
        written = await device.write(framed);
      } catch {
        remove('the fob was removed (write error)');
        throw state.removed.reason as LatchkeyError;
      }
      if (written !== framed.length) {
        remove('the fob was removed (short write)');
        throw state.removed.reason as LatchkeyError;
      }
    },
    read: (timeoutMs) => state.read(timeoutMs),
    async close() {
      if (!state.close()) return;
      try {
        await device.close();
      } catch {
        // Closing a device that is already gone is not an error.
      }
    },
  };
}

interface NodeHidModule {
  devicesAsync(): Promise<
    {
      vendorId: number;
      productId: number;
      path?: string | undefined;
      product?: string | undefined;
      manufacturer?: string | undefined;
      serialNumber?: string | undefined;
      usagePage?: number | undefined;
      usage?: number | undefined;
    }[]
  >;
  HIDAsync: { open(path: string, options?: { nonExclusive?: boolean }): Promise<HidDeviceHandle> };
}

let loaded: Promise<NodeHidModule> | undefined;

async function nodeHid(): Promise<NodeHidModule> {
  loaded ??= import('node-hid').then(
    (module) => ((module as { default?: unknown }).default ?? module) as NodeHidModule,
    (cause: unknown) => {
      loaded = undefined;
      throw new LatchkeyError(
        'ERR_MISSING_DEPENDENCY',
        'talking to USB fobs needs the `node-hid` package: npm install node-hid',
        { package: 'node-hid' },
        { cause },
      );
    },
  );
  return loaded;
}

/** node-hid loads its native addon on first use: a failure there is a missing dependency too. */
function nativeFailure(cause: unknown): LatchkeyError {
  return new LatchkeyError(
    'ERR_MISSING_DEPENDENCY',
    'the `node-hid` native addon could not be loaded (it needs hidraw or libusb)',
    { package: 'node-hid' },
    { cause },
  );
}

function isNativeFailure(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'ERR_DLOPEN_FAILED';
}

/** The FIDO fobs plugged in now (usage page 0xF1D0, usage 1). */
export async function listFobs(): Promise<FobDeviceInfo[]> {
  const hid = await nodeHid();
  let devices: Awaited<ReturnType<NodeHidModule['devicesAsync']>>;
  try {
    devices = await hid.devicesAsync();
  } catch (cause) {
    if (isNativeFailure(cause)) throw nativeFailure(cause);
    throw new LatchkeyError('ERR_FOB_NOT_FOUND', 'listing HID devices failed', {}, { cause });
  }
  const out: FobDeviceInfo[] = [];
  for (const device of devices) {
    if (device.usagePage !== FIDO_USAGE_PAGE || device.usage !== FIDO_USAGE || device.path === undefined) continue;
    out.push({
      path: device.path,
      vendorId: device.vendorId,
      productId: device.productId,
      ...(device.product === undefined ? {} : { product: device.product }),
      ...(device.manufacturer === undefined ? {} : { manufacturer: device.manufacturer }),
      ...(device.serialNumber === undefined ? {} : { serialNumber: device.serialNumber }),
    });
  }
  return out;
}

/**
 * Open a fob by path, or the only one plugged in. `ERR_FOB_NOT_FOUND` when there is none (or,
 * without a path, more than one).
 *
 * @example
 * ```ts
 * import { openFob, Ctap2Client } from 'latchkey/fob';
 * const client = await Ctap2Client.open(await openFob());
 * ```
 */
export async function openFob(path?: string): Promise<HidConnection> {
  const hid = await nodeHid();
  let target = path;
  if (target === undefined) {
    const fobs = await listFobs();
    if (fobs.length !== 1) {
      throw new LatchkeyError(
        'ERR_FOB_NOT_FOUND',
        fobs.length === 0 ? 'no fob is plugged in' : 'more than one fob is plugged in: choose one by path',
        { count: fobs.length },
      );
    }
    target = (fobs[0] as FobDeviceInfo).path;
  }
  let device: HidDeviceHandle;
  try {
    device = await hid.HIDAsync.open(target, { nonExclusive: true });
  } catch (cause) {
    if (isNativeFailure(cause)) throw nativeFailure(cause);
    throw new LatchkeyError('ERR_FOB_NOT_FOUND', `cannot open the fob at \`${target}\``, { path: target }, { cause });
  }
  return hidConnection(device);
}
