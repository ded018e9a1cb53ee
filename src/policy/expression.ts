/**
 * The expression language shared by policy `when` clauses and delegation caveats: one small,
 * total, safe language, compiled once to closures.
 *
 * ```text
 * expression := or
 * or         := and ( "||" and )*
 * and        := compare ( "&&" compare )*
 * compare    := sum ( ( "==" | "!=" | "<" | "<=" | ">" | ">=" | "in" ) sum )?
 * sum        := unary ( ( "+" | "-" ) unary )*
 * unary      := "!" unary | "-" unary | primary
 * primary    := number | string | "true" | "false" | instant | duration | list | path | "(" expression ")"
 * list       := "[" ( literal ( "," literal )* )? "]"
 * path       := name ( "." name )*          e.g. amount, resource.owner, now
 * ```
 *
 * - Numbers: `10`, `2.5`, `-3`. Strings: `"corner-store"` or `'x'`, with `\" \' \\ \n \r \t \uXXXX`.
 * - Instants (ISO 8601): `2035-01-01`, `2035-01-01T00:00`, `2035-01-01T00:00:00.250Z`,
 *   `2035-01-01T09:00+02:00`. Without an offset an instant is UTC (unlike JavaScript's `Date`,
 *   which would read it as local time: a caveat must mean the same thing on every server).
 *   Context values that are `Date` objects are instants.
 * - Durations: compact (`90s`, `5m`, `1h30m`, `250ms`, `7d`) or ISO 8601 (`PT5M`, `P1D`).
 *   `instant ± duration` is an instant, so `auth_time + 5m > now` says "within five minutes".
 * - Lists hold literals only: `action in ["buy", "sell"]`. `x in path` tests membership in a
 *   list from the context.
 * - `&&` and `||` short-circuit; a comparison chain (`a < b < c`) is a syntax error.
 *
 * There are no function calls, regular expressions, loops or assignments, and every input is
 * bounded ({@link ExpressionLimits}), so evaluation is linear in the expression's size.
 *
 * **Fail closed.** A name missing from the context, a `null`, a value of the wrong type (a
 * string compared with a number, `NaN`, a list where a scalar belongs) makes the whole
 * expression false with a reason, whatever operators surround it: `!(amount > 5)` is false,
 * not true, when `amount` is missing. Mismatches that the compiler can already see (`5 < "a"`,
 * `!3`, a non-boolean expression) are `ERR_EXPRESSION_SYNTAX` at compile time. Names are own
 * properties only (`Object.hasOwn`); `__proto__`, `constructor` and `prototype` are refused.
 *
 * The conventional macaroon caveat `time < 2035-01-01T00:00` is an ordinary expression here: a
 * verifier binds `time` to its clock.
 *
 * @example
 * ```ts
 * import { compileExpression } from 'latchkey';
 * const rule = compileExpression('merchant == "corner-store" && amount <= 10');
 * rule.evaluate({ merchant: 'corner-store', amount: 4 }); // { satisfied: true }
 * rule.evaluate({ merchant: 'corner-store', amount: 40 });
 * // { satisfied: false, reason: '`amount <= 10` is false (amount is 40)' }
 * ```
 *
 * @module latchkey
 */
import { LatchkeyError } from '../core/errors.js';
import { tryParseDuration } from './duration.js';

/** Bounds on an expression's source and shape. */
export interface ExpressionLimits {
  /** Characters of source. Default 4,096. */
  readonly maxLength: number;
  /** Nesting of parentheses, lists and unary operators. Default 32. */
  readonly maxDepth: number;
  /** Items in one list literal. Default 256. */
  readonly maxListItems: number;
  /** Literals, names and operators in all. Default 1,024. */
  readonly maxNodes: number;
}

const DEFAULT_LIMITS: ExpressionLimits = Object.freeze({
  maxLength: 4096,
  maxDepth: 32,
  maxListItems: 256,
  maxNodes: 1024,
});

/** Ceilings on the limits themselves, so a configuration cannot ask for an unbounded parse. */
const LIMIT_CEILINGS: ExpressionLimits = Object.freeze({
  maxLength: 1_048_576,
  maxDepth: 256,
  maxListItems: 65_536,
  maxNodes: 262_144,
});

/** A value an expression can read from its context. */
export type ContextValue =
  | string
  | number
  | boolean
  | Date
  | null
  | undefined
  | readonly ContextValue[]
  | { readonly [key: string]: ContextValue };

/** The names an expression can read: `action`, `now`, `amount`, `resource.owner`, ... */
export type ExpressionContext = { readonly [name: string]: ContextValue };

/** The outcome of evaluating an expression. */
export type Verdict = { readonly satisfied: true } | { readonly satisfied: false; readonly reason: string };

/** A compiled expression. Immutable; evaluate it as often as you like. */
export interface Expression {
  /** The source text it was compiled from. */
  readonly source: string;
  /** Every dotted name it reads, once each, in order of first appearance. */
  readonly paths: readonly string[];
  /** True or false with a reason. Never throws for any context. */
  evaluate(context: ExpressionContext): Verdict;
}

// ------------------------------------------------------------------ values

/** A duration at run time (milliseconds), distinct from a plain number. */
class Duration {
  constructor(readonly ms: number) {}
}

type Kind = 'number' | 'string' | 'boolean' | 'instant' | 'duration' | 'list';
/** A static type: a kind, or `any` for a name whose value is only known at run time. */
type Type = Kind | 'any';

type Value = number | string | boolean | Date | Duration | readonly unknown[];

/** Thrown inside evaluation, caught by `evaluate`: the expression is false for this reason. */
class Failure {
  constructor(readonly reason: string) {}
}

const ARTICLE: Record<Kind, string> = {
  number: 'a number',
  string: 'a string',
  boolean: 'true or false',
  instant: 'an instant',
  duration: 'a duration',
  list: 'a list',
};

function kindOf(value: unknown): Kind | undefined {
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) ? 'number' : undefined;
    case 'string':
      return 'string';
    case 'boolean':
      return 'boolean';
    case 'object':
      if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : 'instant';
      if (value instanceof Duration) return 'duration';
      if (Array.isArray(value)) return 'list';
      return undefined;
    default:
      return undefined;
  }
}

function describeValue(value: unknown): string {
  const kind = kindOf(value);
  switch (kind) {
    case 'number':
      return String(value);
    case 'string': {
      const text = value as string;
      return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
    }
    case 'boolean':
      return String(value);
    case 'instant':
      return (value as Date).toISOString();
    case 'duration':
      return `${(value as Duration).ms} ms`;
    case 'list':
      return `a list of ${(value as readonly unknown[]).length}`;
    default:
      if (typeof value === 'number') return String(value);
      if (value === null) return 'null';
      return Array.isArray(value) ? 'a list' : typeof value === 'object' ? 'an object' : typeof value;
  }
}

/** A comparable primitive for a value of a known kind: instants and durations as milliseconds. */
function scalar(value: Value): number | string | boolean {
  if (value instanceof Date) return value.getTime();
  if (value instanceof Duration) return value.ms;
  return value as number | string | boolean;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a instanceof Date) return b instanceof Date && a.getTime() === b.getTime();
  if (a instanceof Duration) return b instanceof Duration && a.ms === b.ms;
  return a === b;
}

// ------------------------------------------------------------------ lexer

type TokenType = 'number' | 'string' | 'boolean' | 'instant' | 'duration' | 'name' | 'op' | 'end';

interface Token {
  readonly type: TokenType;
  readonly text: string;
  readonly start: number;
  readonly end: number;
  readonly value?: Value;
}

const FORBIDDEN_NAMES = new Set(['__proto__', 'constructor', 'prototype']);
const KEYWORDS = new Set(['true', 'false', 'in']);
const NAME = /[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*/y;
const INSTANT_PARTS = String.raw`(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?`;
const INSTANT = new RegExp(`${INSTANT_PARTS}(?![A-Za-z0-9_:.])`, 'y');
const INSTANT_TEXT = new RegExp(`^${INSTANT_PARTS}$`);
const NUMBER = /\d+(?:\.\d+)?(?:[A-Za-z][A-Za-z0-9]*)?/y;
const OPERATORS = ['==', '!=', '<=', '>=', '&&', '||', '<', '>', '!', '(', ')', '[', ']', ',', '+', '-'];
const ISO_DURATION = /^P(?:\d+D)?(?:T(?:\d+H)?(?:\d+M)?(?:\d+S)?)?$/;

function syntaxError(source: string, position: number, message: string): LatchkeyError {
  const from = Math.max(0, position - 20);
  const excerpt = source.slice(from, position + 20).replace(/\s/g, ' ');
  const caret = `${' '.repeat(position - from)}^`;
  return new LatchkeyError('ERR_EXPRESSION_SYNTAX', `${message} at position ${position}\n  ${excerpt}\n  ${caret}`, {
    position,
  });
}

function daysInMonth(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] ?? 0;
}

function parseInstant(match: RegExpExecArray): number | undefined {
  const [, y, mo, d, h = '00', mi = '00', s = '00', fraction = '', zone = 'Z'] = match;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offset = 0;
  if (zone !== 'Z') {
    const oh = Number(zone.slice(1, 3));
    const om = Number(zone.slice(4, 6));
    if (oh > 23 || om > 59) return undefined;
    offset = (oh * 60 + om) * 60_000 * (zone[0] === '-' ? -1 : 1);
  }
  const ms = Number(fraction.padEnd(3, '0').slice(0, 3));
  const utc = new Date(0);
  utc.setUTCFullYear(year, month - 1, day);
  utc.setUTCHours(hour, minute, second, ms);
  return utc.getTime() - offset;
}

/**
 * An ISO 8601 instant as the language reads it (no offset means UTC), in ms since the epoch; or
 * undefined when the whole of `text` is not one. Shared with the credential caveat forms.
 */
export function parseInstantText(text: string): number | undefined {
  const match = INSTANT_TEXT.exec(text);
  if (match === null) return undefined;
  const ms = parseInstant(match);
  return ms !== undefined && Number.isFinite(ms) ? ms : undefined;
}

const ESCAPES: Record<string, string> = { '"': '"', "'": "'", '\\': '\\', n: '\n', r: '\r', t: '\t', '/': '/' };

function lex(source: string, limits: ExpressionLimits): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const n = source.length;
  while (i < n) {
    const c = source.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13) {
      i++;
      continue;
    }
    if (tokens.length >= limits.maxNodes * 2) {
      throw new LatchkeyError('ERR_LIMIT_EXCEEDED', `expression has more than ${limits.maxNodes} terms`, {
        limit: 'maxNodes',
        position: i,
      });
    }
    const start = i;
    const ch = source[i] as string;
    if (ch >= '0' && ch <= '9') {
      INSTANT.lastIndex = i;
      const instant = INSTANT.exec(source);
      if (instant !== null) {
        const ms = parseInstant(instant);
        if (ms === undefined || !Number.isFinite(ms))
          throw syntaxError(source, start, `\`${instant[0]}\` is not a valid instant`);
        i = INSTANT.lastIndex;
        tokens.push({ type: 'instant', text: instant[0], start, end: i, value: new Date(ms) });
        continue;
      }
      NUMBER.lastIndex = i;
      const match = NUMBER.exec(source) as RegExpExecArray;
      const text = match[0];
      i = NUMBER.lastIndex;
      if (/[A-Za-z]/.test(text)) {
        const ms = tryParseDuration(text);
        if (ms === undefined)
          throw syntaxError(
            source,
            start,
            `\`${text}\` is neither a number nor a duration (use 90s, 5m, 1h30m, 250ms, 7d)`,
          );
        tokens.push({ type: 'duration', text, start, end: i, value: new Duration(ms) });
        continue;
      }
      const value = Number(text);
      if (text.length > 32 || !Number.isFinite(value) || (!text.includes('.') && !Number.isSafeInteger(value))) {
        throw syntaxError(source, start, `\`${text.slice(0, 40)}\` is not a number latchkey can compare exactly`);
      }
      tokens.push({ type: 'number', text, start, end: i, value });
      continue;
    }
    if (ch === '"' || ch === "'") {
      let value = '';
      i++;
      for (;;) {
        if (i >= n) throw syntaxError(source, start, 'unterminated string');
        const k = source[i] as string;
        if (k === ch) {
          i++;
          break;
        }
        if (k.charCodeAt(0) < 0x20)
          throw syntaxError(source, i, 'a control character inside a string (write \\n, \\t, ...)');
        if (k === '\\') {
          const e = source[i + 1];
          if (e === 'u') {
            const hex = source.slice(i + 2, i + 6);
            if (!/^[0-9A-Fa-f]{4}$/.test(hex)) throw syntaxError(source, i, 'bad \\u escape (need four hex digits)');
            value += String.fromCharCode(Number.parseInt(hex, 16));
            i += 6;
            continue;
          }
          const replacement = e === undefined ? undefined : ESCAPES[e];
          if (replacement === undefined) throw syntaxError(source, i, `unknown escape \\${e ?? ''}`);
          value += replacement;
          i += 2;
          continue;
        }
        value += k;
        i++;
      }
      tokens.push({ type: 'string', text: source.slice(start, i), start, end: i, value });
      continue;
    }
    NAME.lastIndex = i;
    const name = NAME.exec(source);
    if (name !== null) {
      const text = name[0];
      i = NAME.lastIndex;
      if (text === 'true' || text === 'false') {
        tokens.push({ type: 'boolean', text, start, end: i, value: text === 'true' });
        continue;
      }
      if (text === 'in') {
        tokens.push({ type: 'op', text, start, end: i });
        continue;
      }
      if (ISO_DURATION.test(text)) {
        const ms = tryParseDuration(text);
        if (ms !== undefined) {
          tokens.push({ type: 'duration', text, start, end: i, value: new Duration(ms) });
          continue;
        }
      }
      let offset = start;
      for (const segment of text.split('.')) {
        if (FORBIDDEN_NAMES.has(segment)) throw syntaxError(source, offset, `\`${segment}\` cannot be used as a name`);
        if (KEYWORDS.has(segment)) throw syntaxError(source, offset, `\`${segment}\` is a keyword, not a name`);
        offset += segment.length + 1;
      }
      tokens.push({ type: 'name', text, start, end: i });
      continue;
    }
    const op = OPERATORS.find((o) => source.startsWith(o, i));
    if (op === undefined) {
      if (ch === '=') throw syntaxError(source, start, 'a single `=` (compare with `==`)');
      if (ch === '&' || ch === '|') throw syntaxError(source, start, `a single \`${ch}\` (write \`${ch}${ch}\`)`);
      throw syntaxError(source, start, `unexpected character \`${ch}\``);
    }
    i += op.length;
    tokens.push({ type: 'op', text: op, start, end: i });
  }
  tokens.push({ type: 'end', text: '', start: n, end: n });
  return tokens;
}

// ------------------------------------------------------------------ parser and compiler

type Fn = (context: ExpressionContext) => unknown;

interface Node {
  readonly type: Type;
  readonly fn: Fn;
  readonly start: number;
  readonly end: number;
  /** Set when the node is a literal: its value, for constant lists and fast comparisons. */
  readonly literal?: Value;
  /** Set when the node is a name. */
  readonly path?: string;
  /** Set on `&&` nodes: the operands, so a false result can name the conjunct that failed. */
  readonly conjuncts?: readonly Node[];
}

/** A name as it stands in the source, with its reader. */
interface NameUse {
  readonly path: string;
  readonly start: number;
  readonly read: Fn;
}

const COMPARISONS = new Set(['==', '!=', '<', '<=', '>', '>=', 'in']);
const ORDERED = new Set<Type>(['number', 'string', 'instant', 'duration', 'any']);

function fail(reason: string): never {
  throw new Failure(reason);
}

function readPath(path: string): Fn {
  const segments = path.split('.');
  const missing = `unknown name \`${path}\``;
  if (segments.length === 1) {
    return (context) => {
      if (Object.hasOwn(context, path)) {
        const value = context[path];
        if (value !== undefined && value !== null) return value;
      }
      return fail(missing);
    };
  }
  return (context) => {
    let value: unknown = context;
    for (const segment of segments) {
      if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Date)
        return fail(missing);
      if (!Object.hasOwn(value, segment)) return fail(missing);
      value = (value as Record<string, unknown>)[segment];
    }
    if (value === undefined || value === null) return fail(missing);
    return value;
  };
}

class Parser {
  private index = 0;
  private nodes = 0;
  private depth = 0;
  readonly paths: string[] = [];
  /** Every name read, with where it stands, so a false result can show the values it compared. */
  readonly names: NameUse[] = [];

  constructor(
    private readonly source: string,
    private readonly tokens: readonly Token[],
    private readonly limits: ExpressionLimits,
  ) {}

  parse(): Node {
    const root = this.or();
    const next = this.peek();
    if (next.type !== 'end') {
      throw syntaxError(this.source, next.start, `unexpected \`${next.text}\` (expected an operator or the end)`);
    }
    if (root.type !== 'boolean' && root.type !== 'any') {
      throw syntaxError(
        this.source,
        root.start,
        `an expression must be a condition (true or false), not ${ARTICLE[root.type]}`,
      );
    }
    return root;
  }

  private peek(): Token {
    return this.tokens[this.index] as Token;
  }

  private take(): Token {
    const token = this.tokens[this.index] as Token;
    if (token.type !== 'end') this.index++;
    return token;
  }

  private count(at: number): void {
    if (++this.nodes > this.limits.maxNodes) {
      throw new LatchkeyError('ERR_LIMIT_EXCEEDED', `expression has more than ${this.limits.maxNodes} terms`, {
        limit: 'maxNodes',
        position: at,
      });
    }
  }

  private enter(at: number): void {
    if (++this.depth > this.limits.maxDepth) {
      throw new LatchkeyError('ERR_LIMIT_EXCEEDED', `expression nests deeper than ${this.limits.maxDepth}`, {
        limit: 'maxDepth',
        position: at,
      });
    }
  }

  private expectType(node: Node, want: Type, what: string): void {
    if (node.type !== 'any' && node.type !== want) {
      throw syntaxError(this.source, node.start, `${what} needs ${ARTICLE[want as Kind]}, not ${ARTICLE[node.type]}`);
    }
  }

  private text(node: Node): string {
    return this.source.slice(node.start, node.end);
  }

  private or(): Node {
    const operands = [this.and()];
    while (this.peek().text === '||' && this.peek().type === 'op') {
      this.count(this.take().start);
      operands.push(this.and());
    }
    if (operands.length === 1) return operands[0] as Node;
    const fns = operands.map((node) => {
      this.expectType(node, 'boolean', '`||`');
      return this.boolean(node);
    });
    const start = (operands[0] as Node).start;
    const end = (operands[operands.length - 1] as Node).end;
    return {
      type: 'boolean',
      start,
      end,
      fn: (c) => {
        for (let i = 0; i < fns.length; i++) if ((fns[i] as (c: ExpressionContext) => boolean)(c)) return true;
        return false;
      },
    };
  }

  private and(): Node {
    const operands = [this.compare()];
    while (this.peek().text === '&&' && this.peek().type === 'op') {
      this.count(this.take().start);
      operands.push(this.compare());
    }
    if (operands.length === 1) return operands[0] as Node;
    const fns = operands.map((node) => {
      this.expectType(node, 'boolean', '`&&`');
      return this.boolean(node);
    });
    const start = (operands[0] as Node).start;
    const end = (operands[operands.length - 1] as Node).end;
    return {
      type: 'boolean',
      start,
      end,
      conjuncts: operands,
      fn: (c) => {
        for (let i = 0; i < fns.length; i++) if (!(fns[i] as (c: ExpressionContext) => boolean)(c)) return false;
        return true;
      },
    };
  }

  /** The node's closure, checked to return a boolean when its type is only known at run time. */
  private boolean(node: Node): (c: ExpressionContext) => boolean {
    const fn = node.fn;
    if (node.type === 'boolean') return fn as (c: ExpressionContext) => boolean;
    const text = this.text(node);
    return (c) => {
      const value = fn(c);
      if (typeof value === 'boolean') return value;
      return fail(`\`${text}\` is ${describeValue(value)}, not true or false`);
    };
  }

  private compare(): Node {
    const left = this.sum();
    const token = this.peek();
    if (token.type !== 'op' || !COMPARISONS.has(token.text)) return left;
    this.take();
    this.count(token.start);
    const right = this.sum();
    const after = this.peek();
    if (after.type === 'op' && COMPARISONS.has(after.text)) {
      throw syntaxError(
        this.source,
        after.start,
        `comparisons do not chain; write \`a ${token.text} b && b ${after.text} c\``,
      );
    }
    const node = token.text === 'in' ? this.membership(left, right) : this.comparison(token.text, left, right);
    return { ...node, start: left.start, end: right.end };
  }

  private comparison(op: string, left: Node, right: Node): Omit<Node, 'start' | 'end'> {
    if (left.type !== 'any' && right.type !== 'any' && left.type !== right.type) {
      throw syntaxError(
        this.source,
        right.start,
        `\`${op}\` compares ${ARTICLE[left.type]} with ${ARTICLE[right.type]}`,
      );
    }
    const known = left.type !== 'any' ? left.type : right.type;
    if (op !== '==' && op !== '!=' && !ORDERED.has(known)) {
      throw syntaxError(this.source, left.start, `\`${op}\` cannot order ${ARTICLE[known as Kind]}`);
    }
    if (known === 'list') throw syntaxError(this.source, left.start, `\`${op}\` cannot compare lists (use \`in\`)`);
    const leftText = this.text(left);
    const rightText = this.text(right);
    const a = left.fn;
    const b = right.fn;
    // Fast path: a name against a number literal (`amount <= 100`), the common policy shape.
    if (right.literal !== undefined && typeof right.literal === 'number' && left.type === 'any') {
      const k = right.literal;
      const check = (c: ExpressionContext): number => {
        const v = a(c);
        if (typeof v === 'number' && Number.isFinite(v)) return v;
        return fail(`\`${leftText}\` is ${describeValue(v)}, compared with a number`);
      };
      return { type: 'boolean', fn: numberComparison(op, check, k) };
    }
    // Fast path: a name tested for equality with a string or boolean literal (`role == "guest"`,
    // `frozen == true`). Same verdicts and reasons as the general path below, without its pair.
    const k = right.literal;
    if ((op === '==' || op === '!=') && left.type === 'any' && (typeof k === 'string' || typeof k === 'boolean')) {
      const kind = typeof k;
      const equal = op === '==';
      return {
        type: 'boolean',
        fn: (c) => {
          const v = a(c);
          if (typeof v === kind) return (v === k) === equal;
          return fail(
            `type mismatch: \`${leftText}\` is ${describeValue(v)} and \`${rightText}\` is ${describeValue(k)}`,
          );
        },
      };
    }
    const operands = (c: ExpressionContext): [number | string | boolean, number | string | boolean] => {
      const x = a(c);
      const y = b(c);
      const kx = kindOf(x);
      const ky = kindOf(y);
      const orderable = op === '==' || op === '!=' ? kx !== 'list' : kx !== 'list' && kx !== 'boolean';
      if (kx === undefined || kx !== ky || !orderable) {
        return fail(
          `type mismatch: \`${leftText}\` is ${describeValue(x)} and \`${rightText}\` is ${describeValue(y)}`,
        );
      }
      return [scalar(x as Value), scalar(y as Value)];
    };
    switch (op) {
      case '==':
        return {
          type: 'boolean',
          fn: (c) => {
            const [x, y] = operands(c);
            return x === y;
          },
        };
      case '!=':
        return {
          type: 'boolean',
          fn: (c) => {
            const [x, y] = operands(c);
            return x !== y;
          },
        };
      case '<':
        return {
          type: 'boolean',
          fn: (c) => {
            const [x, y] = operands(c);
            return x < y;
          },
        };
      case '<=':
        return {
          type: 'boolean',
          fn: (c) => {
            const [x, y] = operands(c);
            return x <= y;
          },
        };
      case '>':
        return {
          type: 'boolean',
          fn: (c) => {
            const [x, y] = operands(c);
            return x > y;
          },
        };
      default:
        return {
          type: 'boolean',
          fn: (c) => {
            const [x, y] = operands(c);
            return x >= y;
          },
        };
    }
  }

  private membership(left: Node, right: Node): Omit<Node, 'start' | 'end'> {
    if (right.type !== 'list' && right.type !== 'any') {
      throw syntaxError(this.source, right.start, `\`in\` needs a list on its right, not ${ARTICLE[right.type]}`);
    }
    if (left.type === 'list')
      throw syntaxError(this.source, left.start, '`in` needs a single value on its left, not a list');
    const leftText = this.text(left);
    const rightText = this.text(right);
    const a = left.fn;
    const scalar = (c: ExpressionContext): unknown => {
      const v = a(c);
      const k = kindOf(v);
      if (k === undefined || k === 'list') return fail(`\`${leftText}\` is ${describeValue(v)}, not a single value`);
      return v;
    };
    const items = right.literal as readonly unknown[] | undefined;
    if (items !== undefined) {
      const kinds = new Set(items.map(kindOf));
      const only = kinds.size === 1 ? [...kinds][0] : undefined;
      if (only !== undefined && left.type !== 'any' && left.type !== only) {
        throw syntaxError(this.source, left.start, `\`in\` looks for ${ARTICLE[left.type]} in a list of ${only}s`);
      }
      if (only === 'string' || only === 'number' || only === 'boolean') {
        const set = new Set(items);
        return {
          type: 'boolean',
          fn: (c) => {
            const v = scalar(c);
            if (typeof v !== only)
              return fail(`\`${leftText}\` is ${describeValue(v)}, looked for in a list of ${only}s`);
            return set.has(v);
          },
        };
      }
      return { type: 'boolean', fn: (c) => contains(items, scalar(c)) };
    }
    const b = right.fn;
    return {
      type: 'boolean',
      fn: (c) => {
        const v = scalar(c);
        const list = b(c);
        if (!Array.isArray(list)) return fail(`\`${rightText}\` is ${describeValue(list)}, not a list`);
        return contains(list, v);
      },
    };
  }

  private sum(): Node {
    let left = this.unary();
    for (;;) {
      const token = this.peek();
      if (token.type !== 'op' || (token.text !== '+' && token.text !== '-')) return left;
      this.take();
      this.count(token.start);
      const right = this.unary();
      left = this.arithmetic(token.text, left, right);
    }
  }

  private arithmetic(op: string, left: Node, right: Node): Node {
    const start = left.start;
    const end = right.end;
    const l = left.type;
    const r = right.type;
    // The result type when both sides are known; `any` otherwise.
    let type: Type = 'any';
    if (l !== 'any' && r !== 'any') {
      if (l === 'number' && r === 'number') type = 'number';
      else if (l === 'instant' && r === 'duration') type = 'instant';
      else if (l === 'duration' && r === 'duration') type = 'duration';
      else if (l === 'duration' && r === 'instant' && op === '+') type = 'instant';
      else
        throw syntaxError(
          this.source,
          right.start,
          `cannot ${op === '+' ? 'add' : 'subtract'} ${ARTICLE[r]} ${op === '+' ? 'to' : 'from'} ${ARTICLE[l]}`,
        );
    } else if (l === 'string' || r === 'string' || l === 'boolean' || r === 'boolean' || l === 'list' || r === 'list') {
      const bad = [l, r].find((t) => t === 'string' || t === 'boolean' || t === 'list') as Kind;
      throw syntaxError(this.source, start, `\`${op}\` does not apply to ${ARTICLE[bad]}`);
    }
    const text = this.source.slice(start, end);
    const a = left.fn;
    const b = right.fn;
    const sign = op === '+' ? 1 : -1;
    const fn: Fn = (c) => {
      const x = a(c);
      const y = b(c);
      if (typeof x === 'number' && typeof y === 'number') {
        const v = x + sign * y;
        return Number.isFinite(v) ? v : fail(`\`${text}\` is not a finite number`);
      }
      if (x instanceof Date && y instanceof Duration) return instant(x.getTime() + sign * y.ms, text);
      if (x instanceof Duration && y instanceof Duration) return new Duration(x.ms + sign * y.ms);
      if (x instanceof Duration && y instanceof Date && sign === 1) return instant(y.getTime() + x.ms, text);
      return fail(`cannot compute \`${text}\`: ${describeValue(x)} ${op} ${describeValue(y)}`);
    };
    return { type, fn, start, end };
  }

  private unary(): Node {
    const token = this.peek();
    if (token.type === 'op' && (token.text === '!' || token.text === '-')) {
      this.take();
      this.count(token.start);
      this.enter(token.start);
      const operand = this.unary();
      this.depth--;
      const end = operand.end;
      if (token.text === '!') {
        this.expectType(operand, 'boolean', '`!`');
        const f = this.boolean(operand);
        return { type: 'boolean', start: token.start, end, fn: (c) => !f(c) };
      }
      if (operand.literal instanceof Duration) {
        const value = new Duration(-operand.literal.ms);
        return { type: 'duration', start: token.start, end, fn: () => value, literal: value };
      }
      if (typeof operand.literal === 'number') {
        const value = -operand.literal;
        return { type: 'number', start: token.start, end, fn: () => value, literal: value };
      }
      this.expectType(operand, 'number', 'unary `-`');
      const text = this.source.slice(token.start, end);
      const f = operand.fn;
      return {
        type: 'number',
        start: token.start,
        end,
        fn: (c) => {
          const v = f(c);
          return typeof v === 'number' && Number.isFinite(v)
            ? -v
            : fail(`\`${text}\` needs a number, got ${describeValue(v)}`);
        },
      };
    }
    return this.primary();
  }

  private primary(): Node {
    const token = this.take();
    this.count(token.start);
    switch (token.type) {
      case 'number':
      case 'string':
      case 'boolean':
      case 'instant':
      case 'duration': {
        const value = token.value as Value;
        return { type: token.type, start: token.start, end: token.end, fn: () => value, literal: value };
      }
      case 'name': {
        if (!this.paths.includes(token.text)) this.paths.push(token.text);
        const read = readPath(token.text);
        this.names.push({ path: token.text, start: token.start, read });
        return { type: 'any', start: token.start, end: token.end, fn: read, path: token.text };
      }
      case 'end':
        throw syntaxError(this.source, token.start, 'unexpected end of expression');
      default:
        break;
    }
    if (token.text === '(') {
      this.enter(token.start);
      const inner = this.or();
      this.depth--;
      const close = this.take();
      if (close.text !== ')' || close.type !== 'op') throw syntaxError(this.source, close.start, 'expected `)`');
      return { ...inner, start: token.start, end: close.end };
    }
    if (token.text === '[') return this.list(token);
    throw syntaxError(this.source, token.start, `unexpected \`${token.text}\``);
  }

  private list(open: Token): Node {
    this.enter(open.start);
    const items: Value[] = [];
    if (!(this.peek().type === 'op' && this.peek().text === ']')) {
      for (;;) {
        const item = this.unary();
        if (item.literal === undefined) {
          throw syntaxError(this.source, item.start, 'a list holds literals only (numbers, strings, instants, ...)');
        }
        if (items.length >= this.limits.maxListItems) {
          throw new LatchkeyError('ERR_LIMIT_EXCEEDED', `a list has more than ${this.limits.maxListItems} items`, {
            limit: 'maxListItems',
            position: item.start,
          });
        }
        items.push(item.literal);
        const sep = this.take();
        if (sep.type === 'op' && sep.text === ']') {
          this.depth--;
          return this.listNode(items, open.start, sep.end);
        }
        if (sep.type !== 'op' || sep.text !== ',') throw syntaxError(this.source, sep.start, 'expected `,` or `]`');
      }
    }
    this.take();
    this.depth--;
    return this.listNode(items, open.start, this.tokens[this.index - 1]?.end ?? open.end);
  }

  private listNode(items: Value[], start: number, end: number): Node {
    const value = Object.freeze(items);
    return { type: 'list', start, end, fn: () => value, literal: value };
  }
}

function instant(ms: number, text: string): Date {
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms) : fail(`\`${text}\` is out of range`);
}

function contains(list: readonly unknown[], value: unknown): boolean {
  for (const item of list) if (sameValue(item, value)) return true;
  return false;
}

function numberComparison(op: string, get: (c: ExpressionContext) => number, k: number): Fn {
  switch (op) {
    case '==':
      return (c) => get(c) === k;
    case '!=':
      return (c) => get(c) !== k;
    case '<':
      return (c) => get(c) < k;
    case '<=':
      return (c) => get(c) <= k;
    case '>':
      return (c) => get(c) > k;
    default:
      return (c) => get(c) >= k;
  }
}

function resolveLimits(overrides: Partial<ExpressionLimits> | undefined): ExpressionLimits {
  if (overrides === undefined) return DEFAULT_LIMITS;
  if (typeof overrides !== 'object' || overrides === null) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'expression limits must be an object', { field: 'limits' });
  }
  const out: Record<string, number> = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof ExpressionLimits)[]) {
    const value = overrides[key];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < 1 || value > LIMIT_CEILINGS[key]) {
      throw new LatchkeyError(
        'ERR_INVALID_ARGUMENT',
        `limits.${key} must be an integer from 1 to ${LIMIT_CEILINGS[key]}`,
        { field: `limits.${key}` },
      );
    }
    out[key] = value;
  }
  return out as unknown as ExpressionLimits;
}

/** Why `node` (a conjunct) is false: its text, and the values of up to three names it reads. */
function falseReason(source: string, node: Node, names: readonly NameUse[], context: ExpressionContext): string {
  const text = source.slice(node.start, node.end);
  const shown: string[] = [];
  const seen = new Set<string>();
  for (const { path, start, read } of names) {
    if (start < node.start || start >= node.end || seen.has(path) || shown.length >= 3) continue;
    seen.add(path);
    try {
      shown.push(`${path} is ${describeValue(read(context))}`);
    } catch {
      // an unreadable name would have failed the expression, not made it false
    }
  }
  return shown.length === 0 ? `\`${text}\` is false` : `\`${text}\` is false (${shown.join(', ')})`;
}

/**
 * A false verdict whose reason is written only when someone reads it: a policy that tries many
 * rules pays for the words of the few it reports, not of every rule that did not apply. A class
 * getter on purpose: the same getter in an object literal crashed V8's deoptimizer in Node
 * 20.20 under the policy benchmark.
 */
class FalseVerdict {
  readonly satisfied = false as const;
  #written: string | undefined;
  readonly #source: string;
  readonly #node: Node;
  readonly #names: readonly NameUse[];
  readonly #context: ExpressionContext;

  constructor(source: string, node: Node, names: readonly NameUse[], context: ExpressionContext) {
    this.#source = source;
    this.#node = node;
    this.#names = names;
    this.#context = context;
  }

  get reason(): string {
    if (this.#written === undefined) this.#written = falseReason(this.#source, this.#node, this.#names, this.#context);
    return this.#written;
  }

  toJSON(): Verdict {
    return { satisfied: false, reason: this.reason };
  }
}

/**
 * Compile an expression once; evaluate the result as often as needed.
 *
 * @throws LatchkeyError `ERR_EXPRESSION_SYNTAX` (with `detail.position`) for source that does
 *   not parse or mixes types the compiler can see; `ERR_LIMIT_EXCEEDED` (with `detail.limit`)
 *   beyond {@link ExpressionLimits}; `ERR_INVALID_ARGUMENT` for a non-string source.
 */
export function compileExpression(
  source: string,
  options: { readonly limits?: Partial<ExpressionLimits> } = {},
): Expression {
  if (typeof source !== 'string') {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'an expression must be a string', { field: 'expression' });
  }
  const limits = resolveLimits(options?.limits);
  if (source.length > limits.maxLength) {
    throw new LatchkeyError('ERR_LIMIT_EXCEEDED', `expression is longer than ${limits.maxLength} characters`, {
      limit: 'maxLength',
      length: source.length,
    });
  }
  const parser = new Parser(source, lex(source, limits), limits);
  const root = parser.parse();
  const paths = Object.freeze([...parser.paths]);
  const names = parser.names;
  const conjuncts = root.conjuncts ?? [root];
  const checks = conjuncts.map((node) => {
    const fn = node.fn;
    if (node.type === 'boolean') return fn;
    const text = source.slice(node.start, node.end);
    return (c: ExpressionContext): unknown => {
      const value = fn(c);
      return typeof value === 'boolean' ? value : fail(`\`${text}\` is ${describeValue(value)}, not true or false`);
    };
  });
  const SATISFIED: Verdict = Object.freeze({ satisfied: true });
  const evaluate = (context: ExpressionContext): Verdict => {
    if (typeof context !== 'object' || context === null) {
      return { satisfied: false, reason: 'no context to evaluate against' };
    }
    try {
      for (let i = 0; i < checks.length; i++) {
        if ((checks[i] as Fn)(context) !== true) {
          return new FalseVerdict(source, conjuncts[i] as Node, names, context);
        }
      }
      return SATISFIED;
    } catch (error) {
      if (error instanceof Failure) return { satisfied: false, reason: error.reason };
      // A context getter that throws, or a stack overflow on a hostile context: still fail closed.
      return { satisfied: false, reason: 'the context could not be read' };
    }
  };
  return Object.freeze({ source, paths, evaluate });
}
