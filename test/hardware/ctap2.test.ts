/**
 * The CTAP2 client against the virtual fob over the in-memory connection: the protocol layer
 * with the backend swapped, not mocked. The same client runs over the pipe in pipe.test.ts.
 */
import { createHash, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { concatBytes } from '../../src/core/bytes.js';
import { decodeCoseP256, p256KeyObject } from '../../src/hardware/cose.js';
import { Ctap2Client } from '../../src/hardware/ctap2.js';
import { VirtualFob } from '../../src/hardware/virtual-fob.js';
import { FakeClock } from '../../src/testing/clock.js';
import { rejection } from '../helpers/errors.js';

const RP = 'example.com';
const sha256 = (text: string): Uint8Array => new Uint8Array(createHash('sha256').update(text).digest());

async function open(fob = new VirtualFob(), pinProtocol?: 1 | 2) {
  return { fob, client: await Ctap2Client.open(fob.connect(), pinProtocol === undefined ? {} : { pinProtocol }) };
}

describe('Ctap2Client against the in-memory virtual fob', () => {
  it('getInfo describes a CTAP 2.1 authenticator', async () => {
    const { client } = await open();
    expect(client.info).toMatchObject({
      versions: ['FIDO_2_0', 'FIDO_2_1'],
      extensions: ['hmac-secret'],
      options: { rk: true, up: true, plat: false, clientPin: false, pinUvAuthToken: true },
      pinUvAuthProtocols: [2, 1],
      algorithms: [{ alg: -7, type: 'public-key' }],
      minPinLength: 4,
    });
    expect(client.info.aaguid).toHaveLength(16);
  });

  it('makeCredential with packed self attestation, getAssertion verifiable with the attested key', async () => {
    const { client } = await open();
    const clientDataHash = sha256('register');
    const made = await client.makeCredential({ clientDataHash, rp: { id: RP }, user: { id: new Uint8Array([1, 2]) } });
    expect(made.fmt).toBe('packed');
    expect(made.authData.userPresent).toBe(true);
    expect(made.authData.userVerified).toBe(false);
    const key = p256KeyObject(decodeCoseP256(made.authData.attestedCredential.publicKey, -7));
    const attSig = made.attStmt.get('sig') as Uint8Array;
    expect(made.attStmt.get('alg')).toBe(-7);
    expect(made.attStmt.has('x5c')).toBe(false);
    expect(verify('sha256', concatBytes(made.authData.raw, clientDataHash), key, attSig)).toBe(true);

    const challenge = sha256('login');
    const credentialId = made.authData.attestedCredential.credentialId;
    const assertion = await client.getAssertion({ rpId: RP, clientDataHash: challenge, allowList: [credentialId] });
    expect(assertion.credentialId).toEqual(credentialId);
    expect(assertion.authData.rpIdHash).toEqual(sha256(RP));
    expect(assertion.authData.signCount).toBeGreaterThan(made.authData.signCount);
    expect(verify('sha256', concatBytes(assertion.authData.raw, challenge), key, assertion.signature)).toBe(true);

    const silent = await client.getAssertion({
      rpId: RP,
      clientDataHash: challenge,
      allowList: [credentialId],
      userPresence: false,
    });
    expect(silent.authData.userPresent).toBe(false);
    expect(
      (
        await rejection(
          client.getAssertion({ rpId: 'other.example', clientDataHash: challenge, allowList: [credentialId] }),
        )
      ).code,
    ).toBe('ERR_CTAP2_NO_CREDENTIALS');
    const excluded = await rejection(
      client.makeCredential({
        clientDataHash,
        rp: { id: RP },
        user: { id: new Uint8Array([1]) },
        excludeList: [credentialId],
      }),
    );
    expect(excluded).toMatchObject({
      code: 'ERR_CTAP2_CREDENTIAL_EXCLUDED',
      detail: { statusName: 'CTAP2_ERR_CREDENTIAL_EXCLUDED' },
    });
  });

  it('resident credentials are found without an allow list, one after another', async () => {
    const { client } = await open();
    for (const name of ['alice', 'bob']) {
      await client.makeCredential({
        clientDataHash: sha256(name),
        rp: { id: RP },
        user: { id: new TextEncoder().encode(name), name },
        residentKey: true,
      });
    }
    const first = await client.getAssertion({ rpId: RP, clientDataHash: sha256('x') });
    expect(first.numberOfCredentials).toBe(2);
    const second = await client.getNextAssertion();
    const users = [first.user?.id, second.user?.id].map((id) => new TextDecoder().decode(id));
    expect(users.sort()).toEqual(['alice', 'bob']);
    // Without UV the fob names no user.
    expect(first.user?.name).toBeUndefined();
    expect((await rejection(client.getNextAssertion())).code).toBe('ERR_CTAP2_STATUS');
    expect(client.info.remainingDiscoverableCredentials).toBe(25);
    expect((await client.getInfo()).remainingDiscoverableCredentials).toBe(23);
  });

  it.each([1, 2] as const)(
    'PIN protocol %i: set, token, UV flag, change, retries and per-power-cycle block',
    async (version) => {
      const { fob, client: first } = await open(new VirtualFob(), version);
      let client = first;
      await client.setPin('1234');
      expect(client.info.options.clientPin).toBe(true);
      expect(await client.getPinRetries()).toEqual({ retries: 8, powerCycleState: false });
      const token = await client.getPinUvAuthToken('1234', { rpId: RP });
      const made = await client.makeCredential({
        clientDataHash: sha256('r'),
        rp: { id: RP },
        user: { id: new Uint8Array([7]), name: 'alice' },
        residentKey: true,
        pinUvAuthToken: token,
      });
      expect(made.authData.userVerified).toBe(true);
      const assertion = await client.getAssertion({ rpId: RP, clientDataHash: sha256('a'), pinUvAuthToken: token });
      expect(assertion.authData.userVerified).toBe(true);
      expect(assertion.user?.name).toBe('alice');
      // The token is bound to the RP it was first used with.
      expect(
        (
          await rejection(
            client.getAssertion({ rpId: 'other.example', clientDataHash: sha256('a'), pinUvAuthToken: token }),
          )
        ).code,
      ).toBe('ERR_CTAP2_STATUS');
      token.wipe();
      // A resident credential needs the PIN once one is set.
      expect(
        (
          await rejection(
            client.makeCredential({
              clientDataHash: sha256('r'),
              rp: { id: RP },
              user: { id: new Uint8Array([8]) },
              residentKey: true,
            }),
          )
        ).code,
      ).toBe('ERR_CTAP2_PIN_REQUIRED');

      const wrong = await rejection(client.getPinUvAuthToken('0000'));
      expect(wrong).toMatchObject({ code: 'ERR_CTAP2_PIN_INVALID', detail: { statusName: 'CTAP2_ERR_PIN_INVALID' } });
      expect(wrong.message).not.toContain('0000');
      await rejection(client.getPinUvAuthToken('0000'));
      expect((await rejection(client.getPinUvAuthToken('0000'))).code).toBe('ERR_CTAP2_PIN_AUTH_BLOCKED');
      expect((await rejection(client.getPinUvAuthToken('1234'))).code).toBe('ERR_CTAP2_PIN_AUTH_BLOCKED');
      expect(await client.getPinRetries()).toEqual({ retries: 5, powerCycleState: true });
      // A power cycle forgets the channel too: the host opens the fob again.
      fob.powerCycle();
      client = await Ctap2Client.open(fob.connect(), { pinProtocol: version });
      (await client.getPinUvAuthToken('1234')).wipe();
      expect(await client.getPinRetries()).toEqual({ retries: 8, powerCycleState: false });
      await client.changePin('1234', 'pässwörd');
      expect((await rejection(client.getPinUvAuthToken('1234'))).code).toBe('ERR_CTAP2_PIN_INVALID');
      (await client.getPinUvAuthToken('pässwörd')).wipe();
      expect((await rejection(client.changePin('pässwörd', 'abc'))).code).toBe('ERR_INVALID_ARGUMENT');
      expect((await rejection(client.setPin('5678'))).detail.statusName).toBe('CTAP2_ERR_NOT_ALLOWED');
    },
  );

  it('blocks the PIN after 8 wrong attempts in all, until a reset', async () => {
    const clock = new FakeClock(1_000_000);
    const fob = new VirtualFob({ clock });
    let { client } = await open(fob);
    await client.setPin('1234');
    const codes: string[] = [];
    for (let cycle = 0; cycle < 3; cycle++) {
      for (let i = 0; i < 3; i++) codes.push((await rejection(client.getPinUvAuthToken('9999'))).code);
      fob.powerCycle();
      client = await Ctap2Client.open(fob.connect());
    }
    expect(codes.slice(-3)).toEqual(['ERR_CTAP2_PIN_INVALID', 'ERR_CTAP2_PIN_BLOCKED', 'ERR_CTAP2_PIN_BLOCKED']);
    expect((await rejection(client.getPinUvAuthToken('1234'))).code).toBe('ERR_CTAP2_PIN_BLOCKED');
    expect(fob.state.pinRetries).toBe(0);
    // Reset is allowed only within 10 s of power-up.
    clock.advance(11_000);
    expect((await rejection(client.reset())).detail.statusName).toBe('CTAP2_ERR_NOT_ALLOWED');
    fob.powerCycle();
    client = await Ctap2Client.open(fob.connect());
    await client.reset();
    expect(client.info.options.clientPin).toBe(false);
    expect(fob.state.pinRetries).toBe(8);
  });

  it('hmac-secret: one secret per credential without UV, another with UV, both stable', async () => {
    const { client } = await open();
    const made = await client.makeCredential({
      clientDataHash: sha256('r'),
      rp: { id: RP },
      user: { id: new Uint8Array([1]) },
      hmacSecret: true,
    });
    expect(made.hmacSecret).toBe(true);
    const id = made.authData.attestedCredential.credentialId;
    const salt1 = new Uint8Array(32).fill(1);
    const salt2 = new Uint8Array(32).fill(2);
    const get = async (token?: Awaited<ReturnType<typeof client.getPinUvAuthToken>>) =>
      (
        await client.getAssertion({
          rpId: RP,
          clientDataHash: sha256('a'),
          allowList: [id],
          hmacSecret: { salt1, salt2 },
          ...(token === undefined ? {} : { pinUvAuthToken: token }),
        })
      ).hmacSecret;
    const a = await get();
    const b = await get();
    expect(a?.output1).toEqual(b?.output1);
    expect(a?.output1).not.toEqual(a?.output2);
    await client.setPin('1234');
    const token = await client.getPinUvAuthToken('1234');
    const c = await get(token);
    expect(c?.output1).not.toEqual(a?.output1);
    expect((await get(token))?.output2).toEqual(c?.output2);
  });

  it('selection and user presence: touch delay, denial, timeout and cancel', async () => {
    const slow = await open(new VirtualFob({ touchDelayMs: 150 }));
    const statuses: number[] = [];
    await slow.client.selection({ onKeepalive: (s) => statuses.push(s) });
    expect(statuses).toContain(2);

    const declined = await open(new VirtualFob({ presence: async () => false }));
    expect((await rejection(declined.client.selection())).code).toBe('ERR_CTAP2_OPERATION_DENIED');

    const never = await open(new VirtualFob({ denyTouch: true, upTimeoutMs: 50 }));
    expect((await rejection(never.client.selection())).code).toBe('ERR_CTAP2_USER_ACTION_TIMEOUT');

    const waiting = await open(new VirtualFob({ denyTouch: true }));
    const controller = new AbortController();
    const pending = waiting.client.makeCredential({
      clientDataHash: sha256('r'),
      rp: { id: RP },
      user: { id: new Uint8Array([1]) },
      signal: controller.signal,
      onKeepalive: () => controller.abort(),
    });
    expect((await rejection(pending)).code).toBe('ERR_CTAP2_KEEPALIVE_CANCEL');
  });

  it('state survives a restart: same credentials, PIN, retries and counter', async () => {
    let saved = new VirtualFob().state;
    const first = new VirtualFob({
      state: saved,
      onStateChange: (s) => {
        saved = s;
      },
    });
    const { client } = await open(first);
    await client.setPin('1234');
    const made = await client.makeCredential({
      clientDataHash: sha256('r'),
      rp: { id: RP },
      user: { id: new Uint8Array([1]) },
    });
    await rejection(client.getPinUvAuthToken('0000'));
    first.unplug();
    const second = await open(new VirtualFob({ state: saved }));
    expect(second.client.info.options.clientPin).toBe(true);
    expect((await second.client.getPinRetries()).retries).toBe(7);
    const assertion = await second.client.getAssertion({
      rpId: RP,
      clientDataHash: sha256('a'),
      allowList: [made.authData.attestedCredential.credentialId],
    });
    expect(assertion.authData.signCount).toBe(made.authData.signCount + 1);
    expect(JSON.stringify(saved)).not.toContain('1234');
  });

  it('answers malformed requests with CTAP statuses, never a crash', async () => {
    const { client } = await open();
    expect((await rejection(client.send(0x01, new Map([[1, new Uint8Array(32)]])))).detail.statusName).toBe(
      'CTAP2_ERR_MISSING_PARAMETER',
    );
    expect((await rejection(client.send(0x01, new Map([[1, 'text']])))).detail.statusName).toBe(
      'CTAP2_ERR_CBOR_UNEXPECTED_TYPE',
    );
    expect((await rejection(client.send(0x42))).detail.statusName).toBe('CTAP1_ERR_INVALID_COMMAND');
    expect(
      (
        await rejection(
          client.send(
            0x06,
            new Map([
              [1, 3],
              [2, 1],
            ]),
          ),
        )
      ).detail.statusName,
    ).toBe('CTAP1_ERR_INVALID_PARAMETER');
    expect(
      (
        await rejection(
          client.send(
            0x06,
            new Map([
              [1, 2],
              [2, 0x07],
            ]),
          ),
        )
      ).detail.statusName,
    ).toBe('CTAP2_ERR_INVALID_SUBCOMMAND');
    const raw = await client.hid.cbor(new Uint8Array([0x01, 0xa1, 0x01]));
    expect(raw).toEqual(new Uint8Array([0x12]));
  });
});
