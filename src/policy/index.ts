/**
 * The policy layer: the expression language shared with delegation caveats, and the policy
 * engine (rules, requirements, assurance levels per NIST SP 800-63B-4, decisions with step-up
 * answers, `lintPolicy`).
 *
 * @module latchkey
 */

export * from './engine-index.js';
export {
  type ContextValue,
  compileExpression,
  type Expression,
  type ExpressionContext,
  type ExpressionLimits,
  type Verdict,
} from './expression.js';
