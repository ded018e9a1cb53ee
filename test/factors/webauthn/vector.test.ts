/**
 * A recorded Chromium assertion (test/vectors/webauthn/chromium-assertion.json) replayed through
 * the factor: it verifies, SimpleWebAuthn agrees, and every bit-flipped copy of it is refused with
 * a LatchkeyError (never accepted, never another exception type).
 */
import { readFileSync } from 'node:fs';
import { verifyAuthenticationResponse } from '@simplewebauthn/server';
import { describe, expect, it } from 'vitest';
import { fromBase64url } from '../../../src/core/bytes.js';
import { isLatchkeyError } from '../../../src/core/errors.js';
import { randomId } from '../../../src/core/random.js';
import { encodeChallenge, PURPOSE_AUTHENTICATE } from '../../../src/factors/webauthn/challenge.js';
import { WebAuthnFactor } from '../../../src/factors/webauthn/factor.js';
import type { AuthenticationResponseJSON } from '../../../src/factors/webauthn/wire.js';
import { createMemoryStore } from '../../../src/store/memory.js';
import { FakeClock } from '../../../src/testing/clock.js';

interface Vector {
  readonly rpId: string;
  readonly origin: string;
  readonly challenge: string;
  readonly credential: {
    readonly id: string;
    readonly publicKey: string;
    readonly alg: number;
    readonly userHandle: string;
    readonly counter: number;
    readonly backupEligible: boolean;
    readonly backedUp: boolean;
  };
  readonly response: AuthenticationResponseJSON;
}

const vector = JSON.parse(
  readFileSync(new URL('../../vectors/webauthn/chromium-assertion.json', import.meta.url), 'utf8'),
) as Vector;
const NOW = Date.UTC(2030, 0, 1);

async function seeded() {
  const clock = new FakeClock(NOW);
  const store = createMemoryStore({ clock });
  const account = await store.accounts.create({ username: 'alice' });
  const record = await store.authenticators.add({
    accountId: account.id,
    factor: 'webauthn',
    lookupKey: vector.credential.id,
    data: {
      v: 1,
      rpId: vector.rpId,
      credentialId: vector.credential.id,
      publicKey: vector.credential.publicKey,
      alg: vector.credential.alg,
      userHandle: vector.credential.userHandle,
      aaguid: '01020304-0506-0708-0102-030405060708',
      transports: ['internal'],
      backupEligible: vector.credential.backupEligible,
      backedUp: vector.credential.backedUp,
      fmt: 'none',
      attested: false,
      model: null,
      discoverable: true,
      origin: vector.origin,
    },
    counter: vector.credential.counter,
  });
  const factor = new WebAuthnFactor({ store, clock, rp: { id: vector.rpId, origins: [vector.origin] } });
  /** A stored challenge carrying the recorded challenge bytes (as startAuthentication would store it). */
  const challenge = async () =>
    (
      await store.challenges.put({
        id: randomId(),
        purpose: PURPOSE_AUTHENTICATE,
        payload: encodeChallenge({
          challenge: fromBase64url(vector.challenge),
          userVerification: 'required',
          binding: undefined,
          userHandle: undefined,
          label: undefined,
        }),
        ttlMs: 60_000,
      })
    ).id;
  return { store, factor, account, record, challenge };
}

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
