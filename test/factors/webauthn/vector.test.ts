/**
 * A recorded Chromium assertion (test/vectors/webauthn/chromium-assertion.json) replayed through
 * the factor: it verifies, SimpleWebAuthn agrees, and every bit-flipped copy of it is refused with
 * a LatchkeyError (never accepted, never another exception type).
 */
import { verifyAuthenticationResponse } from '@simplewebauthn/server';
import { describe, expect, it } from 'vitest';
import { isLatchkeyError } from '../../../src/core/errors.js';
import type { AuthenticationResponseJSON } from '../../../src/factors/webauthn/wire.js';
import { seeded, vector } from './recorded.js';

function flipped(
  response: AuthenticationResponseJSON,
  field: 'authenticatorData' | 'clientDataJSON' | 'signature',
  index: number,
  bit: number,
): AuthenticationResponseJSON {
  const bytes = Buffer.from(response.response[field], 'base64url');
  bytes[index] = (bytes[index] as number) ^ (1 << bit);
  return { ...response, response: { ...response.response, [field]: bytes.toString('base64url') } };
}

describe('the recorded Chromium assertion', () => {
  it('verifies into synced-passkey evidence, again and again (its counter is 0)', async () => {
    const { factor, account, record, challenge, store } = await seeded();
    for (let i = 0; i < 3; i++) {
      const evidence = await factor.finishAuthentication({ challengeId: await challenge(), response: vector.response });
      expect(evidence).toMatchObject({
        subject: account.id,
        authenticatorId: record.id,
        amr: ['swk', 'user'],
        hardwareBound: false,
        userVerified: true,
      });
    }
    expect((await store.authenticators.get(record.id))?.counter).toBe(0);
  });

  it('raw SimpleWebAuthn agrees that it verifies', async () => {
    const result = await verifyAuthenticationResponse({
      response: vector.response as unknown as Parameters<typeof verifyAuthenticationResponse>[0]['response'],
      expectedChallenge: vector.challenge,
      expectedOrigin: vector.origin,
      expectedRPID: vector.rpId,
      credential: {
        id: vector.credential.id,
        publicKey: new Uint8Array(Buffer.from(vector.credential.publicKey, 'base64url')),
        counter: 0,
      },
    });
    expect(result.verified).toBe(true);
  });

  it('every single-bit flip of authenticator data and signature, and one per byte of clientDataJSON, is refused', async () => {
    const { factor, challenge, record, store } = await seeded();
    const cases: ['authenticatorData' | 'clientDataJSON' | 'signature', number, number][] = [];
    for (const field of ['authenticatorData', 'signature'] as const) {
      const length = Buffer.from(vector.response.response[field], 'base64url').length;
      for (let index = 0; index < length; index++) for (let bit = 0; bit < 8; bit++) cases.push([field, index, bit]);
    }
    const clientLength = Buffer.from(vector.response.response.clientDataJSON, 'base64url').length;
    for (let index = 0; index < clientLength; index++) cases.push(['clientDataJSON', index, index % 7]);
    const codes = new Map<string, number>();
    for (const [field, index, bit] of cases) {
      let outcome: string;
      try {
        await factor.finishAuthentication({
          challengeId: await challenge(),
          response: flipped(vector.response, field, index, bit),
        });
        outcome = 'accepted';
      } catch (error) {
        outcome = isLatchkeyError(error) ? error.code : `foreign ${String(error)}`;
      }
      if (outcome === 'accepted' || outcome.startsWith('foreign')) {
        throw new Error(`${field}[${index}] bit ${bit}: ${outcome}`);
      }
      codes.set(outcome, (codes.get(outcome) ?? 0) + 1);
    }
    expect(cases.length).toBeGreaterThan(900);
    expect([...codes.keys()].sort()).toEqual(
      expect.arrayContaining(['ERR_WEBAUTHN_UV_REQUIRED', 'ERR_WEBAUTHN_VERIFICATION']),
    );
    // Nothing a forger sent disabled the passkey or moved its counter.
    expect(await store.authenticators.get(record.id)).toMatchObject({ disabled: false, counter: 0 });
  });
});
