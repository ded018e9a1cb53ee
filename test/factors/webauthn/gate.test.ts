/**
 * The WebAuthn factor driven through the gate: `WebAuthnFactor` is a `GateFactor` as it is (its
 * `verify` takes `{ accountId, challengeId, response, binding? }`), so an app configures it with
 * `factors: { webauthn }`. The session's AAL follows the evidence: a device-bound passkey with
 * user verification reaches AAL3, a synced one AAL2, one without user verification AAL1.
 */
import { describe, expect, it } from 'vitest';
import { inspectCredential, KeyRing } from '../../../src/delegation/index.js';
import type { WebAuthnFactor } from '../../../src/factors/webauthn/factor.js';
import { createGate, type GateFactor } from '../../../src/gate/index.js';
import type { Policy } from '../../../src/policy/types.js';
import type { Store } from '../../../src/store/types.js';
import type { FakeClock } from '../../../src/testing/clock.js';
import { SoftAuthenticator } from '../../../src/testing/soft-authenticator.js';
import { rejection } from '../../helpers/errors.js';
import { ORIGIN, register, world } from './setup.js';

const POLICY: Policy = {
  rules: [
    { id: 'read', effect: 'permit', actions: ['read'], require: { aal: 1 } },
    { id: 'transfer', effect: 'permit', actions: ['transfer'], require: { aal: 2 } },
    { id: 'wire', effect: 'permit', actions: ['wire'], require: { aal: 3 } },
  ],
};

function gateFor(store: Store, clock: FakeClock, webauthn: WebAuthnFactor) {
  // No adapter: the factor itself is the gate's driver (this line fails to type-check otherwise).
  const driver: GateFactor = webauthn;
  return createGate({
    store,
    clock,
    policy: POLICY,
    keyring: KeyRing.generate('webauthn-gate'),
    factors: { webauthn: driver },
  });
}

describe('the WebAuthn factor through the gate', () => {
  it('username-first: a device-bound passkey with UV mints an AAL3 session with amr hwk+user', async () => {
    const { store, clock, factor, authenticator, alice } = await world();
    await register(factor, authenticator, alice.id);
    const gate = gateFor(store, clock, factor);
    const tx = gate.begin({ accountId: alice.id });
    // The challenge is bound to the gate's transaction: only this transaction can answer it.
    const request = await factor.startAuthentication({ accountId: alice.id, binding: tx.id });
    const response = authenticator.get(request.options, { origin: ORIGIN });
    const evidence = await gate.verify(tx, 'webauthn', { challengeId: request.challengeId, response, binding: tx.id });
    expect(evidence).toMatchObject({
      factor: 'webauthn',
      subject: alice.id,
      amr: ['hwk', 'user'],
      hardwareBound: true,
    });
    expect(gate.decide(tx, 'wire').allow).toBe(true);
    const session = await gate.issueSession(tx);
    expect(session.aal).toBe(3);
    expect(inspectCredential(session.token)).toMatchObject({ subject: alice.id, amr: ['hwk', 'user'], acr: 'aal3' });
    expect((await gate.authorize(session.token, { action: 'wire' })).decision.allow).toBe(true);
  });

  it('usernameless: lookupAccount routes the response, and a synced passkey mints an AAL2 session at most', async () => {
    const { store, clock, factor, alice } = await world();
    const phone = new SoftAuthenticator({ backupEligible: true, backedUp: true, counterStep: 0 });
    await register(factor, phone, alice.id);
    const gate = gateFor(store, clock, factor);
    const request = await factor.startAuthentication();
    const response = phone.get(request.options, { origin: ORIGIN });
    const accountId = await factor.lookupAccount(response);
    expect(accountId).toBe(alice.id);
    const tx = gate.begin();
    const evidence = await gate.verify(tx, 'webauthn', {
      accountId: accountId as string,
      challengeId: request.challengeId,
      response,
    });
    expect(evidence).toMatchObject({ amr: ['swk', 'user'], hardwareBound: false, userVerified: true });
    expect(gate.decide(tx, 'transfer').allow).toBe(true);
    expect(gate.decide(tx, 'wire').allow).toBe(false);
    const session = await gate.issueSession(tx);
    expect(session.aal).toBe(2);
    expect((await gate.authorize(session.token, { action: 'wire' })).decision.allow).toBe(false);
  });

  it('without user verification (a `preferred` policy) the session is AAL1', async () => {
    const { store, clock, factor, authenticator, alice } = await world({ userVerification: 'preferred' });
    await register(factor, authenticator, alice.id, { uv: false });
    const gate = gateFor(store, clock, factor);
    const tx = gate.begin({ accountId: alice.id });
    const request = await factor.startAuthentication({ accountId: alice.id });
    const response = authenticator.get(request.options, { origin: ORIGIN, uv: false });
    await gate.verify(tx, 'webauthn', { challengeId: request.challengeId, response });
    expect((await gate.issueSession(tx)).aal).toBe(1);
  });

  it("attack: bob's passkey presented in alice's transaction is refused and audited; no evidence is added", async () => {
    const { store, clock, factor, authenticator, alice, bob } = await world();
    await register(factor, authenticator, bob.id);
    const gate = gateFor(store, clock, factor);
    const tx = gate.begin({ accountId: alice.id });
    const request = await factor.startAuthentication();
    const response = authenticator.get(request.options, { origin: ORIGIN });
    const err = await rejection(gate.verify(tx, 'webauthn', { challengeId: request.challengeId, response }));
    expect(err).toMatchObject({ code: 'ERR_WEBAUTHN_CREDENTIAL_UNKNOWN', detail: { reason: 'not-allowed' } });
    expect(tx.evidence).toHaveLength(0);
    const audit = await store.audit.query({ subject: alice.id, types: ['signin.failure'] });
    expect(audit.map((entry) => entry.detail)).toEqual([
      { factor: 'webauthn', code: 'ERR_WEBAUTHN_CREDENTIAL_UNKNOWN' },
    ]);
  });

  it('attack: a challenge bound to another transaction is refused', async () => {
    const { store, clock, factor, authenticator, alice } = await world();
    await register(factor, authenticator, alice.id);
    const gate = gateFor(store, clock, factor);
    const victim = gate.begin({ accountId: alice.id });
    const attacker = gate.begin({ accountId: alice.id });
    const request = await factor.startAuthentication({ accountId: alice.id, binding: victim.id });
    const response = authenticator.get(request.options, { origin: ORIGIN });
    const err = await rejection(
      gate.verify(attacker, 'webauthn', { challengeId: request.challengeId, response, binding: attacker.id }),
    );
    expect(err).toMatchObject({ code: 'ERR_CHALLENGE_INVALID', detail: { reason: 'binding' } });
  });
});
