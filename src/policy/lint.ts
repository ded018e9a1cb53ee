/**
 * `lintPolicy`: warnings about policies that are valid but probably not what their author meant.
 *
 * @module latchkey
 */
import type { Evidence } from '../core/types.js';
import { compilePolicy } from './compile.js';
import { selectorPossible } from './selector.js';
import type { Policy, Requirement, Rule } from './types.js';
import { type ValidateOptions, validatePolicy } from './validate.js';

/**
 * What a finding is about:
 * - `biometric-alone`: a permit that one biometric-unlocked authenticator (a thumb on a phone)
 *   satisfies; if the action is high-stakes, mark the rule `sensitive` (coercion-safe).
 * - `unreachable`: a rule whose requirement no evidence can meet, or a permit that a forbid always
 *   overrides.
 * - `forbid-shadows-everything`: a forbid that applies to every request, so nothing is ever allowed.
 * - `permit-without-requirement`: a permit that allows without any evidence.
 */
export type LintCode = 'biometric-alone' | 'unreachable' | 'forbid-shadows-everything' | 'permit-without-requirement';

/** One finding. */
export interface LintFinding {
  readonly code: LintCode;
  readonly severity: 'warning';
  /** The rule it is about. */
  readonly rule: string;
  readonly message: string;
}

/** Options for {@link lintPolicy}. */
export interface LintOptions extends ValidateOptions {
  /** Codes to leave out, e.g. `['biometric-alone']` for a policy whose passkey logins are intended. */
  readonly ignore?: readonly LintCode[];
}

function possible(req: Requirement, sensitive: boolean): boolean {
  if ('factor' in req) return selectorPossible(req.factor, sensitive);
  if ('aal' in req) return true;
  if ('all' in req) return req.all.every((r) => possible(r, sensitive));
  if ('any' in req) return req.any.some((r) => possible(r, sensitive));
  return req.of.filter((r) => possible(r, sensitive)).length >= req.atLeast;
}

function collect(req: Requirement | undefined, factors: Set<string>, amr: Set<string>): void {
  if (req === undefined) return;
  if ('factor' in req) {
    const f = req.factor.factor;
    for (const name of f === undefined ? [] : Array.isArray(f) ? f : [f]) factors.add(name as string);
    const a = req.factor.amr;
    for (const value of a === undefined ? [] : Array.isArray(a) ? a : [a]) amr.add(value as string);
    return;
  }
  if ('aal' in req) return;
  for (const child of 'all' in req ? req.all : 'any' in req ? req.any : req.of) collect(child, factors, amr);
}

const KNOWLEDGE_FACTORS = new Set(['password', 'recovery-code', 'otp', 'totp']);
const KNOWLEDGE_AMR = new Set(['pwd', 'pin', 'kba', 'otp', 'sms', 'tel']);

/** Biometric-unlocked possession proofs shaped to match whatever the rule mentions. */
function biometricCandidates(rule: Rule): Evidence[] {
  const factors = new Set<string>(['webauthn', 'fob']);
  const amr = new Set<string>(['user', 'fpt', 'face', 'hwk', 'swk']);
  collect(rule.require, factors, amr);
  const out: Evidence[] = [];
  for (const factor of factors) {
    if (KNOWLEDGE_FACTORS.has(factor)) continue;
    for (let bits = 0; bits < 8; bits++) {
      out.push({
        factor,
        subject: 'lint',
        authenticatorId: 'lint',
        amr: [...amr].filter((value) => !KNOWLEDGE_AMR.has(value)) as Evidence['amr'],
        kinds: ['possession', 'inherence'],
        phishingResistant: (bits & 1) !== 0,
        hardwareBound: (bits & 2) !== 0,
        replayResistant: (bits & 4) !== 0,
        userVerified: true,
        userPresent: true,
        at: 0,
      });
    }
  }
  return out;
}

/**
 * Lint a policy (validating it first). Returns findings in rule order; an empty list means
 * nothing to say.
 *
 * @example
 * ```ts
 * import { lintPolicy } from 'latchkey';
 * for (const finding of lintPolicy(policy)) console.warn(`${finding.code}: ${finding.message}`);
 * // biometric-alone: rule `large-transfer` can be satisfied by a biometric alone (one
 * // biometric-unlocked authenticator); mark it `sensitive` if a coerced thumb must not suffice
 * ```
 */
export function lintPolicy(policy: Policy | unknown, options: LintOptions = {}): LintFinding[] {
  const validated = validatePolicy(policy, options);
  const ignore = new Set(options.ignore ?? []);
  const findings: LintFinding[] = [];
  const add = (code: LintCode, rule: string, message: string) => {
    if (!ignore.has(code)) findings.push({ code, severity: 'warning', rule, message });
  };
  const alwaysForbids = validated.rules.filter(
    (r) =>
      r.effect === 'forbid' &&
      (r.when === undefined || r.when.trim() === 'true') &&
      (r.require === undefined || !possible(r.require, r.sensitive === true)),
  );
  for (const rule of validated.rules) {
    const sensitive = rule.sensitive === true;
    const reqPossible = rule.require === undefined || possible(rule.require, sensitive);
    if (rule.when?.trim() === 'false') {
      add('unreachable', rule.id, `rule \`${rule.id}\` never applies: its \`when\` is \`false\``);
    }
    if (rule.effect === 'forbid') {
      if (rule.require !== undefined && !reqPossible) {
        add(
          'unreachable',
          rule.id,
          `no evidence can meet the \`require\` of forbid \`${rule.id}\`, so it applies whenever its \`when\` holds`,
        );
      }
      if (alwaysForbids.includes(rule) && rule.actions === undefined) {
        add(
          'forbid-shadows-everything',
          rule.id,
          `forbid \`${rule.id}\` applies to every request, so nothing is ever allowed`,
        );
      }
      continue;
    }
    if (!reqPossible) {
      add(
        'unreachable',
        rule.id,
        `no evidence can meet the \`require\` of rule \`${rule.id}\`${sensitive ? ' (a `sensitive` rule never counts a biometric)' : ''}`,
      );
    }
    const shadow = alwaysForbids.find(
      (f) => f.actions === undefined || rule.actions?.every((a) => f.actions?.includes(a)),
    );
    if (shadow !== undefined) {
      add(
        'unreachable',
        rule.id,
        `rule \`${rule.id}\` can never allow: forbid \`${shadow.id}\` always applies to its actions`,
      );
    }
    if (rule.require === undefined && !sensitive) {
      add(
        'permit-without-requirement',
        rule.id,
        `rule \`${rule.id}\` permits without any evidence; add a \`require\` (at least \`{ "aal": 1 }\`) if that is not intended`,
      );
      continue;
    }
    if (!sensitive && reqPossible) {
      const { when: _when, actions: _actions, ...bare } = rule;
      const engine = compilePolicy({ rules: [bare] });
      const alone = biometricCandidates(rule).find(
        (candidate) => engine.decide({ evidence: [candidate], action: 'lint', now: 0 }).allow,
      );
      if (alone !== undefined) {
        add(
          'biometric-alone',
          rule.id,
          `rule \`${rule.id}\` can be satisfied by a biometric alone (one biometric-unlocked authenticator); mark it \`sensitive\` if a coerced thumb must not suffice`,
        );
      }
    }
  }
  return findings;
}
