/**
 * Story 3, end to end: "Hon, take my card to the corner store." Alice's bank issues a card good
 * for purchases at the corner store, at most $10, until tonight, once. Alice makes it work only
 * for Bob proving himself with his own fob (a third-party caveat discharged by a fob-check
 * service that runs latchkey's real fob factor against a virtual CTAP2 fob), routes it through
 * Carol, who narrows it, and can revoke it.
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import {
  attenuate,
  bindDischarge,
  CredentialIssuer,
  Discharger,
  inspectCredential,
  KeyRing,
} from '../../src/delegation/index.js';
import { FobFactor } from '../../src/factors/fob/factor.js';
import { Ctap2Client } from '../../src/hardware/ctap2.js';
import { VirtualFob } from '../../src/hardware/virtual-fob.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { FakeClock } from '../../src/testing/clock.js';
import { rejection } from '../helpers/errors.js';

const MORNING = Date.UTC(2030, 5, 1, 9);
const TONIGHT = Date.UTC(2030, 5, 1, 23, 59);
const CONDITION = /^holder proves fob or passkey as ([a-z]+)$/;

function must<T>(value: T | undefined | null): T {
  if (value === undefined || value === null) throw new Error('expected a value');
  return value;
}

async function world() {
  const clock = new FakeClock(MORNING);

  // Alice's bank: issues and verifies cards.
  const bank = new CredentialIssuer({
    keys: KeyRing.generate('bank-2030'),
    store: createMemoryStore({ clock }),
    clock,
  });

  // The fob-check service: knows Bob's fob, shares no secret with the bank.
  const idpStore = createMemoryStore({ clock });
  const fobs = new FobFactor({ store: idpStore, rpId: 'fobcheck.example', clock });
  const bob = await idpStore.accounts.create({ username: 'bob' });
  const bobsFob = await Ctap2Client.open(new VirtualFob().connect());
  await fobs.enrol({ client: bobsFob, accountId: bob.id, label: "bob's key" });
  const mallorysFob = await Ctap2Client.open(new VirtualFob().connect());
  const checks: string[] = [];
  const fobCheck = new Discharger({
    privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
    location: 'https://fobcheck.example',
    clock,
    check: async ({ condition, context }) => {
      const who = CONDITION.exec(condition)?.[1];
      const account = who === undefined ? null : await idpStore.accounts.findByUsername(who);
      if (account === null || !(context.client instanceof Ctap2Client)) return false;
      const evidence = await fobs.authenticate({ client: context.client, accountId: account.id });
      checks.push(`${who}: ${evidence.amr.join('+')}`);
      return evidence.subject === account.id;
    },
  });

  // Alice's card.
  const card = await bank.issue({
    sub: 'alice',
    amr: ['hwk', 'pin'],
    expiry: TONIGHT,
    uses: 1,
    caveats: ['action == "purchase"', 'merchant == "corner-store"', 'amount <= 10'],
  });
  // Alice: only for Bob, proving himself with his own fob; she hands it to Carol.
  const forCarol = await attenuate(card.token, {
    thirdParty: [
      { location: fobCheck.location, publicKey: fobCheck.publicKey, condition: 'holder proves fob or passkey as bob' },
    ],
  });
  // Carol narrows it before passing it to Bob: at most $8, and only until 18:00.
  const forBob = await attenuate(forCarol.token, ['amount <= 8', 'time < 2030-06-01T18:00']);

  /** Bob at the till: he reads which discharge he needs, proves himself with his fob, pays. */
  async function pay(
    token: string,
    { amount, merchant = 'corner-store', fob = bobsFob }: { amount: number; merchant?: string; fob?: Ctap2Client },
  ) {
    const [needed] = inspectCredential(token).thirdParty;
    const discharge = await fobCheck.discharge(must(needed).identifier, { context: { client: fob } });
    return bank.verify(token, {
      discharges: [bindDischarge(token, discharge)],
      context: { action: 'purchase', merchant, amount },
    });
  }
  return { clock, bank, card, forCarol, forBob, mallorysFob, checks, pay };
}

describe('story 3: hon, take my card to the corner store', () => {
  test('Bob buys $7.50 once, with his fob, through Carol; the shop sees Alice and the whole chain', async () => {
    const { card, forCarol, forBob, pay, checks } = await world();
    const view = inspectCredential(forBob.token);
    expect(view.text).toMatch(/^UNVERIFIED/);
    expect(view.subject).toBe('alice');
    expect(view.chain).toEqual([card.credentialId, forCarol.credentialId, forBob.credentialId]);
    expect(view.expiresAt).toBe(Date.UTC(2030, 5, 1, 18));
    expect(view.thirdParty).toHaveLength(1);

    const claims = await pay(forBob.token, { amount: 7.5 });
    expect(checks).toEqual(['bob: hwk']);
    expect(claims).toMatchObject({
      subject: 'alice',
      amr: ['hwk', 'pin'],
      chain: [card.credentialId, forCarol.credentialId, forBob.credentialId],
      credentialId: forBob.credentialId,
      expiresAt: Date.UTC(2030, 5, 1, 18),
    });
    expect(claims.caveats.map((c) => c.text)).toEqual(
      expect.arrayContaining(['amount <= 10', 'amount <= 8', 'third-party caveat at https://fobcheck.example']),
    );

    // Once: a second purchase fails even with a fresh proof from Bob.
    const again = await rejection(pay(forBob.token, { amount: 1 }));
    expect(again.code).toBe('ERR_CREDENTIAL_USES_EXHAUSTED');
    expect(again.detail.credentialId).toBe(card.credentialId);
    // ... and so does Alice's own card: "once" is shared down the chain.
    expect((await rejection(pay(forCarol.token, { amount: 1 }))).code).toBe('ERR_CREDENTIAL_USES_EXHAUSTED');
  });

  test('everything that must fail fails, and none of it spends the one use', async () => {
    const { bank, clock, forBob, pay, mallorysFob, checks } = await world();

    // Without Bob's proof.
    const unproven = await rejection(
      bank.verify(forBob.token, { context: { action: 'purchase', merchant: 'corner-store', amount: 5 } }),
    );
    expect(unproven.code).toBe('ERR_MACAROON_DISCHARGE_MISSING');
    // Mallory with her own fob, claiming to be Bob: the fob factor refuses, no discharge is minted.
    const mallory = await rejection(pay(forBob.token, { amount: 5, fob: mallorysFob }));
    expect(mallory.code).toMatch(/^ERR_(FOB|CTAP2)_/);
    expect(checks).toEqual([]);
    // More than Carol allows, though within Alice's $10.
    const tooMuch = await rejection(pay(forBob.token, { amount: 9 }));
    expect(tooMuch.code).toBe('ERR_CREDENTIAL_CAVEAT_FAILED');
    expect(tooMuch.detail.caveat).toBe('amount <= 8');
    // Another shop.
    const elsewhere = await rejection(pay(forBob.token, { amount: 5, merchant: 'electronics' }));
    expect(elsewhere.detail.caveat).toBe('merchant == "corner-store"');
    // After 18:00, Carol's limit; after tonight, Alice's.
    clock.set(Date.UTC(2030, 5, 1, 18));
    expect((await rejection(pay(forBob.token, { amount: 5 }))).code).toBe('ERR_CREDENTIAL_EXPIRED');
    clock.set(MORNING);

    // None of that spent the use: Bob can still buy once.
    expect((await pay(forBob.token, { amount: 8 })).subject).toBe('alice');
  });

  test("Alice revokes her card: Carol's and Bob's tokens stop working at once", async () => {
    const { bank, card, forBob, forCarol, pay } = await world();
    await bank.revoke(card.credentialId, { reason: 'Bob already went shopping', expiresAt: TONIGHT });
    for (const token of [forBob.token, forCarol.token]) {
      const error = await rejection(pay(token, { amount: 1 }));
      expect(error.code).toBe('ERR_CREDENTIAL_REVOKED');
      expect(error.detail.credentialId).toBe(card.credentialId);
    }
  });

  test('Carol can narrow but never widen: appending `amount <= 1000` or a later expiry changes nothing', async () => {
    const { forBob, pay, clock } = await world();
    const widened = await attenuate(forBob.token, ['amount <= 1000', 'time < 2030-06-02T12:00']);
    const error = await rejection(pay(widened.token, { amount: 50 }));
    expect(error.detail.caveat).toBe('amount <= 10');
    clock.set(Date.UTC(2030, 5, 1, 19));
    expect((await rejection(pay(widened.token, { amount: 5 }))).code).toBe('ERR_CREDENTIAL_EXPIRED');
  });
});
