import { describe, expect, it } from 'vitest';
import { createMemoryConnection } from '../../src/hardware/memory-connection.js';
import type { FobDeviceInfo } from '../../src/hardware/node-hid.js';
import { type FobPresenceEvent, watchFobs } from '../../src/hardware/presence.js';
import { FakeClock } from '../../src/testing/clock.js';

const key = (path: string): FobDeviceInfo => ({ path, vendorId: 0x1050, productId: 0x0407 });

describe('the fob presence watcher', () => {
  it('reports attach and detach after the debounce, and ignores flicker', async () => {
    const clock = new FakeClock(0);
    let plugged: FobDeviceInfo[] = [];
    const events: FobPresenceEvent[] = [];
    const watcher = watchFobs({
      enumerate: async () => plugged,
      onEvent: (event) => events.push(event),
      intervalMs: 60_000,
      debounceMs: 500,
      clock,
    });
    await watcher.poll();
    plugged = [key('/dev/hidraw0')];
    await watcher.poll();
    expect(events).toEqual([]);
    clock.advance(600);
    await watcher.poll();
    expect(events.map((e) => `${e.type} ${e.device.path} ${e.cause}`)).toEqual(['attach /dev/hidraw0 poll']);
    // A flicker shorter than the debounce is not a removal.
    plugged = [];
    await watcher.poll();
    clock.advance(100);
    plugged = [key('/dev/hidraw0')];
    await watcher.poll();
    clock.advance(600);
    await watcher.poll();
    expect(events).toHaveLength(1);
    plugged = [];
    await watcher.poll();
    clock.advance(500);
    await watcher.poll();
    expect(events.map((e) => e.type)).toEqual(['attach', 'detach']);
    expect(watcher.present()).toEqual([]);
    watcher.stop();
  });

  it('reports detach at once when a tracked connection is removed', async () => {
    const clock = new FakeClock(0);
    const events: FobPresenceEvent[] = [];
    const watcher = watchFobs({
      enumerate: async () => [key('/dev/hidraw1')],
      onEvent: (event) => events.push(event),
      intervalMs: 60_000,
      debounceMs: 0,
      clock,
    });
    await watcher.poll();
    const link = createMemoryConnection({ receive: () => undefined });
    watcher.track('/dev/hidraw1', link.host);
    link.unplug();
    expect(events.map((e) => `${e.type} ${e.cause}`)).toEqual(['attach poll', 'detach removed']);
    // Still enumerated (the OS has not caught up): not re-attached.
    await watcher.poll();
    expect(events).toHaveLength(2);
    watcher.stop();
  });

  it('keeps polling after an enumeration error and reports it', async () => {
    const errors: string[] = [];
    const watcher = watchFobs({
      enumerate: async () => {
        throw new Error('hidapi exploded');
      },
      onEvent: () => undefined,
      onError: (error) => errors.push(error.code),
      intervalMs: 60_000,
    });
    await watcher.poll();
    expect(errors[0]).toBe('ERR_INTERNAL');
    watcher.stop();
  });
});
