// Attacks on decisions, each test named after the attack it rules out.
import { describe, expect, it } from 'vitest';
import type { Evidence } from '../../src/core/types.js';
import { compilePolicy } from '../../src/policy/compile.js';
import type { Policy } from '../../src/policy/types.js';
import { bareBiometric, deviceBoundPasskey, fob, NOW, password, syncedPasskey } from './evidence.js';
import { ACCOUNT, STORIES } from './scenarios.js';

const stories = compilePolicy(STORIES);
const passkey = syncedPasskey('biometric');

/** A bank: transfers need AAL2, never above $10,000, and at night only at AAL3. */
const BANK: Policy = {
  rules: [
    { id: 'transfer', effect: 'permit', actions: ['transfer'], require: { aal: 2 } },
    { id: 'limit', effect: 'forbid', actions: ['transfer'], when: 'amount > 10000' },
    { id: 'night', effect: 'forbid', actions: ['transfer'], when: 'hour < 6', require: { aal: 3 } },
    { id: 'blocked', effect: 'forbid', when: 'customer.status == "blocked"' },
  ],
};
const bank = compilePolicy(BANK);
const daytime = { amount: 50, hour: 12, customer: { status: 'ok' } };

describe('fail-closed forbids: a forbid whose condition cannot be evaluated applies', () => {
  it('control: with every attribute present, the transfer is allowed', () => {
    expect(bank.decide({ evidence: [passkey], action: 'transfer', context: daytime, now: NOW }).allow).toBe(true);
    expect(stories.decide({ evidence: [passkey], action: 'read', context: ACCOUNT, now: NOW }).allow).toBe(true);
  });

  it('forbid bypass by omitting a context attribute', () => {
    const decision = stories.decide({ evidence: [passkey], action: 'read', now: NOW });
    expect(decision).toMatchObject({ allow: false, decidedBy: 'frozen', determining: ['frozen'], stepUp: [] });
    expect(decision.reasons).toEqual([
      'forbidden by rule `frozen`: its condition `account.frozen == true` cannot be evaluated (unknown name `account.frozen`), and a forbid that cannot be evaluated applies',
    ]);
    const { amount: _omitted, ...noAmount } = daytime;
    expect(bank.decide({ evidence: [passkey], action: 'transfer', context: noAmount, now: NOW })).toMatchObject({
      allow: false,
      decidedBy: 'limit',
    });
  });

  it('forbid bypass by omitting a nested attribute, or nulling its parent', () => {
    for (const customer of [{}, null, { status: null }, { status: undefined }]) {
      const decision = bank.decide({
        evidence: [passkey],
        action: 'transfer',
        context: { ...daytime, customer } as never,
        now: NOW,
      });
      expect(decision.allow, JSON.stringify(customer)).toBe(false);
      expect(decision.determining).toContain('blocked');
    }
  });

  it('forbid bypass by sending an attribute of the wrong type', () => {
    const wrong = [
      { ...daytime, amount: '20000' },
      { ...daytime, amount: [20000] },
      { ...daytime, amount: true },
      { ...daytime, amount: { value: 20000 } },
      { ...daytime, customer: { status: 7 } },
      { ...daytime, customer: 'blocked' },
      { ...ACCOUNT, account: { frozen: 'yes' } },
    ];
    for (const context of wrong) {
      const engine = 'account' in context ? stories : bank;
      const decision = engine.decide({ evidence: [passkey], action: 'transfer', context: context as never, now: NOW });
      expect(decision.allow, JSON.stringify(context)).toBe(false);
      expect(decision.reasons.join('\n'), JSON.stringify(context)).toContain('cannot be evaluated');
    }
  });

  it('forbid bypass by a non-finite number', () => {
    for (const amount of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const decision = bank.decide({
        evidence: [passkey],
        action: 'transfer',
        context: { ...daytime, amount },
        now: NOW,
      });
      expect(decision.allow, String(amount)).toBe(false);
      expect(decision.decidedBy).toBe('limit');
    }
  });

  it('forbid bypass through an inherited property', () => {
    const context = Object.create({ account: { frozen: false } }) as Record<string, never>;
    expect(stories.decide({ evidence: [passkey], action: 'read', context, now: NOW })).toMatchObject({
      allow: false,
      decidedBy: 'frozen',
    });
  });

  it('an "unless" forbid that fails closed still yields to its requirement, and says what would', () => {
    const { hour: _omitted, ...noHour } = daytime;
    expect(bank.decide({ evidence: [fob('pin')], action: 'transfer', context: noHour, now: NOW }).allow).toBe(true);
    const decision = bank.decide({ evidence: [passkey], action: 'transfer', context: noHour, now: NOW });
    expect(decision).toMatchObject({ allow: false, decidedBy: 'night' });
    expect(decision.reasons[0]).toMatch(
      /^needs .*; you presented a synced passkey \(rule `night` forbids otherwise: its condition `hour < 6` cannot be evaluated \(unknown name `hour`\), and a forbid that cannot be evaluated applies\)$/,
    );
    expect(decision.stepUp.length).toBeGreaterThan(0);
    for (const option of decision.stepUp) expect(option.rule).toBe('transfer');
  });

  it('explain() marks a forbid that failed closed', () => {
    const { rules } = stories.explain({ evidence: [passkey], action: 'read', now: NOW });
    expect(rules.find((r) => r.id === 'frozen')).toMatchObject({
      considered: true,
      applies: true,
      when: { satisfied: false, reason: 'unknown name `account.frozen`' },
      failedClosed: 'unknown name `account.frozen`',
    });
    const fine = stories.explain({ evidence: [passkey], action: 'read', context: ACCOUNT, now: NOW });
    const frozen = fine.rules.find((r) => r.id === 'frozen');
    expect(frozen).toMatchObject({ considered: true, applies: false, when: { satisfied: false } });
    expect(frozen).not.toHaveProperty('failedClosed');
  });

  it('a permit whose condition cannot be evaluated does not apply, and says why', () => {
    const decision = stories.decide({
      evidence: [passkey, fob('pin')],
      action: 'transfer',
      context: ACCOUNT,
      now: NOW,
    });
    expect(decision.allow).toBe(false);
    expect(decision.reasons).toContain('rule `transfer-small` does not apply: unknown name `amount`');
  });

  it('a forbid for another action is not evaluated, so it cannot fail closed', () => {
    const policy: Policy = {
      rules: [
        { id: 'read', effect: 'permit', actions: ['read'], require: { aal: 1 } },
        { id: 'limit', effect: 'forbid', actions: ['transfer'], when: 'amount > 10' },
      ],
    };
    expect(compilePolicy(policy).decide({ evidence: [password()], action: 'read', now: NOW }).allow).toBe(true);
  });
});

describe('coercion and forged evidence', () => {
  it('coercion: a thumb on a phone or on a fob never satisfies a sensitive rule', () => {
    const policy: Policy = {
      rules: [
        { id: 'wipe', effect: 'permit', actions: ['wipe'], sensitive: true, require: { aal: 2 } },
        { id: 'bio', effect: 'permit', actions: ['bio'], sensitive: true, require: { factor: { kind: 'inherence' } } },
      ],
    };
    const engine = compilePolicy(policy);
    for (const evidence of [
      [passkey],
      [fob('biometric')],
      [deviceBoundPasskey('biometric')],
      [fob('biometric'), passkey],
    ]) {
      const decision = engine.decide({ evidence, action: 'wipe', now: NOW });
      expect(decision.allow).toBe(false);
      expect(decision.stepUp.map((o) => o.reason)).toContain('add a password or PIN');
      expect(decision.reasons[0]).toMatch(
        /^needs a password or PIN; you presented .*unlocked with a biometric.* \(rule `wipe` never counts a biometric\)$/,
      );
    }
    expect(engine.decide({ evidence: [fob('biometric'), password()], action: 'wipe', now: NOW }).allow).toBe(true);
    // a rule that asks for a biometric can never be met in the coercion-safe view, and offers nothing
    const bio = engine.decide({ evidence: [fob('pin'), passkey, password()], action: 'bio', now: NOW });
    expect(bio).toMatchObject({ allow: false, stepUp: [] });
  });

  it('forged evidence: knowledge claimed on a possession proof without user verification does not count', () => {
    const forged: Evidence = { ...fob(), kinds: ['possession', 'knowledge'], amr: ['hwk', 'pin'] };
    const decision = stories.decide({ evidence: [forged], action: 'close-account', context: ACCOUNT, now: NOW });
    expect(decision.allow).toBe(false);
    expect(decision.aal).toBe(1);
  });

  it('forged evidence: a biometric by itself is no factor, whatever it claims', () => {
    const claims: Evidence = {
      ...bareBiometric(),
      phishingResistant: true,
      hardwareBound: true,
      replayResistant: true,
    };
    const decision = stories.decide({ evidence: [claims], action: 'read', context: ACCOUNT, now: NOW });
    expect(decision).toMatchObject({ allow: false, aal: 0 });
  });

  it('evidence laundering: evidence of two subjects never combines, even when each alone would do', () => {
    const decision = stories.decide({
      evidence: [password(), password({ subject: 'mallory' })],
      action: 'read',
      context: ACCOUNT,
      now: NOW,
    });
    expect(decision).toMatchObject({ allow: false, aal: 0, stepUp: [] });
  });

  it('request smuggling: the context cannot set `action` or `now`, whatever the policy reads', () => {
    const noConditions = compilePolicy({ rules: [{ id: 'read', effect: 'permit', require: { aal: 1 } }] });
    for (const engine of [stories, noConditions]) {
      for (const context of [{ action: 'read' }, { now: new Date(NOW) }, [] as never]) {
        expect(() => engine.decide({ evidence: [passkey], action: 'admin', context, now: NOW })).toThrowError(
          expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }),
        );
      }
    }
  });
});
