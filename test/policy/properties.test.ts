import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Evidence, FactorKind } from '../../src/core/types.js';
import { assuranceLevel } from '../../src/policy/aal.js';
import { compilePolicy } from '../../src/policy/compile.js';
import type { Decision, Policy, Requirement, Rule, Selector } from '../../src/policy/types.js';
import { validatePolicy } from '../../src/policy/validate.js';
import {
  deviceBoundPasskey,
  fob,
  HOUR,
  MINUTE,
  NOW,
  password,
  recoveryCode,
  smartCard,
  syncedPasskey,
  totp,
} from './evidence.js';

const RUNS = 300;

const SELECTORS: readonly Selector[] = [
  { factor: 'fob' },
  { factor: 'password' },
  { factor: ['webauthn', 'fob'] },
  { factor: 'recovery-code' },
  { kind: 'knowledge' },
  { kind: 'possession' },
  { kind: 'inherence' },
  { kind: ['possession', 'knowledge'] },
  { hardwareBound: true },
  { hardwareBound: false, kind: 'possession' },
  { phishingResistant: true, userVerified: true },
  { userVerified: true },
  { replayResistant: true },
  { amr: 'hwk' },
  { amr: ['pin', 'hwk'] },
  { factor: 'fob', maxAge: '5m' },
  { kind: 'possession', maxAge: '1h' },
  { userVerified: false, factor: 'fob' },
  {},
];

const requirement: fc.Arbitrary<Requirement> = fc.letrec<{ req: Requirement }>((tie) => ({
  req: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(...SELECTORS).map((factor): Requirement => ({ factor })),
    fc.constantFrom<Requirement>({ aal: 1 }, { aal: 2 }, { aal: 3 }),
    fc.array(tie('req'), { minLength: 1, maxLength: 3 }).map((all): Requirement => ({ all })),
    fc.array(tie('req'), { minLength: 1, maxLength: 3 }).map((any): Requirement => ({ any })),
    fc
      .array(tie('req'), { minLength: 1, maxLength: 4 })
      .chain((of) => fc.integer({ min: 1, max: of.length }).map((atLeast): Requirement => ({ atLeast, of }))),
  ),
})).req;

const WHENS = ['amount > 100', 'amount <= 100', 'amount > 10 && amount < 1000', 'true'];

function ruleArb(effect: 'permit' | 'forbid'): fc.Arbitrary<Omit<Rule, 'id'>> {
  return fc.record(
    {
      effect: fc.constant(effect),
      actions: fc.subarray(['a', 'b'], { minLength: 1 }),
      when: fc.constantFrom(...WHENS),
      require: requirement,
      sensitive: fc.boolean(),
    },
    { requiredKeys: ['effect'] },
  );
}

function policyArb(forbids: boolean): fc.Arbitrary<Policy> {
  const rules = forbids
    ? fc.array(fc.oneof(ruleArb('permit'), ruleArb('forbid')), { minLength: 1, maxLength: 6 })
    : fc.array(ruleArb('permit'), { minLength: 1, maxLength: 6 });
  return rules.map((list) => ({ rules: list.map((rule, i) => ({ id: `r${i}`, ...rule }) as Rule) }));
}

const AGES = [0, 3 * MINUTE, 10 * MINUTE, 13 * HOUR, 25 * HOUR];
const MAKERS: readonly ((ageMs: number) => Evidence)[] = [
  (ageMs) => password({ ageMs }),
  (ageMs) => fob('none', { ageMs }),
  (ageMs) => fob('pin', { ageMs }),
  (ageMs) => fob('biometric', { ageMs }),
  (ageMs) => syncedPasskey('biometric', { ageMs }),
  (ageMs) => syncedPasskey('none', { ageMs }),
  (ageMs) => syncedPasskey('pin', { ageMs }),
  (ageMs) => deviceBoundPasskey('biometric', { ageMs }),
  (ageMs) => recoveryCode({ ageMs }),
  (ageMs) => totp({ ageMs }),
  (ageMs) => smartCard({ ageMs }),
];
const evidenceItem = fc
  .tuple(fc.integer({ min: 0, max: MAKERS.length - 1 }), fc.constantFrom(...AGES))
  .map(([i, age]) => (MAKERS[i] as (ageMs: number) => Evidence)(age));
const evidenceList = fc.array(evidenceItem, { maxLength: 4 });
const requestArb = fc.record({
  action: fc.constantFrom('a', 'b', 'c'),
  amount: fc.constantFrom(5, 50, 150, 5000),
});

/**
 * The weakest evidence matching a step-up selector, written independently of the engine: only
 * what the selector demands holds; without a kind, one variant per kind a factor can have.
 */
function weakest(selector: Selector): Evidence[] {
  const list = <T>(v: T | readonly T[] | undefined): T[] =>
    v === undefined ? [] : Array.isArray(v) ? [...v] : [v as T];
  const kinds = list(selector.kind);
  const variants: FactorKind[][] = kinds.length > 0 ? [kinds] : [['knowledge'], ['possession']];
  return variants.map((variant) => ({
    factor: list(selector.factor)[0] ?? 'generic',
    subject: 'alice',
    authenticatorId: 'added',
    amr: list(selector.amr),
    kinds: variant,
    phishingResistant: selector.phishingResistant === true,
    hardwareBound: selector.hardwareBound === true,
    userVerified: selector.userVerified === true,
    userPresent: false,
    replayResistant: selector.replayResistant === true,
    at: NOW,
  }));
}

/** Every way of presenting the weakest evidence for each item of an option. */
function presentations(option: Decision['stepUp'][number]): Evidence[][] {
  let out: Evidence[][] = [[]];
  for (const item of option.evidence) {
    const next: Evidence[][] = [];
    for (const prefix of out) for (const variant of weakest(item.selector)) next.push([...prefix, variant]);
    out = next;
  }
  return out;
}

describe('policy properties', () => {
  it('every generated policy validates and compiles', () => {
    fc.assert(
      fc.property(policyArb(true), (policy) => {
        expect(validatePolicy(policy)).toEqual(policy);
        compilePolicy(policy);
      }),
      { numRuns: RUNS },
    );
  });

  it('permit-only policies: adding evidence never turns allow into deny', () => {
    fc.assert(
      fc.property(policyArb(false), evidenceList, evidenceItem, requestArb, (policy, evidence, extra, request) => {
        const engine = compilePolicy(policy);
        const base = { action: request.action, context: { amount: request.amount }, now: NOW };
        const before = engine.decide({ ...base, evidence });
        if (!before.allow) return;
        for (let at = 0; at <= evidence.length; at++) {
          const more = [...evidence.slice(0, at), extra, ...evidence.slice(at)];
          expect(engine.decide({ ...base, evidence: more }).allow).toBe(true);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('decisions are deterministic, whatever was decided before', () => {
    fc.assert(
      fc.property(
        policyArb(true),
        fc.array(fc.tuple(evidenceList, requestArb), { minLength: 2, maxLength: 8 }),
        (policy, requests) => {
          const engine = compilePolicy(policy);
          const fresh = compilePolicy(policy);
          const uncached = compilePolicy(policy, { limits: { denyCacheSize: 0 } });
          const tiny = compilePolicy(policy, { limits: { denyCacheSize: 1 } });
          const decide = (e: typeof engine, [evidence, r]: (typeof requests)[number]) =>
            JSON.stringify(e.decide({ evidence, action: r.action, context: { amount: r.amount }, now: NOW }));
          const forward = requests.map((r) => decide(engine, r));
          const backward = [...requests]
            .reverse()
            .map((r) => decide(engine, r))
            .reverse();
          expect(backward).toEqual(forward);
          expect(requests.map((r) => decide(fresh, r))).toEqual(forward);
          // remembered step-up answers (the deny cache) change nothing
          expect(requests.map((r) => decide(uncached, r))).toEqual(forward);
          expect(requests.map((r) => decide(tiny, r))).toEqual(forward);
          // explain() takes every rule in turn, with no shortcut, and must reach the same decision
          const explained = requests.map(([evidence, r]) =>
            JSON.stringify(
              engine.explain({ evidence, action: r.action, context: { amount: r.amount }, now: NOW }).decision,
            ),
          );
          expect(explained).toEqual(forward);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('remembered step-up answers never cross an age limit or a listed factor name', () => {
    // Ages on both sides of every limit the selectors and AAL windows use, and factor names that
    // selectors list next to names they do not: requests that differ only there must not share a
    // remembered answer (the deny cache keys an item by which limits its age is within and which
    // listed name it has).
    const FACTORS = ['fob', 'password', 'webauthn', 'recovery-code', 'totp', 'smart-card'];
    const EDGES = [0, 5 * MINUTE, 5 * MINUTE + 1, HOUR, HOUR + 1, 12 * HOUR, 12 * HOUR + 1, 24 * HOUR + 1];
    const item = fc
      .tuple(
        fc.integer({ min: 0, max: MAKERS.length - 1 }),
        fc.constantFrom(...EDGES),
        fc.constantFrom<string | null>(null, ...FACTORS),
      )
      .map(([i, age, factor]) => {
        const made = (MAKERS[i] as (ageMs: number) => Evidence)(age);
        return factor === null ? made : { ...made, factor };
      });
    fc.assert(
      fc.property(
        policyArb(true),
        fc.array(fc.tuple(fc.array(item, { maxLength: 3 }), requestArb), { minLength: 4, maxLength: 12 }),
        (policy, requests) => {
          const cached = compilePolicy(policy);
          const uncached = compilePolicy(policy, { limits: { denyCacheSize: 0 } });
          for (const [evidence, r] of requests) {
            // the request, then the same with its first item renamed to each factor name and moved across each age
            const first = evidence[0];
            const variants = [evidence];
            if (first !== undefined) {
              for (const factor of FACTORS) variants.push([{ ...first, factor }, ...evidence.slice(1)]);
              for (const age of EDGES) variants.push([{ ...first, at: NOW - age }, ...evidence.slice(1)]);
            }
            for (const list of variants) {
              const request = { evidence: list, action: r.action, context: { amount: r.amount }, now: NOW };
              expect(JSON.stringify(cached.decide(request))).toBe(JSON.stringify(uncached.decide(request)));
            }
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('a forbid that applies always wins', () => {
    fc.assert(
      fc.property(policyArb(true), evidenceList, requestArb, fc.nat(6), (policy, evidence, request, position) => {
        const rules = [...policy.rules];
        rules.splice(Math.min(position, rules.length), 0, { id: 'stop', effect: 'forbid', when: 'amount > 100' });
        const engine = compilePolicy({ rules });
        const decision = engine.decide({
          evidence,
          action: request.action,
          context: { amount: request.amount },
          now: NOW,
        });
        if (request.amount > 100) {
          expect(decision.allow).toBe(false);
          expect(decision.determining).toContain('stop');
          expect(decision.stepUp).toEqual([]);
        }
        const without = compilePolicy(policy).decide({
          evidence,
          action: request.action,
          context: { amount: request.amount },
          now: NOW,
        });
        if (request.amount <= 100) expect(decision.allow).toBe(without.allow);
        if (without.allow === false) expect(decision.allow).toBe(false);
      }),
      { numRuns: RUNS },
    );
  });

  it('coercion-safe: a sensitive rule never allows without a knowledge factor, whatever else is presented', () => {
    const noKnowledge = fc.array(
      fc
        .tuple(
          fc.constantFrom<(ageMs: number) => Evidence>(
            (ageMs) => fob('none', { ageMs }),
            (ageMs) => fob('biometric', { ageMs }),
            (ageMs) => syncedPasskey('biometric', { ageMs }),
            (ageMs) => syncedPasskey('none', { ageMs }),
            (ageMs) => deviceBoundPasskey('biometric', { ageMs }),
            (ageMs) => recoveryCode({ ageMs }),
            (ageMs) => totp({ ageMs }),
          ),
          fc.constantFrom(...AGES),
        )
        .map(([make, age]) => make(age)),
      { maxLength: 5 },
    );
    fc.assert(
      fc.property(policyArb(false), noKnowledge, requestArb, (policy, evidence, request) => {
        const sensitive = { rules: policy.rules.map((rule) => ({ ...rule, sensitive: true })) };
        const decision = compilePolicy(sensitive).decide({
          evidence,
          action: request.action,
          context: { amount: request.amount },
          now: NOW,
        });
        expect(decision.allow).toBe(false);
        // and every way out asks for something a person has to know
        for (const option of decision.stepUp) {
          expect(option.evidence.some((item) => [item.selector.kind].flat().includes('knowledge'))).toBe(true);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("a decision's AAL is assuranceLevel() of its evidence", () => {
    const mixed = fc.array(
      fc.tuple(evidenceItem, fc.constantFrom('alice', 'alice', 'bob')).map(([e, subject]) => ({ ...e, subject })),
      { maxLength: 4 },
    );
    fc.assert(
      fc.property(policyArb(true), mixed, requestArb, (policy, evidence, request) => {
        const decision = compilePolicy(policy).decide({
          evidence,
          action: request.action,
          context: { amount: request.amount },
          now: NOW,
        });
        expect(decision.aal).toBe(assuranceLevel(evidence, { now: NOW }));
      }),
      { numRuns: RUNS },
    );
  });

  it('a forbid whose condition cannot be evaluated always wins (fail closed)', () => {
    const broken = fc.constantFrom<Record<string, unknown>>(
      {},
      { flag: null },
      { flag: 'true' },
      { flag: 1 },
      { flag: [true] },
      { flag: { value: true } },
    );
    fc.assert(
      fc.property(
        policyArb(true),
        evidenceList,
        requestArb,
        broken,
        fc.nat(6),
        (policy, evidence, request, flag, position) => {
          const rules = [...policy.rules];
          const stop: Rule = { id: 'stop', effect: 'forbid', when: 'flag == true' };
          rules.splice(Math.min(position, rules.length), 0, stop);
          const engine = compilePolicy({ rules });
          const context = { amount: request.amount, ...flag } as never;
          const decision = engine.decide({ evidence, action: request.action, context, now: NOW });
          expect(decision.allow).toBe(false);
          expect(decision.determining).toContain('stop');
          expect(decision.stepUp).toEqual([]);
          expect(decision.reasons.some((r) => r.startsWith('forbidden by rule `stop`: its condition'))).toBe(true);
          // and with the flag present and false, the forbid changes nothing
          const fine = engine.decide({
            evidence,
            action: request.action,
            context: { amount: request.amount, flag: false },
            now: NOW,
          });
          const without = compilePolicy(policy).decide({
            evidence,
            action: request.action,
            context: { amount: request.amount, flag: false },
            now: NOW,
          });
          expect(fine.allow).toBe(without.allow);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('every decision explains itself in words', () => {
    fc.assert(
      fc.property(policyArb(true), evidenceList, requestArb, (policy, evidence, request) => {
        const decision = compilePolicy(policy).decide({
          evidence,
          action: request.action,
          context: { amount: request.amount },
          now: NOW,
        });
        expect(decision.reasons.length).toBeGreaterThan(0);
        const words = [
          ...decision.reasons,
          ...decision.stepUp.flatMap((o) => [o.reason, ...o.evidence.map((i) => i.reason)]),
        ];
        for (const text of words) {
          expect(text).toMatch(/^[a-z]/);
          expect(text).not.toMatch(/undefined|null|NaN|\[object|\{|\.$|\badd $|needs ;| ,| {2}/);
        }
        if (!decision.allow && decision.stepUp.length > 0) {
          expect(decision.reasons.some((r) => r.startsWith('needs '))).toBe(true);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('every step-up option, once presented, allows; and no item of it is superfluous', () => {
    let checked = 0;
    fc.assert(
      fc.property(policyArb(true), evidenceList, requestArb, (policy, evidence, request) => {
        const engine = compilePolicy(policy);
        const base = { action: request.action, context: { amount: request.amount }, now: NOW };
        const decision = engine.decide({ ...base, evidence });
        if (decision.allow) return;
        for (const option of decision.stepUp) {
          checked++;
          for (const added of presentations(option)) {
            const after = engine.decide({ ...base, evidence: [...evidence, ...added] });
            expect(after.allow, `${JSON.stringify(option)} then ${JSON.stringify(after.reasons)}`).toBe(true);
            expect(after.determining).toContain(option.rule);
          }
          // minimality is promised for options of up to 8 items (see Decision.stepUp)
          if (option.evidence.length < 2 || option.evidence.length > 8) continue;
          for (let drop = 0; drop < option.evidence.length; drop++) {
            const fewer = { ...option, evidence: option.evidence.filter((_, i) => i !== drop) };
            // superfluous: some one permit allows every presentation of the option without it
            let common: string[] | null = null;
            for (const added of presentations(fewer)) {
              const after = engine.decide({ ...base, evidence: [...evidence, ...added] });
              const ids: readonly string[] = after.allow ? after.determining : [];
              common = common === null ? [...ids] : common.filter((id) => ids.includes(id));
            }
            expect(common ?? [], `item ${drop} of ${JSON.stringify(option)} is superfluous`).toEqual([]);
          }
        }
      }),
      { numRuns: RUNS * 2, ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}) },
    );
    expect(checked).toBeGreaterThan(50);
  });

  it('step-up options come in a stable order: fewest items first', () => {
    fc.assert(
      fc.property(policyArb(true), evidenceList, requestArb, (policy, evidence, request) => {
        const decision = compilePolicy(policy).decide({
          evidence,
          action: request.action,
          context: { amount: request.amount },
          now: NOW,
        });
        const sizes = decision.stepUp.map((o) => o.evidence.length);
        expect(sizes).toEqual([...sizes].sort((a, b) => a - b));
      }),
      { numRuns: RUNS },
    );
  });
});
