/**
 * The recorded Chromium assertion (test/vectors/webauthn/chromium-assertion.json, see its README)
 * and a store seeded so that it verifies: the passkey's record and a stored challenge carrying
 * the recorded challenge bytes, as startAuthentication would have stored them.
 */
import { readFileSync } from 'node:fs';
import { fromBase64url } from '../../../src/core/bytes.js';
import { randomId } from '../../../src/core/random.js';
import { encodeChallenge, PURPOSE_AUTHENTICATE } from '../../../src/factors/webauthn/challenge.js';
import { WebAuthnFactor } from '../../../src/factors/webauthn/factor.js';
import type { AuthenticationResponseJSON } from '../../../src/factors/webauthn/wire.js';
import { createMemoryStore } from '../../../src/store/memory.js';
import type { Store } from '../../../src/store/types.js';
import { FakeClock } from '../../../src/testing/clock.js';

export interface Vector {
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

export const vector = JSON.parse(
  readFileSync(new URL('../../vectors/webauthn/chromium-assertion.json', import.meta.url), 'utf8'),
) as Vector;
export const NOW = Date.UTC(2030, 0, 1);

export async function seeded(given?: { readonly store: Store; readonly clock: FakeClock; readonly accountId: string }) {
  const clock = given?.clock ?? new FakeClock(NOW);
  const store = given?.store ?? createMemoryStore({ clock });
  const account = given === undefined ? await store.accounts.create({ username: 'alice' }) : { id: given.accountId };
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
