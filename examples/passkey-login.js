// @ts-check
// Story 1, "app login with step-up", end to end on SQLite: Alice signs in to her bank with the
// passkey on her phone (user verification by fingerprint; a software authenticator here stands in
// for the phone and its browser, signing real WebAuthn assertions). She reads her account and
// moves $50. Moving $250 needs "fob AND (password OR biometric)": the answer names the missing
// fob; one touch steps the session up, and the old session is revoked.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGate, isLatchkeyError, KeyRing } from 'latchkey';
import { Ctap2Client, FobFactor } from 'latchkey/fob';
import { openSqliteStore } from 'latchkey/store/sqlite';
import { SoftAuthenticator, VirtualFob } from 'latchkey/testing';
import { WebAuthnFactor } from 'latchkey/webauthn';

const origin = 'https://bank.example';

/** @param {(line: string) => void} say */
export async function run(say) {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-story1-'));
  const store = await openSqliteStore({ filename: join(dir, 'bank.db') });
  try {
    const webauthn = new WebAuthnFactor({ store, rp: { id: 'bank.example', name: 'Bank', origins: [origin] } });
    const fobs = new FobFactor({ store, rpId: 'bank.example' });
    const gate = createGate({
      store,
      keyring: KeyRing.generate('bank'),
      factors: {
        webauthn,
        fob: {
          verify: (input) =>
            fobs.authenticate({ client: /** @type {Ctap2Client} */ (input.client), accountId: input.accountId }),
        },
      },
      policy: {
        rules: [
          { id: 'read', effect: 'permit', actions: ['read'], require: { aal: 1 } },
          { id: 'small', effect: 'permit', actions: ['transfer'], when: 'amount <= 100', require: { aal: 2 } },
          {
            id: 'large',
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
        ],
      },
    });
    const alice = await store.accounts.create({ username: 'alice' });
    const phone = new SoftAuthenticator({ backupEligible: true, backedUp: true, counterStep: 0 });
    const creation = await webauthn.startRegistration({ accountId: alice.id, label: "Alice's phone" });
    await webauthn.finishRegistration({
      challengeId: creation.challengeId,
      response: phone.create(creation.options, { origin }),
    });
    const fob = await Ctap2Client.open(new VirtualFob().connect());
    await fobs.enrol({ client: fob, accountId: alice.id, label: 'blue key' });
    say('enrolled: a synced passkey on the phone, and the blue fob');

    const request = await webauthn.startAuthentication();
    const response = phone.get(request.options, { origin });
    const accountId = await webauthn.lookupAccount(response);
    const tx = gate.begin();
    const evidence = await gate.verify(tx, 'webauthn', {
      accountId: accountId ?? '',
      challengeId: request.challengeId,
      response,
    });
    const session = await gate.issueSession(tx);
    say(`usernameless passkey sign-in (fingerprint): ${evidence.amr.join('+')}, session AAL${session.aal}`);
    const read = await gate.authorize(session.token, { action: 'read' });
    const small = await gate.authorize(session.token, { action: 'transfer', context: { amount: 50 } });
    say(
      `read: ${read.decision.allow ? 'allowed' : 'denied'}; move $50: ${small.decision.allow ? 'allowed' : 'denied'}`,
    );
    const large = await gate.authorize(session.token, { action: 'transfer', context: { amount: 250 } });
    say(
      `move $250: denied — ${large.decision.reasons[0]}; step-up: ${large.decision.stepUp.map((o) => o.reason).join(' | ')}`,
    );

    const more = gate.begin({ accountId: alice.id });
    await gate.verify(more, 'fob', { client: fob });
    const stepped = await gate.stepUp(session.token, more);
    const again = await gate.authorize(stepped.token, { action: 'transfer', context: { amount: 250 } });
    say(
      `one touch of the fob steps up: move $250 ${again.decision.allow ? 'allowed' : 'denied'} (by rule \`${again.decision.decidedBy}\`)`,
    );
    try {
      await gate.authorize(session.token, { action: 'read' });
    } catch (error) {
      if (!isLatchkeyError(error)) throw error;
      say(`the old session: ${error.code}`);
    }
    await fob.close();
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
