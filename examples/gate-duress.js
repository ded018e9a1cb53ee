// @ts-check
// The gate on the embedded defaults (SQLite in a temporary folder, the virtual fob in process):
// Alice signs in with a touch of her fob, reads her account, is asked for her PIN to move $250,
// steps up. Then story 4: forced to sign in, she uses her duress key. The sign-in "works" and
// looks like any other, but the session only sees a decoy, her earlier sessions and delegations
// are frozen, and the operator is alerted.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGate, isLatchkeyError, KeyRing } from 'latchkey';
import { Ctap2Client, FobFactor } from 'latchkey/fob';
import { openSqliteStore } from 'latchkey/store/sqlite';
import { VirtualFob } from 'latchkey/testing';

/** @param {(line: string) => void} say */
export async function run(say) {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-demo-'));
  const store = await openSqliteStore({ filename: join(dir, 'latchkey.db') });
  try {
    const fobs = new FobFactor({ store, rpId: 'bank.example' });
    const gate = createGate({
      store,
      keyring: KeyRing.generate('demo'),
      factors: {
        fob: {
          verify: (input) =>
            fobs.authenticate({
              client: /** @type {Ctap2Client} */ (input.client),
              accountId: input.accountId,
              ...(typeof input.pin === 'string' ? { pin: input.pin } : {}),
            }),
        },
      },
      policy: {
        rules: [
          { id: 'read', effect: 'permit', actions: ['read'], require: { aal: 1 } },
          { id: 'decoy', effect: 'permit', actions: ['read-decoy'], require: { aal: 1 } },
          {
            id: 'transfer',
            effect: 'permit',
            actions: ['transfer'],
            require: { factor: { factor: 'fob', userVerified: true, label: 'your fob with its PIN' } },
          },
        ],
      },
      duress: { actions: ['read-decoy'] },
      hooks: { onDuress: (event) => say(`  [operator alarm] duress sign-in; ${event.frozen} credential(s) frozen`) },
    });
    const alice = await store.accounts.create({ username: 'alice' });
    const blue = await Ctap2Client.open(new VirtualFob().connect());
    await blue.setPin('2468');
    await fobs.enrol({ client: blue, accountId: alice.id, pin: '2468', label: 'blue key' });
    const red = await Ctap2Client.open(new VirtualFob().connect());
    const duressKey = await fobs.enrol({ client: red, accountId: alice.id, label: 'red key' });
    await store.authenticators.update(duressKey.id, duressKey.version, { duress: true });

    const tx = gate.begin({ accountId: alice.id });
    await gate.verify(tx, 'fob', { client: blue });
    const session = await gate.issueSession(tx);
    say(
      `story 1: a touch of the blue key: AAL${session.aal} session, idle limit ${session.idleMs === null ? 'none' : `${session.idleMs / 60_000} min`}`,
    );
    say(`  read: ${(await gate.authorize(session.token, { action: 'read' })).decision.allow ? 'allowed' : 'denied'}`);
    const transfer = await gate.authorize(session.token, { action: 'transfer' });
    say(`  move $250: denied; step-up: ${transfer.decision.stepUp.map((option) => option.reason).join(' or ')}`);
    const more = gate.begin({ accountId: alice.id });
    await gate.verify(more, 'fob', { client: blue, pin: '2468' });
    const stepped = await gate.stepUp(session.token, more);
    say(
      `  with the PIN: AAL${stepped.aal}; move $250 ${(await gate.authorize(stepped.token, { action: 'transfer' })).decision.allow ? 'allowed' : 'denied'}; the old session is revoked`,
    );
    await gate.delegate(stepped.token, ['amount <= 10']);

    say('story 4: forced to sign in, Alice touches the red (duress) key');
    const coerced = gate.begin({ accountId: alice.id });
    await gate.verify(coerced, 'fob', { client: red });
    const decoy = await gate.issueSession(coerced);
    await gate.settled();
    say(
      `  the response looks like any sign-in: AAL${decoy.aal}, a ${decoy.token.length}-character token (the real one was ${session.token.length})`,
    );
    const real = await gate.authorize(decoy.token, { action: 'read' });
    say(
      `  the session reads only the decoy: read ${real.decision.allow ? 'allowed' : `denied (${real.decision.reasons[0]})`}, read-decoy ${(await gate.authorize(decoy.token, { action: 'read-decoy' })).decision.allow ? 'allowed' : 'denied'}`,
    );
    try {
      await gate.authorize(stepped.token, { action: 'read' });
      say('  (!) the earlier session still works');
    } catch (error) {
      if (!isLatchkeyError(error)) throw error;
      say(`  her earlier session: ${error.code}`);
    }
    const visible = await store.audit.query({ subject: alice.id });
    say(`  Alice's own audit view: ${visible.length} entries, none of them "duress"`);
    await blue.close();
    await red.close();
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
