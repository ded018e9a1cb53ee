/**
 * Validation of policies read from outside (JSON files, databases, admin UIs): every problem is
 * reported with its path, e.g. `rules[2].require.any[0].factor.maxAge: must be a duration`.
 *
 * @module latchkey
 */
import { LatchkeyError } from '../core/errors.js';
import { AMR_VALUES } from '../core/types.js';
import { tryParseDuration } from './duration.js';
import { compileExpression, type Expression, type ExpressionLimits } from './expression.js';
import { resolvePolicyLimits } from './limits.js';
import { RULE_ID_PATTERN } from './schema.js';
import type { Policy, PolicyLimits, Requirement, Rule, Selector } from './types.js';

/** Options for {@link validatePolicy} and {@link compilePolicy}. */
export interface ValidateOptions {
  readonly limits?: Partial<PolicyLimits>;
  /** Limits for `when` expressions, passed to the expression compiler. */
  readonly expressionLimits?: Partial<ExpressionLimits>;
}

const RULE_ID = new RegExp(RULE_ID_PATTERN);
const KINDS = ['knowledge', 'possession', 'inherence'] as const;
const SELECTOR_BOOLEANS = ['phishingResistant', 'hardwareBound', 'userVerified', 'replayResistant'] as const;
const MAX_REPORTED = 20;

class Collector {
  readonly problems: string[] = [];
  add(path: string, message: string): void {
    if (this.problems.length < MAX_REPORTED) this.problems.push(`${path}: ${message}`);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

function unknownKeys(value: Record<string, unknown>, allowed: readonly string[], path: string, out: Collector): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) out.add(path, `unknown property \`${key.slice(0, 64)}\``);
  }
}

function text(value: unknown, path: string, out: Collector, max: number): string | undefined {
  if (typeof value !== 'string' || value.length === 0) {
    out.add(path, `must be a non-empty string, got ${typeof value === 'string' ? 'an empty string' : kindOf(value)}`);
    return undefined;
  }
  if (value.length > max) {
    out.add(path, `must be at most ${max} characters`);
    return undefined;
  }
  if (value.includes('\u0000')) {
    out.add(path, 'must not contain a NUL character');
    return undefined;
  }
  return value;
}

/** A string or a non-empty list of strings, each checked by `check`; always returned as a list. */
function oneOrMore(
  value: unknown,
  path: string,
  out: Collector,
  limits: PolicyLimits,
  check: (item: unknown, path: string) => string | undefined,
): string[] | undefined {
  if (!Array.isArray(value)) {
    const item = check(value, path);
    return item === undefined ? undefined : [item];
  }
  if (value.length === 0) {
    out.add(path, 'must not be an empty list');
    return undefined;
  }
  if (value.length > limits.maxListItems) {
    out.add(path, `must have at most ${limits.maxListItems} items`);
    return undefined;
  }
  const items: string[] = [];
  value.forEach((item, i) => {
    const checked = check(item, `${path}[${i}]`);
    if (checked !== undefined && !items.includes(checked)) items.push(checked);
  });
  return items.length === value.length || items.length > 0 ? items : undefined;
}

function validateSelector(value: unknown, path: string, out: Collector, limits: PolicyLimits): Selector | undefined {
  if (!isRecord(value)) {
    out.add(path, `must be an object, got ${kindOf(value)}`);
    return undefined;
  }
  unknownKeys(value, ['factor', 'amr', 'kind', ...SELECTOR_BOOLEANS, 'maxAge', 'label'], path, out);
  const selector: Record<string, unknown> = {};
  if (value.factor !== undefined) {
    const factor = oneOrMore(value.factor, `${path}.factor`, out, limits, (item, p) =>
      text(item, p, out, limits.maxStringLength),
    );
    if (factor !== undefined) selector.factor = Array.isArray(value.factor) ? factor : factor[0];
  }
  if (value.amr !== undefined) {
    const amr = oneOrMore(value.amr, `${path}.amr`, out, limits, (item, p) => {
      if (typeof item === 'string' && (AMR_VALUES as readonly string[]).includes(item)) return item;
      out.add(p, `must be an RFC 8176 method reference such as \`hwk\`, \`pin\`, \`pwd\`, got ${describeValue(item)}`);
      return undefined;
    });
    if (amr !== undefined) selector.amr = Array.isArray(value.amr) ? amr : amr[0];
  }
  if (value.kind !== undefined) {
    const kind = oneOrMore(value.kind, `${path}.kind`, out, limits, (item, p) => {
      if (typeof item === 'string' && (KINDS as readonly string[]).includes(item)) return item;
      out.add(p, `must be one of \`knowledge\`, \`possession\`, \`inherence\`, got ${describeValue(item)}`);
      return undefined;
    });
    if (kind !== undefined) selector.kind = Array.isArray(value.kind) ? kind : kind[0];
  }
  for (const flag of SELECTOR_BOOLEANS) {
    const flagValue = value[flag];
    if (flagValue === undefined) continue;
    if (typeof flagValue !== 'boolean') out.add(`${path}.${flag}`, `must be a boolean, got ${kindOf(flagValue)}`);
    else selector[flag] = flagValue;
  }
  if (value.maxAge !== undefined) {
    if (tryParseDuration(value.maxAge) === undefined) {
      out.add(`${path}.maxAge`, `must be a duration such as \`5m\` or \`PT5M\`, got ${describeValue(value.maxAge)}`);
    } else selector.maxAge = value.maxAge;
  }
  if (value.label !== undefined) {
    const label = text(value.label, `${path}.label`, out, limits.maxStringLength);
    if (label !== undefined) selector.label = label;
  }
  return selector as Selector;
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return `\`${value.slice(0, 64)}\``;
  if (typeof value === 'number' || typeof value === 'boolean') return `\`${String(value)}\``;
  return kindOf(value);
}

const SHAPES = '`factor`, `all`, `any`, `atLeast` with `of`, or `aal`';

function validateRequirement(
  value: unknown,
  path: string,
  out: Collector,
  limits: PolicyLimits,
  depth: number,
  budget: { nodes: number },
): Requirement | undefined {
  if (--budget.nodes < 0) {
    if (budget.nodes === -1) out.add(path, `too many requirement nodes (at most ${limits.maxRequirementNodes})`);
    return undefined;
  }
  if (!isRecord(value)) {
    out.add(path, `must be a requirement object, got ${kindOf(value)}`);
    return undefined;
  }
  const keys = Object.keys(value);
  const shape =
    'factor' in value
      ? 'factor'
      : 'all' in value
        ? 'all'
        : 'any' in value
          ? 'any'
          : 'atLeast' in value || 'of' in value
            ? 'atLeast'
            : 'aal' in value
              ? 'aal'
              : undefined;
  if (shape === undefined) {
    out.add(path, `must have one of ${SHAPES}`);
    return undefined;
  }
  const allowed = shape === 'atLeast' ? ['atLeast', 'of'] : [shape];
  const extra = keys.filter((key) => !allowed.includes(key));
  if (extra.length > 0) {
    out.add(path, `must have exactly one of ${SHAPES}; also found \`${extra.join('`, `').slice(0, 128)}\``);
    return undefined;
  }
  switch (shape) {
    case 'factor': {
      const selector = validateSelector(value.factor, `${path}.factor`, out, limits);
      return selector === undefined ? undefined : { factor: selector };
    }
    case 'aal': {
      if (value.aal !== 1 && value.aal !== 2 && value.aal !== 3) {
        out.add(`${path}.aal`, `must be 1, 2 or 3, got ${describeValue(value.aal)}`);
        return undefined;
      }
      return { aal: value.aal };
    }
    default: {
      const listKey = shape === 'atLeast' ? 'of' : shape;
      const list = value[listKey];
      const listPath = `${path}.${listKey}`;
      if (!Array.isArray(list) || list.length === 0) {
        out.add(
          listPath,
          `must be a non-empty list of requirements, got ${Array.isArray(list) ? 'an empty list' : kindOf(list)}`,
        );
        return undefined;
      }
      if (list.length > limits.maxListItems) {
        out.add(listPath, `must have at most ${limits.maxListItems} items`);
        return undefined;
      }
      if (depth >= limits.maxRequirementDepth) {
        out.add(path, `nests deeper than ${limits.maxRequirementDepth} levels`);
        return undefined;
      }
      const children: Requirement[] = [];
      list.forEach((child, i) => {
        const checked = validateRequirement(child, `${listPath}[${i}]`, out, limits, depth + 1, budget);
        if (checked !== undefined) children.push(checked);
      });
      if (children.length !== list.length) return undefined;
      if (shape === 'all') return { all: children };
      if (shape === 'any') return { any: children };
      const atLeast = value.atLeast;
      if (typeof atLeast !== 'number' || !Number.isInteger(atLeast) || atLeast < 1 || atLeast > children.length) {
        out.add(`${path}.atLeast`, `must be an integer from 1 to ${children.length}, got ${describeValue(atLeast)}`);
        return undefined;
      }
      return { atLeast, of: children };
    }
  }
}

function validateRule(
  value: unknown,
  path: string,
  out: Collector,
  limits: PolicyLimits,
  options: ValidateOptions,
): Rule | undefined {
  if (!isRecord(value)) {
    out.add(path, `must be a rule object, got ${kindOf(value)}`);
    return undefined;
  }
  const before = out.problems.length;
  unknownKeys(value, ['id', 'effect', 'actions', 'when', 'require', 'sensitive', 'description'], path, out);
  const rule: Record<string, unknown> = {};
  const id = text(value.id, `${path}.id`, out, Math.min(limits.maxStringLength, 128));
  if (id !== undefined && !RULE_ID.test(id)) {
    out.add(
      `${path}.id`,
      `must start with a letter or digit and use only letters, digits and \`_ . : / -\`, got \`${id}\``,
    );
  }
  rule.id = id;
  if (value.effect !== 'permit' && value.effect !== 'forbid') {
    out.add(`${path}.effect`, `must be \`permit\` or \`forbid\`, got ${describeValue(value.effect)}`);
  }
  rule.effect = value.effect;
  if (value.actions !== undefined) {
    if (!Array.isArray(value.actions)) {
      out.add(`${path}.actions`, `must be a non-empty list of strings, got ${kindOf(value.actions)}`);
    } else {
      const actions = oneOrMore(value.actions, `${path}.actions`, out, limits, (item, p) =>
        text(item, p, out, limits.maxStringLength),
      );
      if (actions !== undefined) rule.actions = actions;
    }
  }
  if (value.when !== undefined) {
    if (typeof value.when !== 'string')
      out.add(`${path}.when`, `must be an expression string, got ${kindOf(value.when)}`);
    else {
      const exprOptions = options.expressionLimits === undefined ? {} : { limits: options.expressionLimits };
      try {
        compileExpression(value.when, exprOptions);
        rule.when = value.when;
      } catch (error) {
        out.add(`${path}.when`, error instanceof Error ? error.message : String(error));
      }
      if (rule.when !== undefined && value.effect === 'forbid') {
        // a forbid is also evaluated as `!(when)` (see compileNegation), which must fit the limits too
        try {
          compileNegation(value.when, exprOptions);
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          out.add(`${path}.when`, `a forbid's condition must also compile when negated (\`!(...)\`): ${message}`);
        }
      }
    }
  }
  if (value.require !== undefined) {
    const budget = { nodes: limits.maxRequirementNodes };
    rule.require = validateRequirement(value.require, `${path}.require`, out, limits, 1, budget);
  }
  if (value.sensitive !== undefined) {
    if (typeof value.sensitive !== 'boolean') {
      out.add(`${path}.sensitive`, `must be a boolean, got ${kindOf(value.sensitive)}`);
    } else rule.sensitive = value.sensitive;
  }
  if (value.description !== undefined) {
    rule.description = text(value.description, `${path}.description`, out, limits.maxStringLength);
  }
  return out.problems.length === before ? (rule as unknown as Rule) : undefined;
}

/**
 * The negation `!(when)` of a forbid's condition, compiled with the same limits.
 *
 * **A forbid fails closed.** Cedar skips a policy whose condition errors, so in Cedar a forbid
 * whose `when` reads a missing attribute, or compares values of the wrong types, silently stops
 * applying, and a permit gets through. An authentication library must not let a caller lift a
 * forbid by leaving a name out of the context (`frozen`, `role`, ...), so latchkey departs from
 * Cedar here: a forbid whose `when` cannot be evaluated applies, and the decision's reason names
 * the rule and why its condition could not be evaluated. Its `require` (an "unless") still
 * lifts it. A permit whose `when` cannot be evaluated does not apply, as in Cedar.
 *
 * The expression language makes an expression that cannot be evaluated false whatever operators
 * surround it, so `when` and `!(when)` are both false exactly when evaluation failed.
 *
 * @internal
 */
export function compileNegation(when: string, options: Parameters<typeof compileExpression>[1]): Expression {
  return compileExpression(`!(${when})`, options);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/**
 * Check that `json` is a policy and return a deep-frozen, normalised copy. Unknown properties are
 * refused (a misspelt `requires` must not silently drop a requirement). Throws
 * `ERR_INVALID_ARGUMENT` whose message names the first problem by path and whose
 * `detail.problems` lists up to 20 of them; a policy over a limit throws `ERR_LIMIT_EXCEEDED`.
 *
 * @example
 * ```ts
 * import { validatePolicy } from 'latchkey';
 * const policy = validatePolicy(JSON.parse(await readFile('policy.json', 'utf8')));
 * // throws e.g. "rules[2].require.any[0].factor.maxAge: must be a duration such as `5m` or `PT5M`, got `soon`"
 * ```
 */
export function validatePolicy(json: unknown, options: ValidateOptions = {}): Policy {
  const limits = resolvePolicyLimits(options.limits);
  const out = new Collector();
  if (!isRecord(json)) {
    out.add('policy', `must be an object, got ${kindOf(json)}`);
  } else {
    unknownKeys(json, ['$schema', 'version', 'description', 'rules'], 'policy', out);
    if (json.version !== undefined && json.version !== 1) {
      out.add('version', `must be 1, got ${describeValue(json.version)}`);
    }
    if (json.$schema !== undefined && typeof json.$schema !== 'string') out.add('$schema', 'must be a string');
    if (json.description !== undefined) text(json.description, 'description', out, limits.maxStringLength);
    if (!Array.isArray(json.rules)) {
      out.add('rules', `must be a list of rules, got ${kindOf(json.rules)}`);
    } else if (json.rules.length > limits.maxRules) {
      throw new LatchkeyError('ERR_LIMIT_EXCEEDED', `rules: at most ${limits.maxRules} rules are allowed`, {
        limit: 'maxRules',
        max: limits.maxRules,
        actual: json.rules.length,
      });
    } else {
      const seen = new Map<string, number>();
      const rules: Rule[] = [];
      json.rules.forEach((value, i) => {
        const rule = validateRule(value, `rules[${i}]`, out, limits, options);
        if (rule === undefined) return;
        const earlier = seen.get(rule.id);
        if (earlier !== undefined) out.add(`rules[${i}].id`, `duplicates the id of rules[${earlier}], \`${rule.id}\``);
        seen.set(rule.id, i);
        rules.push(rule);
      });
      if (out.problems.length === 0) {
        const policy: Record<string, unknown> = { rules };
        if (json.$schema !== undefined) policy.$schema = json.$schema;
        if (json.version !== undefined) policy.version = json.version;
        if (json.description !== undefined) policy.description = json.description;
        return deepFreeze(policy as unknown as Policy);
      }
    }
  }
  const [first] = out.problems;
  const more = out.problems.length - 1;
  throw new LatchkeyError(
    'ERR_INVALID_ARGUMENT',
    `invalid policy: ${first}${more > 0 ? ` (and ${more} more problem${more === 1 ? '' : 's'})` : ''}`,
    { field: first?.slice(0, first.indexOf(':')) ?? 'policy', problems: out.problems },
  );
}
