import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LatchkeyError } from '../../src/core/errors.js';
import { parseDuration, tryParseDuration } from '../../src/policy/duration.js';
import { POLICY_JSON_SCHEMA } from '../../src/policy/schema.js';
import { validatePolicy } from '../../src/policy/validate.js';
import { STORIES } from './scenarios.js';

function problems(json: unknown): string[] {
  try {
    validatePolicy(json);
  } catch (error) {
    expect(error).toBeInstanceOf(LatchkeyError);
    return [...((error as LatchkeyError).detail.problems as readonly string[])];
  }
  return [];
}

describe('validatePolicy', () => {
  it('accepts the story policy and returns a frozen copy', () => {
    const policy = validatePolicy(JSON.parse(JSON.stringify(STORIES)));
    expect(policy).toEqual(STORIES);
    expect(Object.isFrozen(policy.rules[0])).toBe(true);
  });

  it('names the path of a bad duration', () => {
    const json = {
      rules: [
        { id: 'a', effect: 'permit' },
        { id: 'b', effect: 'permit' },
        { id: 'c', effect: 'permit', require: { any: [{ factor: { maxAge: 'soon' } }] } },
      ],
    };
    expect(() => validatePolicy(json)).toThrowError(
      /rules\[2\]\.require\.any\[0\]\.factor\.maxAge: must be a duration/,
    );
    try {
      validatePolicy(json);
    } catch (error) {
      expect((error as LatchkeyError).code).toBe('ERR_INVALID_ARGUMENT');
      expect((error as LatchkeyError).detail.field).toBe('rules[2].require.any[0].factor.maxAge');
    }
  });

  it('reports every problem with its path', () => {
    const found = problems({
      version: 2,
      extra: true,
      rules: [
        { id: 'ok', effect: 'permit', requires: { aal: 2 } },
        { id: 'ok', effect: 'allow' },
        { id: '-bad id', effect: 'permit', actions: [] },
        { id: 'r', effect: 'permit', require: { atLeast: 3, of: [{ aal: 1 }, { aal: 4 }] } },
        {
          id: 's',
          effect: 'permit',
          require: { all: [{ factor: { amr: 'thumb', kind: ['psychic'], hardwareBound: 'yes' } }] },
        },
        { id: 't', effect: 'forbid', require: { factor: {}, any: [] } },
        { id: 'u', effect: 'permit', when: 'amount >' },
        'not a rule',
      ],
    });
    const expected = [
      'policy: unknown property `extra`',
      'version: must be 1',
      'rules[0]: unknown property `requires`',
      'rules[1].effect: must be `permit` or `forbid`',
      'rules[2].id: must start with a letter or digit',
      'rules[2].actions: must not be an empty list',
      'rules[3].require.of[1].aal: must be 1, 2 or 3',
      'rules[4].require.all[0].factor.amr: must be an RFC 8176 method reference',
      'rules[4].require.all[0].factor.kind[0]: must be one of `knowledge`, `possession`, `inherence`',
      'rules[4].require.all[0].factor.hardwareBound: must be a boolean',
      'rules[5].require: must have exactly one of',
      'rules[6].when:',
      'rules[7]: must be a rule object',
    ];
    for (const prefix of expected) {
      expect(
        found.some((p) => p.startsWith(prefix)),
        `${prefix} in ${JSON.stringify(found, null, 1)}`,
      ).toBe(true);
    }
  });

  it('refuses duplicate ids and atLeast beyond its list', () => {
    expect(
      problems({
        rules: [
          { id: 'a', effect: 'permit' },
          { id: 'a', effect: 'forbid' },
        ],
      }),
    ).toEqual(['rules[1].id: duplicates the id of rules[0], `a`']);
    expect(problems({ rules: [{ id: 'a', effect: 'permit', require: { atLeast: 2, of: [{ aal: 1 }] } }] })).toEqual([
      'rules[0].require.atLeast: must be an integer from 1 to 1, got `2`',
    ]);
  });

  it('bounds nesting, size and rule count', () => {
    let deep: unknown = { aal: 1 };
    for (let i = 0; i < 20; i++) deep = { all: [deep] };
    expect(problems({ rules: [{ id: 'deep', effect: 'permit', require: deep }] })[0]).toMatch(
      /nests deeper than 16 levels/,
    );
    const wide = { any: Array.from({ length: 60 }, () => ({ all: Array.from({ length: 10 }, () => ({ aal: 1 })) })) };
    expect(problems({ rules: [{ id: 'wide', effect: 'permit', require: wide }] })[0]).toMatch(
      /too many requirement nodes/,
    );
    const rules = Array.from({ length: 3 }, (_, i) => ({ id: `r${i}`, effect: 'permit' }));
    expect(() => validatePolicy({ rules }, { limits: { maxRules: 2 } })).toThrowError(
      expect.objectContaining({ code: 'ERR_LIMIT_EXCEEDED' }),
    );
    expect(() => validatePolicy({ rules: [] }, { limits: { maxRules: 0 } })).toThrowError(
      expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }),
    );
  });

  it('refuses things that are not policies', () => {
    for (const value of [null, 1, 'rules', [], { rules: {} }]) expect(problems(value).length).toBeGreaterThan(0);
  });
});

describe('durations', () => {
  it('parses compact and ISO-8601 forms', () => {
    expect(parseDuration('5m')).toBe(300_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('30d')).toBe(30 * 86_400_000);
    expect(parseDuration('PT5M')).toBe(300_000);
    expect(parseDuration('P1DT12H')).toBe(36 * 3_600_000);
  });

  it('refuses everything else', () => {
    for (const text of ['', '5', 'm', '5 m', 'P', 'PT', 'P1DT', '-5m', '1.5h', '401d', '5M', 'soon']) {
      expect(tryParseDuration(text), text).toBeUndefined();
    }
    expect(() => parseDuration('soon')).toThrowError('`soon` is not a duration');
  });
});

describe('published JSON Schema', () => {
  it('schema/policy.schema.json is up to date (run `node scripts/write-policy-schema.js` after a build)', () => {
    const file = readFileSync(new URL('../../schema/policy.schema.json', import.meta.url), 'utf8');
    expect(JSON.parse(file)).toEqual(POLICY_JSON_SCHEMA);
  });

  it('its duration patterns agree with the parser', () => {
    const patterns = POLICY_JSON_SCHEMA.$defs.duration.anyOf.map((p) => new RegExp(p.pattern));
    const samples = [
      '5m',
      '1h30m',
      '250ms',
      '30d',
      'PT5M',
      'P1DT12H',
      'P1D',
      '',
      '5',
      'P',
      'PT',
      'P1DT',
      '5 m',
      'soon',
    ];
    for (const text of samples) {
      expect(
        patterns.some((p) => p.test(text)),
        text,
      ).toBe(tryParseDuration(text) !== undefined);
    }
  });
});
