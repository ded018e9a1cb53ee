/**
 * The gate end to end on real parts: the memory and SQLite stores, latchkey's virtual CTAP2 fob
 * driven by the fob factor, recovery codes, the policy engine and credentials.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import type { Evidence } from '../../src/core/types.js';
import { bindDischarge, Discharger, inspectCredential, KeyRing } from '../../src/delegation/index.js';
import { FobFactor } from '../../src/factors/fob/factor.js';
import { PasswordFactor } from '../../src/factors/password/factor.js';
import { PasswordHasher } from '../../src/factors/password/hasher.js';
import { createGate, type GateFactor, RecoveryCodes } from '../../src/gate/index.js';
import { Ctap2Client } from '../../src/hardware/ctap2.js';
import { VirtualFob } from '../../src/hardware/virtual-fob.js';
import type { Policy } from '../../src/policy/types.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import type { Store } from '../../src/store/types.js';
import { FakeClock } from '../../src/testing/clock.js';
import { rejection } from '../helpers/errors.js';

const START = Date.UTC(2030, 5, 1, 9);
const HOUR = 3_600_000;

const POLICY: Policy = {
  rules: [
    { id: 'read', effect: 'permit', actions: ['read'], require: { aal: 1 } },
    { id: 'bind', effect: 'permit', actions: ['authenticator.bind'], require: { aal: 1 } },
    { id: 'unbind', effect: 'permit', actions: ['authenticator.remove'], require: { aal: 2 } },
    { id: 'decoy-read', effect: 'permit', actions: ['read-decoy'], require: { aal: 1 } },
    {
      id: 'transfer',
      effect: 'permit',
      actions: ['transfer'],
      when: 'amount > 100',
      require: { factor: { factor: 'fob', userVerified: true } },
    },
    { id: 'transfer-small', effect: 'permit', actions: ['transfer'], when: 'amount <= 100', require: { aal: 1 } },
    {
      id: 'close-account',
      effect: 'permit',
      actions: ['close-account'],
      sensitive: true,
      require: { aal: 2 },
    },
  ],
};

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function world(kind: 'memory' | 'sqlite' = 'memory', recoveryOptions?: { readonly accountAal?: 1 | 2 | 3 }) {
  const clock = new FakeClock(START);
  let store: Store;
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-gate-'));
    dirs.push(dir);
    store = await openSqliteStore({ filename: join(dir, 'gate.db'), clock });
  } else {
    store = createMemoryStore({ clock });
  }
  const fobs = new FobFactor({ store, rpId: 'bank.example', clock });
  const recovery = new RecoveryCodes({ store, clock, maxFailures: 3 });
  const fobDriver: GateFactor = {
    verify: (input) =>
      fobs.authenticate({
        client: input.client as Ctap2Client,
        accountId: input.accountId,
        ...(typeof input.pin === 'string' ? { pin: input.pin } : {}),
      }),
  };
  const recoveryDriver: GateFactor = { verify: (input) => recovery.verify(input.accountId, String(input.code)) };
  const passwords = new PasswordFactor({
    store,
    clock,
    hasher: new PasswordHasher({ parameters: { m: 256, t: 1, p: 1 } }),
  });
  const passwordDriver: GateFactor = { verify: (input) => passwords.verify(input.accountId, String(input.password)) };
  const events: string[] = [];
  let duressSeen: (value: unknown) => void = () => {};
  const duressCalled = new Promise((resolve) => {
    duressSeen = resolve;
  });
  const gate = createGate({
    store,
    policy: POLICY,
    keyring: KeyRing.generate('gate-2030'),
    factors: { fob: fobDriver, 'recovery-code': recoveryDriver, password: passwordDriver },
    clock,
    duress: { actions: ['read-decoy'] },
    ...(recoveryOptions === undefined ? {} : { recovery: recoveryOptions }),
    hooks: {
      onDuress: (event) => {
        events.push(`duress ${event.frozen}`);
        duressSeen(event);
      },
      onRecoveryUsed: () => {
        events.push('recovery used');
      },
      onAuthenticatorBound: (event) => {
        events.push(`bound ${event.factor}`);
      },
      onAuthenticatorRemoved: (event) => {
        events.push(`removed ${event.factor}`);
      },
    },
  });
  const alice = await store.accounts.create({ username: 'alice' });
  const fob = await Ctap2Client.open(new VirtualFob().connect());
  await fob.setPin('2468');
  const fobRecord = await fobs.enrol({ client: fob, accountId: alice.id, pin: '2468', label: 'blue key' });
  await gate.authenticatorBound(alice.id, fobRecord.id, 'fob');
  await passwords.enrol(alice.id, 'tea at the corner café, 4pm');
  await passwords.enrol(alice.id, 'the kettle is always on', { duress: true });
  return { clock, store, gate, fobs, recovery, passwords, alice, fob, events, duressCalled };
}

describe('gate: sign-in, sessions and step-up (story 1)', () => {
  for (const kind of ['memory', 'sqlite'] as const) {
    test(`a fob touch reads the account; moving $250 asks for the PIN; step-up answers it (${kind})`, async () => {
      const { gate, alice, fob, clock, events } = await world(kind);
      expect(events).toEqual(['bound fob']);
      const tx = gate.begin({ accountId: alice.id });
      await gate.verify(tx, 'fob', { client: fob });
      const session = await gate.issueSession(tx);
      expect(session.aal).toBe(1);
      expect(inspectCredential(session.token)).toMatchObject({ subject: alice.id, acr: 'aal1', amr: ['hwk'] });

      const read = await gate.authorize(session.token, { action: 'read' });
      expect(read.decision.allow).toBe(true);
      expect(read.evidence.map((e: Evidence) => e.factor)).toEqual(['fob']);

      const big = await gate.authorize(session.token, { action: 'transfer', context: { amount: 250 } });
      expect(big.decision.allow).toBe(false);
      expect(big.decision.stepUp.length).toBeGreaterThan(0);
      expect(JSON.stringify(big.decision.stepUp)).toMatch(/userVerified/);

      clock.advance(60_000);
      const more = gate.begin({ accountId: alice.id });
      await gate.verify(more, 'fob', { client: fob, pin: '2468' });
      const stepped = await gate.stepUp(session.token, more);
      expect(stepped.aal).toBeGreaterThanOrEqual(2);
      expect(
        (await gate.authorize(stepped.token, { action: 'transfer', context: { amount: 250 } })).decision.allow,
      ).toBe(true);
      // the old session is gone
      expect((await rejection(gate.authorize(session.token, { action: 'read' }))).code).toBe('ERR_CREDENTIAL_REVOKED');
    });
  }

  test('NIST lifetimes: an AAL3 session idles out after 15 minutes and ends after 12 hours', async () => {
    const { gate, alice, fob, clock } = await world();
    const tx = gate.begin({ accountId: alice.id });
    await gate.verify(tx, 'fob', { client: fob, pin: '2468' });
    const session = await gate.issueSession(tx);
    expect(session).toMatchObject({ aal: 3, idleMs: 15 * 60_000, expiresAt: START + 12 * HOUR });
    // activity every 10 minutes keeps it alive...
    for (let i = 0; i < 6; i++) {
      clock.advance(10 * 60_000);
      expect((await gate.authorize(session.token, { action: 'read' })).decision.allow).toBe(true);
    }
    // ...16 idle minutes end it
    clock.advance(16 * 60_000);
    expect((await rejection(gate.authorize(session.token, { action: 'read' }))).code).toBe('ERR_SESSION_IDLE');

    const again = gate.begin({ accountId: alice.id });
    await gate.verify(again, 'fob', { client: fob, pin: '2468' });
    const second = await gate.issueSession(again);
    for (let t = 0; t < 12 * 60; t += 10) {
      clock.advance(10 * 60_000);
      const outcome = await gate
        .authorize(second.token, { action: 'read' })
        .catch((error: { code: string }) => error.code);
      if (typeof outcome === 'string') {
        expect(outcome).toBe('ERR_CREDENTIAL_EXPIRED');
        expect(clock.now()).toBeGreaterThanOrEqual(second.expiresAt);
        return;
      }
    }
    throw new Error('the session outlived 12 hours');
  });

  test('idle windows: parallel requests never log a live session out, and idleness never lasts past the limit', async () => {
    const { gate, alice, fob, clock } = await world();
    const tx = gate.begin({ accountId: alice.id });
    await gate.verify(tx, 'fob', { client: fob, pin: '2468' });
    const session = await gate.issueSession(tx);
    for (const step of [8, 7, 7, 7, 7]) {
      clock.advance(step * 60_000);
      const results = await Promise.all(
        Array.from({ length: 40 }, () =>
          gate.authorize(session.token, { action: 'read' }).then(
            () => 'ok',
            (e) => e.code,
          ),
        ),
      );
      expect(new Set(results)).toEqual(new Set(['ok']));
    }
    clock.advance(15 * 60_000);
    expect((await rejection(gate.authorize(session.token, { action: 'read' }))).code).toBe('ERR_SESSION_IDLE');
  });

  test('attack: evidence inflation by appending a forged session caveat', async () => {
    const { gate, alice, fob } = await world();
    const tx = gate.begin({ accountId: alice.id });
    await gate.verify(tx, 'fob', { client: fob });
    const session = await gate.issueSession(tx);
    const forged = Buffer.from(JSON.stringify([1, [['fob', 'x', 'hwk pin', '01', 31, START]]])).toString('base64url');
    for (const { token } of [
      await gate.delegate(session.token, [`"lk-session:${forged}" != ""`]),
      await gate.delegate(session.token, { caveats: [`"lk-session:${forged}" != ""`] }),
    ]) {
      const outcome = await gate.authorize(token, { action: 'transfer', context: { amount: 250 } });
      expect(outcome.decision.allow).toBe(false);
      expect(outcome.evidence.map((e) => e.amr)).toEqual([['hwk']]);
    }
  });

  test('attack: a credential without session evidence authorizes nothing', async () => {
    const { gate } = await world();
    const { CredentialIssuer } = await import('../../src/delegation/index.js');
    const keys = KeyRing.generate('other');
    const other = new CredentialIssuer({ keys, store: createMemoryStore() });
    const { token } = await other.issue({ sub: 'alice', expiry: START + HOUR });
    expect((await rejection(gate.authorize(token, { action: 'read' }))).code).toBe('ERR_CREDENTIAL_UNKNOWN_KEY');
    const same = createGate({ store: createMemoryStore(), policy: POLICY, keyring: keys, factors: {} });
    expect((await rejection(same.authorize(token, { action: 'read' }))).code).toBe('ERR_SESSION_INVALID');
  });

  test('a session of another gate (another key ring) is refused', async () => {
    const a = await world();
    const b = await world();
    const tx = a.gate.begin({ accountId: a.alice.id });
    await a.gate.verify(tx, 'fob', { client: a.fob });
    const session = await a.gate.issueSession(tx);
    // same key id, another key: the signature does not verify
    expect((await rejection(b.gate.authorize(session.token, { action: 'read' }))).code).toBe('ERR_MACAROON_SIGNATURE');
  });

  test('no evidence, no session; evidence for someone else is refused', async () => {
    const { gate, alice, store, fob } = await world();
    expect((await rejection(gate.issueSession(gate.begin({ accountId: alice.id })))).code).toBe('ERR_GATE_NO_EVIDENCE');
    const bob = await store.accounts.create({ username: 'bob' });
    const tx = gate.begin({ accountId: bob.id });
    const error = await rejection(gate.verify(tx, 'fob', { client: fob }));
    expect(error.code).toMatch(/^ERR_(FOB|CTAP2)_/);
    const audit = await store.audit.query({ subject: bob.id, types: ['signin.failure'] });
    expect(audit).toHaveLength(1);
    expect((await rejection(gate.verify(tx, 'webauthn', {}))).code).toBe('ERR_GATE_UNKNOWN_FACTOR');
  });
});

describe('gate: delegation with a discharge by the delegate’s own fob (story 3)', () => {
  test('Alice delegates to Bob through Carol; only Bob with his fob can use it; Alice revokes it', async () => {
    const { gate, alice, fob, store, clock, fobs } = await world();
    const bob = await store.accounts.create({ username: 'bob' });
    const bobsFob = await Ctap2Client.open(new VirtualFob().connect());
    await fobs.enrol({ client: bobsFob, accountId: bob.id, label: "bob's key" });
    const mallorysFob = await Ctap2Client.open(new VirtualFob().connect());
    const fobCheck = new Discharger({
      privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
      location: 'https://bank.example/discharge',
      clock,
      check: gate.dischargeCheck(),
    });

    const tx = gate.begin({ accountId: alice.id });
    await gate.verify(tx, 'fob', { client: fob });
    const session = await gate.issueSession(tx);
    const forCarol = await gate.delegate(session.token, {
      caveats: ['merchant == "corner-store"', 'amount <= 10'],
      uses: 1,
      expiry: Date.UTC(2030, 5, 1, 23, 59),
      thirdParty: [{ location: fobCheck.location, publicKey: fobCheck.publicKey, condition: 'proves fob as bob' }],
    });
    const forBob = await gate.delegate(forCarol.token, ['amount <= 8']);

    const pay = async (token: string, amount: number, client: Ctap2Client) => {
      const [needed] = inspectCredential(token).thirdParty;
      const discharge = await fobCheck.discharge(needed?.identifier ?? '', { context: { factor: 'fob', client } });
      return gate.authorize(token, {
        action: 'purchase',
        context: { merchant: 'corner-store', amount },
        discharges: [bindDischarge(token, discharge)],
      });
    };
    // Mallory stole the token: her fob is not Bob's, so no discharge is minted
    expect((await rejection(pay(forBob.token, 5, mallorysFob))).code).toMatch(/^ERR_(FOB|CTAP2)_/);
    // Carol's limit holds
    expect((await rejection(pay(forBob.token, 9, bobsFob))).detail.caveat).toBe('amount <= 8');
    const paid = await pay(forBob.token, 7.5, bobsFob);
    expect(paid.credential.subject).toBe(alice.id);
    expect(paid.credential.chain).toHaveLength(3);
    // once
    expect((await rejection(pay(forBob.token, 1, bobsFob))).code).toBe('ERR_CREDENTIAL_USES_EXHAUSTED');
    // Alice revokes what she gave Carol: Carol's and Bob's copies die, her own session lives
    await gate.revoke(forCarol.credentialId, 'changed my mind');
    expect((await rejection(pay(forCarol.token, 1, bobsFob))).code).toBe('ERR_CREDENTIAL_REVOKED');
    expect((await gate.authorize(session.token, { action: 'read' })).decision.allow).toBe(true);
  });
});

describe('gate: duress and coercion (story 4)', () => {
  test('a duress fob "works": same response, decoy scope only, delegations frozen, hook and operator-only audit', async () => {
    const { gate, alice, fob, store, fobs, duressCalled, events } = await world();
    const duressFob = await Ctap2Client.open(new VirtualFob().connect());
    const record = await fobs.enrol({ client: duressFob, accountId: alice.id, label: 'red key' });
    await store.authenticators.update(record.id, record.version, { duress: true });

    // a normal session and a delegation made earlier
    const tx = gate.begin({ accountId: alice.id });
    await gate.verify(tx, 'fob', { client: fob });
    const first = await gate.issueSession(tx);
    const more = gate.begin({ accountId: alice.id });
    await gate.verify(more, 'fob', { client: fob, pin: '2468' });
    const stepped = await gate.stepUp(first.token, more);
    const delegated = await gate.delegate(stepped.token, ['amount <= 10']);
    const again = gate.begin({ accountId: alice.id });
    await gate.verify(again, 'fob', { client: fob });
    const normal = await gate.issueSession(again);

    // under duress
    const coerced = gate.begin({ accountId: alice.id });
    await gate.verify(coerced, 'fob', { client: duressFob });
    const decoy = await gate.issueSession(coerced);
    expect(Object.keys(decoy).sort()).toEqual(Object.keys(normal).sort());
    expect(decoy.token.length).toBe(normal.token.length);
    expect({ ...decoy, token: '', credentialId: '' }).toEqual({ ...normal, token: '', credentialId: '' });

    await duressCalled;
    await gate.settled();
    expect(events).toContain('duress 4');
    // the decoy scope works; the real account does not, and says so like any deny
    expect((await gate.authorize(decoy.token, { action: 'read-decoy' })).decision.allow).toBe(true);
    const denied = await gate.authorize(decoy.token, { action: 'read' });
    expect(denied.decision).toMatchObject({ allow: false, reasons: ['no rule permits `read` here'], stepUp: [] });
    // everything issued before is frozen
    expect((await rejection(gate.authorize(normal.token, { action: 'read' }))).code).toBe('ERR_CREDENTIAL_REVOKED');
    expect((await rejection(gate.authorize(stepped.token, { action: 'read' }))).code).toBe('ERR_CREDENTIAL_REVOKED');
    expect((await rejection(gate.authorize(delegated.token, { action: 'read' }))).code).toBe('ERR_CREDENTIAL_REVOKED');
    // the subject's own audit view shows an ordinary sign-in; the operator's shows the alarm
    const mine = await store.audit.query({ subject: alice.id });
    expect(mine.map((e) => e.type)).not.toContain('duress');
    const operator = await store.audit.query({ subject: alice.id, audience: 'operator', types: ['duress'] });
    expect(operator).toHaveLength(1);
  });

  test('a biometric alone never satisfies a sensitive rule (the close-account rule needs a knowledge factor)', async () => {
    const { alice } = await world();
    const touchId: GateFactor = {
      verify: async ({ accountId }) => ({
        factor: 'webauthn',
        subject: accountId,
        authenticatorId: 'passkey-1',
        amr: ['hwk', 'user', 'fpt'],
        kinds: ['possession', 'inherence'],
        phishingResistant: true,
        hardwareBound: true,
        userVerified: true,
        userPresent: true,
        replayResistant: true,
        at: START,
      }),
    };
    // recorded-shape WebAuthn evidence stands in until the WebAuthn factor lands (issue #6)
    const gateWithPasskey = createGate({
      store: createMemoryStore(),
      policy: POLICY,
      keyring: KeyRing.generate(),
      factors: { webauthn: touchId },
      clock: new FakeClock(START),
    });
    const ptx = gateWithPasskey.begin({ accountId: alice.id });
    await gateWithPasskey.verify(ptx, 'webauthn', {});
    const decision = gateWithPasskey.decide(ptx, 'close-account');
    expect(decision.allow).toBe(false);
    expect(JSON.stringify(decision.stepUp)).toMatch(/knowledge/);
  });
});

describe('gate: the password factor, and a duress password (story 4)', () => {
  test('password + fob reaches the sensitive rule; a biometric-free knowledge factor is what it needs', async () => {
    const { gate, alice, fob } = await world();
    const tx = gate.begin({ accountId: alice.id });
    await gate.verify(tx, 'fob', { client: fob });
    expect(gate.decide(tx, 'close-account').allow).toBe(false);
    await gate.verify(tx, 'password', { password: 'tea at the corner café, 4pm' });
    expect(gate.decide(tx, 'close-account').allow).toBe(true);
    const session = await gate.issueSession(tx);
    expect(inspectCredential(session.token).amr).toEqual(['hwk', 'pwd']);
  });

  test('the duress password signs in like the real one, into the decoy, and raises the alarm', async () => {
    const { gate, alice, fob, store, duressCalled } = await world();
    const real = gate.begin({ accountId: alice.id });
    await gate.verify(real, 'fob', { client: fob });
    await gate.verify(real, 'password', { password: 'tea at the corner café, 4pm' });
    const normal = await gate.issueSession(real);
    const forced = gate.begin({ accountId: alice.id });
    await gate.verify(forced, 'fob', { client: fob });
    await gate.verify(forced, 'password', { password: 'the kettle is always on' });
    expect(gate.decide(forced, 'close-account').allow).toBe(false);
    const decoy = await gate.issueSession(forced);
    expect(decoy.token.length).toBe(normal.token.length);
    expect({ ...decoy, token: '', credentialId: '' }).toEqual({ ...normal, token: '', credentialId: '' });
    await duressCalled;
    await gate.settled();
    expect((await rejection(gate.authorize(normal.token, { action: 'read' }))).code).toBe('ERR_CREDENTIAL_REVOKED');
    expect((await gate.authorize(decoy.token, { action: 'read-decoy' })).decision.allow).toBe(true);
    expect(await store.audit.query({ subject: alice.id, audience: 'operator', types: ['duress'] })).toHaveLength(1);
  });

  test('a wrong password is audited as a failure and refused', async () => {
    const { gate, alice, store } = await world();
    const tx = gate.begin({ accountId: alice.id });
    expect((await rejection(gate.verify(tx, 'password', { password: 'not the password at all' }))).code).toBe(
      'ERR_PASSWORD_INVALID',
    );
    const failures = await store.audit.query({ subject: alice.id, types: ['signin.failure'] });
    expect(failures.map((entry) => entry.detail.code)).toEqual(['ERR_PASSWORD_INVALID']);
  });
});

describe('recovery codes (NIST SP 800-63B-4 §3.1.2)', () => {
  test('each code works once, typed loosely; the set is regenerable; use is audited and notified', async () => {
    const { gate, alice, recovery, events, store } = await world();
    const { codes } = await recovery.generate(alice.id);
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const code of codes) expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){5}$/);
    const first = codes[0] as string;
    const tx = gate.begin({ accountId: alice.id });
    const evidence = await gate.verify(tx, 'recovery-code', { code: ` ${first.toLowerCase().replace(/-/g, ' ')} ` });
    expect(evidence).toMatchObject({ factor: 'recovery-code', amr: ['otp'], kinds: ['possession'] });
    expect(events).toContain('recovery used');
    expect(await recovery.remaining(alice.id)).toBe(9);
    expect((await rejection(recovery.verify(alice.id, first))).code).toBe('ERR_RECOVERY_CODE_INVALID');
    expect((await store.audit.query({ subject: alice.id, types: ['recovery.used'] })).length).toBe(1);

    const fresh = await recovery.generate(alice.id);
    expect((await rejection(recovery.verify(alice.id, codes[1] as string))).code).toBe('ERR_RECOVERY_CODE_INVALID');
    await recovery.verify(alice.id, fresh.codes[0] as string);
  });

  test('account recovery (§4.2): a code alone is refused; a code with the password recovers, only to manage authenticators', async () => {
    const { gate, alice, recovery, store, clock } = await world();
    const { codes } = await recovery.generate(alice.id);
    const alone = gate.begin({ accountId: alice.id });
    await gate.verify(alone, 'recovery-code', { code: codes[0] });
    const refused = await rejection(gate.recover(alone));
    expect(refused.code).toBe('ERR_GATE_RECOVERY_REFUSED');
    expect(refused.message).toMatch(/a recovery code and one authenticator already bound to the account/);

    const tx = gate.begin({ accountId: alice.id });
    await gate.verify(tx, 'recovery-code', { code: codes[1] });
    await gate.verify(tx, 'password', { password: 'tea at the corner café, 4pm' });
    const session = await gate.recover(tx);
    expect(session.expiresAt).toBe(clock.now() + 15 * 60_000);
    expect((await gate.authorize(session.token, { action: 'authenticator.bind' })).decision.allow).toBe(true);
    // the recovery session is confined by its own caveat, whatever the policy would allow
    expect((await rejection(gate.authorize(session.token, { action: 'read' }))).code).toBe(
      'ERR_CREDENTIAL_CAVEAT_FAILED',
    );
    const types = (await store.audit.query({ subject: alice.id })).map((e) => e.type);
    expect(types).toContain('recovery.refused');
    expect(types).toContain('recovery.completed');
    clock.advance(15 * 60_000 + 1);
    expect((await rejection(gate.authorize(session.token, { action: 'authenticator.bind' }))).code).toBe(
      'ERR_CREDENTIAL_EXPIRED',
    );
  });

  test('attack: a password alone, or with a code spent in another transaction, does not recover an account', async () => {
    const { gate, alice, recovery } = await world();
    const { codes } = await recovery.generate(alice.id);
    const passwordOnly = gate.begin({ accountId: alice.id });
    await gate.verify(passwordOnly, 'password', { password: 'tea at the corner café, 4pm' });
    expect((await rejection(gate.recover(passwordOnly))).code).toBe('ERR_GATE_RECOVERY_REFUSED');
    const elsewhere = gate.begin({ accountId: alice.id });
    await gate.verify(elsewhere, 'recovery-code', { code: codes[2] });
    const later = gate.begin({ accountId: alice.id });
    await gate.verify(later, 'password', { password: 'tea at the corner café, 4pm' });
    expect((await rejection(gate.recover(later))).code).toBe('ERR_GATE_RECOVERY_REFUSED');
  });

  test('after recovery the lost fob is removed; the last authenticator that signs in is kept; removal is audited and notified', async () => {
    const { gate, alice, recovery, store, fob, events, passwords } = await world();
    const { codes } = await recovery.generate(alice.id);
    // a fob touch alone (AAL1) may not remove authenticators: the answer says what would
    const touch = gate.begin({ accountId: alice.id });
    await gate.verify(touch, 'fob', { client: fob });
    const weak = await gate.issueSession(touch);
    const fobRecord = (await store.authenticators.listByAccount(alice.id, 'fob'))[0];
    if (fobRecord === undefined) throw new Error('no fob record');
    const forbidden = await rejection(gate.removeAuthenticator(weak.token, fobRecord.id));
    expect(forbidden.code).toBe('ERR_GATE_FORBIDDEN');
    expect((forbidden.detail.stepUp as string[]).length).toBeGreaterThan(0);

    const tx = gate.begin({ accountId: alice.id });
    await gate.verify(tx, 'recovery-code', { code: codes[0] });
    await gate.verify(tx, 'password', { password: 'tea at the corner café, 4pm' });
    const session = await gate.recover(tx);
    await gate.removeAuthenticator(session.token, fobRecord.id);
    expect(await store.authenticators.get(fobRecord.id)).toBeNull();
    expect(events).toContain('removed fob');
    expect((await store.audit.query({ subject: alice.id, types: ['authenticator.removed'] })).length).toBe(1);

    // the password is now the only authenticator that signs in (the duress password does not count)
    const password = (await store.authenticators.listByAccount(alice.id, 'password')).find((r) => !r.duress);
    if (password === undefined) throw new Error('no password record');
    expect((await rejection(gate.removeAuthenticator(session.token, password.id))).code).toBe(
      'ERR_GATE_LAST_AUTHENTICATOR',
    );
    // someone else's authenticator is not found, whatever its id
    const bob = await store.accounts.create({ username: 'bob' });
    await passwords.enrol(bob.id, 'a long passphrase of his own, too');
    const bobs = (await store.authenticators.listByAccount(bob.id))[0];
    expect((await rejection(gate.removeAuthenticator(session.token, bobs?.id ?? ''))).code).toBe('ERR_STORE_NOT_FOUND');
  });

  test('an account kept at AAL1 recovers with a recovery code alone', async () => {
    const { gate, alice, recovery } = await world('memory', { accountAal: 1 });
    const { codes } = await recovery.generate(alice.id);
    const tx = gate.begin({ accountId: alice.id });
    await gate.verify(tx, 'recovery-code', { code: codes[0] });
    const session = await gate.recover(tx);
    expect(session.aal).toBe(1);
    expect((await gate.authorize(session.token, { action: 'authenticator.bind' })).decision.allow).toBe(true);
  });

  test('attack: racing one code on many requests accepts it exactly once', async () => {
    const { alice, recovery } = await world();
    const { codes } = await recovery.generate(alice.id);
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => recovery.verify(alice.id, codes[3] as string)),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });

  test('attack: guessing is throttled after maxFailures wrong codes, even for a right one', async () => {
    const { alice, recovery, clock } = await world();
    const { codes } = await recovery.generate(alice.id);
    for (let i = 0; i < 3; i++) {
      expect((await rejection(recovery.verify(alice.id, 'AAAA-AAAA-AAAA-AAAA-AAAA-AAAA'))).code).toBe(
        'ERR_RECOVERY_CODE_INVALID',
      );
    }
    expect((await rejection(recovery.verify(alice.id, codes[0] as string))).code).toBe('ERR_THROTTLED');
    clock.advance(HOUR + 1);
    await recovery.verify(alice.id, codes[0] as string);
  });

  test('codes are stored hashed, never in clear', async () => {
    const { alice, recovery, store } = await world();
    const { codes, record } = await recovery.generate(alice.id);
    const stored = JSON.stringify(await store.authenticators.get(record.id));
    for (const code of codes) {
      expect(stored).not.toContain(code);
      expect(stored).not.toContain(code.replace(/-/g, ''));
    }
  });

  test('malformed input is a clear error, never a crash', async () => {
    const { alice, recovery } = await world();
    await recovery.generate(alice.id);
    for (const bad of ['', 'x'.repeat(10_000), '!!!!', 42 as unknown as string]) {
      expect((await rejection(recovery.verify(alice.id, bad))).code).toMatch(/^ERR_(RECOVERY_CODE_INVALID|THROTTLED)$/);
    }
  });
});
