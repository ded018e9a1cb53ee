import { describe, expect, it } from 'vitest';
import { isLatchkeyError } from '../../src/core/errors.js';
import { compilePolicy } from '../../src/policy/compile.js';
import type { Policy } from '../../src/policy/types.js';
import { bareBiometric, fob, HOUR, MINUTE, NOW, password, syncedPasskey, totp } from './evidence.js';
import { ACCOUNT, SCENARIOS, STORIES } from './scenarios.js';

const engines = new Map<Policy, ReturnType<typeof compilePolicy>>();
const engineFor = (policy: Policy) => {
  let engine = engines.get(policy);
  if (engine === undefined) {
    engine = compilePolicy(policy);
    engines.set(policy, engine);
  }
  return engine;
};

describe('scenario table', () => {
  it('has at least 40 scenarios with unique names', () => {
    expect(SCENARIOS.length).toBeGreaterThanOrEqual(40);
    expect(new Set(SCENARIOS.map((s) => s.name)).size).toBe(SCENARIOS.length);
  });

  for (const scenario of SCENARIOS) {
    it(scenario.name, () => {
      const decision = engineFor(scenario.policy).decide({
        evidence: scenario.evidence,
        action: scenario.action,
        ...(scenario.context === undefined ? {} : { context: scenario.context }),
        now: scenario.now ?? NOW,
      });
      const { expect: want } = scenario;
      expect(decision.allow, decision.reasons.join('\n')).toBe(want.allow);
      if (want.decidedBy !== undefined) expect(decision.decidedBy).toBe(want.decidedBy);
      if (want.aal !== undefined) expect(decision.aal).toBe(want.aal);
      if (want.stepUp !== undefined) {
        expect(decision.stepUp.map((option) => option.evidence.map((item) => item.reason))).toEqual(want.stepUp);
      }
      for (const reason of want.reasons ?? []) {
        expect(
          decision.reasons.some((r) => r.includes(reason)),
          `${reason} in ${JSON.stringify(decision.reasons)}`,
        ).toBe(true);
      }
      if (decision.allow) {
        expect(decision.stepUp).toEqual([]);
        expect(decision.decidedBy).not.toBeNull();
        expect(decision.determining).toContain(decision.decidedBy);
      }
    });
  }
});

describe('decide', () => {
  const engine = compilePolicy(STORIES);

  it('names every satisfied permit in `determining`, the first as `decidedBy`', () => {
    const policy: Policy = {
      rules: [
        { id: 'a', effect: 'permit', require: { aal: 1 } },
        { id: 'b', effect: 'permit', actions: ['x'], require: { factor: { factor: 'password' } } },
        { id: 'c', effect: 'permit', actions: ['x'], require: { factor: { factor: 'fob' } } },
      ],
    };
    const decision = compilePolicy(policy).decide({ evidence: [password()], action: 'x', now: NOW });
    expect(decision).toMatchObject({ allow: true, decidedBy: 'a', determining: ['a', 'b'] });
  });

  it('names every applying forbid in `determining`', () => {
    const policy: Policy = {
      rules: [
        { id: 'p', effect: 'permit' },
        { id: 'f1', effect: 'forbid', when: 'amount > 5' },
        { id: 'f2', effect: 'forbid', require: { aal: 3 } },
        { id: 'f3', effect: 'forbid', when: 'amount > 500' },
      ],
    };
    const decision = compilePolicy(policy).decide({ evidence: [], action: 'x', context: { amount: 10 }, now: NOW });
    expect(decision).toMatchObject({ allow: false, decidedBy: 'f1', determining: ['f1', 'f2'], stepUp: [] });
  });

  it('offers the step-up that lifts an "unless" forbid when a permit already holds', () => {
    const decision = engine.decide({ evidence: [password()], action: 'admin', context: ACCOUNT, now: NOW });
    expect(decision.stepUp).toHaveLength(1);
    expect(decision.stepUp[0]?.rule).toBe('admin');
    expect(decision.stepUp[0]?.evidence[0]?.selector).toEqual({
      kind: ['possession'],
      phishingResistant: true,
      hardwareBound: true,
      replayResistant: true,
    });
  });

  it('explains a step-up with selectors and reasons', () => {
    const decision = engine.decide({
      evidence: [syncedPasskey('biometric')],
      action: 'transfer',
      context: { ...ACCOUNT, amount: 250 },
      now: NOW,
    });
    expect(decision.stepUp).toEqual([
      {
        evidence: [{ selector: { factor: ['fob'], label: 'your fob' }, reason: 'add your fob' }],
        rule: 'transfer-large',
        reason: 'add your fob',
      },
    ]);
  });

  it('is deterministic and does not keep state between decisions', () => {
    const requests = [
      { evidence: [syncedPasskey('biometric')], action: 'transfer', context: { ...ACCOUNT, amount: 250 }, now: NOW },
      { evidence: [fob('pin')], action: 'admin', context: ACCOUNT, now: NOW },
      { evidence: [], action: 'read', now: NOW },
    ];
    const first = requests.map((r) => JSON.stringify(engine.decide(r)));
    const second = [...requests].reverse().map((r) => JSON.stringify(engine.decide(r)));
    expect(second.reverse()).toEqual(first);
  });

  it("expressions see `action` and `now` beside the app's names, with or without a context", () => {
    const policy: Policy = {
      rules: [
        { id: 'by-action', effect: 'permit', when: 'action in ["read", "list"]', require: { aal: 1 } },
        { id: 'until', effect: 'permit', actions: ['sell'], when: 'now < 2025-06-02', require: { aal: 1 } },
        { id: 'plain', effect: 'permit', actions: ['buy'], when: 'amount <= 10', require: { aal: 1 } },
      ],
    };
    const engine = compilePolicy(policy);
    const ask = (action: string, now: number, context?: Record<string, number>) =>
      engine.decide({ evidence: [password()], action, now, ...(context === undefined ? {} : { context }) }).allow;
    expect(ask('read', NOW)).toBe(true);
    expect(ask('list', NOW, { amount: 1 })).toBe(true);
    expect(ask('write', NOW)).toBe(false);
    expect(ask('sell', NOW)).toBe(true);
    expect(ask('sell', NOW + 2 * 24 * 60 * MINUTE, { amount: 1 })).toBe(false);
    expect(ask('buy', NOW, { amount: 5 })).toBe(true);
    expect(ask('buy', NOW)).toBe(false);
  });

  it('uses the compile-time clock when the request has no `now`', () => {
    const timed = compilePolicy(STORIES, { clock: { now: () => NOW + 10 * MINUTE } });
    expect(timed.decide({ evidence: [fob('none')], action: 'sign', context: ACCOUNT }).allow).toBe(false);
    expect(timed.decide({ evidence: [fob('none')], action: 'sign', context: ACCOUNT, now: new Date(NOW) }).allow).toBe(
      true,
    );
  });

  it('refuses malformed requests with labelled errors', () => {
    const bad: unknown[] = [
      null,
      { evidence: [], action: '' },
      { evidence: 'x', action: 'read', now: NOW },
      { evidence: [{ ...password(), at: 'yesterday' }], action: 'read', now: NOW },
      { evidence: [], action: 'read', now: Number.NaN },
      { evidence: [], action: 'read', now: NOW, context: { action: 'admin' } },
      { evidence: [], action: 'read', now: NOW, context: [] },
    ];
    for (const request of bad) {
      let caught: unknown;
      try {
        engine.decide(request as never);
      } catch (error) {
        caught = error;
      }
      expect(isLatchkeyError(caught, 'ERR_INVALID_ARGUMENT'), String(caught)).toBe(true);
    }
    const many = Array.from({ length: 33 }, () => password());
    expect(() => engine.decide({ evidence: many, action: 'read', now: NOW })).toThrowError(
      expect.objectContaining({ code: 'ERR_LIMIT_EXCEEDED' }),
    );
  });

  it('explain() traces every rule in policy order', () => {
    const { decision, rules } = engine.explain({
      evidence: [syncedPasskey('biometric')],
      action: 'transfer',
      context: { ...ACCOUNT, amount: 250 },
      now: NOW,
    });
    expect(decision.allow).toBe(false);
    expect(rules.map((r) => r.id)).toEqual(STORIES.rules.map((r) => r.id));
    const large = rules.find((r) => r.id === 'transfer-large');
    expect(large).toMatchObject({ considered: true, applies: true, requirementMet: false, missing: 'your fob' });
    expect(rules.find((r) => r.id === 'transfer-small')).toMatchObject({ applies: false, when: { satisfied: false } });
    expect(rules.find((r) => r.id === 'read')).toMatchObject({ considered: false });
  });

  it('bounds step-up work on a wide atLeast', () => {
    const of = Array.from({ length: 20 }, (_, i) => ({ factor: { factor: `f${i}` } }));
    const policy: Policy = { rules: [{ id: 'wide', effect: 'permit', require: { atLeast: 10, of } }] };
    const decision = compilePolicy(policy).decide({ evidence: [], action: 'x', now: NOW });
    expect(decision.allow).toBe(false);
    expect(decision.stepUp.length).toBeGreaterThan(0);
    expect(decision.stepUp.length).toBeLessThanOrEqual(8);
    for (const option of decision.stepUp) expect(option.evidence).toHaveLength(10);
  });
});

describe('explanations a person understands', () => {
  const engine = compilePolicy(STORIES);
  const levels = compilePolicy({
    rules: [
      { id: 'aal1', effect: 'permit', actions: ['aal1'], require: { aal: 1 } },
      { id: 'aal3', effect: 'permit', actions: ['aal3'], require: { aal: 3 } },
    ],
  });
  const cases: readonly [string, ReturnType<typeof engine.decide>, readonly string[], readonly string[]][] = [
    [
      "what is missing, and what was presented (the issue's example)",
      engine.decide({ evidence: [password(), syncedPasskey('biometric')], action: 'sign', context: ACCOUNT, now: NOW }),
      [
        'needs a hardware-bound fob used within the last 5 minutes; you presented a password and a synced passkey (rule `sign-contract`)',
      ],
      ['add a hardware-bound fob used within the last 5 minutes'],
    ],
    [
      'stale evidence says how old it is',
      engine.decide({ evidence: [fob('none', { ageMs: 10 * MINUTE })], action: 'sign', context: ACCOUNT, now: NOW }),
      [
        'needs a hardware-bound fob used within the last 5 minutes; you presented a fob used 10 minutes ago (rule `sign-contract`)',
      ],
      ['add a hardware-bound fob used within the last 5 minutes'],
    ],
    [
      'evidence too old for the level asked says how old it is',
      levels.decide({ evidence: [fob('pin', { ageMs: 13 * HOUR })], action: 'aal3', now: NOW }),
      [
        'needs a hardware-bound phishing-resistant physical authenticator unlocked with a PIN or biometric, or a password or PIN and a hardware-bound phishing-resistant physical authenticator; you presented a fob with its PIN used 13 hours ago (rule `aal3`)',
      ],
      [
        'add a hardware-bound phishing-resistant physical authenticator unlocked with a PIN or biometric',
        'add a password or PIN and a hardware-bound phishing-resistant physical authenticator',
      ],
    ],
    [
      'evidence from the future says so',
      engine.decide({ evidence: [fob('none', { ageMs: -10 * MINUTE })], action: 'sign', context: ACCOUNT, now: NOW }),
      [
        'needs a hardware-bound fob used within the last 5 minutes; you presented a fob dated 10 minutes in the future (rule `sign-contract`)',
      ],
      ['add a hardware-bound fob used within the last 5 minutes'],
    ],
    [
      'a coercion-safe rule says that it does not count the thumb',
      engine.decide({ evidence: [syncedPasskey('biometric')], action: 'close-account', context: ACCOUNT, now: NOW }),
      [
        'needs a password or PIN; you presented a synced passkey unlocked with a biometric (rule `close-account` never counts a biometric)',
      ],
      ['add a password or PIN'],
    ],
    [
      'a bare biometric is called what it is',
      levels.decide({ evidence: [bareBiometric()], action: 'aal1', now: NOW }),
      [
        'needs a password or physical authenticator; you presented a biometric on its own (`face-match`), which is not a factor (rule `aal1`)',
      ],
      ['add a password or physical authenticator'],
    ],
    [
      'two ways out, fewest items first',
      levels.decide({ evidence: [password(), totp()], action: 'aal3', now: NOW }),
      [
        'needs a hardware-bound phishing-resistant physical authenticator; you presented a password and a one-time code (rule `aal3`)',
      ],
      ['add a hardware-bound phishing-resistant physical authenticator'],
    ],
    [
      'a forbid names itself and its description',
      engine.decide({ evidence: [fob('pin')], action: 'read', context: { account: { frozen: true } }, now: NOW }),
      ['forbidden by rule `frozen`: the account is frozen'],
      [],
    ],
    [
      'a default deny says which rules did not apply, and why',
      engine.decide({
        evidence: [fob('pin')],
        action: 'purchase',
        context: { ...ACCOUNT, merchant: 'corner-store', amount: 11 },
        now: NOW,
      }),
      ['no rule permits `purchase` here', 'rule `corner-store` does not apply: `amount <= 10` is false (amount is 11)'],
      [],
    ],
  ];
  for (const [name, decision, reasons, stepUp] of cases) {
    it(name, () => {
      expect(decision.allow).toBe(false);
      expect(decision.reasons).toEqual(reasons);
      expect(decision.stepUp.map((o) => o.reason)).toEqual(stepUp);
    });
  }
});

describe('reasons written on first read', () => {
  it('describe the request as it was decided, even if the caller changes its evidence array afterwards', () => {
    const policy = compilePolicy({
      rules: [{ id: 'big', effect: 'permit', actions: ['transfer'], require: { factor: { factor: 'fob' } } }],
    });
    const evidence = [password()];
    const decision = policy.decide({ evidence, action: 'transfer', now: NOW });
    evidence.push(fob());
    expect(decision.allow).toBe(false);
    expect(decision.reasons.join(' ')).toMatch(/you presented a password/);
    expect(decision.reasons.join(' ')).not.toMatch(/fob \(/);
    // the same sentences on every read, and in JSON
    expect(decision.reasons).toBe(decision.reasons);
    expect(JSON.parse(JSON.stringify(decision)).reasons).toEqual(decision.reasons);
  });
});
