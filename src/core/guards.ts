/**
 * Boundary guards: each returns its input when valid and throws a labelled
 * `ERR_INVALID_ARGUMENT` otherwise. Validation happens once, where data enters latchkey.
 *
 * @module latchkey
 */
import { LatchkeyError } from './errors.js';

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value instanceof Uint8Array) return `Uint8Array(${value.length})`;
  return Array.isArray(value) ? 'array' : typeof value;
}

/** A `Uint8Array`, optionally of an exact length or within `[min, max]` bytes. */
export function abytes(value: unknown, label: string, length?: number | { min?: number; max?: number }): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', `${label} must be a Uint8Array, got ${describe(value)}`, {
      field: label,
    });
  }
  if (typeof length === 'number' && value.length !== length) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', `${label} must be ${length} bytes, got ${value.length}`, {
      field: label,
      expected: length,
      actual: value.length,
    });
  }
  if (typeof length === 'object') {
    const { min = 0, max = Number.POSITIVE_INFINITY } = length;
    if (value.length < min || value.length > max) {
      throw new LatchkeyError(
        'ERR_INVALID_ARGUMENT',
        `${label} must be between ${min} and ${max} bytes, got ${value.length}`,
        { field: label, min, max: Number.isFinite(max) ? max : null, actual: value.length },
      );
    }
  }
  return value;
}

/** A safe integer within `[min, max]`. */
export function aint(value: unknown, label: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new LatchkeyError(
      'ERR_INVALID_ARGUMENT',
      `${label} must be an integer between ${min} and ${max}, got ${typeof value === 'number' ? value : describe(value)}`,
      { field: label, min, max },
    );
  }
  return value;
}

/** A string of `[min, max]` UTF-16 code units with no NUL character. */
export function astring(value: unknown, label: string, min = 1, max = 1024): string {
  if (typeof value !== 'string') {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', `${label} must be a string, got ${describe(value)}`, {
      field: label,
    });
  }
  if (value.length < min || value.length > max) {
    throw new LatchkeyError(
      'ERR_INVALID_ARGUMENT',
      `${label} must be between ${min} and ${max} characters, got ${value.length}`,
      { field: label, min, max, actual: value.length },
    );
  }
  if (value.includes('\u0000')) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', `${label} must not contain a NUL character`, {
      field: label,
    });
  }
  return value;
}

/** One of a fixed set of string values. */
export function aoneOf<const T extends string>(value: unknown, label: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new LatchkeyError(
      'ERR_INVALID_ARGUMENT',
      `${label} must be one of ${allowed.map((a) => `\`${a}\``).join(', ')}`,
      { field: label, allowed },
    );
  }
  return value as T;
}
