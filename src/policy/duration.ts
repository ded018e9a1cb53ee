/**
 * Durations in policies (`maxAge`): compact (`"90s"`, `"5m"`, `"1h30m"`, `"250ms"`) or ISO-8601
 * (`"PT5M"`, `"P1DT12H"`). Bounded to 400 days; anything else is not a duration.
 *
 * @module latchkey
 */
import { LatchkeyError } from '../core/errors.js';

const MAX_DURATION_MS = 400 * 24 * 3_600_000;
const COMPACT = /^(?:(\d{1,9})d)?(?:(\d{1,9})h)?(?:(\d{1,9})m)?(?:(\d{1,9})s)?(?:(\d{1,9})ms)?$/;
const ISO = /^P(?:(\d{1,9})D)?(?:T(?:(\d{1,9})H)?(?:(\d{1,9})M)?(?:(\d{1,9})S)?)?$/;

function total(parts: readonly (string | undefined)[], units: readonly number[]): number | undefined {
  let ms = 0;
  let any = false;
  for (let i = 0; i < units.length; i++) {
    const part = parts[i];
    if (part === undefined) continue;
    any = true;
    ms += Number(part) * (units[i] ?? 0);
  }
  return any && ms <= MAX_DURATION_MS ? ms : undefined;
}

const DAY = 86_400_000;

/** The duration in ms, or undefined when `text` is not a duration latchkey accepts. */
export function tryParseDuration(text: unknown): number | undefined {
  if (typeof text !== 'string' || text.length === 0 || text.length > 64) return undefined;
  const compact = COMPACT.exec(text);
  if (compact !== null) return total(compact.slice(1), [DAY, 3_600_000, 60_000, 1000, 1]);
  const iso = ISO.exec(text);
  if (iso !== null && text !== 'P' && !text.endsWith('T')) return total(iso.slice(1), [DAY, 3_600_000, 60_000, 1000]);
  return undefined;
}

/**
 * Parse a duration to milliseconds.
 *
 * @example
 * ```ts
 * import { parseDuration } from 'latchkey';
 * parseDuration('5m'); // 300000
 * parseDuration('PT1H30M'); // 5400000
 * ```
 */
export function parseDuration(text: string): number {
  const ms = tryParseDuration(text);
  if (ms === undefined) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', `\`${String(text).slice(0, 64)}\` is not a duration`, {
      field: 'duration',
    });
  }
  return ms;
}

/**
 * A duration for people: `"5 minutes"`, `"2 hours"`, `"1 day"`, `"90 seconds"`.
 *
 * @example
 * ```ts
 * import { formatDuration } from 'latchkey';
 * formatDuration(300_000); // '5 minutes'
 * ```
 */
export function formatDuration(ms: number): string {
  const units: readonly [number, string][] = [
    [DAY, 'day'],
    [3_600_000, 'hour'],
    [60_000, 'minute'],
    [1000, 'second'],
  ];
  for (const [size, name] of units) {
    if (ms >= size && ms % size === 0) {
      const n = ms / size;
      return `${n} ${name}${n === 1 ? '' : 's'}`;
    }
  }
  for (const [size, name] of units) {
    if (ms >= size) {
      const n = Math.round(ms / size);
      return `${n} ${name}${n === 1 ? '' : 's'}`;
    }
  }
  return `${ms} ms`;
}
