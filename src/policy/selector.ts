/**
 * Selectors compiled to bit tests. Each selector is compiled once per view (normal or
 * coercion-safe) and interned by its constraints, so that the same requirement in two rules is
 * one step-up item, and step-up answers can compare items by strength.
 *
 * @module latchkey
 */
import type { Evidence, FactorKind } from '../core/types.js';
import { describeSelector } from './describe.js';
import { tryParseDuration } from './duration.js';
import {
  amrMask,
  coercionSafe,
  F_FACTOR,
  F_HARDWARE_BOUND,
  F_INHERENCE,
  F_KNOWLEDGE,
  F_PHISHING_RESISTANT,
  F_POSSESSION,
  F_REPLAY_RESISTANT,
  F_USER_VERIFIED,
  factsOf,
  summaryOf,
} from './evidence.js';
import type { Selector } from './types.js';

/** A selector ready to test evidence. */
export interface CompiledSelector {
  readonly id: number;
  /** Canonical constraints, label and view; equal keys mean equal selectors. */
  readonly key: string;
  /** What a person must add: the constraints made explicit for the view, with the label. */
  readonly suggestion: Selector;
  /** A noun phrase, e.g. `"your fob"`. */
  readonly phrase: string;
  readonly sensitive: boolean;
  /** No evidence can ever match (e.g. a biometric in a coercion-safe rule). */
  readonly impossible: boolean;
  readonly factors: readonly string[] | null;
  readonly amr: number;
  /** Bits tested, and the values they must have (always includes {@link F_FACTOR}). */
  readonly mask: number;
  readonly value: number;
  readonly maxAgeMs: number;
  /** AAL summary bits that any evidence matching this selector is sure to contribute (when fresh). */
  readonly contribution: number;
}

function asList<T>(value: T | readonly T[] | undefined): T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? [...(value as readonly T[])] : [value as T];
}

const KIND_BIT: Readonly<Record<FactorKind, number>> = {
  knowledge: F_KNOWLEDGE,
  possession: F_POSSESSION,
  inherence: F_INHERENCE,
};
const KIND_ORDER: readonly FactorKind[] = ['possession', 'knowledge', 'inherence'];

/**
 * Make a selector's implied constraints explicit for a view: inherence only exists as user
 * verification on a possession proof, knowledge on a possession proof only as user verification,
 * and in the coercion-safe view user verification on a possession proof must be a knowledge factor.
 * Returns undefined when the constraints contradict each other.
 */
function normalise(selector: Selector, sensitive: boolean): Selector | undefined {
  const kinds = new Set(asList(selector.kind));
  let userVerified = selector.userVerified;
  if (kinds.has('inherence')) {
    if (sensitive) return undefined;
    kinds.add('possession');
    if (userVerified === false) return undefined;
    userVerified = true;
  }
  if (kinds.has('knowledge') && kinds.has('possession')) {
    if (userVerified === false) return undefined;
    userVerified = true;
  }
  if (sensitive && userVerified === true) kinds.add('knowledge');
  const out: Record<string, unknown> = {};
  if (selector.factor !== undefined) out.factor = [...new Set(asList(selector.factor))].sort();
  if (selector.amr !== undefined) out.amr = [...new Set(asList(selector.amr))].sort();
  if (kinds.size > 0) out.kind = KIND_ORDER.filter((k) => kinds.has(k));
  if (selector.phishingResistant !== undefined) out.phishingResistant = selector.phishingResistant;
  if (selector.hardwareBound !== undefined) out.hardwareBound = selector.hardwareBound;
  if (userVerified !== undefined) out.userVerified = userVerified;
  if (selector.replayResistant !== undefined) out.replayResistant = selector.replayResistant;
  if (selector.maxAge !== undefined) out.maxAge = selector.maxAge;
  return out as Selector;
}

/**
 * The weakest evidence that matches a (normalised) selector: only what it demands holds. Without a
 * kind, both a knowledge and a possession variant exist; an answer must hold for each.
 */
export function weakestEvidence(selector: Selector, at: number, subject = 'subject'): Evidence[] {
  const kinds = asList(selector.kind);
  const variants: FactorKind[][] = kinds.length > 0 ? [kinds] : [['knowledge'], ['possession']];
  return variants.map((variant) => ({
    // an empty name matches no `factor` constraint (validation refuses empty names)
    factor: asList(selector.factor)[0] ?? '',
    subject,
    authenticatorId: 'step-up',
    amr: asList(selector.amr),
    kinds: variant,
    phishingResistant: selector.phishingResistant === true,
    hardwareBound: selector.hardwareBound === true,
    userVerified: selector.userVerified === true,
    userPresent: true,
    replayResistant: selector.replayResistant === true,
    at,
  }));
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** Interns compiled selectors by key. */
export class SelectorTable {
  readonly all: CompiledSelector[] = [];
  private readonly byKey = new Map<string, CompiledSelector>();
  private readonly implied = new Map<number, boolean>();

  /** Compile `selector` for a view (or return the interned copy). */
  add(selector: Selector, sensitive: boolean): CompiledSelector {
    const normal = normalise(selector, sensitive);
    const label = selector.label === undefined ? '' : JSON.stringify(selector.label);
    const key = `${sensitive ? 's' : 'n'}${normal === undefined ? '!impossible' : JSON.stringify(normal)}${label}`;
    const existing = this.byKey.get(key);
    if (existing !== undefined) return existing;
    const suggestion: Selector = deepFreeze(
      normal === undefined ? selector : selector.label === undefined ? normal : { ...normal, label: selector.label },
    );
    let mask = F_FACTOR;
    let value = F_FACTOR;
    for (const kind of asList(normal?.kind)) {
      mask |= KIND_BIT[kind];
      value |= KIND_BIT[kind];
    }
    const flags: readonly [keyof Selector, number][] = [
      ['phishingResistant', F_PHISHING_RESISTANT],
      ['hardwareBound', F_HARDWARE_BOUND],
      ['userVerified', F_USER_VERIFIED],
      ['replayResistant', F_REPLAY_RESISTANT],
    ];
    for (const [name, bit] of flags) {
      const flag = normal?.[name];
      if (flag === undefined) continue;
      mask |= bit;
      if (flag === true) value |= bit;
    }
    let contribution = -1;
    if (normal !== undefined) {
      for (const variant of weakestEvidence(normal, 0)) {
        const facts = sensitive ? coercionSafe(factsOf(variant)) : factsOf(variant);
        contribution &= summaryOf(facts, true, true, true);
      }
    }
    const compiled: CompiledSelector = {
      id: this.all.length,
      key,
      suggestion,
      phrase: describeSelector(suggestion),
      sensitive,
      impossible: normal === undefined,
      factors: normal?.factor === undefined ? null : asList(normal.factor),
      amr: amrMask(asList(normal?.amr)),
      mask,
      value,
      maxAgeMs: normal?.maxAge === undefined ? Number.POSITIVE_INFINITY : (tryParseDuration(normal.maxAge) ?? 0),
      contribution: normal === undefined ? 0 : contribution,
    };
    this.byKey.set(key, compiled);
    this.all.push(compiled);
    return compiled;
  }

  /** True when every evidence matching `a` also matches `b` (a is at least as strong). */
  implies(a: CompiledSelector, b: CompiledSelector): boolean {
    if (a === b) return true;
    const cacheKey = a.id * 65_536 + b.id;
    const cached = this.implied.get(cacheKey);
    if (cached !== undefined) return cached;
    const result =
      !a.impossible &&
      !b.impossible &&
      (b.mask & a.mask) === b.mask &&
      (a.value & b.mask) === b.value &&
      (a.amr & b.amr) === b.amr &&
      a.maxAgeMs <= b.maxAgeMs &&
      factorsWithin(a.factors, b.factors);
    this.implied.set(cacheKey, result);
    return result;
  }
}

/** Every factor `inner` allows is one `outer` allows (null allows any factor). */
function factorsWithin(inner: readonly string[] | null, outer: readonly string[] | null): boolean {
  if (outer === null) return true;
  if (inner === null) return false;
  return inner.every((factor) => outer.includes(factor));
}

/** True when some evidence can match `selector` in the given view. */
export function selectorPossible(selector: Selector, sensitive: boolean): boolean {
  return normalise(selector, sensitive) !== undefined;
}
