// @ts-check
// Story 3, "Hon, take my card to the corner store": Alice's bank issues her a card (a
// credential); she narrows it to the corner store, at most $10, until tonight, once, and makes it
// work only when Bob proves himself with his own fob at a fob-check service that shares no secret
// with the bank. She hands it to Carol, who narrows it further and passes it to Bob. Alice can
// revoke it. Both services keep their state in SQLite files in a temporary folder.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  attenuate,
  bindDischarge,
  CredentialIssuer,
  Discharger,
  inspectCredential,
  isLatchkeyError,
  KeyRing,
} from 'latchkey';
import { Ctap2Client, FobFactor } from 'latchkey/fob';
import { openSqliteStore } from 'latchkey/store/sqlite';
import { FakeClock, VirtualFob } from 'latchkey/testing';

/** @param {(line: string) => void} say */
export async function run(say) {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-corner-store-'));
  const clock = new FakeClock(Date.UTC(2030, 5, 1, 9));
  const bankStore = await openSqliteStore({ filename: join(dir, 'bank.db'), clock });
  // The fob-check service knows Bob's fob; the bank never sees it.
  const idp = await openSqliteStore({ filename: join(dir, 'fobcheck.db'), clock });
  try {
    await story(say, clock, bankStore, idp);
  } finally {
    await bankStore.close();
    await idp.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * @param {(line: string) => void} say
 * @param {FakeClock} clock
 * @param {import('latchkey').Store} bankStore
 * @param {import('latchkey').Store} idp
 */
async function story(say, clock, bankStore, idp) {
  const bank = new CredentialIssuer({ keys: KeyRing.generate('bank-2030'), store: bankStore, clock });

  const fobs = new FobFactor({ store: idp, rpId: 'fobcheck.example', clock });
  const bob = await idp.accounts.create({ username: 'bob' });
  const bobsFob = await Ctap2Client.open(new VirtualFob().connect());
  await fobs.enrol({ client: bobsFob, accountId: bob.id, label: "Bob's key" });
  const fobCheck = new Discharger({
    privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
    location: 'https://fobcheck.example',
    clock,
    check: async ({ condition, context }) => {
      if (condition !== 'holder proves a fob as bob' || !(context.client instanceof Ctap2Client)) return false;
      const evidence = await fobs.authenticate({ client: context.client, accountId: bob.id });
      return evidence.subject === bob.id;
    },
  });

  const card = await bank.issue({
    sub: 'alice',
    amr: ['hwk', 'pin'],
    expiry: Date.UTC(2030, 5, 1, 23, 59),
    uses: 1,
    caveats: ['action == "purchase"', 'merchant == "corner-store"', 'amount <= 10'],
  });
  const forCarol = await attenuate(card.token, {
    thirdParty: [
      { location: fobCheck.location, publicKey: fobCheck.publicKey, condition: 'holder proves a fob as bob' },
    ],
  });
  const forBob = await attenuate(forCarol.token, ['amount <= 8']);
  say(`Alice's card ${card.credentialId} -> Carol ${forCarol.credentialId} -> Bob ${forBob.credentialId}`);
  say(`what Bob holds (read without a key): ${inspectCredential(forBob.token).text.split('\n')[0]}`);

  /** Bob at the till: a fresh discharge from the fob check, bound to his token. */
  const pay = async (/** @type {number} */ amount, token = forBob.token) => {
    const [needed] = inspectCredential(token).thirdParty;
    if (needed === undefined) throw new Error('expected a third-party caveat');
    const discharge = await fobCheck.discharge(needed.identifier, { context: { client: bobsFob } });
    return bank.verify(token, {
      discharges: [bindDischarge(token, discharge)],
      context: { action: 'purchase', merchant: 'corner-store', amount },
    });
  };
  const refused = async (/** @type {() => Promise<unknown>} */ attempt) => {
    try {
      await attempt();
      return 'accepted (!)';
    } catch (error) {
      if (!isLatchkeyError(error)) throw error;
      return `${error.code}${error.detail.caveat === undefined ? '' : ` (${error.detail.caveat})`}`;
    }
  };

  say(`$9 is refused, Carol's limit: ${await refused(() => pay(9))}`);
  const paid = await pay(7.5);
  say(`$7.50 with Bob's fob: paid as ${paid.subject} through a chain of ${paid.chain.length}`);
  say(`a second purchase: ${await refused(() => pay(1))}`);
  const widened = await attenuate(forBob.token, ['amount <= 1000']);
  say(`Bob appends "amount <= 1000": ${await refused(() => pay(50, widened.token))}`);
  await bank.revoke(card.credentialId, { reason: 'lost' });
  say(`after Alice revokes her card, Carol's copy: ${await refused(() => pay(1, forCarol.token))}`);
  await bobsFob.close();
}
