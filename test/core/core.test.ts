import { describe, expect, it } from 'vitest';
import { ERROR_CODES, isLatchkeyError, LatchkeyError, wrapError } from '../../src/core/errors.js';
import { abytes, aint, aoneOf, astring } from '../../src/core/guards.js';
import { DEFAULT_LIMITS, resolveLimits } from '../../src/core/limits.js';
import { randomBytes, randomId } from '../../src/core/random.js';
import { FakeClock } from '../../src/testing/clock.js';

describe('LatchkeyError', () => {
  it('carries a stable code and frozen structured detail, and serialises without its cause', () => {
    const cause = new Error('driver said: secret-ish internals');
    const error = new LatchkeyError(
      'ERR_LIMIT_EXCEEDED',
      'token is larger than 65536 bytes',
      { limit: 65536 },
      { cause },
    );
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('LatchkeyError');
    expect(Object.isFrozen(error.detail)).toBe(true);
    expect(error.cause).toBe(cause);
    expect(JSON.parse(JSON.stringify(error))).toEqual({
      name: 'LatchkeyError',
      code: 'ERR_LIMIT_EXCEEDED',
      message: 'token is larger than 65536 bytes',
      detail: { limit: 65536 },
    });
    expect(isLatchkeyError(error, 'ERR_LIMIT_EXCEEDED')).toBe(true);
    expect(isLatchkeyError(error, 'ERR_INTERNAL')).toBe(false);
    expect(isLatchkeyError(cause)).toBe(false);
  });

  it('has unique codes, all in the ERR_ form', () => {
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
    for (const code of ERROR_CODES) expect(code).toMatch(/^ERR_[A-Z0-9_]+$/);
  });

  it('wrapError passes LatchkeyErrors through and wraps anything else', () => {
    const original = new LatchkeyError('ERR_THROTTLED', 'slow down');
    expect(wrapError(original, 'ERR_INTERNAL', 'x')).toBe(original);
    const wrapped = wrapError(new TypeError('boom'), 'ERR_STORE_IO', 'the database failed');
    expect(wrapped.code).toBe('ERR_STORE_IO');
    expect(wrapped.cause).toBeInstanceOf(TypeError);
  });
});

describe('guards', () => {
  it('return their input when valid', () => {
    const bytes = new Uint8Array(4);
    expect(abytes(bytes, 'salt', 4)).toBe(bytes);
    expect(abytes(bytes, 'salt', { min: 1, max: 4 })).toBe(bytes);
    expect(aint(3, 'n', 0, 3)).toBe(3);
    expect(astring('ok', 's')).toBe('ok');
    expect(aoneOf('full', 'mode', ['full', 'normal'])).toBe('full');
  });

  it('throw ERR_INVALID_ARGUMENT naming the field, never echoing a secret value', () => {
    const cases: (() => unknown)[] = [
      () => abytes('hunter2', 'salt'),
      () => abytes(new Uint8Array(3), 'salt', 4),
      () => abytes(new Uint8Array(9), 'salt', { max: 8 }),
      () => aint(1.5, 'n'),
      () => aint(Number.NaN, 'n'),
      () => aint(-1, 'n'),
      () => astring('', 's'),
      () => astring('a\u0000', 's'),
      () => astring(5, 's'),
      () => aoneOf('x', 'mode', ['full']),
    ];
    for (const fn of cases) {
      try {
        fn();
        throw new Error('expected a throw');
      } catch (error) {
        expect(isLatchkeyError(error, 'ERR_INVALID_ARGUMENT'), String(error)).toBe(true);
        expect((error as LatchkeyError).message).not.toContain('hunter2');
        expect((error as LatchkeyError).message).toMatch(/^[a-z]/);
        expect((error as LatchkeyError).message).not.toMatch(/\.$/);
      }
    }
  });
});

describe('limits', () => {
  it('defaults are safe and overrides stay within hard bounds', () => {
    expect(DEFAULT_LIMITS.minChallengeBytes).toBeGreaterThanOrEqual(16);
    expect(resolveLimits({ maxChallengeTtlMs: 120_000 }).maxChallengeTtlMs).toBe(120_000);
    expect(() => resolveLimits({ minChallengeBytes: 8 })).toThrow(LatchkeyError);
    expect(() => resolveLimits({ bogus: 1 } as never)).toThrow(/unknown limit `bogus`/);
    expect(Object.isFrozen(resolveLimits())).toBe(true);
  });
});

describe('random and clock', () => {
  it('randomId has 128 bits by default and never repeats in practice', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => randomId()));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(() => randomId(8)).toThrow(LatchkeyError);
    expect(randomBytes(32)).toHaveLength(32);
  });

  it('FakeClock moves only when told', () => {
    const clock = new FakeClock(1000);
    expect(clock.now()).toBe(1000);
    expect(clock.advance(500).now()).toBe(1500);
    expect(clock.set(10).now()).toBe(10);
    expect(() => clock.advance(-1)).toThrow(LatchkeyError);
  });
});
