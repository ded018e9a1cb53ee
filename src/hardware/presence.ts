/**
 * A presence watcher for fobs: attach and detach events from enumeration polling, debounced (a
 * device must stay present, or absent, for `debounceMs` before it counts), plus immediate detach
 * when an open connection reports removal (a read error). The workspace's lock-on-removal
 * builds on it: with the defaults a pulled fob is reported within 0.75 s by polling, at once by
 * a read error.
 *
 * @module latchkey/fob
 */
import { type Clock, systemClock } from '../core/clock.js';
import { LatchkeyError } from '../core/errors.js';
import { aint } from '../core/guards.js';
import type { HidConnection } from './connection.js';
import { type FobDeviceInfo, listFobs } from './node-hid.js';

/** One change in which fobs are plugged in. */
export interface FobPresenceEvent {
  readonly type: 'attach' | 'detach';
  readonly device: FobDeviceInfo;
  /** `poll` for enumeration, `removed` for a connection's removal signal. */
  readonly cause: 'poll' | 'removed';
}

/** Options of {@link watchFobs}. */
export interface FobWatcherOptions {
  readonly onEvent: (event: FobPresenceEvent) => void;
  /** How to enumerate fobs; node-hid's {@link listFobs} by default. */
  readonly enumerate?: () => Promise<readonly FobDeviceInfo[]>;
  /** Poll period (default 250 ms). */
  readonly intervalMs?: number;
  /** How long a change must last before it is reported (default 500 ms). */
  readonly debounceMs?: number;
  /** Called when an enumeration fails (the watcher keeps polling). */
  readonly onError?: (error: LatchkeyError) => void;
  readonly clock?: Clock;
}

/** A running watcher. */
export interface FobWatcher {
  /** The fobs currently considered present. */
  present(): FobDeviceInfo[];
  /** Report `path` detached as soon as `connection` is removed, without waiting for a poll. */
  track(path: string, connection: HidConnection): void;
  /** Poll once now (also what the timer does). */
  poll(): Promise<void>;
  stop(): void;
}

/**
 * Watch fobs come and go.
 *
 * @example
 * ```ts
 * import { watchFobs } from 'latchkey/fob';
 * const watcher = watchFobs({ onEvent: (e) => { if (e.type === 'detach') workspace.lock(); } });
 * ```
 */
export function watchFobs(options: FobWatcherOptions): FobWatcher {
  const intervalMs = aint(options.intervalMs ?? 250, 'intervalMs', 10, 60_000);
  const debounceMs = aint(options.debounceMs ?? 500, 'debounceMs', 0, 60_000);
  const enumerate = options.enumerate ?? listFobs;
  const clock = options.clock ?? systemClock;
  const present = new Map<string, FobDeviceInfo>();
  // A change seen by polling but not yet reported: path -> since when, and the device.
  const pending = new Map<string, { since: number; device: FobDeviceInfo; type: 'attach' | 'detach' }>();
  const removedPaths = new Set<string>();
  let stopped = false;
  let polling = false;

  const emit = (type: 'attach' | 'detach', device: FobDeviceInfo, cause: 'poll' | 'removed'): void => {
    if (type === 'attach') present.set(device.path, device);
    else present.delete(device.path);
    pending.delete(device.path);
    options.onEvent({ type, device, cause });
  };

  const poll = async (): Promise<void> => {
    if (stopped || polling) return;
    polling = true;
    try {
      let devices: readonly FobDeviceInfo[];
      try {
        devices = await enumerate();
      } catch (error) {
        options.onError?.(
          error instanceof LatchkeyError
            ? error
            : new LatchkeyError('ERR_INTERNAL', 'enumerating fobs failed', {}, { cause: error }),
        );
        return;
      }
      if (stopped) return;
      const now = clock.now();
      const seen = new Map(devices.map((device) => [device.path, device]));
      for (const path of [...removedPaths]) if (!seen.has(path)) removedPaths.delete(path);
      const consider = (path: string, device: FobDeviceInfo, type: 'attach' | 'detach'): void => {
        const change = pending.get(path);
        if (change === undefined || change.type !== type) {
          pending.set(path, { since: now, device, type });
          if (debounceMs === 0) emit(type, device, 'poll');
        } else if (now - change.since >= debounceMs) emit(type, device, 'poll');
      };
      for (const [path, device] of seen) {
        if (present.has(path) || removedPaths.has(path)) pending.delete(path);
        else consider(path, device, 'attach');
      }
      for (const [path, device] of present) {
        if (seen.has(path)) {
          if (pending.get(path)?.type === 'detach') pending.delete(path);
        } else consider(path, device, 'detach');
      }
      for (const [path, change] of pending) {
        if (change.type === 'attach' && !seen.has(path)) pending.delete(path);
      }
    } finally {
      polling = false;
    }
  };

  const timer = setInterval(() => void poll(), intervalMs);
  timer.unref?.();
  void poll();

  return {
    present: () => [...present.values()],
    track(path, connection) {
      const onRemoved = (): void => {
        const device = present.get(path);
        if (device === undefined || stopped) return;
        // Do not report it attached again until enumeration stops listing it.
        removedPaths.add(path);
        emit('detach', device, 'removed');
      };
      if (connection.removed.aborted) onRemoved();
      else connection.removed.addEventListener('abort', onRemoved, { once: true });
    },
    poll,
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
