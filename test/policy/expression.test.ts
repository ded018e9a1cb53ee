import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isLatchkeyError } from '../../src/core/errors.js';
import { compileExpression, type ExpressionContext } from '../../src/policy/expression.js';
import { codeOf } from '../helpers/errors.js';

const NOW = new Date('2026-11-25T12:00:00Z');

function holds(source: string, context: ExpressionContext): boolean {
  return compileExpression(source).evaluate(context).satisfied;
}

function reason(source: string, context: ExpressionContext): string {
  const verdict = compileExpression(source).evaluate(context);
  if (verdict.satisfied) throw new Error(`expected ${source} to be false`);
  return verdict.reason;
}

function syntaxPosition(source: string): number {
  try {
    compileExpression(source);
  } catch (error) {
    if (isLatchkeyError(error, 'ERR_EXPRESSION_SYNTAX')) return error.detail.position as number;
    throw error;
  }
  throw new Error(`expected a syntax error for ${source}`);
}

describe('expression language: values and operators', () => {
  const context: ExpressionContext = {
    action: 'purchase',
    amount: 7.5,
    merchant: 'corner-store',
    frozen: false,
    now: NOW,
    time: NOW,
    auth_time: new Date(NOW.getTime() - 4 * 60_000),
    roles: ['user', 'family'],
    resource: { owner: 'alice', tags: ['x'], nested: { depth: 3 } },
  };
  const table: [string, boolean][] = [
    ['amount <= 10', true],
    ['amount < 7.5', false],
    ['amount >= 7.5 && amount > 7', true],
    ['amount == 7.5', true],
    ['amount != 7.5', false],
    ['amount > -1', true],
    ['amount + 2.5 == 10', true],
    ['amount - 10 < 0', true],
    ['merchant == "corner-store"', true],
    ["merchant == 'corner-store'", true],
    ['merchant != "supermarket"', true],
    ['merchant < "d"', true],
    ['frozen == false', true],
    ['!frozen', true],
    ['!(frozen == false)', false],
    ['frozen || amount < 10', true],
    ['frozen && amount < 10', false],
    ['(amount > 100 || merchant == "corner-store") && !frozen', true],
    ['action in ["purchase", "refund"]', true],
    ['action in ["refund"]', false],
    ['amount in [1, 7.5]', true],
    ['"family" in roles', true],
    ['"admin" in roles', false],
    ['resource.owner == "alice"', true],
    ['resource.nested.depth == 3', true],
    ['"x" in resource.tags', true],
    ['time < 2035-01-01T00:00', true],
    ['time < 2026-11-25T12:00', false],
    ['time <= 2026-11-25T12:00:00Z', true],
    ['time == 2026-11-25T13:00+01:00', true],
    ['time == 2026-11-25T07:00:00.000-05:00', true],
    ['time > 2026-11-25', true],
    ['auth_time + 5m > now', true],
    ['auth_time + 3m > now', false],
    ['auth_time + PT5M > now', true],
    ['now - PT1H < auth_time', true],
    ['now - 1h30m > 2026-11-25T10:00Z', true],
    ['5m == 300s', true],
    ['PT1H == 60m', true],
    ['1h < 1d', true],
    ['-5m < 0s', true],
    ['2026-11-25T12:00 in [2026-11-25T12:00Z, 2027-01-01]', true],
    ['true', true],
    ['false || true', true],
  ];
  for (const [source, expected] of table) {
    it(`${source} is ${expected}`, () => {
      expect(holds(source, context)).toBe(expected);
    });
  }

  it('reports which conjunct was false and the values it compared', () => {
    expect(reason('merchant == "corner-store" && amount <= 5', context)).toBe('`amount <= 5` is false (amount is 7.5)');
    expect(reason('time < 2026-01-01T00:00', context)).toBe(
      '`time < 2026-01-01T00:00` is false (time is 2026-11-25T12:00:00.000Z)',
    );
  });

  it('lists every name it reads, once, in order', () => {
    expect(compileExpression('a.b > 1 && c == "x" || a.b < 0 && now > 2020-01-01').paths).toEqual(['a.b', 'c', 'now']);
  });

  it('reads strings with escapes exactly', () => {
    expect(holds('s == "a\\"b\\\\c\\n\\u00e9"', { s: 'a"b\\c\né' })).toBe(true);
    expect(holds("s == 'it\\'s'", { s: "it's" })).toBe(true);
  });

  it('compares strings by code unit, not by locale', () => {
    expect(holds('s < "a"', { s: 'Z' })).toBe(true);
  });

  it('reads an instant without an offset as UTC, whatever the machine time zone', () => {
    expect(holds('t == 2035-01-01T00:00:00Z', { t: new Date(Date.UTC(2035, 0, 1)) })).toBe(true);
    expect(holds('t == 2035-01-01T00:00', { t: new Date(Date.UTC(2035, 0, 1)) })).toBe(true);
    expect(holds('t == 2035-01-01', { t: new Date(Date.UTC(2035, 0, 1)) })).toBe(true);
  });

  it('accepts leap days only in leap years', () => {
    expect(holds('t < 2028-02-29', { t: NOW })).toBe(true);
    expect(codeOf(() => compileExpression('t < 2027-02-29'))).toBe('ERR_EXPRESSION_SYNTAX');
    expect(codeOf(() => compileExpression('t < 2100-02-29'))).toBe('ERR_EXPRESSION_SYNTAX');
    expect(codeOf(() => compileExpression('t < 2000-02-29'))).toBe('ok');
  });
});

describe('expression language: fail closed', () => {
  it('attack: omitting a name does not turn a negated condition true', () => {
    const verdict = compileExpression('!(amount > 5)').evaluate({});
    expect(verdict).toEqual({ satisfied: false, reason: 'unknown name `amount`' });
  });

  it('attack: a null or undefined value is an unknown name, not a falsy pass', () => {
    expect(reason('!(amount > 5)', { amount: null })).toBe('unknown name `amount`');
    expect(reason('x != 1', { x: undefined })).toBe('unknown name `x`');
  });

  it('attack: type confusion (a numeric string where a number belongs) is refused', () => {
    expect(reason('amount <= 10', { amount: '5' })).toMatch(/compared with a number/);
    expect(reason('amount != 10', { amount: '10' })).toMatch(/compared with a number/);
    expect(reason('"5" == amount', { amount: 5 })).toMatch(/type mismatch/);
  });

  it('attack: NaN and Infinity never satisfy a comparison or its negation', () => {
    for (const amount of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect(holds('amount <= 10', { amount })).toBe(false);
      expect(holds('!(amount <= 10)', { amount })).toBe(false);
      expect(holds('amount != 10', { amount })).toBe(false);
    }
  });

  it('attack: an invalid Date is not an instant', () => {
    expect(holds('t < 2035-01-01', { t: new Date(Number.NaN) })).toBe(false);
    expect(holds('!(t < 2035-01-01)', { t: new Date(Number.NaN) })).toBe(false);
  });

  it('attack: a number where an instant belongs (epoch ms) is a type mismatch, not a time', () => {
    expect(reason('time < 2035-01-01', { time: 0 })).toMatch(/type mismatch/);
  });

  it('attack: prototype names cannot be read through the context', () => {
    expect(reason('toString == "x"', {})).toBe('unknown name `toString`');
    expect(reason('a.hasOwnProperty == true', { a: {} })).toBe('unknown name `a.hasOwnProperty`');
    for (const source of ['__proto__ == 1', 'a.__proto__.x == 1', 'constructor == 1', 'a.prototype == 1']) {
      expect(codeOf(() => compileExpression(source))).toBe('ERR_EXPRESSION_SYNTAX');
    }
    const polluted = Object.create({ admin: true }) as ExpressionContext;
    expect(holds('admin == true', polluted)).toBe(false);
  });

  it('attack: a path cannot walk into a list, a Date or a string', () => {
    expect(holds('roles.length == 2', { roles: ['a', 'b'] })).toBe(false);
    expect(holds('s.length == 1', { s: 'x' })).toBe(false);
    expect(holds('t.getTime == 1', { t: NOW })).toBe(false);
  });

  it('attack: a getter that throws fails the expression instead of escaping', () => {
    const context = Object.defineProperty({}, 'amount', {
      enumerable: true,
      get() {
        throw new Error('boom');
      },
    }) as ExpressionContext;
    expect(compileExpression('amount < 1').evaluate(context)).toEqual({
      satisfied: false,
      reason: 'the context could not be read',
    });
  });

  it('a non-boolean value where a condition belongs is false with a reason', () => {
    expect(reason('flag', { flag: 'yes' })).toMatch(/not true or false/);
    expect(reason('flag && true', { flag: 1 })).toMatch(/not true or false/);
    expect(reason('!flag', { flag: 0 })).toMatch(/not true or false/);
  });

  it('a list where a scalar belongs, and a scalar where a list belongs, are mismatches', () => {
    expect(holds('x in ["a"]', { x: ['a'] })).toBe(false);
    expect(holds('"a" in x', { x: 'abc' })).toBe(false);
    expect(holds('x == y', { x: ['a'], y: ['a'] })).toBe(false);
  });

  it('evaluate never throws for a missing context', () => {
    const expression = compileExpression('a == 1');
    expect(expression.evaluate(null as unknown as ExpressionContext).satisfied).toBe(false);
    expect(expression.evaluate(undefined as unknown as ExpressionContext).satisfied).toBe(false);
  });
});

describe('expression language: compile errors', () => {
  const cases: [string, number][] = [
    ['amount >', 8],
    ['amount = 5', 7],
    ['a & b', 2],
    ['a | b', 2],
    ['a < b < c', 6],
    ['(a == 1', 7],
    ['a == 1)', 6],
    ['5 < "a"', 4],
    ['!3', 1],
    ['3', 0],
    ['"x" + 1', 6],
    ['2035-01-01 + 5 > now', 13],
    ['[1, 2] == x', 0],
    ['x in 5', 5],
    ['[1] in [2]', 0],
    ['x in [y]', 6],
    ['a == "open', 5],
    ['a == "\\q"', 6],
    ['a == "\\u12"', 6],
    ['a == 2035-13-01', 5],
    ['a == 2035-01-01T24:00', 5],
    ['a == 1.5h', 5],
    ['a == 5x', 5],
    ['a == 99999999999999999999', 5],
    ['in == 1', 0],
    ['a.true == 1', 2],
    ['a # b', 2],
    ['', 0],
  ];
  for (const [source, position] of cases) {
    it(`${JSON.stringify(source)} fails at ${position}`, () => {
      expect(syntaxPosition(source)).toBe(position);
    });
  }

  it('shows the place in the message', () => {
    try {
      compileExpression('amount <= 10 && merchant = "x"');
      expect.unreachable();
    } catch (error) {
      expect(isLatchkeyError(error, 'ERR_EXPRESSION_SYNTAX')).toBe(true);
      expect((error as Error).message).toContain('at position 25');
      expect((error as Error).message).toContain('^');
    }
  });

  it('refuses a source that is not a string', () => {
    expect(codeOf(() => compileExpression(42 as unknown as string))).toBe('ERR_INVALID_ARGUMENT');
  });
});

describe('expression language: limits', () => {
  it('caps the source length', () => {
    expect(codeOf(() => compileExpression(`a == "${'x'.repeat(5000)}"`))).toBe('ERR_LIMIT_EXCEEDED');
    expect(codeOf(() => compileExpression('a == 1', { limits: { maxLength: 5 } }))).toBe('ERR_LIMIT_EXCEEDED');
  });

  it('caps nesting without overflowing the stack, whatever the length', () => {
    const deep = `${'('.repeat(100_000)}a${')'.repeat(100_000)}`;
    expect(codeOf(() => compileExpression(deep, { limits: { maxLength: 300_000 } }))).toBe('ERR_LIMIT_EXCEEDED');
    expect(codeOf(() => compileExpression(`${'!'.repeat(50_000)}a`, { limits: { maxLength: 60_000 } }))).toBe(
      'ERR_LIMIT_EXCEEDED',
    );
    expect(codeOf(() => compileExpression(`${'('.repeat(32)}a${')'.repeat(32)}`))).toBe('ok');
  });

  it('caps list items and terms', () => {
    const list = `x in [${Array.from({ length: 300 }, (_, i) => i).join(',')}]`;
    expect(codeOf(() => compileExpression(list))).toBe('ERR_LIMIT_EXCEEDED');
    const chain = Array.from({ length: 600 }, (_, i) => `a${i} == 1`).join(' && ');
    expect(codeOf(() => compileExpression(chain, { limits: { maxLength: 100_000 } }))).toBe('ERR_LIMIT_EXCEEDED');
  });

  it('evaluates a long conjunction without deep recursion', () => {
    const names = Array.from({ length: 300 }, (_, i) => `a${i}`);
    const source = names.map((name) => `${name} == 1`).join(' && ');
    const context = Object.fromEntries(names.map((name) => [name, 1]));
    expect(
      compileExpression(source, { limits: { maxLength: 10_000, maxNodes: 2000 } }).evaluate(context).satisfied,
    ).toBe(true);
  });

  it('refuses limits that are not bounded positive integers', () => {
    for (const limits of [{ maxDepth: 0 }, { maxLength: 1e12 }, { maxNodes: 1.5 }, { maxListItems: -1 }]) {
      expect(codeOf(() => compileExpression('a == 1', { limits }))).toBe('ERR_INVALID_ARGUMENT');
    }
  });
});

// ------------------------------------------------------------------ properties

/** A small random expression over numbers and booleans, with an independent reference evaluation. */
type Ast =
  | { kind: 'num'; name: string }
  | { kind: 'lit'; value: number }
  | { kind: 'cmp'; op: '==' | '!=' | '<' | '<=' | '>' | '>='; left: Ast; right: Ast }
  | { kind: 'flag'; name: string }
  | { kind: 'not'; operand: Ast }
  | { kind: 'and' | 'or'; left: Ast; right: Ast };

const NUMBER_NAMES = ['a', 'b', 'c'];
const FLAG_NAMES = ['p', 'q'];

const numeric: fc.Arbitrary<Ast> = fc.oneof(
  fc.constantFrom(...NUMBER_NAMES).map((name) => ({ kind: 'num' as const, name })),
  fc.integer({ min: -5, max: 5 }).map((value) => ({ kind: 'lit' as const, value })),
);

const condition: fc.Arbitrary<Ast> = fc.letrec<{ cond: Ast }>((tie) => ({
  cond: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc
      .record({
        op: fc.constantFrom('==', '!=', '<', '<=', '>', '>=') as fc.Arbitrary<'=='>,
        left: numeric,
        right: numeric,
      })
      .map((r) => ({ kind: 'cmp' as const, ...r })),
    fc.constantFrom(...FLAG_NAMES).map((name) => ({ kind: 'flag' as const, name })),
    tie('cond').map((operand) => ({ kind: 'not' as const, operand })),
    fc.record({ left: tie('cond'), right: tie('cond') }).map((r) => ({ kind: 'and' as const, ...r })),
    fc.record({ left: tie('cond'), right: tie('cond') }).map((r) => ({ kind: 'or' as const, ...r })),
  ),
})).cond;

function render(ast: Ast): string {
  switch (ast.kind) {
    case 'num':
    case 'flag':
      return ast.name;
    case 'lit':
      return String(ast.value);
    case 'cmp':
      return `${render(ast.left)} ${ast.op} ${render(ast.right)}`;
    case 'not':
      return `!(${render(ast.operand)})`;
    default:
      return `(${render(ast.left)}) ${ast.kind === 'and' ? '&&' : '||'} (${render(ast.right)})`;
  }
}

/** Reference semantics: undefined when a name is missing on an evaluated branch (fail closed). */
function reference(ast: Ast, env: Record<string, number | boolean>): number | boolean | undefined {
  switch (ast.kind) {
    case 'num':
    case 'flag':
      return env[ast.name];
    case 'lit':
      return ast.value;
    case 'cmp': {
      const x = reference(ast.left, env);
      const y = reference(ast.right, env);
      if (x === undefined || y === undefined) return undefined;
      const a = x as number;
      const b = y as number;
      return { '==': a === b, '!=': a !== b, '<': a < b, '<=': a <= b, '>': a > b, '>=': a >= b }[ast.op];
    }
    case 'not': {
      const v = reference(ast.operand, env);
      return v === undefined ? undefined : !v;
    }
    case 'and': {
      const l = reference(ast.left, env);
      if (l === undefined || l === false) return l;
      return reference(ast.right, env);
    }
    default: {
      const l = reference(ast.left, env);
      if (l === undefined || l === true) return l;
      return reference(ast.right, env);
    }
  }
}

const environment = fc.record(
  {
    a: fc.integer({ min: -5, max: 5 }),
    b: fc.integer({ min: -5, max: 5 }),
    c: fc.integer({ min: -5, max: 5 }),
    p: fc.boolean(),
    q: fc.boolean(),
  },
  { requiredKeys: [] },
);

describe('expression language: properties', () => {
  it('agrees with an independent reference evaluator, missing names failing closed', () => {
    fc.assert(
      fc.property(condition, environment, (ast, env) => {
        const verdict = compileExpression(render(ast)).evaluate(env);
        expect(verdict.satisfied).toBe(reference(ast, env) === true);
      }),
      { numRuns: 2000 },
    );
  });

  it('is deterministic and never mutates the context', () => {
    fc.assert(
      fc.property(condition, environment, (ast, env) => {
        const expression = compileExpression(render(ast));
        const before = JSON.stringify(env);
        const first = expression.evaluate(env);
        expect(expression.evaluate(env)).toEqual(first);
        expect(JSON.stringify(env)).toBe(before);
      }),
      { numRuns: 300 },
    );
  });

  it('adding a conjunct never widens what an expression accepts', () => {
    fc.assert(
      fc.property(condition, condition, environment, (base, extra, env) => {
        const narrowed = compileExpression(`(${render(base)}) && (${render(extra)})`).evaluate(env).satisfied;
        if (narrowed) expect(compileExpression(render(base)).evaluate(env).satisfied).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('arbitrary source text either compiles or raises a LatchkeyError, and evaluation never throws', () => {
    const alphabet = fc.constantFrom(
      ...'ab1 .()[]!<>=&|"\'\\-+,:TZP5mhs_\u0000\u00e9'.split(''),
      '==',
      '&&',
      '||',
      ' in ',
      '2035-01-01T00:00',
      'true',
      '__proto__',
    );
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 40 }), fc.anything(), (parts, value) => {
        let expression: ReturnType<typeof compileExpression>;
        try {
          expression = compileExpression(parts.join(''));
        } catch (error) {
          expect(isLatchkeyError(error)).toBe(true);
          return;
        }
        const verdict = expression.evaluate({ a: value as never, b: { a: value as never } });
        expect(typeof verdict.satisfied).toBe('boolean');
      }),
      { numRuns: 5000 },
    );
  });
});
