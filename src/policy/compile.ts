/**
 * `compilePolicy`: turn a policy into a decision function. Rules are validated, expressions
 * compiled and selectors interned once; `decide` then tests bit masks, allocating little on the
 * allow path. Requirements (bit tests) are checked before conditions (expressions), and a
 * condition is evaluated only when the answer depends on it.
 *
 * @module latchkey
 */
import { type Clock, systemClock } from '../core/clock.js';
import { LatchkeyError } from '../core/errors.js';
import type { Aal, Evidence } from '../core/types.js';
import { describePresented, joinWords } from './describe.js';
import { amrBit, checkEvidence, coercionSafe, factsOf, levelOf, summaryOf, toMillis } from './evidence.js';
import { compileExpression, type Expression, type ExpressionContext, type Verdict } from './expression.js';
import { resolvePolicyLimits, resolveReauthentication } from './limits.js';
import { type CompiledSelector, SelectorTable, weakestEvidence } from './selector.js';
import {
  and,
  atLeast,
  type Candidate,
  type Dnf,
  FALSE,
  finalise,
  LevelCatalogue,
  or,
  reduceTerms,
  TRUE,
} from './step-up.js';
import type {
  Decision,
  DecisionRequest,
  Policy,
  PolicyLimits,
  Reauthentication,
  Requirement,
  Rule,
  StepUpOption,
} from './types.js';
import { compileNegation, type ValidateOptions, validatePolicy } from './validate.js';

/** Options for {@link compilePolicy}. */
export interface CompileOptions extends ValidateOptions {
  /** Used when a request has no `now`; default the system clock. */
  readonly clock?: Clock;
  /** Reauthentication windows for assurance levels; default {@link NIST_REAUTHENTICATION}. */
  readonly reauthentication?: Partial<Reauthentication>;
}

/** How one rule fared in {@link CompiledPolicy.explain}. */
export interface RuleTrace {
  readonly id: string;
  readonly effect: 'permit' | 'forbid';
  /** The action is one of the rule's `actions` (or it has none). */
  readonly considered: boolean;
  /** The `when` verdict, when the rule has one and was considered. */
  readonly when?: Verdict;
  /**
   * A forbid whose `when` could not be evaluated (a name missing from the context, a value of the
   * wrong type): it applies all the same (fail closed), and this says why it could not be evaluated.
   */
  readonly failedClosed?: string;
  /** The rule applies (considered and `when` true, or a forbid whose `when` failed closed). */
  readonly applies: boolean;
  /** Whether `require` (with the coercion-safe knowledge factor for `sensitive` rules) is met; null without one. */
  readonly requirementMet: boolean | null;
  /** For an unmet requirement: what is missing, for a person. */
  readonly missing?: string;
}

/** A decision with the trace of every rule. */
export interface Explanation {
  readonly decision: Decision;
  readonly rules: readonly RuleTrace[];
}

/**
 * A compiled policy.
 *
 * @example
 * ```ts
 * const engine = compilePolicy(policy);
 * const decision = engine.decide({ evidence, action: 'transfer', context: { amount: 250 }, now: Date.now() });
 * if (!decision.allow) showStepUp(decision.stepUp);
 * ```
 */
export interface CompiledPolicy {
  /** The validated, frozen policy. */
  readonly policy: Policy;
  /** Decide one request. Throws `ERR_INVALID_ARGUMENT` only for a malformed request. */
  decide(request: DecisionRequest): Decision;
  /** Decide and report how every rule fared; slower, for debugging and audit. */
  explain(request: DecisionRequest): Explanation;
}

const LEAF = 0;
const LEVEL = 1;
const ALL = 2;
const ANY = 3;
const AT_LEAST = 4;

type Node =
  | { readonly k: typeof LEAF; readonly sel: CompiledSelector }
  | { readonly k: typeof LEVEL; readonly level: 1 | 2 | 3; readonly sensitive: boolean }
  | { readonly k: typeof ALL | typeof ANY; readonly c: readonly Node[] }
  | { readonly k: typeof AT_LEAST; readonly n: number; readonly c: readonly Node[] };

/** A requirement node. Every node has every field, so that `met` sees one object shape. */
function node(
  k: number,
  fields: { sel?: CompiledSelector; level?: 1 | 2 | 3; sensitive?: boolean; c?: readonly Node[]; n?: number },
): Node {
  return {
    k,
    sel: fields.sel ?? null,
    level: fields.level ?? 0,
    sensitive: fields.sensitive ?? false,
    c: fields.c ?? EMPTY,
    n: fields.n ?? 0,
  } as unknown as Node;
}

interface CompiledRule {
  readonly index: number;
  readonly id: string;
  readonly forbid: boolean;
  readonly sensitive: boolean;
  readonly when: Expression | null;
  /** For a forbid with a `when`: `!(when)`, to tell a condition that is false from one that fails. */
  readonly whenNot: Expression | null;
  readonly req: Node | null;
  readonly description: string | undefined;
  /** Smallest `maxAge` in the requirement, to say how old stale evidence is. */
  readonly minMaxAgeMs: number;
  readonly allowReasons: readonly string[];
  readonly self: readonly string[];
}

/** The part of a deny that depends only on the shape of the request (see {@link Engine.denyKey}). */
interface DenyAnswer {
  /** What each blocking forbid with a requirement needs, in order. */
  readonly forbidNeeds: readonly string[];
  /** What each unmet permit needs, in order (only when no forbid blocks). */
  readonly permitNeeds: readonly string[];
  readonly stepUp: readonly StepUpOption[];
}

const EMPTY: readonly never[] = Object.freeze([]);
const EMPTY_CONTEXT: ExpressionContext = Object.freeze({});
/** The names a decision adds to the app's context. */
const BASE_NAMES = new Set(['action', 'now']);
const KNOWLEDGE_LABEL = 'a password or PIN';

/** The shortest time evidence counts for in a requirement: `maxAge`s, and the windows of its levels. */
function collectMaxAge(node: Node | null, windows: Reauthentication): number {
  if (node === null) return Number.POSITIVE_INFINITY;
  switch (node.k) {
    case LEAF:
      return node.sel.maxAgeMs;
    case LEVEL:
      return node.level === 1 ? windows.aal1 : node.level === 2 ? windows.aal2 : windows.aal3;
    default:
      return Math.min(...node.c.map((child) => collectMaxAge(child, windows)));
  }
}

/** The rules that may apply to an action, and whether their expressions see the app's context as is. */
interface Candidates {
  readonly rules: readonly CompiledRule[];
  /** No expression reads `action` or `now`, so the context needs no copy. */
  readonly plain: boolean;
}

function candidatesOf(rules: readonly CompiledRule[]): Candidates {
  const readsBase = rules.some((rule) =>
    rule.when?.paths.some((path) => BASE_NAMES.has(path.split('.', 1)[0] as string)),
  );
  return { rules, plain: !readsBase };
}

/** A permit whose condition does not hold, with the verdict that says why. */
interface NotApplying {
  readonly rule: CompiledRule;
  readonly verdict: Verdict & { satisfied: false };
}

/** Per-decision state, reused between calls (decide is synchronous and never re-entered). */
class Scratch {
  count = 0;
  evidence: readonly Evidence[] = EMPTY;
  now = 0;
  mixed = false;
  masks: Int32Array;
  safeMasks: Int32Array;
  amrs: Int32Array;
  ages: Float64Array;
  factors: string[];
  generation = 0;
  selGen: Uint32Array;
  selVal: Uint8Array;
  summary = -1;
  safeSummary = -1;

  constructor(maxEvidence: number, selectors: number) {
    this.masks = new Int32Array(maxEvidence);
    this.safeMasks = new Int32Array(maxEvidence);
    this.amrs = new Int32Array(maxEvidence);
    this.ages = new Float64Array(maxEvidence);
    this.factors = new Array<string>(maxEvidence).fill('');
    this.selGen = new Uint32Array(selectors);
    this.selVal = new Uint8Array(selectors);
  }
}

/**
 * Deny answers by request shape (a list of integers, see `Engine.denyKey`), at most `capacity`
 * of them, first in first out, so that a stream of new shapes cannot grow it. Shapes are hashed
 * and then compared in full: a collision costs a miss, never a wrong answer.
 */
class DenyCache {
  private readonly buckets = new Map<number, { readonly shape: Int32Array; readonly answer: DenyAnswer }[]>();
  /** The hash of every entry, oldest first. */
  private readonly order: number[] = [];

  constructor(private readonly capacity: number) {}

  private static hash(shape: Int32Array, length: number): number {
    let h = 0x811c9dc5;
    for (let i = 0; i < length; i++) h = Math.imul(h ^ (shape[i] as number), 0x01000193);
    return h & 0x3fffffff; // a small integer: no heap number as a Map key
  }

  get(shape: Int32Array, length: number): DenyAnswer | undefined {
    const bucket = this.buckets.get(DenyCache.hash(shape, length));
    if (bucket === undefined) return undefined;
    next: for (const entry of bucket) {
      if (entry.shape.length !== length) continue;
      for (let i = 0; i < length; i++) if (entry.shape[i] !== shape[i]) continue next;
      return entry.answer;
    }
    return undefined;
  }

  set(shape: Int32Array, length: number, answer: DenyAnswer): void {
    if (this.order.length >= this.capacity) {
      const oldest = this.order.shift() as number;
      const bucket = this.buckets.get(oldest);
      bucket?.shift();
      if (bucket?.length === 0) this.buckets.delete(oldest);
    }
    const hash = DenyCache.hash(shape, length);
    const bucket = this.buckets.get(hash);
    const entry = { shape: shape.slice(0, length), answer };
    if (bucket === undefined) this.buckets.set(hash, [entry]);
    else bucket.push(entry);
    this.order.push(hash);
  }
}

class Engine implements CompiledPolicy {
  readonly policy: Policy;
  private readonly rules: readonly CompiledRule[];
  /** The rules that may apply to each action named in the policy, in policy order. */
  private readonly byAction = new Map<string, Candidates>();
  /** The rules for an action the policy does not name. */
  private readonly generic: Candidates;
  private readonly table = new SelectorTable();
  private readonly catalogue: LevelCatalogue;
  private readonly limits: PolicyLimits;
  private readonly windows: Reauthentication;
  private readonly clock: Clock;
  private readonly scratch: Scratch;
  private readonly denyCache: DenyCache | null;
  /** Scratch for {@link denyKey}: room for every rule's index, four numbers per item, and three more. */
  private readonly shape: Int32Array;
  /** Every finite age limit of a selector or window, ascending (see {@link denyKey}). */
  private readonly thresholds: readonly number[];
  /** Every factor name a selector lists, numbered. */
  private readonly factorIds = new Map<string, number>();

  constructor(policy: Policy, options: CompileOptions) {
    this.policy = policy;
    this.limits = resolvePolicyLimits(options.limits);
    this.windows = resolveReauthentication(options.reauthentication);
    this.clock = options.clock ?? systemClock;
    const exprOptions = options.expressionLimits === undefined ? {} : { limits: options.expressionLimits };
    this.rules = policy.rules.map((rule, index) => this.compileRule(rule, index, exprOptions));
    this.catalogue = new LevelCatalogue(this.table);
    const actions = new Set<string>();
    for (const rule of policy.rules) for (const action of rule.actions ?? []) actions.add(action);
    this.generic = candidatesOf(this.rules.filter((r) => policy.rules[r.index]?.actions === undefined));
    for (const action of actions) {
      const listed = this.rules.filter((r) => {
        const named = policy.rules[r.index]?.actions;
        return named === undefined || named.includes(action);
      });
      this.byAction.set(action, candidatesOf(listed));
    }
    this.scratch = new Scratch(this.limits.maxEvidence, this.table.all.length);
    this.denyCache = this.limits.denyCacheSize === 0 ? null : new DenyCache(this.limits.denyCacheSize);
    this.shape = new Int32Array(3 + this.rules.length + 4 * this.limits.maxEvidence);
    // What `denyKey` reads an item by: every age that a selector or an AAL window compares with,
    // and every factor name that a selector lists (the table is complete once the catalogue is in).
    const ages = new Set<number>([this.windows.aal1, this.windows.aal2, this.windows.aal3]);
    for (const sel of this.table.all) {
      ages.add(sel.maxAgeMs);
      for (const name of sel.factors ?? [])
        if (!this.factorIds.has(name)) this.factorIds.set(name, this.factorIds.size);
    }
    this.thresholds = [...ages].filter(Number.isFinite).sort((a, b) => a - b);
  }

  private compileRule(rule: Rule, index: number, exprOptions: Parameters<typeof compileExpression>[1]): CompiledRule {
    const sensitive = rule.sensitive === true;
    let req = rule.require === undefined ? null : this.compileRequirement(rule.require, sensitive);
    if (sensitive) {
      const knowledge = node(LEAF, { sel: this.table.add({ kind: 'knowledge', label: KNOWLEDGE_LABEL }, true) });
      req = req === null ? knowledge : node(ALL, { c: [req, knowledge] });
    }
    const forbid = rule.effect === 'forbid';
    return {
      index,
      id: rule.id,
      forbid,
      sensitive,
      when: rule.when === undefined ? null : compileExpression(rule.when, exprOptions),
      whenNot: rule.when === undefined || !forbid ? null : compileNegation(rule.when, exprOptions),
      req,
      description: rule.description,
      minMaxAgeMs: collectMaxAge(req, this.windows),
      allowReasons: Object.freeze([`allowed by rule \`${rule.id}\``]),
      self: Object.freeze([rule.id]),
    };
  }

  private compileRequirement(req: Requirement, sensitive: boolean): Node {
    if ('factor' in req) return node(LEAF, { sel: this.table.add(req.factor, sensitive) });
    if ('aal' in req) return node(LEVEL, { level: req.aal, sensitive });
    if ('all' in req) return node(ALL, { c: req.all.map((r) => this.compileRequirement(r, sensitive)) });
    if ('any' in req) return node(ANY, { c: req.any.map((r) => this.compileRequirement(r, sensitive)) });
    return node(AT_LEAST, { n: req.atLeast, c: req.of.map((r) => this.compileRequirement(r, sensitive)) });
  }

  // ---- evidence --------------------------------------------------------------------------

  /**
   * Check the request's evidence and reduce each item to its facts, in one pass. Anything
   * `checkEvidence` would refuse is handed to it for the error it throws.
   */
  private load(input: unknown, now: number): readonly Evidence[] {
    const max = this.limits.maxEvidence;
    if (!Array.isArray(input) || input.length > max) return invalidEvidence(input, max);
    const s = this.scratch;
    s.evidence = input;
    s.now = now;
    s.generation = (s.generation + 1) >>> 0;
    if (s.generation === 0) {
      s.selGen.fill(0);
      s.generation = 1;
    }
    s.summary = -1;
    s.safeSummary = -1;
    s.mixed = false;
    s.count = 0;
    const skew = this.limits.maxClockSkewMs;
    let subject: unknown;
    for (let n = 0; n < input.length; n++) {
      const item = input[n] as Evidence | null;
      if (typeof item !== 'object' || item === null) return invalidEvidence(input, max);
      const at = item.at;
      const amr = item.amr;
      if (
        typeof item.factor !== 'string' ||
        typeof item.subject !== 'string' ||
        typeof at !== 'number' ||
        !Number.isFinite(at) ||
        !Array.isArray(amr) ||
        amr.length > 64 ||
        !stringsOnly(item.kinds) ||
        !flags(item)
      ) {
        return invalidEvidence(input, max);
      }
      let amrs = 0;
      for (const value of amr) {
        if (typeof value !== 'string') return invalidEvidence(input, max);
        amrs |= amrBit(value);
      }
      if (n === 0) subject = item.subject;
      else if (item.subject !== subject) s.mixed = true;
      const age = now - at;
      if (s.mixed || age < -skew) continue;
      const facts = factsOf(item);
      const i = s.count++;
      s.masks[i] = facts;
      s.safeMasks[i] = coercionSafe(facts);
      s.amrs[i] = amrs;
      s.ages[i] = Math.max(age, 0);
      s.factors[i] = item.factor;
    }
    if (s.mixed) s.count = 0;
    return input;
  }

  private matches(sel: CompiledSelector): boolean {
    const s = this.scratch;
    if (s.selGen[sel.id] === s.generation) return s.selVal[sel.id] === 1;
    let found = false;
    if (!sel.impossible) {
      const masks = sel.sensitive ? s.safeMasks : s.masks;
      for (let i = 0; i < s.count; i++) {
        if (
          ((masks[i] as number) & sel.mask) === sel.value &&
          ((s.amrs[i] as number) & sel.amr) === sel.amr &&
          (s.ages[i] as number) <= sel.maxAgeMs &&
          (sel.factors === null || sel.factors.includes(s.factors[i] as string))
        ) {
          found = true;
          break;
        }
      }
    }
    s.selGen[sel.id] = s.generation;
    s.selVal[sel.id] = found ? 1 : 2;
    return found;
  }

  /** The AAL summary of the loaded evidence in one view (as `summarize` computes it, from the facts already loaded). */
  private summaryFor(sensitive: boolean): number {
    const s = this.scratch;
    if (s.mixed) return 0;
    const cached = sensitive ? s.safeSummary : s.summary;
    if (cached >= 0) return cached;
    const masks = sensitive ? s.safeMasks : s.masks;
    const w = this.windows;
    let summary = 0;
    for (let i = 0; i < s.count; i++) {
      const age = s.ages[i] as number;
      summary |= summaryOf(masks[i] as number, age <= w.aal1, age <= w.aal2, age <= w.aal3);
    }
    if (sensitive) s.safeSummary = summary;
    else s.summary = summary;
    return summary;
  }

  private met(node: Node): boolean {
    switch (node.k) {
      case LEAF:
        return this.matches(node.sel);
      case LEVEL:
        return levelOf(this.summaryFor(node.sensitive)) >= node.level;
      case ALL:
        for (const child of node.c) if (!this.met(child)) return false;
        return true;
      case ANY:
        for (const child of node.c) if (this.met(child)) return true;
        return false;
      default: {
        let count = 0;
        let left = node.c.length;
        for (const child of node.c) {
          if (this.met(child) && ++count >= node.n) return true;
          if (count + --left < node.n) return false;
        }
        return false;
      }
    }
  }

  private missing(node: Node): Dnf {
    const cap = this.limits.maxStepUpTerms;
    switch (node.k) {
      case LEAF:
        if (this.matches(node.sel)) return TRUE;
        return node.sel.impossible ? FALSE : [[node.sel.id]];
      case LEVEL: {
        const summary = this.summaryFor(node.sensitive);
        if (levelOf(summary) >= node.level) return TRUE;
        return this.catalogue.options(node.level, node.sensitive, summary);
      }
      case ALL: {
        let acc: Dnf = TRUE;
        for (const child of node.c) {
          acc = and(acc, this.missing(child), cap);
          if (acc.length === 0) break;
        }
        return acc;
      }
      case ANY: {
        let acc: Dnf = FALSE;
        for (const child of node.c) {
          const d = this.missing(child);
          if (d === TRUE) return TRUE;
          acc = or(acc, d, cap);
        }
        return acc;
      }
      default:
        return atLeast(
          node.n,
          node.c.map((child) => this.missing(child)),
          cap,
        );
    }
  }

  // ---- deciding --------------------------------------------------------------------------

  /** What expressions see (the request's context, checked by `checkContext`). */
  private context(request: DecisionRequest, now: number, plain: boolean): ExpressionContext {
    const context = request.context;
    if (context === undefined) return plain ? EMPTY_CONTEXT : { action: request.action, now: this.date(now) };
    // no copy when no expression reads `action` or `now`
    if (plain) return context;
    // properties first, then the spread: V8 clones a spread fast but slows down on properties added after it
    return { action: request.action, now: this.date(now), ...context };
  }

  private lastDate = new Date(0);

  /** `now` as a Date for expressions, reused while the time is the same (expressions never mutate it). */
  private date(now: number): Date {
    if (this.lastDate.getTime() !== now) this.lastDate = new Date(now);
    return this.lastDate;
  }

  decide(request: DecisionRequest): Decision {
    return this.run(request, null);
  }

  explain(request: DecisionRequest): Explanation {
    const rules: RuleTrace[] = [];
    const decision = this.run(request, rules);
    return { decision, rules };
  }

  /** The items of a term for a person: `"your fob and a password or PIN"`. */
  private phrase(term: readonly number[]): string {
    const words: string[] = [];
    for (const id of term) {
      const word = this.table.all[id]?.phrase ?? '';
      if (!words.includes(word)) words.push(word);
    }
    return joinWords(words, 'and');
  }

  /**
   * What a requirement still needs, for a person: its terms without items that another item of
   * the same term implies, without terms that hold another, fewest items first, at most three,
   * e.g. `"your fob, or a password or PIN and a replay-resistant physical authenticator"`.
   */
  private needs(dnf: Dnf): string {
    if (dnf.length === 0) return 'evidence that cannot be presented';
    const reduced = reduceTerms(
      dnf.map((term) => ({ term, rule: 0 })),
      this.table,
    );
    const shown: string[] = [];
    for (const { term } of finalise(reduced, this.table, this.limits.maxStepUpOptions)) {
      const words = this.phrase(term);
      if (!shown.includes(words)) shown.push(words);
      if (shown.length === 3) break;
    }
    return shown.join(', or ');
  }

  private run(request: DecisionRequest, trace: RuleTrace[] | null): Decision {
    if (typeof request !== 'object' || request === null) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'request must be an object', { field: 'request' });
    }
    const action = request.action;
    if (typeof action !== 'string' || action.length === 0 || action.length > this.limits.maxStringLength) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'request.action must be a non-empty string', { field: 'action' });
    }
    const now = request.now === undefined ? this.clock.now() : toMillis(request.now, 'request.now');
    checkContext(request.context);
    const evidence = this.load(request.evidence, now);
    const s = this.scratch;
    const { rules: candidates, plain } = this.byAction.get(action) ?? this.generic;
    let context: ExpressionContext | null = null;

    if (s.mixed) {
      return {
        allow: false,
        decidedBy: null,
        determining: EMPTY,
        reasons: ['the evidence belongs to more than one subject, so none of it counts'],
        aal: 0,
        stepUp: EMPTY,
      };
    }

    let firstForbid: CompiledRule | null = null;
    let forbids: CompiledRule[] | null = null;
    let unconditional = false;
    let firstPermit: CompiledRule | null = null;
    let permits: CompiledRule[] | null = null;
    let unmet: CompiledRule[] | null = null;
    // verdicts, not reasons: a false verdict writes its reason only when read, and at most three are
    let notApplying: NotApplying[] | null = null;
    let failedClosed: Map<CompiledRule, string> | null = null;

    let deferred: CompiledRule[] | null = null;

    for (const rule of candidates) {
      let ok: boolean | null = null;
      if (rule.req !== null) {
        ok = this.met(rule.req);
        // Requirements are cheap bit tests, conditions are not, so they go first. A forbid whose
        // requirement is met is lifted whatever its condition says; a permit whose requirement is
        // unmet cannot allow, and its condition matters only to a deny's step-up answer.
        if (trace === null && ok === rule.forbid) {
          if (!rule.forbid) {
            deferred ??= [];
            deferred.push(rule);
          }
          continue;
        }
      }
      let verdict: Verdict | undefined;
      let failure: string | undefined;
      if (rule.when !== null) {
        if (context === null) context = this.context(request, now, plain);
        // Fail closed (see compileNegation): a forbid is tested through `!(when)` first, so the
        // usual case, a forbid that does not apply, costs one evaluation. When both `!(when)` and
        // `when` are false, the condition could not be evaluated, and the forbid applies.
        if (rule.whenNot?.evaluate(context).satisfied === true) {
          if (trace !== null) this.traceNotApplying(trace, rule, rule.when.evaluate(context));
          continue;
        }
        verdict = rule.when.evaluate(context);
        if (!verdict.satisfied) {
          if (rule.forbid) {
            failure = verdict.reason;
            failedClosed ??= new Map();
            failedClosed.set(rule, failure);
          } else {
            if (trace !== null) this.traceNotApplying(trace, rule, verdict);
            notApplying ??= [];
            notApplying.push({ rule, verdict });
            continue;
          }
        }
      }
      if (trace !== null) {
        const entry: RuleTrace = {
          id: rule.id,
          effect: rule.forbid ? 'forbid' : 'permit',
          considered: true,
          ...(verdict === undefined ? {} : { when: verdict }),
          ...(failure === undefined ? {} : { failedClosed: failure }),
          applies: true,
          requirementMet: ok,
          ...(ok === false && rule.req !== null ? { missing: this.needs(this.missing(rule.req)) } : {}),
        };
        trace.push(entry);
      }
      if (rule.forbid) {
        if (ok === true) continue;
        if (ok === null) unconditional = true;
        if (firstForbid === null) firstForbid = rule;
        else {
          forbids ??= [firstForbid];
          forbids.push(rule);
        }
      } else if (ok !== false) {
        if (firstPermit === null) firstPermit = rule;
        else {
          permits ??= [firstPermit];
          permits.push(rule);
        }
      } else {
        unmet ??= [];
        unmet.push(rule);
      }
    }
    if (trace !== null) this.finishTrace(trace);

    const aal = levelOf(this.summaryFor(false)) as Aal;
    if (firstForbid === null && firstPermit !== null) {
      return {
        allow: true,
        decidedBy: firstPermit.id,
        determining: permits === null ? firstPermit.self : permits.map((r) => r.id),
        reasons: permits === null ? firstPermit.allowReasons : [...firstPermit.allowReasons],
        aal,
        stepUp: EMPTY,
      };
    }

    if (deferred !== null) {
      // back in policy order, as when every rule is taken in turn: only lists that the loop above
      // already wrote to can be out of order once the deferred rules join them
      const resortUnmet = unmet !== null;
      const resortNotApplying = notApplying !== null;
      // the permits that apply stay in `deferred` (compacted in place) and join `unmet`
      let kept = 0;
      for (const rule of deferred) {
        if (rule.when !== null) {
          context ??= this.context(request, now, plain);
          // `when` first: a permit that is unmet on a deny usually applies (that is what a step-up is for)
          const verdict = rule.when.evaluate(context);
          if (!verdict.satisfied) {
            notApplying ??= [];
            notApplying.push({ rule, verdict });
            continue;
          }
        }
        deferred[kept++] = rule;
      }
      if (kept < deferred.length) deferred.length = kept;
      if (unmet === null) unmet = deferred;
      else for (const rule of deferred) unmet.push(rule);
      if (resortUnmet) unmet.sort(byIndex);
      if (resortNotApplying) notApplying?.sort(byRuleIndex);
    }

    const blocking = forbids ?? (firstForbid === null ? EMPTY : [firstForbid]);
    const applicable = permits ?? (firstPermit === null ? EMPTY : [firstPermit]);
    const unmetRules = unmet ?? EMPTY;
    const cache = this.denyCache;
    const length = cache === null ? 0 : this.denyKey(blocking, applicable, unmetRules, unconditional, evidence.length);
    let answer = cache?.get(this.shape, length);
    if (answer === undefined) {
      answer = this.answerDeny(blocking, firstPermit, applicable, unmetRules, unconditional, evidence, now);
      cache?.set(this.shape, length, answer);
    }
    // No closures here: a closure in `run` would put its locals in a heap context on every call,
    // allow or deny. The Denial keeps what its reasons need and writes them when first read.
    return new Denial(
      firstForbid === null ? null : firstForbid.id,
      firstForbid === null ? EMPTY : forbids === null ? firstForbid.self : forbids.map((r) => r.id),
      aal,
      new DenyFacts(
        this,
        answer,
        action,
        evidence.slice(),
        now,
        firstForbid !== null,
        blocking,
        unmetRules,
        notApplying,
        failedClosed,
      ),
    );
  }

  /** A deny's reasons, for a person (see {@link Denial}). */
  reasonsFor(facts: DenyFacts): string[] {
    const answer = facts.answer;
    const reasons: string[] = [];
    let needed = 0;
    for (const rule of facts.blocking) {
      const failure = facts.failedClosed?.get(rule);
      const because = failure === undefined ? '' : failedClosedReason(rule, failure);
      if (rule.req === null) {
        reasons.push(
          failure === undefined
            ? `forbidden by rule \`${rule.id}\`${rule.description === undefined ? '' : `: ${rule.description}`}`
            : `forbidden by rule \`${rule.id}\`: ${because}`,
        );
        continue;
      }
      reasons.push(
        `needs ${answer.forbidNeeds[needed++]}; you presented ${this.presented(rule, facts)} (rule \`${rule.id}\` forbids otherwise${failure === undefined ? '' : `: ${because}`})`,
      );
    }
    if (!facts.forbidden) {
      facts.unmet.forEach((rule, i) => {
        reasons.push(
          `needs ${answer.permitNeeds[i]}; you presented ${this.presented(rule, facts)} (rule \`${rule.id}\`${rule.sensitive && biometricIn(facts.shown) ? ' never counts a biometric' : ''})`,
        );
      });
      if (facts.unmet.length === 0) {
        reasons.push(`no rule permits \`${facts.action}\` here`);
        for (const item of (facts.notApplying ?? EMPTY).slice(0, 3)) {
          reasons.push(`rule \`${item.rule.id}\` does not apply: ${item.verdict.reason}`);
        }
      }
    }
    return reasons;
  }

  private presented(rule: CompiledRule, facts: DenyFacts): string {
    return describePresented(facts.shown, facts.now, {
      staleAfterMs: rule.minMaxAgeMs,
      maxClockSkewMs: this.limits.maxClockSkewMs,
      verification: rule.sensitive,
    });
  }

  /** Add the rules `run` did not consider to an explanation, in policy order. */
  private finishTrace(trace: RuleTrace[]): void {
    const seen = new Set(trace.map((t) => t.id));
    for (const rule of this.rules) {
      if (seen.has(rule.id)) continue;
      trace.push({
        id: rule.id,
        effect: rule.forbid ? 'forbid' : 'permit',
        considered: false,
        applies: false,
        requirementMet: null,
      });
    }
    trace.sort((a, b) => this.indexOf(a.id) - this.indexOf(b.id));
  }

  /**
   * Write into `this.shape` the part of a request that a deny's step-up answer depends on, and
   * return its length: which rules block, which permits hold or are unmet, how many items were
   * presented (step-up search adds items up to `maxEvidence`), and each loaded item as the
   * selectors see it. Two requests with the same key match every selector and reach every AAL
   * window alike, so they get the same step-up answer, worked out once; reasons that name what
   * was presented are still written for each request.
   */
  private denyKey(
    blocking: readonly CompiledRule[],
    applicable: readonly CompiledRule[],
    unmet: readonly CompiledRule[],
    unconditional: boolean,
    count: number,
  ): number {
    const shape = this.shape;
    const s = this.scratch;
    shape[0] = unconditional ? 1 : 0;
    shape[1] = count;
    shape[2] = s.count;
    let length = 3;
    // indexed loops: these lists are often the frozen EMPTY, where `for...of` is slow
    for (let i = 0; i < blocking.length; i++) shape[length++] = (1 << 20) | (blocking[i] as CompiledRule).index;
    for (let i = 0; i < applicable.length; i++) shape[length++] = (2 << 20) | (applicable[i] as CompiledRule).index;
    for (let i = 0; i < unmet.length; i++) shape[length++] = (3 << 20) | (unmet[i] as CompiledRule).index;
    // Each loaded item as every selector and AAL window sees it: its facts, its amr values, which
    // of the factor names that selectors list it has, and which of their ages it is within.
    const thresholds = this.thresholds;
    for (let i = 0; i < s.count; i++) {
      shape[length++] = s.masks[i] as number;
      shape[length++] = s.amrs[i] as number;
      shape[length++] = this.factorId(s.factors[i] as string);
      const age = s.ages[i] as number;
      let bucket = 0;
      while (bucket < thresholds.length && age > (thresholds[bucket] as number)) bucket++;
      shape[length++] = bucket;
    }
    return length;
  }

  #lastFactor = '';
  #lastFactorId = -1;

  /** The number of a factor name that selectors list, or -1; remembers the last name asked for. */
  private factorId(name: string): number {
    if (name !== this.#lastFactor) {
      this.#lastFactor = name;
      this.#lastFactorId = this.factorIds.get(name) ?? -1;
    }
    return this.#lastFactorId;
  }

  /** The step-up answer of a deny, and what each blocking or unmet rule needs, in words. */
  private answerDeny(
    blocking: readonly CompiledRule[],
    firstPermit: CompiledRule | null,
    applicable: readonly CompiledRule[],
    unmet: readonly CompiledRule[],
    unconditional: boolean,
    evidence: readonly Evidence[],
    now: number,
  ): DenyAnswer {
    const cap = this.limits.maxStepUpTerms;
    const forbidNeeds: string[] = [];
    const permitNeeds: string[] = [];
    let blockDnf: Dnf = TRUE;
    for (const rule of blocking) {
      if (rule.req === null) continue;
      const dnf = this.missing(rule.req);
      blockDnf = and(blockDnf, dnf, cap);
      forbidNeeds.push(this.needs(dnf));
    }
    const stepUp: Candidate[] = [];
    if (blocking.length === 0) {
      for (const rule of unmet) permitNeeds.push(this.needs(this.missing(rule.req as Node)));
    }
    if (!unconditional) {
      if (firstPermit !== null) {
        for (const term of blockDnf) stepUp.push({ term, rule: firstPermit.index });
      } else {
        for (const rule of unmet) {
          const dnf = and(blockDnf, this.missing(rule.req as Node), cap);
          for (const term of dnf) stepUp.push({ term, rule: rule.index });
        }
      }
    }
    const reduced = reduceTerms(stepUp, this.table);
    let verified = reduced;
    if (reduced.some((c) => c.term.length > 1)) {
      const permitting = [...applicable, ...unmet].sort((a, b) => a.index - b.index);
      verified = this.prune(reduced, blocking, permitting, evidence, now);
    }
    const options = finalise(verified, this.table, this.limits.maxStepUpOptions);
    return Object.freeze({
      forbidNeeds,
      permitNeeds,
      stepUp: options.length === 0 ? EMPTY : Object.freeze(options.map((option) => this.option(option))),
    });
  }

  /**
   * Drop items that another item of the same option makes superfluous. Options are built per leaf;
   * an assurance-level leaf's options are computed from the evidence presented, not from the
   * other items of the same option, so "a password" may be redundant next to "a passkey with
   * user verification". Each multi-item option is re-checked by deciding with the weakest
   * evidence its items describe (every variant); this runs only on a deny with such options,
   * and only for options of 2 to 8 items (the variants multiply; see {@link Decision.stepUp}).
   */
  private prune(
    candidates: readonly Candidate[],
    blocking: readonly CompiledRule[],
    applicable: readonly CompiledRule[],
    evidence: readonly Evidence[],
    now: number,
  ): Candidate[] {
    const subject = evidence[0]?.subject ?? 'subject';
    /** The first permit that every presentation of `items` satisfies with no forbid left; -1 if none. */
    const allows = (items: readonly number[]): number => {
      let combos: Evidence[][] = [[]];
      for (const id of items) {
        const variants = weakestEvidence((this.table.all[id] as CompiledSelector).suggestion, now, subject);
        combos = combos.flatMap((prefix) => variants.map((variant) => [...prefix, variant]));
      }
      let permits = applicable;
      for (const combo of combos) {
        const all = evidence.concat(combo);
        if (all.length > this.limits.maxEvidence) return -1;
        this.load(all, now);
        for (const rule of blocking) if (rule.req !== null && !this.met(rule.req)) return -1;
        permits = permits.filter((rule) => rule.req === null || this.met(rule.req));
        if (permits.length === 0) return -1;
      }
      return permits[0]?.index ?? -1;
    };
    const out: Candidate[] = [];
    for (const candidate of candidates) {
      let term = candidate.term;
      if (term.length < 2 || term.length > 8) {
        out.push(candidate);
        continue;
      }
      let rule = allows(term);
      if (rule < 0) continue;
      for (let i = term.length - 1; i >= 0 && term.length > 1; i--) {
        const without = term.filter((_, j) => j !== i);
        const by = allows(without);
        if (by >= 0) {
          term = without;
          rule = by;
        }
      }
      out.push(term === candidate.term ? candidate : { term, rule });
    }
    return out;
  }

  private traceNotApplying(trace: RuleTrace[], rule: CompiledRule, verdict: Verdict): void {
    trace.push({
      id: rule.id,
      effect: rule.forbid ? 'forbid' : 'permit',
      considered: true,
      when: verdict,
      applies: false,
      requirementMet: null,
    });
  }

  private indexOf(id: string): number {
    return this.rules.findIndex((r) => r.id === id);
  }

  /** A step-up option for people; frozen, since deny answers are shared between decisions. */
  private option(candidate: Candidate): StepUpOption {
    const evidence = candidate.term.map((id) => {
      const sel = this.table.all[id] as CompiledSelector;
      return Object.freeze({ selector: sel.suggestion, reason: `add ${sel.phrase}` });
    });
    return Object.freeze({
      evidence: Object.freeze(evidence),
      rule: this.rules[candidate.rule]?.id ?? '',
      reason: `add ${this.phrase(candidate.term)}`,
    });
  }
}

/** Some item's user verification was a biometric. */
function biometricIn(evidence: readonly Evidence[]): boolean {
  return evidence.some((e) => e.userVerified && e.kinds.includes('inherence') && e.kinds.includes('possession'));
}

/** What `checkEvidence` says about evidence that `Engine.load` refused. */
function invalidEvidence(input: unknown, max: number): never {
  checkEvidence(input, max);
  throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'request.evidence is not valid evidence', { field: 'evidence' });
}

/** An array of at most 64 strings (as `checkEvidence` wants `amr` and `kinds`). */
function stringsOnly(value: unknown): boolean {
  if (!Array.isArray(value) || value.length > 64) return false;
  for (const item of value) if (typeof item !== 'string') return false;
  return true;
}

/** The optional boolean flags of an evidence item are booleans when present. */
function flags(item: Evidence): boolean {
  return (
    optionalBoolean(item.phishingResistant) &&
    optionalBoolean(item.hardwareBound) &&
    optionalBoolean(item.userVerified) &&
    optionalBoolean(item.userPresent) &&
    optionalBoolean(item.replayResistant)
  );
}

function optionalBoolean(value: unknown): boolean {
  return value === undefined || typeof value === 'boolean';
}

/** A request's context is an object that leaves `action` and `now` to the request; checked whatever the policy reads. */
function checkContext(context: unknown): void {
  if (context === undefined) return;
  if (typeof context !== 'object' || context === null || Array.isArray(context)) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'request.context must be an object', { field: 'context' });
  }
  if (Object.hasOwn(context, 'action') || Object.hasOwn(context, 'now')) {
    throw new LatchkeyError(
      'ERR_INVALID_ARGUMENT',
      'request.context must not set `action` or `now`; pass them as request.action and request.now',
      { field: 'context' },
    );
  }
}

/**
 * How a forbid that failed closed is explained: its condition, and why it could not be evaluated.
 */
function failedClosedReason(rule: CompiledRule, failure: string): string {
  const source = rule.when?.source ?? '';
  const shown = source.length > 80 ? `${source.slice(0, 79)}…` : source;
  return `its condition \`${shown}\` cannot be evaluated (${failure}), and a forbid that cannot be evaluated applies`;
}

/**
 * Validate and compile a policy. Semantics follow Cedar: default deny; a forbid that applies
 * overrides every permit; rule order never changes allow or deny, only which rule is named and
 * the order of step-up options. One departure, on purpose: a forbid whose `when` cannot be
 * evaluated (a name missing from the context, a value of the wrong type) applies, where Cedar
 * would skip it, so that leaving an attribute out never lifts a forbid (see {@link Rule}).
 *
 * The compiled policy remembers up to `limits.denyCacheSize` step-up answers by the shape of
 * the request, so repeated denials of the same shape skip the step-up search; the answers are
 * the same with or without it.
 *
 * @example
 * ```ts
 * import { compilePolicy } from 'latchkey';
 * const engine = compilePolicy({
 *   rules: [
 *     { id: 'read', effect: 'permit', actions: ['read'], require: { aal: 1 } },
 *     {
 *       id: 'large-transfer',
 *       effect: 'permit',
 *       actions: ['transfer'],
 *       when: 'amount > 100',
 *       require: { all: [{ factor: { factor: 'fob', label: 'your fob' } }, { aal: 2 }] },
 *     },
 *   ],
 * });
 * const decision = engine.decide({ evidence, action: 'transfer', context: { amount: 250 }, now: Date.now() });
 * decision.stepUp[0]?.reason; // 'add your fob'
 * ```
 */
/**
 * A deny whose `reasons` are written on first read (then kept). A class getter rather than a
 * getter in an object literal, which crashed V8's deoptimizer in Node 20.20.
 */
/**
 * A deny. Its reasons are written when first read: an app that only looks at `allow` and
 * `stepUp` does not pay for the sentences. What they describe is fixed when it was decided (the
 * evidence is a copy). One object per deny, no closures.
 */
class Denial implements Decision {
  readonly allow = false;
  readonly stepUp: readonly StepUpOption[];
  #reasons: readonly string[] | null = null;
  #facts: DenyFacts | null;

  constructor(
    readonly decidedBy: string | null,
    readonly determining: readonly string[],
    readonly aal: Aal,
    facts: DenyFacts,
  ) {
    this.stepUp = facts.answer.stepUp;
    this.#facts = facts;
  }

  get reasons(): readonly string[] {
    if (this.#reasons === null) {
      const facts = this.#facts as DenyFacts;
      this.#reasons = facts.engine.reasonsFor(facts);
      this.#facts = null;
    }
    return this.#reasons;
  }

  toJSON(): Decision {
    const { allow, decidedBy, determining, reasons, aal, stepUp } = this;
    return { allow, decidedBy, determining, reasons, aal, stepUp };
  }
}

/** What a deny's reasons describe, fixed when it was decided (the evidence is a copy). */
class DenyFacts {
  constructor(
    readonly engine: Engine,
    readonly answer: DenyAnswer,
    readonly action: string,
    readonly shown: readonly Evidence[],
    readonly now: number,
    readonly forbidden: boolean,
    readonly blocking: readonly CompiledRule[],
    readonly unmet: readonly CompiledRule[],
    readonly notApplying: readonly NotApplying[] | null,
    readonly failedClosed: ReadonlyMap<CompiledRule, string> | null,
  ) {}
}

function byIndex(a: CompiledRule, b: CompiledRule): number {
  return a.index - b.index;
}

function byRuleIndex(a: NotApplying, b: NotApplying): number {
  return a.rule.index - b.rule.index;
}

export function compilePolicy(policy: Policy | unknown, options: CompileOptions = {}): CompiledPolicy {
  const validated = validatePolicy(policy, options);
  return new Engine(validated, options);
}
