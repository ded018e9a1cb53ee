/**
 * The WebAuthn factor against a software authenticator (node:crypto), on the memory store:
 * registration, username-first and usernameless sign-in, evidence, user verification as the
 * server decides, several passkeys per account, transaction binding, expiry and bad input.
 * The same flows run in Chromium in webauthn.browser.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { assuranceLevel } from '../../../src/policy/aal.js';
import { SoftAuthenticator } from '../../../src/testing/soft-authenticator.js';
import { rejection } from '../../helpers/errors.js';
import { ORIGIN, RP_ID, register, START, world } from './setup.js';

describe('WebAuthn registration', () => {
  it('stores a passkey record: lookup key = credential id, public key, counter, transports, AAGUID, flags, times', async () => {
    const { factor, authenticator, alice, clock } = await world();
    clock.advance(1000);
    const creation = await factor.startRegistration({ accountId: alice.id, label: 'laptop' });
    expect(creation.options).toMatchObject({
      rp: { id: RP_ID, name: 'Example' },
      user: { name: 'alice', displayName: 'Alice' },
      attestation: 'none',
      authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
      excludeCredentials: [],
    });
    expect(Buffer.from(creation.options.challenge, 'base64url').length).toBe(32);
    expect(creation.expiresAt).toBe(START + 1000 + 5 * 60_000);
    const response = authenticator.create(creation.options, { origin: ORIGIN });
    const { record, passkey } = await factor.finishRegistration({ challengeId: creation.challengeId, response });
    expect(record).toMatchObject({
      factor: 'webauthn',
      accountId: alice.id,
      lookupKey: response.id,
      label: 'laptop',
      counter: 1,
      createdAt: START + 1000,
      disabled: false,
    });
    expect(record.data).toMatchObject({
      v: 1,
      rpId: RP_ID,
      credentialId: response.id,
      alg: -7,
      aaguid: '11111111-1111-1111-1111-111111111111',
      transports: ['internal'],
      backupEligible: false,
      backedUp: false,
      fmt: 'none',
      attested: false,
      discoverable: true,
      origin: ORIGIN,
      userHandle: creation.options.user.id,
    });
    expect(passkey).toMatchObject({ credentialId: response.id, synced: false, label: 'laptop', counter: 1 });
  });

  it('several passkeys per account share one user handle, and excludeCredentials lists the ones it has', async () => {
    const { factor, alice } = await world();
    const laptop = new SoftAuthenticator();
    const phone = new SoftAuthenticator({ backupEligible: true, backedUp: true, counterStep: 0 });
    const first = await register(factor, laptop, alice.id);
    const creation = await factor.startRegistration({ accountId: alice.id });
    expect(creation.options.excludeCredentials).toEqual([
      { id: first.passkey.credentialId, type: 'public-key', transports: ['internal'] },
    ]);
    expect(creation.options.user.id).toBe((first.record.data as { userHandle: string }).userHandle);
    // The same authenticator refuses (it is excluded); another registers.
    expect(() => laptop.create(creation.options, { origin: ORIGIN })).toThrow(/InvalidStateError/);
    const response = phone.create(creation.options, { origin: ORIGIN });
    const second = await factor.finishRegistration({ challengeId: creation.challengeId, response });
    expect(second.passkey).toMatchObject({ synced: true, backedUp: true });
    expect((await factor.listPasskeys(alice.id)).map((p) => p.credentialId)).toEqual([
      first.passkey.credentialId,
      second.passkey.credentialId,
    ]);
  });

  it('a credential id registered twice (an authenticator ignoring excludeCredentials) is ERR_WEBAUTHN_CREDENTIAL_EXISTS', async () => {
    const { factor, authenticator, alice, bob, store } = await world();
    const { passkey } = await register(factor, authenticator, alice.id);
    const creation = await factor.startRegistration({ accountId: bob.id });
    const response = authenticator.create(creation.options, { origin: ORIGIN, reuse: passkey.credentialId });
    expect(response.id).toBe(passkey.credentialId);
    const err = await rejection(factor.finishRegistration({ challengeId: creation.challengeId, response }));
    expect(err.code).toBe('ERR_WEBAUTHN_CREDENTIAL_EXISTS');
    expect(await store.authenticators.listByAccount(bob.id)).toEqual([]);
  });

  it('the server requires UV at registration: an unverified registration is ERR_WEBAUTHN_UV_REQUIRED', async () => {
    const { factor, authenticator, alice, store } = await world();
    const creation = await factor.startRegistration({ accountId: alice.id });
    const response = authenticator.create(
      { ...creation.options, authenticatorSelection: { userVerification: 'discouraged' } },
      { origin: ORIGIN, uv: false },
    );
    const err = await rejection(factor.finishRegistration({ challengeId: creation.challengeId, response }));
    expect(err.code).toBe('ERR_WEBAUTHN_UV_REQUIRED');
    expect(await store.authenticators.listByAccount(alice.id)).toEqual([]);
  });

  it('refuses a disabled or unknown account, and more passkeys than the limit', async () => {
    const { factor, store, alice, authenticator } = await world({ limits: { maxCredentialsPerAccount: 1 } });
    expect((await rejection(factor.startRegistration({ accountId: 'nobody' }))).code).toBe('ERR_STORE_NOT_FOUND');
    await register(factor, authenticator, alice.id);
    expect((await rejection(factor.startRegistration({ accountId: alice.id }))).code).toBe('ERR_LIMIT_EXCEEDED');
    await store.accounts.setDisabled(alice.id, true);
    expect((await rejection(factor.startRegistration({ accountId: alice.id }))).code).toBe('ERR_INVALID_ARGUMENT');
  });
});

describe('WebAuthn sign-in and evidence', () => {
  it('username-first with UV: evidence is webauthn, phishing-resistant, hardware-bound, amr hwk+user, AAL3', async () => {
    const { factor, authenticator, alice, store, clock } = await world();
    const { record } = await register(factor, authenticator, alice.id);
    clock.advance(5000);
    const request = await factor.startAuthentication({ accountId: alice.id });
    expect(request.options).toMatchObject({
      rpId: RP_ID,
      userVerification: 'required',
      allowCredentials: [{ id: record.lookupKey, type: 'public-key', transports: ['internal'] }],
    });
    const response = authenticator.get(request.options, { origin: ORIGIN });
    const evidence = await factor.finishAuthentication({ challengeId: request.challengeId, response });
    expect(evidence).toEqual({
      factor: 'webauthn',
      subject: alice.id,
      authenticatorId: record.id,
      amr: ['hwk', 'user'],
      kinds: ['possession', 'inherence'],
      phishingResistant: true,
      hardwareBound: true,
      userVerified: true,
      userPresent: true,
      replayResistant: true,
      at: START + 5000,
    });
    expect(Object.isFrozen(evidence)).toBe(true);
    expect(assuranceLevel([evidence], { now: START + 5000 })).toBe(3);
    const updated = await store.authenticators.get(record.id);
    expect(updated).toMatchObject({ counter: 2, lastUsedAt: START + 5000 });
  });

  it("a counterless (synced) passkey's last use is written at most once a minute; a counting one's every time", async () => {
    const { factor, alice, clock, store } = await world();
    const synced = new SoftAuthenticator({ backupEligible: true, backedUp: true, counterStep: 0 });
    const counting = new SoftAuthenticator();
    const { record: syncedRecord } = await register(factor, synced, alice.id);
    const { record: countingRecord } = await register(factor, counting, alice.id);
    const signIn = async (authenticator: SoftAuthenticator) => {
      const request = await factor.startAuthentication({ accountId: alice.id });
      await factor.finishAuthentication({
        challengeId: request.challengeId,
        response: authenticator.get(request.options, { origin: ORIGIN }),
      });
    };
    const first = clock.now();
    await signIn(synced);
    await signIn(counting);
    clock.advance(30_000);
    await signIn(synced);
    await signIn(counting);
    expect((await store.authenticators.get(syncedRecord.id))?.lastUsedAt).toBe(first);
    expect((await store.authenticators.get(countingRecord.id))?.lastUsedAt).toBe(first + 30_000);
    clock.advance(30_000);
    await signIn(synced);
    expect((await store.authenticators.get(syncedRecord.id))?.lastUsedAt).toBe(first + 60_000);
  });

  it('usernameless: no allowCredentials, the user handle maps the passkey to its account', async () => {
    const { factor, alice, bob } = await world();
    const alices = new SoftAuthenticator();
    const bobs = new SoftAuthenticator();
    await register(factor, alices, alice.id);
    await register(factor, bobs, bob.id);
    const request = await factor.startAuthentication();
    expect(request.options.allowCredentials).toEqual([]);
    const response = bobs.get(request.options, { origin: ORIGIN });
    expect(await factor.lookupAccount(response)).toBe(bob.id);
    const evidence = await factor.finishAuthentication({ challengeId: request.challengeId, response });
    expect(evidence.subject).toBe(bob.id);
  });

  it('a synced passkey (backup eligible) is not hardware-bound: amr swk, AAL2 at most', async () => {
    const { factor, alice, store } = await world();
    const synced = new SoftAuthenticator({ backupEligible: true, backedUp: false, counterStep: 0 });
    const { record } = await register(factor, synced, alice.id);
    // It gets synced after registration: BS may change (BE may not), and the record follows.
    synced.credentials.forEach((c) => {
      c.backedUp = true;
    });
    const request = await factor.startAuthentication();
    const evidence = await factor.finishAuthentication({
      challengeId: request.challengeId,
      response: synced.get(request.options, { origin: ORIGIN }),
    });
    expect(evidence).toMatchObject({ amr: ['swk', 'user'], hardwareBound: false, userVerified: true });
    expect(assuranceLevel([evidence], { now: START })).toBe(2);
    expect((await store.authenticators.get(record.id))?.data).toMatchObject({ backedUp: true, backupEligible: true });
    expect((await store.authenticators.get(record.id))?.counter).toBe(0);
  });

  it('UV off under a `preferred` policy: evidence is single-factor (amr hwk, possession only, AAL1)', async () => {
    const { factor, authenticator, alice } = await world({ userVerification: 'preferred' });
    await register(factor, authenticator, alice.id, { uv: false });
    const request = await factor.startAuthentication({ accountId: alice.id });
    expect(request.options.userVerification).toBe('preferred');
    const evidence = await factor.finishAuthentication({
      challengeId: request.challengeId,
      response: authenticator.get(request.options, { origin: ORIGIN, uv: false }),
    });
    expect(evidence).toMatchObject({ amr: ['hwk'], kinds: ['possession'], userVerified: false });
    expect(assuranceLevel([evidence], { now: START })).toBe(1);
  });

  it('a step-up raises UV for one ceremony; a ceremony can never lower the server policy', async () => {
    const { factor, authenticator, alice } = await world({ userVerification: 'preferred' });
    await register(factor, authenticator, alice.id);
    const stepUp = await factor.startAuthentication({ accountId: alice.id, userVerification: 'required' });
    expect(stepUp.options.userVerification).toBe('required');
    const err = await rejection(
      factor.finishAuthentication({
        challengeId: stepUp.challengeId,
        response: authenticator.get(stepUp.options, { origin: ORIGIN, uv: false }),
      }),
    );
    expect(err.code).toBe('ERR_WEBAUTHN_UV_REQUIRED');
    const strict = await world({ userVerification: 'required' });
    const lowered = await strict.factor.startAuthentication({ userVerification: 'discouraged' });
    expect(lowered.options.userVerification).toBe('required');
  });

  it('`userVerificationKind: knowledge` for PIN-only deployments', async () => {
    const { factor, authenticator, alice } = await world({ userVerificationKind: 'knowledge' });
    await register(factor, authenticator, alice.id);
    const request = await factor.startAuthentication();
    const evidence = await factor.finishAuthentication({
      challengeId: request.challengeId,
      response: authenticator.get(request.options, { origin: ORIGIN }),
    });
    expect(evidence.kinds).toEqual(['possession', 'knowledge']);
  });

  it('binds a challenge to its transaction: another binding, or none, is ERR_CHALLENGE_INVALID', async () => {
    const { factor, authenticator, alice } = await world();
    await register(factor, authenticator, alice.id);
    for (const presented of ['session-B', undefined]) {
      const request = await factor.startAuthentication({ binding: 'session-A' });
      const response = authenticator.get(request.options, { origin: ORIGIN });
      const err = await rejection(
        factor.finishAuthentication({
          challengeId: request.challengeId,
          response,
          ...(presented === undefined ? {} : { binding: presented }),
        }),
      );
      expect(err).toMatchObject({ code: 'ERR_CHALLENGE_INVALID', detail: { reason: 'binding' } });
    }
    const request = await factor.startAuthentication({ binding: 'session-A' });
    const response = authenticator.get(request.options, { origin: ORIGIN });
    const evidence = await factor.finishAuthentication({
      challengeId: request.challengeId,
      response,
      binding: 'session-A',
    });
    expect(evidence.subject).toBe(alice.id);
  });

  it('challenges expire (five minutes by default) and are at least 128 bits', async () => {
    const { factor, authenticator, alice, clock } = await world({ limits: { challengeBytes: 16 } });
    await register(factor, authenticator, alice.id);
    const request = await factor.startAuthentication();
    expect(Buffer.from(request.options.challenge, 'base64url').length).toBe(16);
    const response = authenticator.get(request.options, { origin: ORIGIN });
    clock.advance(5 * 60_000);
    const err = await rejection(factor.finishAuthentication({ challengeId: request.challengeId, response }));
    expect(err.code).toBe('ERR_CHALLENGE_INVALID');
    await expect(world({ limits: { challengeBytes: 15 } })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });

  it('a registration challenge cannot answer a sign-in, nor the reverse', async () => {
    const { factor, authenticator, alice } = await world();
    await register(factor, authenticator, alice.id);
    const creation = await factor.startRegistration({ accountId: alice.id });
    const request = await factor.startAuthentication();
    const response = authenticator.get(request.options, { origin: ORIGIN });
    expect((await rejection(factor.finishAuthentication({ challengeId: creation.challengeId, response }))).code).toBe(
      'ERR_CHALLENGE_INVALID',
    );
  });

  it('the gate entry point `verify` checks its input at run time', async () => {
    const { factor, authenticator, alice } = await world();
    await register(factor, authenticator, alice.id);
    expect((await rejection(factor.verify({ accountId: alice.id }))).code).toBe('ERR_INVALID_ARGUMENT');
    const request = await factor.startAuthentication({ accountId: alice.id });
    const response = authenticator.get(request.options, { origin: ORIGIN });
    const evidence = await factor.verify({ accountId: alice.id, challengeId: request.challengeId, response });
    expect(evidence.subject).toBe(alice.id);
  });
});

describe('WebAuthn responses are untrusted input', () => {
  it('malformed and oversized responses are refused with stable codes, never another exception type', async () => {
    const { factor, authenticator, alice } = await world();
    await register(factor, authenticator, alice.id);
    const cases: [string, (r: Record<string, unknown>) => unknown, string][] = [
      ['not an object', () => 'hello', 'ERR_WEBAUTHN_VERIFICATION'],
      ['id differs from rawId', (r) => ({ ...r, rawId: 'AAAA' }), 'ERR_WEBAUTHN_VERIFICATION'],
      ['wrong type', (r) => ({ ...r, type: 'password' }), 'ERR_WEBAUTHN_VERIFICATION'],
      [
        'clientDataJSON not JSON',
        (r) => ({
          ...r,
          response: { ...(r.response as object), clientDataJSON: Buffer.from('{').toString('base64url') },
        }),
        'ERR_WEBAUTHN_VERIFICATION',
      ],
      [
        'clientDataJSON with a bad base64url character',
        (r) => ({ ...r, response: { ...(r.response as object), clientDataJSON: 'ab$d' } }),
        'ERR_WEBAUTHN_VERIFICATION',
      ],
      [
        'huge clientDataJSON',
        (r) => ({ ...r, response: { ...(r.response as object), clientDataJSON: 'A'.repeat(100_000) } }),
        'ERR_LIMIT_EXCEEDED',
      ],
      [
        'short authenticator data',
        (r) => ({ ...r, response: { ...(r.response as object), authenticatorData: 'AAAA' } }),
        'ERR_WEBAUTHN_VERIFICATION',
      ],
      [
        'userHandle longer than 64 bytes',
        (r) => ({ ...r, response: { ...(r.response as object), userHandle: Buffer.alloc(65).toString('base64url') } }),
        'ERR_LIMIT_EXCEEDED',
      ],
    ];
    for (const [name, mutate, code] of cases) {
      const request = await factor.startAuthentication();
      const response = authenticator.get(request.options, { origin: ORIGIN }) as unknown as Record<string, unknown>;
      const err = await rejection(
        factor.finishAuthentication({ challengeId: request.challengeId, response: mutate(response) }),
      );
      expect([name, err.code]).toEqual([name, code]);
    }
  });

  it('an error says what failed without echoing secrets or whole responses', async () => {
    const { factor, authenticator, alice } = await world();
    await register(factor, authenticator, alice.id);
    const request = await factor.startAuthentication();
    const response = authenticator.get(request.options, { origin: 'https://evil.example' });
    const err = await rejection(factor.finishAuthentication({ challengeId: request.challengeId, response }));
    expect(err).toMatchObject({ code: 'ERR_WEBAUTHN_VERIFICATION', detail: { reason: 'origin' } });
    expect(err.message).toContain('`https://evil.example`');
    expect(JSON.stringify(err.toJSON())).not.toContain(response.response.signature);
    expect(JSON.stringify(err.toJSON())).not.toContain(request.options.challenge);
  });
});
