/**
 * Fuzzing the parsers a fob (or a host) feeds: random CTAP2 requests to the virtual
 * authenticator, random authenticator data and responses to the client's parsers. Every
 * failure must be a status byte or an ERR_CTAP2_CBOR, never a crash or a hang.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concatBytes } from '../../src/core/bytes.js';
import { isLatchkeyError } from '../../src/core/errors.js';
import { parseAuthenticatorData } from '../../src/hardware/auth-data.js';
import { type CborInput, encodeCbor } from '../../src/hardware/cbor.js';
import {
  parseAssertionResponse,
  parseAuthenticatorInfo,
  parseMakeCredentialResponse,
} from '../../src/hardware/ctap2.js';
import { VirtualAuthenticator } from '../../src/hardware/virtual-authenticator.js';

const cborValue: fc.Arbitrary<CborInput> = fc.letrec<{ v: CborInput }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    fc.integer({ min: -300, max: 300 }),
    fc.string({ maxLength: 12 }),
    fc.boolean(),
    fc.uint8Array({ maxLength: 70 }),
    fc.array(tie('v'), { maxLength: 3 }),
    fc
      .array(
        fc.tuple(
          fc.oneof(
            fc.integer({ min: -4, max: 12 }),
            fc.constantFrom('id', 'type', 'alg', 'rk', 'up', 'uv', 'hmac-secret'),
          ),
          tie('v'),
        ),
        { maxLength: 5 },
      )
      .map((e) => new Map(e)),
  ),
})).v;

const requestMap = fc
  .array(fc.tuple(fc.integer({ min: 1, max: 10 }), cborValue), { maxLength: 8 })
  .map((entries) => new Map<number, CborInput>(entries));

describe('fuzz', () => {
  it('the virtual authenticator answers any request with a status, never a throw', async () => {
    const authenticator = new VirtualAuthenticator({ upTimeoutMs: 5, touchDelayMs: 0 });
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(0x01, 0x02, 0x04, 0x06, 0x08, 0x0b, 0x42),
        fc.oneof(
          requestMap.map((m) => encodeCbor(m)),
          fc.uint8Array({ maxLength: 80 }),
        ),
        async (command, body) => {
          const response = await authenticator.handle(concatBytes(new Uint8Array([command]), body));
          expect(response.length).toBeGreaterThanOrEqual(1);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('the client parsers throw only ERR_CTAP2_CBOR on garbage', () => {
    const parsers = [
      (bytes: Uint8Array) => parseAuthenticatorData(bytes),
      (_: Uint8Array, map: Map<number, CborInput>) => parseAuthenticatorInfo(map as never),
      (_: Uint8Array, map: Map<number, CborInput>) => parseMakeCredentialResponse(map as never),
      (_: Uint8Array, map: Map<number, CborInput>) => parseAssertionResponse(map as never),
    ];
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 120 }), requestMap, (bytes, map) => {
        for (const parse of parsers) {
          try {
            parse(bytes, map);
          } catch (error) {
            if (!isLatchkeyError(error, 'ERR_CTAP2_CBOR') && !isLatchkeyError(error, 'ERR_UNSUPPORTED')) throw error;
          }
        }
      }),
      { numRuns: 1500 },
    );
  });
});
