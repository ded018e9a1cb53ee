/**
 * Property tests: whatever a client posts, `finishAuthentication` and `finishRegistration` either
 * accept the genuine response or throw a `LatchkeyError`, never another exception type, and a
 * response changed anywhere is never accepted. Each case runs against a fresh challenge.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isLatchkeyError } from '../../../src/core/errors.js';
import { ORIGIN, register, world } from './setup.js';

/** A value placed somewhere in a response: anything JSON can carry, and base64url-ish text. */
const junk = fc.oneof(
  fc.jsonValue(),
  fc.string({ maxLength: 64 }),
  fc.uint8Array({ maxLength: 256 }).map((bytes) => Buffer.from(bytes).toString('base64url')),
  fc.constantFrom(undefined, null, '', '=', 'AA==', '\u0000'),
);

const OUTER = ['id', 'rawId', 'type', 'response', 'clientExtensionResults', 'authenticatorAttachment'] as const;

/** Outcome of a call: 'ok', a LatchkeyError code, or the foreign error (which fails the test). */
async function outcome(call: () => Promise<unknown>): Promise<string> {
  try {
    await call();
    return 'ok';
  } catch (error) {
    if (isLatchkeyError(error)) return error.code;
    throw error;
  }
}

describe('responses are untrusted input (property tests)', () => {
  it('a sign-in response with any signed or identifying field replaced is refused with a LatchkeyError', async () => {
    const { factor, authenticator, alice } = await world();
    await register(factor, authenticator, alice.id);
    const probe = authenticator.get((await factor.startAuthentication()).options, { origin: ORIGIN });
    const inner = Object.keys(probe.response) as (keyof typeof probe.response)[];
    // Unsigned fields a client may vary without changing what was proven.
    const unsigned = new Set(['clientExtensionResults', 'authenticatorAttachment']);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.record({ where: fc.constant('outer' as const), key: fc.constantFrom(...OUTER), value: junk }),
          fc.record({ where: fc.constant('inner' as const), key: fc.constantFrom(...inner), value: junk }),
        ),
        async ({ where, key, value }) => {
          // A genuine response to a fresh challenge, then one field replaced.
          const request = await factor.startAuthentication();
          const genuine = authenticator.get(request.options, { origin: ORIGIN });
          const before =
            where === 'outer'
              ? (genuine as unknown as Record<string, unknown>)[key]
              : genuine.response[key as keyof typeof genuine.response];
          const response =
            where === 'outer'
              ? { ...genuine, [key]: value }
              : { ...genuine, response: { ...genuine.response, [key]: value } };
          const result = await outcome(() =>
            factor.finishAuthentication({ challengeId: request.challengeId, response }),
          );
          if (JSON.stringify(value) === JSON.stringify(before)) expect(result).toBe('ok');
          else if (where === 'outer' && unsigned.has(key))
            expect(['ok', 'ERR_WEBAUTHN_VERIFICATION']).toContain(result);
          else expect(result).not.toBe('ok');
        },
      ),
      { numRuns: 200, seed: 6 },
    );
    // Control: an untouched response verifies (so refusals above are the mutations' doing).
    const request = await factor.startAuthentication();
    const genuine = authenticator.get(request.options, { origin: ORIGIN });
    expect(
      await outcome(() => factor.finishAuthentication({ challengeId: request.challengeId, response: genuine })),
    ).toBe('ok');
  });

  it('arbitrary values as a whole response, for sign-in and registration, give LatchkeyErrors', async () => {
    const { factor, alice } = await world();
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          junk,
          fc.record({
            id: junk,
            rawId: junk,
            type: fc.constantFrom('public-key', 'password'),
            response: fc.dictionary(
              fc.constantFrom('clientDataJSON', 'authenticatorData', 'signature', 'userHandle', 'attestationObject'),
              junk,
            ),
          }),
        ),
        async (response) => {
          const signIn = await factor.startAuthentication();
          expect(
            await outcome(() => factor.finishAuthentication({ challengeId: signIn.challengeId, response })),
          ).not.toBe('ok');
          const creation = await factor.startRegistration({ accountId: alice.id });
          expect(
            await outcome(() => factor.finishRegistration({ challengeId: creation.challengeId, response })),
          ).not.toBe('ok');
        },
      ),
      { numRuns: 150, seed: 6 },
    );
    expect(await factor.listPasskeys(alice.id)).toEqual([]);
  });
});
