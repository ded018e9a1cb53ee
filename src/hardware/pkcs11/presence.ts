/**
 * Token presence: attach and detach events for the tokens of a PKCS#11 module. Each tick drains
 * the module's slot events (C_WaitForSlotEvent with CKF_DONT_BLOCK, where the module supports it;
 * a blocking wait would stall Node's event loop, as pkcs11js calls it synchronously) and then
 * lists the tokens present, so that a module that reports no events (or not all of them) is
 * still watched by polling. A tracked session that loses its token reports the detach at once.
 * A token is identified by slot and serial: the same serial in another slot, or another token in
 * the same slot, is a detach and an attach. A session lost to a re-plug reports a detach, and the
 * next tick the attach of the token back in its slot.
 *
 * @module latchkey/pkcs11
 */
import { type Clock, systemClock } from '../../core/clock.js';
import { LatchkeyError } from '../../core/errors.js';
import { aint } from '../../core/guards.js';
import type { Pkcs11TokenInfo } from './library.js';
import type { Pkcs11Module } from './module.js';
import type { Pkcs11Session } from './session.js';

/** One change in which tokens are present. */
export interface Pkcs11PresenceEvent {
  readonly type: 'attach' | 'detach';
  readonly token: Pkcs11TokenInfo;
  /** `event` when the module reported the slot event, `poll` when listing found it, `removed` from a session. */
  readonly cause: 'event' | 'poll' | 'removed';
}

/** Options of {@link watchTokens}. */
export interface Pkcs11WatcherOptions {
  readonly onEvent: (event: Pkcs11PresenceEvent) => void;
  /** Tick period (default 250 ms). */
  readonly intervalMs?: number;
  /** How long a change must last before it is reported (default 0: at once). */
  readonly debounceMs?: number;
  /** Called when a tick fails (the watcher keeps going). */
  readonly onError?: (error: LatchkeyError) => void;
  readonly clock?: Clock;
}

/** A running watcher. */
export interface Pkcs11Watcher {
  /** The tokens currently considered present. */
  present(): Pkcs11TokenInfo[];
  /** Whether the module reports slot events (undefined until the first tick asks). */
  readonly slotEvents: boolean | undefined;
  /** Report the session's token detached as soon as the session loses it, without waiting for a tick. */
  track(session: Pkcs11Session): void;
  /** Tick once now (also what the timer does). */
  poll(): Promise<void>;
  stop(): void;
}

const keyOf = (token: Pkcs11TokenInfo): string => `${token.slotId}/${token.serial}`;

/**
 * Watch tokens come and go.
 *
 * @example
 * ```ts
 * import { openPkcs11Module, watchTokens } from 'latchkey/pkcs11';
 * const module = await openPkcs11Module({ path: '/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so' });
 * const watcher = watchTokens(module, { onEvent: (e) => { if (e.type === 'detach') workspace.lock(); } });
 * ```
 */
export function watchTokens(module: Pkcs11Module, options: Pkcs11WatcherOptions): Pkcs11Watcher {
  const intervalMs = aint(options.intervalMs ?? 250, 'intervalMs', 10, 60_000);
  const debounceMs = aint(options.debounceMs ?? 0, 'debounceMs', 0, 60_000);
  const clock = options.clock ?? systemClock;
  const present = new Map<string, Pkcs11TokenInfo>();
  const pending = new Map<string, { since: number; token: Pkcs11TokenInfo; type: 'attach' | 'detach' }>();
  let slotEvents: boolean | undefined;
  let stopped = false;
  let ticking: Promise<void> | undefined;

  const emit = (type: 'attach' | 'detach', token: Pkcs11TokenInfo, cause: Pkcs11PresenceEvent['cause']): void => {
    const key = keyOf(token);
    if (type === 'attach') present.set(key, token);
    else present.delete(key);
    pending.delete(key);
    options.onEvent(Object.freeze({ type, token, cause }));
  };

  const report = (error: unknown): void => {
    options.onError?.(
      error instanceof LatchkeyError
        ? error
        : new LatchkeyError('ERR_INTERNAL', 'watching tokens failed', {}, { cause: error }),
    );
  };

  const run = async (): Promise<void> => {
    try {
      const signalled = new Set<string>();
      if (slotEvents !== false) {
        try {
          for (let i = 0; i < 64; i++) {
            const slot = await module.pollSlotEvent();
            if (slot === undefined) {
              slotEvents = false;
              break;
            }
            slotEvents = true;
            if (slot === null) break;
            signalled.add(slot);
          }
        } catch (error) {
          report(error);
        }
      }
      let tokens: Pkcs11TokenInfo[];
      try {
        tokens = (await module.tokens()).filter((token) => token.initialized);
      } catch (error) {
        report(error);
        return;
      }
      if (stopped) return;
      const now = clock.now();
      const seen = new Map(tokens.map((token) => [keyOf(token), token]));
      const consider = (key: string, token: Pkcs11TokenInfo, type: 'attach' | 'detach'): void => {
        const cause = signalled.has(token.slotId) ? 'event' : 'poll';
        const change = pending.get(key);
        if (change === undefined || change.type !== type) {
          pending.set(key, { since: now, token, type });
          if (debounceMs === 0) emit(type, token, cause);
        } else if (now - change.since >= debounceMs) emit(type, token, cause);
      };
      for (const [key, token] of present) {
        if (seen.has(key)) {
          if (pending.get(key)?.type === 'detach') pending.delete(key);
        } else consider(key, token, 'detach');
      }
      for (const [key, token] of seen) {
        if (present.has(key)) pending.delete(key);
        else consider(key, token, 'attach');
      }
      for (const [key, change] of pending) {
        if (change.type === 'attach' && !seen.has(key)) pending.delete(key);
      }
    } finally {
      ticking = undefined;
    }
  };

  // One tick at a time; a poll during a tick waits for that tick.
  const tick = (): Promise<void> => {
    if (stopped) return Promise.resolve();
    ticking ??= run();
    return ticking;
  };

  const timer = setInterval(() => void tick(), intervalMs);
  timer.unref?.();
  void tick();

  return {
    present: () => [...present.values()],
    get slotEvents() {
      return slotEvents;
    },
    track(session) {
      const onRemoved = (): void => {
        const key = keyOf(session.token);
        const token = present.get(key);
        if (token === undefined || stopped) return;
        emit('detach', token, 'removed');
      };
      if (session.removed.aborted) onRemoved();
      else session.removed.addEventListener('abort', onRemoved, { once: true });
    },
    poll: tick,
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
