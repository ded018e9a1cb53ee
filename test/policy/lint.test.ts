import { describe, expect, it } from 'vitest';
import { lintPolicy } from '../../src/policy/lint.js';
import type { Policy } from '../../src/policy/types.js';
import { STORIES } from './scenarios.js';

const codes = (policy: Policy, ignore: Parameters<typeof lintPolicy>[1] = {}) =>
  lintPolicy(policy, ignore).map((f) => `${f.code} ${f.rule}`);

describe('lintPolicy', () => {
  it('warns about rules a biometric alone can satisfy', () => {
    const policy: Policy = {
      rules: [
        { id: 'aal2', effect: 'permit', require: { aal: 2 } },
        { id: 'aal3', effect: 'permit', require: { aal: 3 } },
        { id: 'passkey', effect: 'permit', require: { factor: { factor: 'webauthn', userVerified: true } } },
        {
          id: 'two-kinds',
          effect: 'permit',
          require: { atLeast: 2, of: [{ factor: { kind: 'possession' } }, { factor: { kind: 'inherence' } }] },
        },
        { id: 'password', effect: 'permit', require: { factor: { factor: 'password' } } },
        { id: 'fob-and-pin', effect: 'permit', require: { factor: { factor: 'fob', amr: 'pin' } } },
        { id: 'safe', effect: 'permit', sensitive: true, require: { aal: 2 } },
        { id: 'touch-only', effect: 'permit', require: { factor: { factor: 'fob', userVerified: false } } },
      ],
    };
    expect(codes(policy)).toEqual([
      'biometric-alone aal2',
      'biometric-alone aal3',
      'biometric-alone passkey',
      'biometric-alone two-kinds',
    ]);
    const [finding] = lintPolicy(policy);
    expect(finding?.message).toBe(
      'rule `aal2` can be satisfied by a biometric alone (one biometric-unlocked authenticator); mark it `sensitive` if a coerced thumb must not suffice',
    );
  });

  it('warns about unreachable rules', () => {
    const policy: Policy = {
      rules: [
        { id: 'bio-in-sensitive', effect: 'permit', sensitive: true, require: { factor: { kind: 'inherence' } } },
        { id: 'contradiction', effect: 'permit', require: { factor: { kind: 'inherence', userVerified: false } } },
        { id: 'never', effect: 'permit', when: 'false', require: { factor: { factor: 'password' } } },
        { id: 'blocked', effect: 'permit', actions: ['delete'], require: { factor: { factor: 'password' } } },
        { id: 'no-delete', effect: 'forbid', actions: ['delete', 'purge'] },
        {
          id: 'forbid-unless-impossible',
          effect: 'forbid',
          actions: ['x'],
          sensitive: true,
          require: { factor: { kind: 'inherence' } },
        },
      ],
    };
    expect(codes(policy)).toEqual([
      'unreachable bio-in-sensitive',
      'unreachable contradiction',
      'unreachable never',
      'unreachable blocked',
      'unreachable forbid-unless-impossible',
    ]);
    expect(lintPolicy(policy).find((f) => f.rule === 'blocked')?.message).toBe(
      'rule `blocked` can never allow: forbid `no-delete` always applies to its actions',
    );
  });

  it('warns about a forbid that shadows everything, and permits without requirements', () => {
    const policy: Policy = {
      rules: [
        { id: 'public', effect: 'permit', actions: ['read'] },
        { id: 'everything', effect: 'forbid' },
        { id: 'guard', effect: 'forbid', require: { aal: 1 } },
      ],
    };
    expect(codes(policy)).toEqual([
      'unreachable public',
      'permit-without-requirement public',
      'forbid-shadows-everything everything',
    ]);
  });

  it('honours `ignore`, and passes the story policy except for intended passkey logins', () => {
    const found = lintPolicy(STORIES, { ignore: ['biometric-alone'] });
    expect(found).toEqual([]);
    expect(codes(STORIES)).toEqual([
      'biometric-alone read',
      'biometric-alone transfer-small',
      'biometric-alone transfer-large',
      'biometric-alone sign-contract',
      'biometric-alone admin',
      'biometric-alone corner-store',
    ]);
  });

  it('validates first', () => {
    expect(() => lintPolicy({ rules: [{ id: 'x' }] })).toThrowError(/rules\[0\]\.effect/);
  });
});
