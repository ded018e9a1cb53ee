import { describe, expect, it } from 'vitest';
import { FobFactor } from '../../../src/factors/fob/factor.js';
import { Ctap2Client } from '../../../src/hardware/ctap2.js';
import { VirtualFob } from '../../../src/hardware/virtual-fob.js';
import { createMemoryStore } from '../../../src/store/memory.js';
import { FakeClock } from '../../../src/testing/clock.js';
import { rejection } from '../../helpers/errors.js';

const RP = 'example.com';

async function setup(options: { requireUserVerification?: boolean } = {}) {
  const clock = new FakeClock(Date.UTC(2030, 0, 1));
  const store = createMemoryStore({ clock });
  const factor = new FobFactor({ store, rpId: RP, clock, ...options });
  let saved = new VirtualFob().state;
  const fob = new VirtualFob({
    state: saved,
    onStateChange: (s) => {
      saved = s;
    },
  });
  const client = await Ctap2Client.open(fob.connect());
  const alice = await store.accounts.create({ username: 'alice' });
  return { clock, store, factor, fob, client, alice, saved: () => saved };
}

describe('the fob factor', () => {
  it('enrols and authenticates without a PIN: hardware-bound, phishing-resistant, amr hwk', async () => {
    const { factor, client, alice, store } = await setup();
    const record = await factor.enrol({ client, accountId: alice.id, label: 'blue key' });
    expect(record).toMatchObject({ factor: 'fob', accountId: alice.id, label: 'blue key' });
    expect(record.data).toMatchObject({ rpId: RP, attestation: 'self', hmacSecret: false });
    const evidence = await factor.authenticate({ client, accountId: alice.id });
    expect(evidence).toEqual({
      factor: 'fob',
      subject: alice.id,
      authenticatorId: record.id,
      amr: ['hwk'],
      kinds: ['possession'],
      phishingResistant: true,
      hardwareBound: true,
      userVerified: false,
      userPresent: true,
      replayResistant: true,
      at: Date.UTC(2030, 0, 1),
    });
    const updated = await store.authenticators.get(record.id);
    expect(updated?.counter).toBeGreaterThan(record.counter);
    expect(updated?.lastUsedAt).toBe(Date.UTC(2030, 0, 1));
  });

  it('with a PIN: enrolment needs it, evidence says hwk + pin (possession and knowledge)', async () => {
    const { factor, client, alice } = await setup({ requireUserVerification: true });
    await client.setPin('2468');
    expect((await rejection(factor.enrol({ client, accountId: alice.id }))).code).toBe('ERR_CTAP2_PIN_REQUIRED');
    await factor.enrol({ client, accountId: alice.id, pin: '2468', hmacSecret: true });
    const evidence = await factor.authenticate({ client, accountId: alice.id, pin: '2468' });
    expect(evidence.amr).toEqual(['hwk', 'pin']);
    expect(evidence.kinds).toEqual(['possession', 'knowledge']);
    expect(evidence.userVerified).toBe(true);
    // Required UV: an assertion without the PIN is refused.
    const withoutPin = await rejection(factor.authenticate({ client, accountId: alice.id }));
    expect(withoutPin).toMatchObject({ code: 'ERR_FOB_ASSERTION_INVALID', detail: { reason: 'user-verification' } });
    const wrong = await rejection(factor.authenticate({ client, accountId: alice.id, pin: '1111' }));
    expect(wrong.code).toBe('ERR_CTAP2_PIN_INVALID');
    expect(JSON.stringify(wrong.toJSON())).not.toContain('1111');
  });

  it('a challenge is single-use: replaying an assertion fails', async () => {
    const { factor, client, alice } = await setup();
    await factor.enrol({ client, accountId: alice.id });
    const challenge = await factor.challenge(alice.id);
    const assertion = await client.getAssertion({
      rpId: RP,
      clientDataHash: challenge.clientDataHash,
      allowList: challenge.allowList,
    });
    await factor.verify({ challengeId: challenge.id, assertion });
    expect((await rejection(factor.verify({ challengeId: challenge.id, assertion }))).code).toBe(
      'ERR_CHALLENGE_INVALID',
    );
  });

  it('refuses a forged signature, another RP, an expired challenge and an unknown fob', async () => {
    const { factor, client, alice, clock, store } = await setup();
    await factor.enrol({ client, accountId: alice.id });
    const answer = async () => {
      const challenge = await factor.challenge(alice.id);
      const assertion = await client.getAssertion({
        rpId: RP,
        clientDataHash: challenge.clientDataHash,
        allowList: challenge.allowList,
      });
      return { challenge, assertion };
    };
    const forged = await answer();
    const signature = forged.assertion.signature.slice();
    signature[signature.length - 1] = (signature.at(-1) ?? 0) ^ 1;
    expect(
      (
        await rejection(
          factor.verify({ challengeId: forged.challenge.id, assertion: { ...forged.assertion, signature } }),
        )
      ).detail.reason,
    ).toBe('signature');

    const expired = await answer();
    clock.advance(121_000);
    expect(
      (await rejection(factor.verify({ challengeId: expired.challenge.id, assertion: expired.assertion }))).code,
    ).toBe('ERR_CHALLENGE_INVALID');

    // A fob enrolled by nobody, answering Alice's challenge.
    const stranger = await Ctap2Client.open(new VirtualFob().connect());
    const challenge = await factor.challenge(alice.id);
    const made = await stranger.makeCredential({
      clientDataHash: challenge.clientDataHash,
      rp: { id: RP },
      user: { id: new Uint8Array([1]) },
    });
    const strangeAssertion = await stranger.getAssertion({
      rpId: RP,
      clientDataHash: challenge.clientDataHash,
      allowList: [made.authData.attestedCredential.credentialId],
    });
    expect((await rejection(factor.verify({ challengeId: challenge.id, assertion: strangeAssertion }))).code).toBe(
      'ERR_FOB_CREDENTIAL_UNKNOWN',
    );

    const bob = await store.accounts.create({ username: 'bob' });
    expect((await rejection(factor.challenge(bob.id))).code).toBe('ERR_FOB_CREDENTIAL_UNKNOWN');
    // Alice's fob answering a challenge issued to Bob.
    await factor.enrol({ client: stranger, accountId: bob.id });
    const bobs = await factor.challenge(bob.id);
    const aliceAnswer = await client.getAssertion({
      rpId: RP,
      clientDataHash: bobs.clientDataHash,
      allowList: (await factor.challenge(alice.id)).allowList,
    });
    expect((await rejection(factor.verify({ challengeId: bobs.id, assertion: aliceAnswer }))).code).toBe(
      'ERR_FOB_CREDENTIAL_UNKNOWN',
    );
  });

  it('a counter that goes backwards (a cloned fob) is refused', async () => {
    const { factor, client, alice, saved } = await setup();
    await factor.enrol({ client, accountId: alice.id });
    const snapshot = saved();
    await factor.authenticate({ client, accountId: alice.id });
    await factor.authenticate({ client, accountId: alice.id });
    // The clone starts from the earlier state, so its counter is behind.
    const clone = await Ctap2Client.open(new VirtualFob({ state: snapshot }).connect());
    const error = await rejection(factor.authenticate({ client: clone, accountId: alice.id }));
    expect(error.code).toBe('ERR_FOB_COUNTER_REGRESSED');
  });

  it('a fob credential enrolled twice on one fob is refused (excludeList)', async () => {
    const { factor, client, alice } = await setup();
    await factor.enrol({ client, accountId: alice.id });
    expect((await rejection(factor.enrol({ client, accountId: alice.id }))).code).toBe('ERR_CTAP2_CREDENTIAL_EXCLUDED');
  });
});
