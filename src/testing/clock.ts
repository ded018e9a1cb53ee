/**
 * A clock that moves only when told to.
 *
 * @module latchkey/testing
 */
import type { Clock } from '../core/clock.js';
import { aint } from '../core/guards.js';

/**
 * A manual clock for tests: starts at `start` (ms since the epoch) and moves only through
 * `advance` and `set`.
 *
 * @example
 * ```ts
 * import { FakeClock } from 'latchkey/testing';
 * const clock = new FakeClock(Date.UTC(2030, 0, 1));
 * clock.advance(60_000);
 * ```
 */
export class FakeClock implements Clock {
  #now: number;

  constructor(start = Date.UTC(2030, 0, 1)) {
    this.#now = aint(start, 'start');
  }

  now(): number {
    return this.#now;
  }

  /** Move forward by `ms` milliseconds (never backwards). */
  advance(ms: number): this {
    this.#now += aint(ms, 'ms');
    return this;
  }

  /** Jump to an absolute time, forwards or backwards (to test clock skew). */
  set(ms: number): this {
    this.#now = aint(ms, 'ms');
    return this;
  }
}
