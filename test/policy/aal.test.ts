import { describe, expect, it } from 'vitest';
import type { Evidence } from '../../src/core/types.js';
import { assuranceLevel } from '../../src/policy/aal.js';
import {
  bareBiometric,
  DAY,
  deviceBoundPasskey,
  fob,
  HOUR,
  NOW,
  password,
  recoveryCode,
  smartCard,
  syncedPasskey,
  totp,
} from './evidence.js';

// [case, evidence, AAL (normal view), AAL in the coercion-safe view]
const CASES: readonly [string, readonly Evidence[], number, number][] = [
  ['nothing (§2: no authentication)', [], 0, 0],
  ['password only (§2.1.1: any single factor)', [password()], 1, 1],
  ['recovery code only (§3.1.2 look-up secret)', [recoveryCode()], 1, 1],
  ['synced passkey without UV (§3.1.6 single-factor cryptographic)', [syncedPasskey('none')], 1, 1],
  ['synced passkey with biometric UV (§3.1.7 multi-factor; capped, Appendix B)', [syncedPasskey('biometric')], 2, 1],
  ['synced passkey with PIN UV', [syncedPasskey('pin')], 2, 2],
  ['synced passkey without UV plus password (§2.2.1)', [syncedPasskey('none'), password()], 2, 2],
  ['synced passkey with UV plus password (still exportable: AAL2)', [syncedPasskey('pin'), password()], 2, 2],
  ['fob without PIN (single-factor)', [fob()], 1, 1],
  ['fob without PIN plus password (§2.3.1: single-factor crypto + password)', [fob(), password()], 3, 3],
  ['fob with PIN (§2.3.1: multi-factor cryptographic)', [fob('pin')], 3, 3],
  ['fob with fingerprint (§3.2.3 biometric activation)', [fob('biometric')], 3, 1],
  ['fob with fingerprint plus password', [fob('biometric'), password()], 3, 3],
  ['device-bound passkey with biometric', [deviceBoundPasskey('biometric')], 3, 1],
  ['device-bound passkey without UV', [deviceBoundPasskey('none')], 1, 1],
  [
    'password plus recovery code (a look-up secret is replay resistant, 63B §5.2.8)',
    [password(), recoveryCode()],
    2,
    2,
  ],
  ['password plus TOTP (§3.1.4, replay resistant)', [password(), totp()], 2, 2],
  ['TOTP alone', [totp()], 1, 1],
  ['smart card with PIN', [smartCard()], 3, 3],
  ['a bare biometric is not a factor (§3.2.3)', [bareBiometric()], 0, 0],
  ['bare biometric plus password is one factor', [bareBiometric(), password()], 1, 1],
  ['fob with PIN 11 hours ago (§2.3.3: within 12 hours)', [fob('pin', { ageMs: 11 * HOUR })], 3, 3],
  ['fob with PIN 13 hours ago (§2.2.3: AAL2 for 24 hours)', [fob('pin', { ageMs: 13 * HOUR })], 2, 2],
  ['fob with PIN 25 hours ago (§2.1.3: AAL1 for 30 days)', [fob('pin', { ageMs: 25 * HOUR })], 1, 1],
  ['password 31 days ago', [password({ ageMs: 31 * DAY })], 0, 0],
  ['fresh fob plus a password 13 hours old: AAL2, not 3', [fob(), password({ ageMs: 13 * HOUR })], 2, 2],
  ['evidence of two subjects never combines', [fob(), password({ subject: 'mallory' })], 0, 0],
  ['evidence from 10 minutes in the future is ignored', [fob('pin', { ageMs: -10 * 60_000 })], 0, 0],
];

describe('assuranceLevel (NIST SP 800-63B-4)', () => {
  for (const [name, evidence, level, safe] of CASES) {
    it(`${name}: AAL${level}, coercion-safe AAL${safe}`, () => {
      expect(assuranceLevel(evidence, { now: NOW })).toBe(level);
      expect(assuranceLevel(evidence, { now: new Date(NOW), coercionSafe: true })).toBe(safe);
    });
  }

  it('never counts declared knowledge on a possession proof without user verification', () => {
    const lying: Evidence = { ...fob(), kinds: ['possession', 'knowledge'], userVerified: false };
    expect(assuranceLevel([lying], { now: NOW })).toBe(1);
  });

  it('accepts narrower reauthentication windows', () => {
    const evidence = [fob('pin', { ageMs: 20 * 60_000 })];
    expect(assuranceLevel(evidence, { now: NOW })).toBe(3);
    expect(assuranceLevel(evidence, { now: NOW, reauthentication: { aal3: 15 * 60_000 } })).toBe(2);
  });

  it('refuses a missing `now` and malformed evidence with labelled errors', () => {
    expect(() => assuranceLevel([], {} as never)).toThrowError(
      expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }),
    );
    expect(() => assuranceLevel([{ ...password(), kinds: 'knowledge' } as never], { now: NOW })).toThrowError(
      /evidence\[0\]\.kinds must be an array of strings/,
    );
  });

  it('never exceeds the level of any superset of its evidence (monotone)', () => {
    const pool = [password(), fob(), fob('pin'), syncedPasskey('biometric'), recoveryCode(), totp(), smartCard()];
    for (let mask = 0; mask < 1 << pool.length; mask++) {
      const subset = pool.filter((_, i) => (mask & (1 << i)) !== 0);
      const level = assuranceLevel(subset, { now: NOW });
      for (let i = 0; i < pool.length; i++) {
        if ((mask & (1 << i)) !== 0) continue;
        expect(assuranceLevel([...subset, pool[i] as Evidence], { now: NOW })).toBeGreaterThanOrEqual(level);
      }
    }
  });
});
