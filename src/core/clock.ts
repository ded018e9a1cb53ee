/**
 * Clocks are injected everywhere time matters (expiry, throttling, freshness), so that tests
 * and apps control time and no component reads `Date.now()` behind the caller's back.
 *
 * @module latchkey
 */

/** A source of the current time in milliseconds since the Unix epoch. */
export interface Clock {
  now(): number;
}

/** The system clock. */
export const systemClock: Clock = Object.freeze({ now: () => Date.now() });
