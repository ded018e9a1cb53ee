/**
 * The JSON Schema (draft 2020-12) of a policy, published with the package as
 * `latchkey/schema/policy.schema.json` so that editors can complete and check policy files.
 * {@link validatePolicy} is the authority: it checks the same shape, plus what a schema cannot say
 * (unique rule ids, `atLeast` no larger than its list, expressions that parse, limits).
 *
 * @module latchkey
 */
import { AMR_VALUES } from '../core/types.js';

/** Rule ids: a letter or digit, then letters, digits and `_ . : / -`. */
export const RULE_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.:/-]*$';

const oneOrMore = (item: object) => ({
  anyOf: [item, { type: 'array', items: item, minItems: 1, uniqueItems: true }],
});

/**
 * The policy JSON Schema as an object.
 *
 * @example
 * ```ts
 * import { POLICY_JSON_SCHEMA } from 'latchkey';
 * console.log(JSON.stringify(POLICY_JSON_SCHEMA, null, 2));
 * ```
 */
export const POLICY_JSON_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://unpkg.com/latchkey/schema/policy.schema.json',
  title: 'latchkey policy',
  description:
    'Rules that decide what verified evidence allows. Default deny; a forbid that applies overrides every permit.',
  type: 'object',
  additionalProperties: false,
  required: ['rules'],
  properties: {
    $schema: { type: 'string' },
    version: { const: 1 },
    description: { type: 'string', minLength: 1 },
    rules: { type: 'array', items: { $ref: '#/$defs/rule' } },
  },
  $defs: {
    duration: {
      description: 'A length of time: 90s, 5m, 1h30m, 12h, 30d, 250ms, or ISO-8601 such as PT5M',
      type: 'string',
      anyOf: [
        { pattern: '^(?=\\d)(\\d{1,9}d)?(\\d{1,9}h)?(\\d{1,9}m)?(\\d{1,9}s)?(\\d{1,9}ms)?$' },
        { pattern: '^P(?!$)(\\d{1,9}D)?(T(?=\\d)(\\d{1,9}H)?(\\d{1,9}M)?(\\d{1,9}S)?)?$' },
      ],
    },
    selector: {
      description: 'Matches one piece of evidence; every field given must hold',
      type: 'object',
      additionalProperties: false,
      properties: {
        factor: { description: 'any of these factors', ...oneOrMore({ type: 'string', minLength: 1 }) },
        amr: { description: 'all of these RFC 8176 values', ...oneOrMore({ enum: [...AMR_VALUES] }) },
        kind: { description: 'all of these kinds', ...oneOrMore({ enum: ['knowledge', 'possession', 'inherence'] }) },
        phishingResistant: { type: 'boolean' },
        hardwareBound: { type: 'boolean' },
        userVerified: { type: 'boolean' },
        replayResistant: { type: 'boolean' },
        maxAge: { $ref: '#/$defs/duration' },
        label: { type: 'string', minLength: 1 },
      },
    },
    requirement: {
      oneOf: [
        {
          type: 'object',
          additionalProperties: false,
          required: ['factor'],
          properties: { factor: { $ref: '#/$defs/selector' } },
        },
        {
          type: 'object',
          additionalProperties: false,
          required: ['all'],
          properties: { all: { type: 'array', minItems: 1, items: { $ref: '#/$defs/requirement' } } },
        },
        {
          type: 'object',
          additionalProperties: false,
          required: ['any'],
          properties: { any: { type: 'array', minItems: 1, items: { $ref: '#/$defs/requirement' } } },
        },
        {
          type: 'object',
          additionalProperties: false,
          required: ['atLeast', 'of'],
          properties: {
            atLeast: { type: 'integer', minimum: 1 },
            of: { type: 'array', minItems: 1, items: { $ref: '#/$defs/requirement' } },
          },
        },
        {
          type: 'object',
          additionalProperties: false,
          required: ['aal'],
          properties: { aal: { enum: [1, 2, 3] } },
        },
      ],
    },
    rule: {
      type: 'object',
      additionalProperties: false,
      required: ['id', 'effect'],
      properties: {
        id: { type: 'string', pattern: RULE_ID_PATTERN, maxLength: 128 },
        effect: { enum: ['permit', 'forbid'] },
        actions: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', minLength: 1 } },
        when: {
          description:
            'an expression over the request context; a permit whose condition cannot be evaluated (a missing name, a wrong type) does not apply, and a forbid whose condition cannot be evaluated applies',
          type: 'string',
        },
        require: { $ref: '#/$defs/requirement' },
        sensitive: {
          description: 'coercion-safe: never counts a biometric and needs a knowledge factor',
          type: 'boolean',
        },
        description: { type: 'string', minLength: 1 },
      },
    },
  },
} as const;
