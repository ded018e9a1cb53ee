// @ts-check
// Story 1, app login with step-up: a passkey login reads Alice's account; moving more than $100
// asks for her fob, and the app learns exactly what is missing. Story 4, "your thumb or your
// life": a biometric alone never closes the account; a knowledge factor is required there.
import { assuranceLevel, compilePolicy, lintPolicy } from 'latchkey';

/** @typedef {import('latchkey').Evidence} Evidence */

const policy = compilePolicy({
  rules: [
    { id: 'read', effect: 'permit', actions: ['read'], require: { aal: 1 } },
    { id: 'transfer-small', effect: 'permit', actions: ['transfer'], when: 'amount <= 100', require: { aal: 2 } },
    {
      id: 'transfer-large',
      effect: 'permit',
      actions: ['transfer'],
      when: 'amount > 100',
      // fob AND (password OR biometric)
      require: {
        all: [
          { factor: { factor: 'fob', label: 'your fob' } },
          { any: [{ factor: { kind: 'knowledge' } }, { factor: { kind: 'inherence' } }] },
        ],
      },
    },
    { id: 'close-account', effect: 'permit', actions: ['close-account'], sensitive: true, require: { aal: 2 } },
  ],
});

/** @param {(line: string) => void} say */
export async function run(say) {
  const now = Date.now();
  /** @type {Evidence} Touch ID unlocked a synced passkey */
  const passkey = {
    factor: 'webauthn',
    subject: 'alice',
    authenticatorId: 'passkey-1',
    amr: ['swk', 'user', 'fpt'],
    kinds: ['possession', 'inherence'],
    phishingResistant: true,
    hardwareBound: false,
    userVerified: true,
    userPresent: true,
    replayResistant: true,
    at: now,
  };
  /** @type {Evidence} her USB fob, touched */
  const fob = {
    factor: 'fob',
    subject: 'alice',
    authenticatorId: 'fob-1',
    amr: ['hwk'],
    kinds: ['possession'],
    phishingResistant: true,
    hardwareBound: true,
    userVerified: false,
    userPresent: true,
    replayResistant: true,
    at: now,
  };
  /** @type {Evidence} */
  const password = {
    factor: 'password',
    subject: 'alice',
    authenticatorId: 'password',
    amr: ['pwd'],
    kinds: ['knowledge'],
    phishingResistant: false,
    hardwareBound: false,
    userVerified: false,
    userPresent: false,
    replayResistant: false,
    at: now,
  };

  say(`story 1: Alice signs in with a passkey (AAL${assuranceLevel([passkey], { now })})`);
  const read = policy.decide({ evidence: [passkey], action: 'read', now });
  say(`  read her account: ${read.allow ? 'allowed' : 'denied'} by \`${read.decidedBy}\``);
  const large = policy.decide({ evidence: [passkey], action: 'transfer', context: { amount: 250 }, now });
  say(`  move $250: ${large.allow ? 'allowed' : 'denied'}; ${large.reasons[0]}`);
  say(`  step-up: ${large.stepUp.map((option) => option.reason).join(' or ')}`);
  const withFob = policy.decide({ evidence: [passkey, fob], action: 'transfer', context: { amount: 250 }, now });
  say(`  with the fob: ${withFob.allow ? 'allowed' : 'denied'} by \`${withFob.decidedBy}\` (AAL${withFob.aal})`);

  say('story 4: a biometric alone never unlocks a high-stakes action');
  const close = policy.decide({ evidence: [passkey], action: 'close-account', now });
  say(
    `  close the account with Touch ID: ${close.allow ? 'allowed' : 'denied'}; step-up: ${close.stepUp.map((o) => o.reason).join(' or ')}`,
  );
  const closeWithPassword = policy.decide({ evidence: [passkey, password], action: 'close-account', now });
  say(`  with her password too: ${closeWithPassword.allow ? 'allowed' : 'denied'}`);
  for (const finding of lintPolicy(policy.policy)) {
    if (finding.rule === 'transfer-large') say(`  lint: ${finding.code}: ${finding.message}`);
  }
}
