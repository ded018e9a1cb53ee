/**
 * Step-up answers: the inclusion-minimal sets of additional evidence that would turn a deny into
 * an allow.
 *
 * A requirement is a monotone formula over leaves (selectors and assurance levels). Given the
 * evidence presented, each selector leaf is met (true), impossible (false) or missing. The
 * missing leaves of the formula are expanded into disjunctive normal form: every term is a set of
 * selectors that, added together, satisfy the requirement. Terms are kept inclusion-minimal
 * (absorption), then a term is dropped when another term with no more items asks only for
 * weaker evidence (a fob is enough, so "a fob with its PIN" is not offered). An unmet assurance
 * level expands into a small catalogue of authenticator shapes searched for the sets (of one or
 * two) that reach it from the current evidence. The work is bounded by `maxStepUpTerms`.
 *
 * @internal
 * @module latchkey
 */
import { levelOf } from './evidence.js';
import type { CompiledSelector, SelectorTable } from './selector.js';
import type { Selector } from './types.js';

/** A set of selector ids, ascending. */
type Term = readonly number[];
/** A disjunction of terms; `[[]]` is true and `[]` is false. */
export type Dnf = readonly Term[];

export const TRUE: Dnf = Object.freeze([Object.freeze([])]) as Dnf;
export const FALSE: Dnf = Object.freeze([]) as Dnf;

function isSubset(small: Term, big: Term): boolean {
  if (small.length > big.length) return false;
  let j = 0;
  for (const item of small) {
    while (j < big.length && (big[j] as number) < item) j++;
    if (j === big.length || big[j] !== item) return false;
    j++;
  }
  return true;
}

function union(a: Term, b: Term): Term {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = a[i];
    const y = b[j];
    if (y === undefined || (x !== undefined && x < y)) {
      out.push(x as number);
      i++;
    } else if (x === undefined || y < x) {
      out.push(y);
      j++;
    } else {
      out.push(x);
      i++;
      j++;
    }
  }
  return out;
}

/** Keep the inclusion-minimal terms, fewest items first (stable), at most `cap`. */
function minimise(terms: readonly Term[], cap: number): Dnf {
  const sorted = [...terms].sort((a, b) => a.length - b.length);
  const kept: Term[] = [];
  for (const term of sorted) {
    if (kept.some((k) => isSubset(k, term))) continue;
    kept.push(term);
    if (kept.length >= cap) break;
  }
  return kept;
}

export function or(a: Dnf, b: Dnf, cap: number): Dnf {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  return minimise([...a, ...b], cap);
}

export function and(a: Dnf, b: Dnf, cap: number): Dnf {
  if (a === TRUE) return b;
  if (b === TRUE) return a;
  if (a.length === 0 || b.length === 0) return FALSE;
  const out: Term[] = [];
  for (const x of a) {
    for (const y of b) {
      out.push(union(x, y));
      if (out.length >= cap * 4) break;
    }
  }
  return minimise(out, cap);
}

/** At least `n` of `children`: dynamic programming over the children, bounded like and/or. */
export function atLeast(n: number, children: readonly Dnf[], cap: number): Dnf {
  let f: Dnf[] = [TRUE];
  for (let k = 1; k <= n; k++) f.push(FALSE);
  for (const child of children) {
    const next: Dnf[] = [TRUE];
    for (let k = 1; k <= n; k++) next.push(or(f[k] as Dnf, and(f[k - 1] as Dnf, child, cap), cap));
    f = next;
  }
  return f[n] as Dnf;
}

/**
 * The shapes an unmet assurance level can be reached with, made explicit for each view. Labels
 * are for people; constraints are what counts.
 */
const CATALOGUE: readonly Selector[] = [
  {},
  { kind: 'knowledge' },
  { kind: 'possession', replayResistant: true },
  { kind: 'possession', userVerified: true, replayResistant: true },
  { kind: 'possession', hardwareBound: true, phishingResistant: true, replayResistant: true },
  { kind: 'possession', hardwareBound: true, phishingResistant: true, replayResistant: true, userVerified: true },
];

/** Step-up options for assurance levels, per view and current AAL summary. */
export class LevelCatalogue {
  private readonly entries: readonly [CompiledSelector[], CompiledSelector[]];
  private readonly cache = new Map<number, Dnf>();

  constructor(table: SelectorTable) {
    this.entries = [
      CATALOGUE.map((selector) => table.add(selector, false)),
      CATALOGUE.map((selector) => table.add(selector, true)),
    ];
  }

  /** The minimal sets (of at most two catalogue entries) that lift `summary` to `level`. */
  options(level: number, sensitive: boolean, summary: number): Dnf {
    const key = level * 4096 + (sensitive ? 2048 : 0) + summary;
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached;
    const entries = this.entries[sensitive ? 1 : 0].filter((e) => !e.impossible);
    const terms: Term[] = [];
    const single = new Set<number>();
    for (const entry of entries) {
      if (levelOf(summary | entry.contribution) >= level) {
        terms.push([entry.id]);
        single.add(entry.id);
      }
    }
    for (let i = 0; i < entries.length; i++) {
      const a = entries[i] as CompiledSelector;
      if (single.has(a.id)) continue;
      for (let j = i + 1; j < entries.length; j++) {
        const b = entries[j] as CompiledSelector;
        if (single.has(b.id)) continue;
        if (levelOf(summary | a.contribution | b.contribution) >= level)
          terms.push(a.id < b.id ? [a.id, b.id] : [b.id, a.id]);
      }
    }
    const result = minimise(terms, 64);
    this.cache.set(key, result);
    return result;
  }
}

/** A candidate answer: a term and the permit it would satisfy, in discovery order. */
export interface Candidate {
  readonly term: Term;
  readonly rule: number;
}

/**
 * Drop every item that another item of the same term implies: one fob with its PIN is also "a
 * factor". Of two equivalent items the first is kept.
 */
export function reduceTerms(candidates: readonly Candidate[], table: SelectorTable): Candidate[] {
  const selectors = table.all;
  return candidates.map((candidate) => {
    const term = candidate.term;
    if (term.length < 2) return candidate;
    const kept = term.filter((y, yi) =>
      term.every((x, xi) => {
        if (xi === yi) return true;
        const sx = selectors[x] as CompiledSelector;
        const sy = selectors[y] as CompiledSelector;
        return !table.implies(sx, sy) || (xi > yi && table.implies(sy, sx));
      }),
    );
    return kept.length === term.length ? candidate : { term: kept, rule: candidate.rule };
  });
}

/**
 * Merge candidates from several permits: inclusion-minimal across all of them, then drop any term
 * for which another term, no larger, asks only for weaker evidence. Sorted by size, then rule
 * order, then discovery order; at most `max`.
 */
export function finalise(candidates: readonly Candidate[], table: SelectorTable, max: number): Candidate[] {
  const selectors = table.all;
  const ordered = candidates
    .map((candidate, seq) => ({ candidate, seq }))
    .sort(
      (x, y) =>
        x.candidate.term.length - y.candidate.term.length || x.candidate.rule - y.candidate.rule || x.seq - y.seq,
    )
    .map((x) => x.candidate);
  const minimal: Candidate[] = [];
  for (const candidate of ordered) {
    if (minimal.some((kept) => isSubset(kept.term, candidate.term))) continue;
    minimal.push(candidate);
  }
  const dominates = (weaker: Term, stronger: Term): boolean =>
    weaker.length <= stronger.length &&
    weaker.every((w) =>
      stronger.some((s) => table.implies(selectors[s] as CompiledSelector, selectors[w] as CompiledSelector)),
    );
  const out: Candidate[] = [];
  for (let i = 0; i < minimal.length; i++) {
    const x = minimal[i] as Candidate;
    let dropped = false;
    for (let j = 0; j < minimal.length && !dropped; j++) {
      if (i === j) continue;
      const y = minimal[j] as Candidate;
      if (dominates(y.term, x.term) && !(j > i && dominates(x.term, y.term))) dropped = true;
    }
    if (!dropped) out.push(x);
    if (out.length >= max) break;
  }
  return out;
}
