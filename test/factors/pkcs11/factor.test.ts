/**
 * The PKCS#11 factor end to end on SoftHSM2 tokens, reached through the fault-injecting module
 * (transparent until told otherwise), so that the attacks and faults a real card can suffer are
 * simulated for real: a signature from another token's key, a token posing as another, a replayed
 * or expired challenge, a session some other code already logged in, a token pulled out.
 */
import { execFileSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyRing } from '../../../src/delegation/index.js';
import { Pkcs11Factor } from '../../../src/factors/pkcs11/factor.js';
import { createGate } from '../../../src/gate/index.js';
import { openPkcs11Module, type Pkcs11Module } from '../../../src/hardware/pkcs11/module.js';
import { assuranceLevel } from '../../../src/policy/aal.js';
import { createMemoryStore } from '../../../src/store/memory.js';
import type { Store } from '../../../src/store/types.js';
import { FakeClock } from '../../../src/testing/clock.js';
import {
  buildFaultModule,
  createSoftHsm,
  type FaultControl,
  pkcs11Components,
  SOFTHSM_MODULE,
  type SoftHsm,
} from '../../hardware/pkcs11/softhsm.js';
import { need, repoRoot } from '../../helpers/components.js';
import { rejection } from '../../helpers/errors.js';

const RP = 'example.com';
const START = Date.UTC(2030, 0, 1);
const PINS = { alice: '1234', bob: '2468', mallory: '1357' };

describe.runIf(need(...pkcs11Components()))('the PKCS#11 factor on SoftHSM2', () => {
  let hsm: SoftHsm;
  let control: FaultControl;
  let module: Pkcs11Module;
  const serials: Record<string, string> = {};

  beforeAll(async () => {
    hsm = createSoftHsm();
    for (const [name, pin] of Object.entries(PINS))
      serials[name] = hsm.initToken(`${name}-card`, { pin, soPin: '5678' });
    const tool = (name: keyof typeof PINS, ...args: string[]) =>
      hsm.tool(['--token-label', `${name}-card`, '--login', '--pin', PINS[name], ...args]);
    tool('alice', '--keypairgen', '--key-type', 'EC:prime256v1', '--id', '01', '--label', 'login');
    tool('alice', '--keypairgen', '--key-type', 'rsa:2048', '--id', '02', '--label', 'rsa login');
    tool('alice', '--keypairgen', '--key-type', 'EC:secp384r1', '--id', '03', '--label', 'p384');
    // Mallory's card holds a key with the same id and label as Alice's.
    tool('mallory', '--keypairgen', '--key-type', 'EC:prime256v1', '--id', '01', '--label', 'login');
    // An imported key: not generated on the card, so the card cannot vouch it never left it.
    const imported = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const der = join(hsm.dir, 'imported.der');
    writeFileSync(der, imported.privateKey.export({ format: 'der', type: 'pkcs8' }));
    tool('alice', '--write-object', der, '--type', 'privkey', '--id', '05', '--label', 'imported', '--usage-sign');
    writeFileSync(join(hsm.dir, 'imported-pub.der'), imported.publicKey.export({ format: 'der', type: 'spki' }));
    tool('alice', '--write-object', join(hsm.dir, 'imported-pub.der'), '--type', 'pubkey', '--id', '05');
    // A planted public key: key 06's public object is replaced by another key's.
    tool('alice', '--keypairgen', '--key-type', 'EC:prime256v1', '--id', '06', '--label', 'planted');
    tool('alice', '--delete-object', '--type', 'pubkey', '--id', '06');
    const foreign = join(hsm.dir, 'foreign.der');
    writeFileSync(
      foreign,
      generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' }),
    );
    tool('alice', '--write-object', foreign, '--type', 'pubkey', '--id', '06');
    // A key usable without the PIN (CKA_PRIVATE false), made with raw pkcs11js in a child process.
    execFileSync(
      process.execPath,
      [
        '-e',
        `const { PKCS11 } = require('pkcs11js'); const p = new PKCS11(); p.load(${JSON.stringify(SOFTHSM_MODULE)});
         p.C_Initialize({ flags: 2 });
         const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trim() === 'alice-card');
         const s = p.C_OpenSession(slot, 6); p.C_Login(s, 1, ${JSON.stringify(PINS.alice)});
         const common = [{ type: 1, value: true }, { type: 0x102, value: Buffer.from([7]) }, { type: 3, value: 'no pin' }];
         p.C_GenerateKeyPair(s, { mechanism: 0x1040 },
           [...common, { type: 0x180, value: Buffer.from('06082a8648ce3d030107', 'hex') }, { type: 0x10a, value: true }],
           [...common, { type: 2, value: false }, { type: 0x103, value: true }, { type: 0x162, value: false }, { type: 0x108, value: true }]);
         // Key 08: made readable (CKA_SENSITIVE false, so its value could be read out), then marked
         // sensitive: LOCAL and NEVER_EXTRACTABLE stay true, ALWAYS_SENSITIVE does not.
         const laundered = [{ type: 1, value: true }, { type: 0x102, value: Buffer.from([8]) }, { type: 3, value: 'laundered' }];
         const pair = p.C_GenerateKeyPair(s, { mechanism: 0x1040 },
           [...laundered, { type: 0x180, value: Buffer.from('06082a8648ce3d030107', 'hex') }, { type: 0x10a, value: true }],
           [...laundered, { type: 2, value: true }, { type: 0x103, value: false }, { type: 0x162, value: false }, { type: 0x108, value: true }]);
         p.C_SetAttributeValue(s, pair.privateKey, [{ type: 0x103, value: true }]);
         p.C_Logout(s); p.C_Finalize();`,
      ],
      { cwd: repoRoot, env: process.env, stdio: 'pipe' },
    );
    const fault = buildFaultModule(hsm.dir);
    control = fault.control;
    module = await openPkcs11Module(fault.path);
    // Bob's key is generated by latchkey.
    const session = await module.openSession({ label: 'bob-card' }, { readWrite: true });
    await session.login(PINS.bob);
    await session.generateKeyPair({ type: 'EC', curve: 'P-256' }, { id: 'b0b0', label: 'bob login' });
    await session.generateKeyPair({ type: 'EC', curve: 'P-256' }, { id: 'dd', label: 'derive only', sign: false });
    await session.logout();
    await session.close();
  });

  afterAll(async () => {
    await module?.close();
    hsm?.dispose();
  });

  async function setup(options: { allowExportableKeys?: boolean; rsaAlgorithm?: 'PS256' | 'RS256' } = {}) {
    control.reset();
    const clock = new FakeClock(START);
    const store: Store = createMemoryStore({ clock });
    const factor = new Pkcs11Factor({ store, rpId: RP, clock, ...options });
    const alice = await store.accounts.create({ username: 'alice' });
    const bob = await store.accounts.create({ username: 'bob' });
    return { clock, store, factor, alice, bob };
  }

  it('enrols a key made by pkcs11-tool and authenticates: evidence sc + pin, hardware-bound, AAL2', async () => {
    const { factor, alice, store } = await setup();
    const record = await factor.enrol({
      module,
      accountId: alice.id,
      pin: PINS.alice,
      token: { label: 'alice-card' },
      key: { label: 'login' },
      label: 'work badge',
    });
    expect(record).toMatchObject({ factor: 'pkcs11', accountId: alice.id, label: 'work badge' });
    expect(record.data).toMatchObject({
      tokenSerial: serials.alice,
      tokenLabel: 'alice-card',
      tokenModel: 'SoftHSM v2',
      keyId: '01',
      keyLabel: 'login',
      algorithm: 'ES256',
      userVerification: 'pin',
      hardwareBound: true,
    });
    const spki = createPublicKey({
      key: Buffer.from(record.data.publicKey as string, 'base64url'),
      format: 'der',
      type: 'spki',
    });
    expect(spki.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');

    const evidence = await factor.authenticate({ module, accountId: alice.id, pin: PINS.alice });
    expect(evidence).toEqual({
      factor: 'pkcs11',
      subject: alice.id,
      authenticatorId: record.id,
      amr: ['sc', 'pin'],
      kinds: ['possession', 'knowledge'],
      phishingResistant: false,
      hardwareBound: true,
      userVerified: true,
      userPresent: false,
      replayResistant: true,
      at: START,
    });
    expect(Object.isFrozen(evidence)).toBe(true);
    expect(assuranceLevel([evidence], { now: START })).toBe(2);
    expect((await store.authenticators.get(record.id))?.lastUsedAt).toBe(START);
    // The factor left the card logged out and its session closed.
    const session = await module.openSession({ label: 'alice-card' });
    expect(await session.state()).toBe('public');
    await session.close();
  });

  it('RSA keys sign PS256 by default and RS256 when asked; P-384 keys ES384', async () => {
    for (const [rsaAlgorithm, expected] of [
      [undefined, 'PS256'],
      ['RS256', 'RS256'],
    ] as const) {
      const { factor, alice } = await setup(rsaAlgorithm === undefined ? {} : { rsaAlgorithm });
      const record = await factor.enrol({
        module,
        accountId: alice.id,
        pin: PINS.alice,
        token: { label: 'alice-card' },
        key: { id: '02' },
      });
      expect(record.data.algorithm).toBe(expected);
      expect((await factor.authenticate({ module, accountId: alice.id, pin: PINS.alice })).amr).toEqual(['sc', 'pin']);
    }
    const { factor, alice } = await setup();
    const record = await factor.enrol({
      module,
      accountId: alice.id,
      pin: PINS.alice,
      token: { label: 'alice-card' },
      key: { id: '03' },
    });
    expect(record.data.algorithm).toBe('ES384');
    await factor.authenticate({ module, accountId: alice.id, pin: PINS.alice });
  });

  it('a key latchkey generated on the card enrols the same way', async () => {
    const { factor, bob } = await setup();
    const record = await factor.enrol({
      module,
      accountId: bob.id,
      pin: PINS.bob,
      key: { id: 'b0b0' },
      token: { label: 'bob-card' },
    });
    expect(record.data).toMatchObject({ keyLabel: 'bob login', hardwareBound: true });
    expect((await factor.authenticate({ module, accountId: bob.id, pin: PINS.bob })).subject).toBe(bob.id);
  });

  it('a key the card lets anyone use without the PIN gives evidence of possession only', async () => {
    const { factor, alice } = await setup();
    const record = await factor.enrol({
      module,
      accountId: alice.id,
      pin: PINS.alice,
      token: { label: 'alice-card' },
      key: { id: '07' },
    });
    expect(record.data.userVerification).toBe('none');
    const evidence = await factor.authenticate({ module, accountId: alice.id, pin: PINS.alice });
    expect(evidence).toMatchObject({ amr: ['sc'], kinds: ['possession'], userVerified: false, hardwareBound: true });
    expect(assuranceLevel([evidence], { now: START })).toBe(1);
  });

  describe('enrolment refuses', () => {
    it('a wrong PIN (and stores nothing)', async () => {
      const { factor, alice, store } = await setup();
      const error = await rejection(
        factor.enrol({ module, accountId: alice.id, pin: '0000', token: { label: 'alice-card' }, key: { id: '01' } }),
      );
      expect(error.code).toBe('ERR_PKCS11_PIN_INCORRECT');
      expect(await store.authenticators.listByAccount(alice.id)).toEqual([]);
    });

    it('the same key twice', async () => {
      const { factor, alice, bob } = await setup();
      const input = { module, pin: PINS.alice, token: { label: 'alice-card' }, key: { id: '01' } } as const;
      await factor.enrol({ ...input, accountId: alice.id });
      expect((await rejection(factor.enrol({ ...input, accountId: bob.id }))).code).toBe('ERR_STORE_CONFLICT');
    });

    it('an imported key the card cannot vouch for, unless allowed (then the evidence is not hardware-bound)', async () => {
      const strict = await setup();
      const refused = await rejection(
        strict.factor.enrol({
          module,
          accountId: strict.alice.id,
          pin: PINS.alice,
          token: { label: 'alice-card' },
          key: { id: '05' },
        }),
      );
      expect(refused.code).toBe('ERR_PKCS11_KEY_UNSUITABLE');
      expect(refused.detail).toMatchObject({ local: false });
      const lax = await setup({ allowExportableKeys: true });
      await lax.factor.enrol({
        module,
        accountId: lax.alice.id,
        pin: PINS.alice,
        token: { label: 'alice-card' },
        key: { id: '05' },
      });
      const evidence = await lax.factor.authenticate({ module, accountId: lax.alice.id, pin: PINS.alice });
      expect(evidence.hardwareBound).toBe(false);
    });

    it('through the gate: a smart-card sign-in mints an AAL2 session that authorizes', async () => {
      const { factor, alice, store, clock } = await setup();
      await factor.enrol({
        module,
        accountId: alice.id,
        pin: PINS.alice,
        token: { label: 'alice-card' },
        key: { label: 'login' },
      });
      const gate = createGate({
        store,
        clock,
        keyring: KeyRing.generate('pkcs11-gate'),
        policy: {
          rules: [{ id: 'payroll', effect: 'permit', actions: ['payroll'], require: { factor: { factor: 'pkcs11' } } }],
        },
        factors: {
          pkcs11: {
            verify: (input) => factor.authenticate({ module, accountId: input.accountId, pin: String(input.pin) }),
          },
        },
      });
      const tx = gate.begin({ accountId: alice.id });
      await gate.verify(tx, 'pkcs11', { pin: PINS.alice });
      const session = await gate.issueSession(tx);
      expect(session.aal).toBe(2);
      expect((await gate.authorize(session.token, { action: 'payroll' })).decision.allow).toBe(true);
      const wrong = gate.begin({ accountId: alice.id });
      expect((await rejection(gate.verify(wrong, 'pkcs11', { pin: '0000' }))).code).toBe('ERR_PKCS11_PIN_INCORRECT');
    });

    it('attack: a key read out in clear and then marked sensitive is not taken as hardware-bound', async () => {
      const { factor, alice } = await setup();
      const refused = await rejection(
        factor.enrol({
          module,
          accountId: alice.id,
          pin: PINS.alice,
          token: { label: 'alice-card' },
          key: { id: '08' },
        }),
      );
      expect(refused.code).toBe('ERR_PKCS11_KEY_UNSUITABLE');
      expect(refused.detail).toMatchObject({ local: true, neverExtractable: true, alwaysSensitive: false });
    });

    it('a planted public key that does not match the private key (proof of possession fails)', async () => {
      const { factor, alice, store } = await setup();
      const error = await rejection(
        factor.enrol({
          module,
          accountId: alice.id,
          pin: PINS.alice,
          token: { label: 'alice-card' },
          key: { id: '06' },
        }),
      );
      expect(error.code).toBe('ERR_PKCS11_SIGNATURE_INVALID');
      expect(await store.authenticators.listByAccount(alice.id)).toEqual([]);
    });

    it('a key not allowed to sign, and a key that is not there', async () => {
      const { factor, bob } = await setup();
      const base = { module, accountId: bob.id, pin: PINS.bob, token: { label: 'bob-card' } } as const;
      expect((await rejection(factor.enrol({ ...base, key: { id: 'dd' } }))).code).toBe('ERR_PKCS11_KEY_UNSUITABLE');
      expect((await rejection(factor.enrol({ ...base, key: { id: 'ee' } }))).code).toBe('ERR_PKCS11_KEY_NOT_FOUND');
    });
  });

  describe('attacks', () => {
    async function enrolled() {
      const context = await setup();
      const record = await context.factor.enrol({
        module,
        accountId: context.alice.id,
        pin: PINS.alice,
        token: { label: 'alice-card' },
        key: { id: '01' },
      });
      return { ...context, record };
    }

    /** Sign `message` with key 01 on `label` (as an attacker's own client would). */
    async function signOn(label: string, pin: string, message: Uint8Array): Promise<Uint8Array> {
      const session = await module.openSession({ label });
      try {
        await session.login(pin);
        const key = await session.findKey({ id: '01' });
        return await session.sign(key, message);
      } finally {
        await session.logout().catch(() => undefined);
        await session.close();
      }
    }

    it('replayed challenge: a signature verifies once, never twice', async () => {
      const { factor, alice, record } = await enrolled();
      const challenge = await factor.challenge(alice.id);
      expect(challenge.credentials).toEqual([
        {
          authenticatorId: record.id,
          tokenSerial: serials.alice,
          tokenLabel: 'alice-card',
          keyId: '01',
          algorithm: 'ES256',
        },
      ]);
      const signature = await signOn('alice-card', PINS.alice, challenge.message);
      const answer = { challengeId: challenge.id, authenticatorId: record.id, signature };
      expect((await factor.verify(answer)).subject).toBe(alice.id);
      expect((await rejection(factor.verify(answer))).code).toBe('ERR_CHALLENGE_INVALID');
    });

    it('an expired challenge is refused', async () => {
      const { factor, alice, record, clock } = await enrolled();
      const challenge = await factor.challenge(alice.id);
      const signature = await signOn('alice-card', PINS.alice, challenge.message);
      clock.advance(120_001);
      const error = await rejection(
        factor.verify({ challengeId: challenge.id, authenticatorId: record.id, signature }),
      );
      expect(error.code).toBe('ERR_CHALLENGE_INVALID');
    });

    it('a signature from another token’s key (same id and label) is refused', async () => {
      const { factor, alice, record } = await enrolled();
      const challenge = await factor.challenge(alice.id);
      const signature = await signOn('mallory-card', PINS.mallory, challenge.message);
      const error = await rejection(
        factor.verify({ challengeId: challenge.id, authenticatorId: record.id, signature }),
      );
      expect(error.code).toBe('ERR_PKCS11_SIGNATURE_INVALID');
      // …and the challenge is spent: no second try with the right card.
      const honest = await signOn('alice-card', PINS.alice, challenge.message);
      expect(
        (await rejection(factor.verify({ challengeId: challenge.id, authenticatorId: record.id, signature: honest })))
          .code,
      ).toBe('ERR_CHALLENGE_INVALID');
    });

    it('a token posing as the enrolled one (spoofed serial) signs, and is refused', async () => {
      const { factor, alice } = await enrolled();
      control.unplug(serials.alice as string).rules(`serial ${serials.mallory} ${serials.alice}`);
      const error = await rejection(factor.authenticate({ module, accountId: alice.id, pin: PINS.mallory }));
      expect(error.code).toBe('ERR_PKCS11_SIGNATURE_INVALID');
      control.reset();
    });

    it('a signature over another verifier’s challenge text is refused', async () => {
      const { factor, alice, record } = await enrolled();
      const challenge = await factor.challenge(alice.id);
      const forged = Buffer.from(challenge.message);
      forged.write('evil.com!!!', 'latchkey pkcs11 authenticate\u0000'.length);
      const signature = await signOn('alice-card', PINS.alice, forged);
      const error = await rejection(
        factor.verify({ challengeId: challenge.id, authenticatorId: record.id, signature }),
      );
      expect(error.code).toBe('ERR_PKCS11_SIGNATURE_INVALID');
    });

    it('a challenge issued to one account cannot be answered with another account’s token', async () => {
      const { factor, alice, bob } = await enrolled();
      const bobRecord = await factor.enrol({
        module,
        accountId: bob.id,
        pin: PINS.bob,
        token: { label: 'bob-card' },
        key: { id: 'b0b0' },
      });
      const challenge = await factor.challenge(alice.id);
      const session = await module.openSession({ label: 'bob-card' });
      await session.login(PINS.bob);
      const signature = await session.sign(await session.findKey({ id: 'b0b0' }), challenge.message);
      await session.logout();
      await session.close();
      const error = await rejection(
        factor.verify({ challengeId: challenge.id, authenticatorId: bobRecord.id, signature }),
      );
      expect(error.code).toBe('ERR_PKCS11_CREDENTIAL_UNKNOWN');
    });

    it('user already logged in: a wrong PIN never yields evidence', async () => {
      const { factor, alice } = await enrolled();
      // Some other part of the app logged in to the card; PKCS#11 logins are per token.
      const other = await module.openSession({ label: 'alice-card' });
      await other.login(PINS.alice);
      const error = await rejection(factor.authenticate({ module, accountId: alice.id, pin: 'wrong-pin' }));
      expect(error.code).toBe('ERR_PKCS11_ALREADY_LOGGED_IN');
      await other.logout();
      await other.close();
      expect((await factor.authenticate({ module, accountId: alice.id, pin: PINS.alice })).amr).toEqual(['sc', 'pin']);
    });

    it('a disabled record, or an account with no token, is refused', async () => {
      const { factor, alice, bob, record, store } = await enrolled();
      const challenge = await factor.challenge(alice.id);
      const signature = await signOn('alice-card', PINS.alice, challenge.message);
      await store.authenticators.update(record.id, record.version, { disabled: true });
      expect(
        (await rejection(factor.verify({ challengeId: challenge.id, authenticatorId: record.id, signature }))).code,
      ).toBe('ERR_PKCS11_CREDENTIAL_UNKNOWN');
      expect((await rejection(factor.challenge(alice.id))).code).toBe('ERR_PKCS11_CREDENTIAL_UNKNOWN');
      expect((await rejection(factor.challenge(bob.id))).code).toBe('ERR_PKCS11_CREDENTIAL_UNKNOWN');
    });
  });

  describe('faults', () => {
    it('PIN incorrect through the factor: count-low, final-try, then locked', async () => {
      const { factor, alice } = await setup();
      await factor.enrol({
        module,
        accountId: alice.id,
        pin: PINS.alice,
        token: { label: 'alice-card' },
        key: { id: '01' },
      });
      control.rules('pin-tries 3');
      const first = await rejection(factor.authenticate({ module, accountId: alice.id, pin: '0000' }));
      expect([first.code, first.detail.countLow, first.detail.finalTry]).toEqual([
        'ERR_PKCS11_PIN_INCORRECT',
        true,
        false,
      ]);
      const second = await rejection(factor.authenticate({ module, accountId: alice.id, pin: '0000' }));
      expect([second.code, second.detail.finalTry]).toEqual(['ERR_PKCS11_PIN_INCORRECT', true]);
      expect((await rejection(factor.authenticate({ module, accountId: alice.id, pin: '0000' }))).code).toBe(
        'ERR_PKCS11_PIN_LOCKED',
      );
      expect((await rejection(factor.authenticate({ module, accountId: alice.id, pin: PINS.alice }))).code).toBe(
        'ERR_PKCS11_PIN_LOCKED',
      );
      await module.unblockUserPin({ label: 'alice-card' }, { soPin: '5678', newPin: PINS.alice });
      expect((await factor.authenticate({ module, accountId: alice.id, pin: PINS.alice })).userVerified).toBe(true);
      control.reset();
    });

    it('the enrolled token pulled out: ERR_PKCS11_TOKEN_NOT_FOUND; back in: it works', async () => {
      const { factor, alice } = await setup();
      await factor.enrol({
        module,
        accountId: alice.id,
        pin: PINS.alice,
        token: { label: 'alice-card' },
        key: { id: '01' },
      });
      control.unplug(serials.alice as string);
      expect((await rejection(factor.authenticate({ module, accountId: alice.id, pin: PINS.alice }))).code).toBe(
        'ERR_PKCS11_TOKEN_NOT_FOUND',
      );
      control.plug(serials.alice as string);
      expect((await factor.authenticate({ module, accountId: alice.id, pin: PINS.alice })).subject).toBe(alice.id);
    });

    it('the token removed between challenge and signature: ERR_PKCS11_DEVICE_REMOVED, no evidence', async () => {
      const { factor, alice } = await setup();
      await factor.enrol({
        module,
        accountId: alice.id,
        pin: PINS.alice,
        token: { label: 'alice-card' },
        key: { id: '01' },
      });
      control.rules('fail C_Sign 32'); // the card goes away during C_Sign
      const error = await rejection(factor.authenticate({ module, accountId: alice.id, pin: PINS.alice }));
      expect(error.code).toBe('ERR_PKCS11_DEVICE_REMOVED');
      control.reset();
    });
  });

  it('with SoftHSM directly too (no fault module in between), for the record', async () => {
    // The fault module is transparent; this checks the module path is not special: it is only
    // opened in this test's own process after the fault module, so SoftHSM is shared, not re-initialised.
    const direct = await openPkcs11Module(SOFTHSM_MODULE);
    const { factor, alice } = await setup();
    await factor.enrol({
      module: direct,
      accountId: alice.id,
      pin: PINS.alice,
      token: { label: 'alice-card' },
      key: { id: '03' },
    });
    expect((await factor.authenticate({ module: direct, accountId: alice.id, pin: PINS.alice })).amr).toEqual([
      'sc',
      'pin',
    ]);
    await direct.close();
  });
});
