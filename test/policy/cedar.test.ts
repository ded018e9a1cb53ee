// Cross-check against Cedar: the same 23-rule policy, written in Cedar, decides seeded corpora of
// requests; latchkey must agree on allow/deny and on the determining policies, and the
// hand-written closure baseline (bench/) must agree on allow/deny.
//
// latchkey departs from Cedar in one place, on purpose: a forbid whose condition cannot be
// evaluated applies (fail closed) where Cedar skips it. The first corpus always supplies the
// attributes forbids read, so plain Cedar is the oracle; the second leaves attributes out, and
// the oracle is the same policy with each forbid written fail-closed in Cedar
// (CEDAR_FAIL_CLOSED_POLICIES). Every disagreement with plain Cedar on the second corpus must be
// a forbid that Cedar reported as erroring and skipped.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { compilePolicy } from '../../src/policy/compile.js';
import { type Component, need } from '../helpers/components.js';
import {
  baselineDecide,
  CEDAR_FAIL_CLOSED_POLICIES,
  CEDAR_POLICIES,
  CROSS_POLICY,
  type CrossRequest,
  corpus,
  evidenceFacts,
} from './cross-policy.js';

type CedarModule = typeof import('@cedar-policy/cedar-wasm/nodejs');

function loadCedar(): { component: Component; cedar: CedarModule | undefined } {
  const name = '@cedar-policy/cedar-wasm';
  try {
    const cedar = createRequire(import.meta.url)(`${name}/nodejs`) as CedarModule;
    return { component: { name, available: true, reason: '' }, cedar };
  } catch (error) {
    return {
      component: { name, available: false, reason: `cannot load \`${name}/nodejs\`: ${(error as Error).message}` },
      cedar: undefined,
    };
  }
}

const { component, cedar } = loadCedar();

interface CedarAnswer {
  readonly allow: boolean;
  readonly reasons: readonly string[];
  /** Policies whose condition errored, which Cedar skipped. */
  readonly errors: readonly string[];
}

describe.runIf(need(component))('Cedar cross-check (@cedar-policy/cedar-wasm)', () => {
  const c = cedar as CedarModule;
  const engine = compilePolicy(CROSS_POLICY);
  const forbids = new Set(CROSS_POLICY.rules.filter((r) => r.effect === 'forbid').map((r) => r.id));

  function ask(setId: string, request: CrossRequest): CedarAnswer {
    const answer = c.statefulIsAuthorized({
      principal: { type: 'User', id: 'alice' },
      action: { type: 'Action', id: request.action },
      resource: { type: 'Resource', id: 'account' },
      context: { ...request.context, ...evidenceFacts(request.evidence, request.now) },
      preparsedPolicySetId: setId,
      entities: [],
    });
    if (answer.type !== 'success') throw new Error(JSON.stringify(answer.errors));
    const { decision, diagnostics } = answer.response;
    return {
      allow: decision === 'allow',
      reasons: [...diagnostics.reason].sort(),
      errors: diagnostics.errors.map((e) => e.policyId).sort(),
    };
  }

  /** Requests where latchkey, the oracle or the baseline disagree; and how many were allowed. */
  function compare(setId: string, requests: readonly CrossRequest[]): { mismatches: string[]; allowed: number } {
    const mismatches: string[] = [];
    let allowed = 0;
    for (const request of requests) {
      const oracle = ask(setId, request);
      const decision = engine.decide(request);
      const ours = [...decision.determining].sort();
      const baseline = baselineDecide(request);
      if (decision.allow) allowed++;
      if (
        oracle.allow !== decision.allow ||
        baseline !== decision.allow ||
        JSON.stringify(oracle.reasons) !== JSON.stringify(ours)
      ) {
        mismatches.push(
          JSON.stringify({
            request: { action: request.action, context: request.context },
            cedar: oracle,
            latchkey: { allow: decision.allow, determining: ours, reasons: decision.reasons },
            baseline,
          }),
        );
      }
    }
    return { mismatches, allowed };
  }

  it('both Cedar policy sets parse and have the same rules', () => {
    for (const staticPolicies of [CEDAR_POLICIES, CEDAR_FAIL_CLOSED_POLICIES]) {
      expect(c.checkParsePolicySet({ staticPolicies })).toEqual({ type: 'success' });
      expect(Object.keys(staticPolicies).sort()).toEqual(CROSS_POLICY.rules.map((r) => r.id).sort());
    }
    expect(CROSS_POLICY.rules.length).toBeGreaterThanOrEqual(20);
    expect(c.preparsePolicySet('latchkey-cross', { staticPolicies: CEDAR_POLICIES })).toEqual({ type: 'success' });
    expect(c.preparsePolicySet('latchkey-cross-fail-closed', { staticPolicies: CEDAR_FAIL_CLOSED_POLICIES })).toEqual({
      type: 'success',
    });
  });

  it('agrees with Cedar on 2,000 seeded requests: zero mismatches', () => {
    const requests = corpus(2000, 0x1a7c4, true);
    const { mismatches, allowed } = compare('latchkey-cross', requests);
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(mismatches).toHaveLength(0);
    // the corpus exercises both answers
    expect(allowed).toBeGreaterThan(200);
    expect(requests.length - allowed).toBeGreaterThan(200);
    // and no forbid errored, so this is Cedar's own semantics
    expect(requests.filter((r) => ask('latchkey-cross', r).errors.some((id) => forbids.has(id)))).toEqual([]);
  });

  it('with attributes left out, agrees with fail-closed Cedar on 2,000 requests: zero mismatches', () => {
    const requests = corpus(2000, 0x5eed);
    const { mismatches, allowed } = compare('latchkey-cross-fail-closed', requests);
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(mismatches).toHaveLength(0);
    expect(allowed).toBeGreaterThan(100);
    expect(requests.length - allowed).toBeGreaterThan(200);
  });

  it('forbid bypass by omitting a context attribute: every request plain Cedar lets through that way, latchkey denies', () => {
    const requests = corpus(2000, 0x5eed);
    let bypasses = 0;
    for (const request of requests) {
      const plain = ask('latchkey-cross', request);
      const decision = engine.decide(request);
      if (
        plain.allow === decision.allow &&
        JSON.stringify(plain.reasons) === JSON.stringify([...decision.determining].sort())
      )
        continue;
      // the only disagreement allowed: a forbid that Cedar skipped because its condition errored,
      // which latchkey applied, naming it
      const skipped = plain.errors.filter((id) => forbids.has(id));
      expect(skipped.length, JSON.stringify({ request, plain, decision })).toBeGreaterThan(0);
      expect(decision.allow).toBe(false);
      expect(decision.determining.some((id) => skipped.includes(id))).toBe(true);
      expect(decision.reasons.join('\n')).toContain('cannot be evaluated');
      if (plain.allow) bypasses++;
    }
    // the corpus holds requests that would have got through a Cedar-style engine
    expect(bypasses).toBeGreaterThan(20);
  });
});
