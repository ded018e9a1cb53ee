/**
 * Attacks on the WebAuthn factor, each named after the attack, against the software
 * authenticator (the browser suite repeats the ones a browser can be made to commit). Each test
 * also shows the honest variant passing, so that it fails if the check it guards is removed.
 */
import { describe, expect, it } from 'vitest';
import { WebAuthnFactor } from '../../../src/factors/webauthn/factor.js';
import { createMemoryStore } from '../../../src/store/memory.js';
import { SoftAuthenticator } from '../../../src/testing/soft-authenticator.js';
import { rejection } from '../../helpers/errors.js';
import { ORIGIN, RP_ID, register, world } from './setup.js';

describe('attacks on sign-in', () => {
  it('UV downgrade: the client edits userVerification to `discouraged`; the server policy still requires UV', async () => {
    const { factor, authenticator, alice } = await world();
    await register(factor, authenticator, alice.id);
    const request = await factor.startAuthentication({ accountId: alice.id });
    const downgraded = { ...request.options, userVerification: 'discouraged' as const };
    const response = authenticator.get(downgraded, { origin: ORIGIN, uv: false });
    const err = await rejection(factor.finishAuthentication({ challengeId: request.challengeId, response }));
    expect(err.code).toBe('ERR_WEBAUTHN_UV_REQUIRED');
    const fair = await factor.startAuthentication({ accountId: alice.id });
    const ok = await factor.finishAuthentication({
      challengeId: fair.challengeId,
      response: authenticator.get(fair.options, { origin: ORIGIN }),
    });
    expect(ok.userVerified).toBe(true);
  });

  it('UV flag forged after signing: setting the UV bit in authenticator data breaks the signature', async () => {
    const { factor, authenticator, alice } = await world();
    await register(factor, authenticator, alice.id);
    const request = await factor.startAuthentication();
    const response = authenticator.get(request.options, { origin: ORIGIN, uv: false });
    const authData = Buffer.from(response.response.authenticatorData, 'base64url');
    authData[32] = (authData[32] as number) | 0x04;
    const forged = {
      ...response,
      response: { ...response.response, authenticatorData: authData.toString('base64url') },
    };
    const err = await rejection(factor.finishAuthentication({ challengeId: request.challengeId, response: forged }));
    expect(err).toMatchObject({ code: 'ERR_WEBAUTHN_VERIFICATION', detail: { reason: 'signature' } });
  });

  it('cross-origin assertion: made on a look-alike origin, or another port, is refused', async () => {
    const { factor, authenticator, alice } = await world();
    await register(factor, authenticator, alice.id);
    for (const origin of [
      'https://examp1e.com',
      'https://example.com:8443',
      'http://example.com',
      'https://evil.example.com',
    ]) {
      const request = await factor.startAuthentication();
      const response = authenticator.get(request.options, { origin });
      const err = await rejection(factor.finishAuthentication({ challengeId: request.challengeId, response }));
      expect([origin, err.detail.reason]).toEqual([origin, 'origin']);
    }
  });

  it('embedded in a cross-origin frame: refused unless the top origin is allowed', async () => {
    const { factor, authenticator, alice, store, clock } = await world();
    await register(factor, authenticator, alice.id);
    const request = await factor.startAuthentication();
    const framed = { origin: ORIGIN, crossOrigin: true, topOrigin: 'https://portal.example' };
    const err = await rejection(
      factor.finishAuthentication({
        challengeId: request.challengeId,
        response: authenticator.get(request.options, framed),
      }),
    );
    expect(err.detail.reason).toBe('cross-origin');
    const embedded = new WebAuthnFactor({
      store,
      clock,
      rp: { id: RP_ID, origins: [ORIGIN], topOrigins: ['https://portal.example'] },
    });
    const ok = await embedded.startAuthentication();
    expect(
      (
        await embedded.finishAuthentication({
          challengeId: ok.challengeId,
          response: authenticator.get(ok.options, framed),
        })
      ).subject,
    ).toBe(alice.id);
    // crossOrigin without a topOrigin (older clients), or a topOrigin without crossOrigin: refused
    for (const ceremony of [
      { origin: ORIGIN, crossOrigin: true },
      { origin: ORIGIN, crossOrigin: false, topOrigin: 'https://portal.example' },
    ]) {
      const again = await embedded.startAuthentication();
      const refused = await rejection(
        embedded.finishAuthentication({
          challengeId: again.challengeId,
          response: authenticator.get(again.options, ceremony),
        }),
      );
      expect(refused.detail.reason).toBe('top-origin');
    }
  });

  it('replayed assertion: the same response twice, or twenty times at once, is accepted exactly once', async () => {
    const { factor, authenticator, alice } = await world();
    await register(factor, authenticator, alice.id);
    const request = await factor.startAuthentication();
    const response = authenticator.get(request.options, { origin: ORIGIN });
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => factor.finishAuthentication({ challengeId: request.challengeId, response })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const again = await rejection(factor.finishAuthentication({ challengeId: request.challengeId, response }));
    expect(again.code).toBe('ERR_CHALLENGE_INVALID');
  });

  it('replay against a fresh challenge: an old response answers the old challenge only', async () => {
    const { factor, authenticator, alice } = await world();
    await register(factor, authenticator, alice.id);
    const old = await factor.startAuthentication();
    const response = authenticator.get(old.options, { origin: ORIGIN });
    const fresh = await factor.startAuthentication();
    const err = await rejection(factor.finishAuthentication({ challengeId: fresh.challengeId, response }));
    expect(err).toMatchObject({ code: 'ERR_WEBAUTHN_VERIFICATION', detail: { reason: 'challenge' } });
  });

  it('flipped signature bit: refused, and a forged signature never moves the counter nor disables the passkey', async () => {
    const { factor, authenticator, alice, store } = await world();
    const { record } = await register(factor, authenticator, alice.id);
    const request = await factor.startAuthentication();
    const response = authenticator.get(request.options, { origin: ORIGIN });
    const signature = Buffer.from(response.response.signature, 'base64url');
    signature[signature.length - 2] = (signature[signature.length - 2] as number) ^ 0x01;
    const forged = { ...response, response: { ...response.response, signature: signature.toString('base64url') } };
    const err = await rejection(factor.finishAuthentication({ challengeId: request.challengeId, response: forged }));
    expect(err).toMatchObject({ code: 'ERR_WEBAUTHN_VERIFICATION', detail: { reason: 'signature' } });
    expect(await store.authenticators.get(record.id)).toMatchObject({ counter: record.counter, disabled: false });
  });

  it('non-canonical DER signature (the same signature under another encoding) is refused', async () => {
    const { factor, authenticator, alice } = await world();
    await register(factor, authenticator, alice.id);
    const request = await factor.startAuthentication();
    const response = authenticator.get(request.options, { origin: ORIGIN });
    const signature = Buffer.from(response.response.signature, 'base64url');
    signature[0] = 0xb0; // SEQUENCE with the wrong tag class: SimpleWebAuthn's ASN.1 reader alone accepts it
    const forged = { ...response, response: { ...response.response, signature: signature.toString('base64url') } };
    const err = await rejection(factor.finishAuthentication({ challengeId: request.challengeId, response: forged }));
    expect(err).toMatchObject({ code: 'ERR_WEBAUTHN_VERIFICATION', detail: { reason: 'signature' } });
  });

  it('backup flag changed after registration: BE set or cleared is refused and audited; BS alone may change', async () => {
    const { factor, authenticator, alice, store } = await world();
    const { record } = await register(factor, authenticator, alice.id);
    const credential = [...authenticator.credentials.values()][0];
    if (credential === undefined) throw new Error('no credential');
    credential.backupEligible = true;
    const request = await factor.startAuthentication();
    const err = await rejection(
      factor.finishAuthentication({
        challengeId: request.challengeId,
        response: authenticator.get(request.options, { origin: ORIGIN }),
      }),
    );
    expect(err).toMatchObject({ code: 'ERR_WEBAUTHN_BACKUP_CHANGED', detail: { registered: false, received: true } });
    expect(await store.audit.query({ subject: alice.id, types: ['webauthn.backup-eligibility-changed'] })).toHaveLength(
      1,
    );
    expect((await store.authenticators.get(record.id))?.counter).toBe(record.counter);

    const synced = await world({}, new SoftAuthenticator({ backupEligible: true, counterStep: 0 }));
    await register(synced.factor, synced.authenticator, synced.alice.id);
    const syncedCredential = [...synced.authenticator.credentials.values()][0];
    if (syncedCredential === undefined) throw new Error('no credential');
    syncedCredential.backupEligible = false;
    const cleared = await synced.factor.startAuthentication();
    expect(
      (
        await rejection(
          synced.factor.finishAuthentication({
            challengeId: cleared.challengeId,
            response: synced.authenticator.get(cleared.options, { origin: ORIGIN }),
          }),
        )
      ).code,
    ).toBe('ERR_WEBAUTHN_BACKUP_CHANGED');
  });

  it('backed up without being backup eligible (BS without BE) is malformed', async () => {
    const { factor, authenticator, alice } = await world();
    await register(factor, authenticator, alice.id);
    const credential = [...authenticator.credentials.values()][0];
    if (credential === undefined) throw new Error('no credential');
    credential.backedUp = true;
    const request = await factor.startAuthentication();
    const err = await rejection(
      factor.finishAuthentication({
        challengeId: request.challengeId,
        response: authenticator.get(request.options, { origin: ORIGIN }),
      }),
    );
    expect(err).toMatchObject({ code: 'ERR_WEBAUTHN_VERIFICATION', detail: { reason: 'malformed' } });
  });

  it('counter rollback: a cloned authenticator is disabled and audited; an equal counter counts as rollback; 0/0 does not', async () => {
    const { factor, authenticator, alice, store } = await world();
    const { record } = await register(factor, authenticator, alice.id);
    const signIn = async () => {
      const request = await factor.startAuthentication({ accountId: alice.id });
      return factor.finishAuthentication({
        challengeId: request.challengeId,
        response: authenticator.get(request.options, { origin: ORIGIN }),
      });
    };
    await signIn();
    await signIn();
    const stored = (await store.authenticators.get(record.id))?.counter ?? 0;
    const credential = [...authenticator.credentials.values()][0];
    if (credential === undefined) throw new Error('no credential');
    credential.counter = stored - 1; // the clone signs with counter = stored: not greater
    const err = await rejection(signIn());
    expect(err).toMatchObject({ code: 'ERR_WEBAUTHN_COUNTER_ROLLBACK', detail: { stored, received: stored } });
    expect((await store.authenticators.get(record.id))?.disabled).toBe(true);
    const audit = await store.audit.query({ subject: alice.id, types: ['webauthn.counter-rollback'] });
    expect(audit.map((e) => e.detail)).toEqual([
      { authenticatorId: record.id, stored, received: stored, disabled: true },
    ]);
    credential.counter = stored + 100;
    expect((await rejection(signIn())).code).toBe('ERR_WEBAUTHN_CREDENTIAL_UNKNOWN');

    const zero = await world({}, new SoftAuthenticator({ backupEligible: true, counterStep: 0 }));
    await register(zero.factor, zero.authenticator, zero.alice.id);
    for (let i = 0; i < 3; i++) {
      const request = await zero.factor.startAuthentication();
      await zero.factor.finishAuthentication({
        challengeId: request.challengeId,
        response: zero.authenticator.get(request.options, { origin: ORIGIN }),
      });
    }
  });

  it('counter rollback with a bad signature is only a forgery: nothing is disabled (no denial of service)', async () => {
    const { factor, authenticator, alice, store } = await world();
    const { record } = await register(factor, authenticator, alice.id);
    const credential = [...authenticator.credentials.values()][0];
    if (credential === undefined) throw new Error('no credential');
    credential.counter = 0;
    const request = await factor.startAuthentication();
    const response = authenticator.get(request.options, { origin: ORIGIN });
    const signature = Buffer.from(response.response.signature, 'base64url');
    signature[signature.length - 1] = (signature[signature.length - 1] as number) ^ 0x80;
    const forged = { ...response, response: { ...response.response, signature: signature.toString('base64url') } };
    expect(
      (await rejection(factor.finishAuthentication({ challengeId: request.challengeId, response: forged }))).code,
    ).toBe('ERR_WEBAUTHN_VERIFICATION');
    expect((await store.authenticators.get(record.id))?.disabled).toBe(false);
    expect(await store.audit.query({ subject: alice.id })).toEqual([]);
  });

  it('a race is not a clone: two sign-ins finishing out of order are refused or accepted, never disabled', async () => {
    const { store, clock, alice } = await world();
    // Both verifications read the record before either writes, and the later response (counter
    // 3) wins the compare-and-set: the earlier one (counter 2) then sees a counter above its own.
    let reads = 0;
    let release: () => void = () => {};
    const bothRead = new Promise<void>((resolve) => {
      release = resolve;
    });
    let laterWritten: () => void = () => {};
    const laterDone = new Promise<void>((resolve) => {
      laterWritten = resolve;
    });
    const racing = {
      ...store,
      authenticators: {
        ...store.authenticators,
        async findByLookupKey(factor: string, key: string) {
          const record = await store.authenticators.findByLookupKey(factor, key);
          if (++reads === 2) release();
          await bothRead;
          return record;
        },
        async update(id: string, version: number, patch: Parameters<typeof store.authenticators.update>[2]) {
          if (patch.counter === 2) await laterDone;
          const updated = await store.authenticators.update(id, version, patch);
          if (patch.counter === 3) laterWritten();
          return updated;
        },
      },
    };
    const factor = new WebAuthnFactor({ store: racing, clock, rp: { id: RP_ID, origins: [ORIGIN] } });
    const authenticator = new SoftAuthenticator();
    const { record } = await register(factor, authenticator, alice.id);
    const first = await factor.startAuthentication();
    const second = await factor.startAuthentication();
    const earlier = authenticator.get(first.options, { origin: ORIGIN }); // counter 2
    const later = authenticator.get(second.options, { origin: ORIGIN }); // counter 3
    const [a, b] = await Promise.allSettled([
      factor.finishAuthentication({ challengeId: first.challengeId, response: earlier }),
      factor.finishAuthentication({ challengeId: second.challengeId, response: later }),
    ]);
    expect(b?.status).toBe('fulfilled');
    expect(a?.status).toBe('rejected');
    expect((a as PromiseRejectedResult).reason).toMatchObject({ code: 'ERR_STORE_CONFLICT' });
    expect(await store.authenticators.get(record.id)).toMatchObject({ counter: 3, disabled: false });
    expect(await store.audit.query({ subject: alice.id })).toEqual([]);
  });

  it('rpID spoofing: an assertion signed for another RP ID is refused', async () => {
    const { factor, authenticator, alice } = await world();
    await register(factor, authenticator, alice.id);
    const request = await factor.startAuthentication();
    const response = authenticator.get(request.options, { origin: ORIGIN, rpId: 'evil.example' });
    const err = await rejection(factor.finishAuthentication({ challengeId: request.challengeId, response }));
    expect(err.detail.reason).toBe('rp-id');
  });

  it('user-handle swap: a usernameless response claiming another user’s handle is refused', async () => {
    const { factor, alice, bob } = await world();
    const alices = new SoftAuthenticator();
    const bobs = new SoftAuthenticator();
    const a = await register(factor, alices, alice.id);
    await register(factor, bobs, bob.id);
    const request = await factor.startAuthentication();
    const response = bobs.get(request.options, { origin: ORIGIN });
    const swapped = {
      ...response,
      response: { ...response.response, userHandle: (a.record.data as { userHandle: string }).userHandle },
    };
    const err = await rejection(factor.finishAuthentication({ challengeId: request.challengeId, response: swapped }));
    expect(err.detail.reason).toBe('user-handle');
  });

  it('credential substitution: in a username-first sign-in, another account’s passkey is refused', async () => {
    const { factor, alice, bob } = await world();
    const alices = new SoftAuthenticator();
    const bobs = new SoftAuthenticator();
    await register(factor, alices, alice.id);
    await register(factor, bobs, bob.id);
    const request = await factor.startAuthentication({ accountId: alice.id });
    const response = bobs.get(request.options, {
      origin: ORIGIN,
      credentialId: [...bobs.credentials.keys()][0] as string,
    });
    const err = await rejection(factor.finishAuthentication({ challengeId: request.challengeId, response }));
    expect(err).toMatchObject({ code: 'ERR_WEBAUTHN_CREDENTIAL_UNKNOWN', detail: { reason: 'not-allowed' } });
    // And the gate's accountId check: a usernameless response for bob cannot verify as alice.
    const open = await factor.startAuthentication();
    const bobsAnswer = bobs.get(open.options, { origin: ORIGIN });
    const gateErr = await rejection(
      factor.verify({ accountId: alice.id, challengeId: open.challengeId, response: bobsAnswer }),
    );
    expect(gateErr.code).toBe('ERR_WEBAUTHN_CREDENTIAL_UNKNOWN');
  });

  it('ceremony confusion: a registration response (webauthn.create) presented to a sign-in is refused', async () => {
    const { factor, authenticator, alice } = await world();
    await register(factor, authenticator, alice.id);
    const request = await factor.startAuthentication();
    const response = authenticator.get(request.options, { origin: ORIGIN, type: 'webauthn.create' });
    expect(
      (await rejection(factor.finishAuthentication({ challengeId: request.challengeId, response }))).detail.reason,
    ).toBe('type');
  });

  it('no user presence: an assertion without the UP flag is refused', async () => {
    const { factor, authenticator, alice } = await world({ userVerification: 'discouraged' });
    await register(factor, authenticator, alice.id);
    const request = await factor.startAuthentication();
    const response = authenticator.get(request.options, { origin: ORIGIN, up: false, uv: false });
    expect(
      (await rejection(factor.finishAuthentication({ challengeId: request.challengeId, response }))).detail.reason,
    ).toBe('user-presence');
  });
});

describe('attacks on registration', () => {
  it('registration on another origin, or for another RP ID, is refused and nothing is stored', async () => {
    const { factor, authenticator, alice, store } = await world();
    for (const [ceremony, reason] of [
      [{ origin: 'https://evil.example' }, 'origin'],
      [{ origin: ORIGIN, rpId: 'evil.example' }, 'rp-id'],
      [{ origin: ORIGIN, type: 'webauthn.get' }, 'type'],
    ] as const) {
      const creation = await factor.startRegistration({ accountId: alice.id });
      const response = authenticator.create(creation.options, ceremony);
      const err = await rejection(factor.finishRegistration({ challengeId: creation.challengeId, response }));
      expect(err.detail.reason).toBe(reason);
    }
    expect(await store.authenticators.listByAccount(alice.id)).toEqual([]);
  });

  it('a registration challenge for alice cannot enrol a passkey into bob’s account', async () => {
    const { factor, authenticator, alice, bob, store } = await world();
    const creation = await factor.startRegistration({ accountId: alice.id, binding: 'alice-session' });
    const response = authenticator.create(creation.options, { origin: ORIGIN });
    const err = await rejection(
      factor.finishRegistration({ challengeId: creation.challengeId, response, binding: 'bob-session' }),
    );
    expect(err.code).toBe('ERR_CHALLENGE_INVALID');
    expect(await store.authenticators.listByAccount(bob.id)).toEqual([]);
    expect(await store.authenticators.listByAccount(alice.id)).toEqual([]);
  });
});

describe('start-up checks', () => {
  const make = (rp: { id: string; origins: string[]; topOrigins?: string[] }) => () =>
    new WebAuthnFactor({ store: createMemoryStore(), rp });

  it('an IP-address rpID is refused at start-up with a clear message', () => {
    for (const id of ['127.0.0.1', '192.168.1.10', '::1', '[::1]', '0x7f.1', '2130706433', '10.0.0.1']) {
      let error: unknown;
      try {
        make({ id, origins: ['https://example.com'] })();
      } catch (e) {
        error = e;
      }
      expect([id, error]).toMatchObject([
        id,
        { code: 'ERR_WEBAUTHN_CONFIG', detail: { field: 'rp.id', reason: 'ip-address' } },
      ]);
      expect((error as Error).message).toContain('IP address');
      expect((error as Error).message).toContain('localhost');
    }
  });

  it('malformed rpIDs and origins are refused; good ones pass', () => {
    const bad: { id: string; origins: string[]; topOrigins?: string[] }[] = [
      { id: 'Example.com', origins: ['https://example.com'] },
      { id: 'https://example.com', origins: ['https://example.com'] },
      { id: 'example.com:443', origins: ['https://example.com'] },
      { id: 'example.com.', origins: ['https://example.com'] },
      { id: 'exa_mple.com', origins: ['https://example.com'] },
      { id: '', origins: ['https://example.com'] },
      { id: 'example.com', origins: [] },
      { id: 'example.com', origins: ['https://example.com/'] },
      { id: 'example.com', origins: ['https://example.com/login'] },
      { id: 'example.com', origins: ['http://example.com'] },
      { id: 'example.com', origins: ['https://example.org'] },
      { id: 'example.com', origins: ['https://notexample.com'] },
      { id: 'example.com', origins: ['https://example.com'], topOrigins: ['http://portal.example'] },
      { id: 'example.com', origins: ['android:apk-key-hash:short'] },
    ];
    for (const rp of bad) {
      expect([rp, () => make(rp)()]).toSatisfy(([, fn]) => {
        try {
          (fn as () => unknown)();
          return false;
        } catch (error) {
          return (error as { code?: string }).code === 'ERR_WEBAUTHN_CONFIG';
        }
      });
    }
    const good = make({
      id: 'example.com',
      origins: ['https://example.com', 'https://login.example.com', 'https://example.com:8443'],
      topOrigins: ['https://portal.example'],
    })();
    expect(good.rp).toEqual({
      id: 'example.com',
      name: 'example.com',
      origins: ['https://example.com', 'https://login.example.com', 'https://example.com:8443'],
      topOrigins: ['https://portal.example'],
    });
    expect(make({ id: 'localhost', origins: ['http://localhost:3000'] })().rp.id).toBe('localhost');
    expect(make({ id: 'xn--bcher-kva.example', origins: ['https://xn--bcher-kva.example'] })().rp.id).toBe(
      'xn--bcher-kva.example',
    );
  });

  it('bad options are refused at start-up: user verification values, algorithms, limits', () => {
    const store = createMemoryStore();
    const rp = { id: RP_ID, origins: [ORIGIN] };
    expect(() => new WebAuthnFactor({ store, rp, userVerification: 'sometimes' as 'required' })).toThrow(
      /userVerification/,
    );
    expect(() => new WebAuthnFactor({ store, rp, algorithms: [] })).toThrow(/algorithms/);
    expect(() => new WebAuthnFactor({ store, rp, limits: { challengeTtlMs: 3_600_000 } })).toThrow(/challengeTtlMs/);
    expect(() => new WebAuthnFactor({ store, rp, limits: { nonsense: 1 } as never })).toThrow(/unknown limit/);
  });
});
