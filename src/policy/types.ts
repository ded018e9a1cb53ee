/**
 * The policy language as data: rules, requirements, selectors, and the Decision a compiled
 * policy returns. Policies are plain, JSON-serialisable objects; {@link validatePolicy} checks
 * one read from outside and {@link compilePolicy} turns it into a fast decision function.
 *
 * @module latchkey
 */
import type { Aal, Amr, Evidence, FactorKind, FactorName } from '../core/types.js';
import type { ExpressionContext } from './expression.js';

/**
 * A length of time: `"90s"`, `"5m"`, `"1h30m"`, `"12h"`, `"30d"`, `"250ms"`, or ISO-8601
 * (`"PT5M"`, `"P1DT12H"`).
 */
export type Duration = string;

/** One value or a non-empty list of values. */
export type OneOrMore<T> = T | readonly T[];

/**
 * Matches one piece of evidence. Every field given must hold; an omitted field matches
 * anything. A list in `factor` means any one of them; a list in `amr` or `kind` means all of
 * them.
 *
 * @example
 * ```ts
 * import type { Selector } from 'latchkey';
 * const freshFob: Selector = { factor: 'fob', hardwareBound: true, maxAge: '5m', label: 'your fob' };
 * ```
 */
export interface Selector {
  /** The factor that produced the evidence (any of these). */
  readonly factor?: OneOrMore<FactorName>;
  /** RFC 8176 method references the evidence must carry (all of these). */
  readonly amr?: OneOrMore<Amr>;
  /** Factor kinds the evidence must demonstrate (all of these). */
  readonly kind?: OneOrMore<FactorKind>;
  readonly phishingResistant?: boolean;
  readonly hardwareBound?: boolean;
  readonly userVerified?: boolean;
  readonly replayResistant?: boolean;
  /** Freshness: the evidence must be at most this old when the decision is made. */
  readonly maxAge?: Duration;
  /** How a person names what this selector asks for, e.g. `"your fob"`; used in step-up answers. */
  readonly label?: string;
}

/**
 * What evidence a rule needs: one selector, all of several, any of several, at least `n` of
 * several, or an authenticator assurance level.
 *
 * @example
 * ```ts
 * import type { Requirement } from 'latchkey';
 * // fob AND (password OR biometric)
 * const req: Requirement = {
 *   all: [{ factor: { factor: 'fob' } }, { any: [{ factor: { kind: 'knowledge' } }, { factor: { kind: 'inherence' } }] }],
 * };
 * ```
 */
export type Requirement =
  | { readonly factor: Selector }
  | { readonly all: readonly Requirement[] }
  | { readonly any: readonly Requirement[] }
  | { readonly atLeast: number; readonly of: readonly Requirement[] }
  | { readonly aal: 1 | 2 | 3 };

/**
 * One rule. A rule applies when the action is one of `actions` (if given) and `when` (if given)
 * is true. A permit that applies allows when its `require` is met. A forbid that applies denies
 * unless its `require` is met: for a forbid, `require` reads as Cedar's `unless`. A forbid that
 * applies overrides every permit.
 *
 * When `when` cannot be evaluated (a name missing from the context, a value of the wrong type),
 * a permit does not apply and a forbid does (fail closed, unlike Cedar, which skips both): leaving
 * `frozen` out of the context must not lift `frozen == true`. The decision's reason names the
 * forbid and why its condition could not be evaluated.
 *
 * `sensitive` marks a coercion-safe rule: it never counts a biometric as a factor (neither
 * inherence nor biometric user verification) and it needs a knowledge factor (a password or an
 * authenticator PIN) in addition to whatever `require` asks.
 *
 * @example
 * ```ts
 * import type { Rule } from 'latchkey';
 * const rule: Rule = {
 *   id: 'large-transfer',
 *   effect: 'permit',
 *   actions: ['transfer'],
 *   when: 'amount > 100',
 *   require: { all: [{ factor: { factor: 'fob', label: 'your fob' } }, { aal: 2 }] },
 * };
 * ```
 */
export interface Rule {
  readonly id: string;
  readonly effect: 'permit' | 'forbid';
  /** Actions this rule is about; omitted means every action. */
  readonly actions?: readonly string[];
  /** An expression over the request context (`action`, `now`, and the app's own names). */
  readonly when?: string;
  readonly require?: Requirement;
  readonly sensitive?: boolean;
  /** A sentence for people, used in reasons (e.g. why a forbid applied). */
  readonly description?: string;
}

/**
 * A policy: an ordered list of rules. Order only makes answers stable (which rule is named as
 * deciding, the order of step-up options); it never changes allow or deny.
 *
 * @example
 * ```ts
 * import { compilePolicy, type Policy } from 'latchkey';
 * const policy: Policy = { rules: [{ id: 'read', effect: 'permit', actions: ['read'], require: { aal: 1 } }] };
 * const engine = compilePolicy(policy);
 * ```
 */
export interface Policy {
  readonly $schema?: string;
  readonly version?: 1;
  readonly description?: string;
  readonly rules: readonly Rule[];
}

/** What to decide about. */
export interface DecisionRequest {
  /** Verified evidence, as factors return it. Evidence from more than one subject never combines. */
  readonly evidence: readonly Evidence[];
  /** The action asked for; also visible to expressions as `action`. */
  readonly action: string;
  /** The app's names for expressions (`amount`, `resource.owner`, ...); must not set `action` or `now`. */
  readonly context?: ExpressionContext;
  /** The decision time in ms since the epoch (or a Date); defaults to the compile-time clock. */
  readonly now?: number | Date;
}

/** One piece of additional evidence that a step-up asks for. */
export interface StepUpItem {
  /** What the evidence must match (already strengthened for coercion-safe rules). */
  readonly selector: Selector;
  /** For a person, e.g. `"add your fob"`. */
  readonly reason: string;
}

/** A set of additional evidence that, presented together, turns a deny into an allow. */
export interface StepUpOption {
  readonly evidence: readonly StepUpItem[];
  /** The permit that would then allow. */
  readonly rule: string;
  /** For a person: the items joined, e.g. `"add your fob and a password"`. */
  readonly reason: string;
}

/**
 * The answer. `decidedBy` is the first satisfied permit (allow), the first applying forbid
 * (deny), or null for the default deny. `determining` lists every rule that determined the
 * outcome, as Cedar's `diagnostics.reason` does. `stepUp` holds the inclusion-minimal sets of
 * additional evidence that would allow, fewest items first, then in policy order; it is empty
 * when the request is allowed or when no evidence could help. Every option allows once presented;
 * options of more than 8 items (only from very large requirements) are not checked item by item
 * for redundancy (that check decides every combination of the items' weakest forms), so one of
 * their items may be superfluous.
 */
export interface Decision {
  readonly allow: boolean;
  readonly decidedBy: string | null;
  readonly determining: readonly string[];
  readonly reasons: readonly string[];
  readonly aal: Aal;
  readonly stepUp: readonly StepUpOption[];
}

/**
 * How long authentication counts toward each level, in ms (NIST SP 800-63B-4 reauthentication:
 * §2.1.3 AAL1 30 days, §2.2.3 AAL2 24 hours, §2.3.3 AAL3 12 hours).
 */
export interface Reauthentication {
  readonly aal1: number;
  readonly aal2: number;
  readonly aal3: number;
}

/** Bounds on what a policy and a request may cost. */
export interface PolicyLimits {
  /** Most rules in one policy. */
  readonly maxRules: number;
  /** Deepest nesting of `all` / `any` / `atLeast`. */
  readonly maxRequirementDepth: number;
  /** Most requirement nodes in one rule. */
  readonly maxRequirementNodes: number;
  /** Most entries in a list (`actions`, `factor`, `amr`, `kind`, `all`, `any`, `of`). */
  readonly maxListItems: number;
  /** Longest rule id, action, label or description, in characters. */
  readonly maxStringLength: number;
  /** Most evidence items in one request. */
  readonly maxEvidence: number;
  /** Most step-up options a decision returns. */
  readonly maxStepUpOptions: number;
  /** Most candidate terms kept while computing step-up options (bounds the work on a deny). */
  readonly maxStepUpTerms: number;
  /** Evidence dated further than this into the future (clock skew, ms) is ignored. */
  readonly maxClockSkewMs: number;
  /**
   * How many step-up answers a compiled policy remembers, keyed by the shape of the request
   * (which rules apply, which selectors the evidence matches, the assurance levels reached), so
   * that repeated denials of the same shape skip the step-up search; 0 turns this off.
   */
  readonly denyCacheSize: number;
}
