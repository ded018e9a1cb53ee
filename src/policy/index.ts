/**
 * The policy layer: the expression language shared with delegation caveats today; rules,
 * assurance levels and decisions join it with the policy engine (issue #4).
 *
 * @module latchkey
 */

export { formatDuration, parseDuration } from './duration.js';
export {
  type ContextValue,
  compileExpression,
  type Expression,
  type ExpressionContext,
  type ExpressionLimits,
  type Verdict,
} from './expression.js';
