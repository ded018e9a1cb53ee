/**
 * Stories 1 and 4 of DESIGN.md through the gate with every kind of factor at once: a passkey
 * whose user verification is a biometric (a software authenticator signing real assertions, and
 * the assertion Chromium's own authenticator recorded), a password, and latchkey's virtual fob.
 * Story 3 and the duress sign-in are in gate.test.ts.
 */
import { describe, expect, test } from 'vitest';
import { KeyRing } from '../../src/delegation/index.js';
import { FobFactor } from '../../src/factors/fob/factor.js';
import { PasswordFactor } from '../../src/factors/password/factor.js';
import { PasswordHasher } from '../../src/factors/password/hasher.js';
import { WebAuthnFactor } from '../../src/factors/webauthn/factor.js';
import { createGate, type GateFactor } from '../../src/gate/index.js';
import { Ctap2Client } from '../../src/hardware/ctap2.js';
import { VirtualFob } from '../../src/hardware/virtual-fob.js';
import type { Policy } from '../../src/policy/types.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { FakeClock } from '../../src/testing/clock.js';
import { SoftAuthenticator } from '../../src/testing/soft-authenticator.js';
import { NOW, seeded, vector } from '../factors/webauthn/recorded.js';
import { rejection } from '../helpers/errors.js';

/** "fob AND (password OR biometric) to move more than $100"; closing the account is sensitive. */
const POLICY: Policy = {
  rules: [
    { id: 'read', effect: 'permit', actions: ['read'], require: { aal: 1 } },
    { id: 'transfer-small', effect: 'permit', actions: ['transfer'], when: 'amount <= 100', require: { aal: 2 } },
    {
      id: 'transfer-large',
      effect: 'permit',
      actions: ['transfer'],
      when: 'amount > 100',
      require: {
        all: [
          { factor: { factor: 'fob' } },
          { any: [{ factor: { factor: 'password' } }, { factor: { kind: 'inherence' } }] },
        ],
      },
    },
    { id: 'close-account', effect: 'permit', actions: ['close-account'], sensitive: true, require: { aal: 2 } },
  ],
};
const PASSWORD = 'a kettle, two cups and the garden gate';

async function world(rp: { id: string; origin: string }, now: number) {
  const clock = new FakeClock(now);
  const store = createMemoryStore({ clock });
  const alice = await store.accounts.create({ username: 'alice' });
  const webauthn = new WebAuthnFactor({ store, clock, rp: { id: rp.id, origins: [rp.origin] } });
  const fobs = new FobFactor({ store, rpId: rp.id, clock });
  const passwords = new PasswordFactor({
    store,
    clock,
    hasher: new PasswordHasher({ parameters: { m: 256, t: 1, p: 1 } }),
  });
  const fob: GateFactor = {
    verify: (input) => fobs.authenticate({ client: input.client as Ctap2Client, accountId: input.accountId }),
  };
  const password: GateFactor = { verify: (input) => passwords.verify(input.accountId, String(input.password)) };
  const gate = createGate({
    store,
    clock,
    policy: POLICY,
    keyring: KeyRing.generate('stories'),
    factors: { webauthn, fob, password },
  });
  const key = await Ctap2Client.open(new VirtualFob().connect());
  await fobs.enrol({ client: key, accountId: alice.id, label: 'blue key' });
  await passwords.enrol(alice.id, PASSWORD);
  return { clock, store, alice, webauthn, gate, key, password };
}

describe('story 1: a passkey sign-in, a large transfer asks for the fob, step-up answers it', () => {
  test('usernameless passkey (biometric) -> AAL2 session; $250 needs the fob; a touch steps up; the old session is revoked', async () => {
    const origin = 'https://bank.example';
    const { clock, alice, webauthn, gate, key } = await world({ id: 'bank.example', origin }, Date.UTC(2030, 5, 1, 9));
    const phone = new SoftAuthenticator({ backupEligible: true, backedUp: true, counterStep: 0 });
    const creation = await webauthn.startRegistration({ accountId: alice.id });
    await webauthn.finishRegistration({
      challengeId: creation.challengeId,
      response: phone.create(creation.options, { origin }),
    });

    const request = await webauthn.startAuthentication();
    const response = phone.get(request.options, { origin });
    const accountId = await webauthn.lookupAccount(response);
    expect(accountId).toBe(alice.id);
    const tx = gate.begin();
    const evidence = await gate.verify(tx, 'webauthn', {
      accountId: accountId as string,
      challengeId: request.challengeId,
      response,
    });
    expect(evidence).toMatchObject({ factor: 'webauthn', amr: ['swk', 'user'], kinds: ['possession', 'inherence'] });
    const session = await gate.issueSession(tx);
    expect(session.aal).toBe(2);
    expect((await gate.authorize(session.token, { action: 'read' })).decision.allow).toBe(true);
    expect((await gate.authorize(session.token, { action: 'transfer', context: { amount: 50 } })).decision.allow).toBe(
      true,
    );

    const big = (await gate.authorize(session.token, { action: 'transfer', context: { amount: 250 } })).decision;
    expect(big.allow).toBe(false);
    expect(big.stepUp[0]?.reason).toBe('add a fob');
    expect(big.reasons[0]).toMatch(/^needs a fob; you presented a synced passkey/);

    clock.advance(60_000);
    const more = gate.begin({ accountId: alice.id });
    await gate.verify(more, 'fob', { client: key });
    const stepped = await gate.stepUp(session.token, more);
    expect((await gate.authorize(stepped.token, { action: 'transfer', context: { amount: 250 } })).decision.allow).toBe(
      true,
    );
    expect((await rejection(gate.authorize(session.token, { action: 'read' }))).code).toBe('ERR_CREDENTIAL_REVOKED');
  });
});

describe('story 4: a biometric alone never reaches a sensitive action (the recorded Chromium assertion)', () => {
  test('the recorded passkey assertion signs in; closing the account asks for a knowledge factor, which the password gives', async () => {
    const { clock, store, alice, password } = await world({ id: vector.rpId, origin: vector.origin }, NOW);
    const { factor, challenge } = await seeded({ store, clock, accountId: alice.id });
    const webauthnGate = createGate({
      store,
      clock,
      policy: POLICY,
      keyring: KeyRing.generate('stories-4'),
      factors: { webauthn: factor, password },
    });
    const tx = webauthnGate.begin({ accountId: alice.id });
    const evidence = await webauthnGate.verify(tx, 'webauthn', {
      challengeId: await challenge(),
      response: vector.response,
    });
    expect(evidence).toMatchObject({ factor: 'webauthn', userVerified: true, kinds: ['possession', 'inherence'] });

    const close = webauthnGate.decide(tx, 'close-account');
    expect(close.allow).toBe(false);
    expect(close.reasons.join(' ')).toMatch(/never counts a biometric/);
    expect(close.stepUp.map((option) => option.reason)).toContain('add a password or PIN');
    // the same evidence is enough for what is not sensitive
    expect(webauthnGate.decide(tx, 'transfer', { amount: 50 }).allow).toBe(true);

    await webauthnGate.verify(tx, 'password', { password: PASSWORD });
    expect(webauthnGate.decide(tx, 'close-account').allow).toBe(true);
    // the recorded assertion replayed against a fresh challenge is refused
    const fresh = await factor.startAuthentication({ accountId: alice.id });
    const replay = await rejection(
      webauthnGate.verify(tx, 'webauthn', { challengeId: fresh.challengeId, response: vector.response }),
    );
    expect(replay.code).toBe('ERR_WEBAUTHN_VERIFICATION');
  });
});
