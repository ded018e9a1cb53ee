/**
 * The policy engine's public surface: rules, requirements, selectors, decisions with step-up
 * answers, assurance levels, validation, the JSON Schema and the linter. Exported from `latchkey`.
 *
 * @example
 * ```ts
 * import { assuranceLevel, compilePolicy, lintPolicy, validatePolicy } from 'latchkey';
 * ```
 *
 * @module latchkey
 */
export { type AssuranceOptions, assuranceLevel } from './aal.js';
export {
  type CompiledPolicy,
  type CompileOptions,
  compilePolicy,
  type Explanation,
  type RuleTrace,
} from './compile.js';
export { describeEvidence, describeSelector } from './describe.js';
export { DEFAULT_POLICY_LIMITS, NIST_REAUTHENTICATION } from './limits.js';
export { type LintCode, type LintFinding, type LintOptions, lintPolicy } from './lint.js';
export { POLICY_JSON_SCHEMA } from './schema.js';
export type {
  Decision,
  DecisionRequest,
  Duration,
  OneOrMore,
  Policy,
  PolicyLimits,
  Reauthentication,
  Requirement,
  Rule,
  Selector,
  StepUpItem,
  StepUpOption,
} from './types.js';
export { type ValidateOptions, validatePolicy } from './validate.js';
