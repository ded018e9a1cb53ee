// @ts-check
// "Present your USB fob": Alice enrols a FIDO2 security key with its PIN, then signs in by
// touching it and typing the PIN. The fob here is latchkey's virtual fob (a real CTAP 2.1
// authenticator in process memory); with a real key, `Ctap2Client.open(await openFob())`.
import { isLatchkeyError } from 'latchkey';
import { Ctap2Client, FobFactor } from 'latchkey/fob';
import { createMemoryStore, VirtualFob } from 'latchkey/testing';

/** @param {(line: string) => void} say */
export async function run(say) {
  const store = createMemoryStore();
  const alice = await store.accounts.create({ username: 'alice', displayName: 'Alice' });
  const fob = new VirtualFob({ touchDelayMs: 30 });
  const client = await Ctap2Client.open(fob.connect());
  say(`fob speaks ${client.info.versions.join(', ')}; PIN protocols ${client.info.pinUvAuthProtocols.join(', ')}`);

  await client.setPin('2468');
  const factor = new FobFactor({ store, rpId: 'example.com', requireUserVerification: true });
  const record = await factor.enrol({
    client,
    accountId: alice.id,
    pin: '2468',
    label: 'blue key',
    userName: 'alice',
  });
  say(`enrolled ${record.label} for ${alice.username} (${record.data.attestation} attestation)`);

  let touches = 0;
  const evidence = await factor.authenticate({
    client,
    accountId: alice.id,
    pin: '2468',
    onKeepalive: (status) => {
      if (status === 2) touches++;
    },
  });
  say(`signed in after ${touches} request(s) to touch: amr [${evidence.amr}], kinds [${evidence.kinds}]`);
  say(`hardware-bound ${evidence.hardwareBound}, phishing-resistant ${evidence.phishingResistant}`);

  try {
    await factor.authenticate({ client, accountId: alice.id, pin: '1111' });
  } catch (error) {
    if (!isLatchkeyError(error)) throw error;
    say(
      `a wrong PIN is refused: ${error.code} (${error.detail.statusName}), ${(await client.getPinRetries()).retries} tries left`,
    );
  }
  await client.close();
}
