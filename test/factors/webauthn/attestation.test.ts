/**
 * Attestation with an AAGUID allow-list: a vendor CA (minted here with node:crypto keys) issues
 * attestation certificates for its model; only passkeys whose packed attestation chains to the
 * anchors configured for their AAGUID register (and count as hardware-bound).
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { AttestationOptions } from '../../../src/factors/webauthn/attestation.js';
import { WebAuthnFactor } from '../../../src/factors/webauthn/factor.js';
import { assuranceLevel } from '../../../src/policy/aal.js';
import { createMemoryStore } from '../../../src/store/memory.js';
import { SoftAuthenticator } from '../../../src/testing/soft-authenticator.js';
import { rejection } from '../../helpers/errors.js';
import { certificate, pem } from './certificates.js';
import { ORIGIN, RP_ID, START, world } from './setup.js';

const AAGUID = new Uint8Array(Buffer.from('2fc0579f811347eab116bb5a8db9202a', 'hex'));
const AAGUID_TEXT = '2fc0579f-8113-47ea-b116-bb5a8db9202a';

function vendor(name: string) {
  const ca = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const caName = { C: 'SE', O: name, CN: `${name} Attestation Root` };
  const root = certificate({
    subject: caName,
    issuer: caName,
    publicKey: ca.publicKey,
    issuerKey: ca.privateKey,
    serial: 1,
    ca: true,
  });
  const leaf = (options: { aaguid?: Uint8Array; notAfter?: Date } = {}) => {
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const der = certificate({
      subject: { C: 'SE', O: name, OU: 'Authenticator Attestation', CN: `${name} Batch 1` },
      issuer: caName,
      publicKey: key.publicKey,
      issuerKey: ca.privateKey,
      serial: 2,
      ca: false,
      aaguid: options.aaguid ?? AAGUID,
      ...(options.notAfter === undefined ? {} : { notAfter: options.notAfter }),
    });
    return { der, key: key.privateKey };
  };
  /** A leaf issued by an intermediate CA that the root issued: x5c = [leaf, intermediate]. */
  const viaIntermediate = (options: { intermediateIsCa?: boolean } = {}) => {
    const mid = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const midName = { C: 'SE', O: name, CN: `${name} Attestation CA 2` };
    const intermediate = certificate({
      subject: midName,
      issuer: caName,
      publicKey: mid.publicKey,
      issuerKey: ca.privateKey,
      serial: 3,
      ca: options.intermediateIsCa ?? true,
    });
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const der = certificate({
      subject: { C: 'SE', O: name, OU: 'Authenticator Attestation', CN: `${name} Batch 2` },
      issuer: midName,
      publicKey: key.publicKey,
      issuerKey: mid.privateKey,
      serial: 4,
      ca: false,
      aaguid: AAGUID,
    });
    return { x5c: [der, intermediate], key: key.privateKey };
  };
  return { root, leaf, viaIntermediate };
}

async function registerWith(options: AttestationOptions, authenticator: SoftAuthenticator) {
  const w = await world({ attestation: options }, authenticator);
  const creation = await w.factor.startRegistration({ accountId: w.alice.id });
  expect(creation.options.attestation).toBe('direct');
  const response = authenticator.create(creation.options, { origin: ORIGIN });
  return { ...w, result: w.factor.finishRegistration({ challengeId: creation.challengeId, response }) };
}

describe('attestation with an AAGUID allow-list', () => {
  const acme = vendor('Acme Keys');
  const policy: AttestationOptions = {
    authenticators: [{ aaguid: AAGUID_TEXT, name: 'Acme Key 5', trustAnchors: [pem(acme.root)] }],
  };

  it('a passkey attested by an allowed model registers, names its model and is hardware-bound (AAL3)', async () => {
    const leaf = acme.leaf();
    const authenticator = new SoftAuthenticator({
      aaguid: AAGUID,
      attestation: { kind: 'full', x5c: [leaf.der], key: leaf.key },
    });
    const { result, factor } = await registerWith(policy, authenticator);
    const { passkey } = await result;
    expect(passkey).toMatchObject({ attested: true, model: 'Acme Key 5', aaguid: AAGUID_TEXT });
    const request = await factor.startAuthentication();
    const evidence = await factor.finishAuthentication({
      challengeId: request.challengeId,
      response: authenticator.get(request.options, { origin: ORIGIN }),
    });
    expect(evidence).toMatchObject({ hardwareBound: true, amr: ['hwk', 'user'] });
    expect(assuranceLevel([evidence], { now: START })).toBe(3);
  });

  it('refuses: an AAGUID not on the list, self attestation, no attestation, another vendor’s chain, an expired certificate', async () => {
    const cases: [string, SoftAuthenticator, string][] = [];
    const other = new Uint8Array(16).fill(7);
    const leaf = acme.leaf({ aaguid: other });
    cases.push([
      'aaguid-not-allowed',
      new SoftAuthenticator({ aaguid: other, attestation: { kind: 'full', x5c: [leaf.der], key: leaf.key } }),
      'aaguid-not-allowed',
    ]);
    cases.push(['self', new SoftAuthenticator({ aaguid: AAGUID, attestation: { kind: 'self' } }), 'self-attestation']);
    cases.push(['none', new SoftAuthenticator({ aaguid: AAGUID, attestation: { kind: 'none' } }), 'no-attestation']);
    const rogue = vendor('Rogue').leaf();
    cases.push([
      'rogue chain',
      new SoftAuthenticator({ aaguid: AAGUID, attestation: { kind: 'full', x5c: [rogue.der], key: rogue.key } }),
      'untrusted-chain',
    ]);
    // Valid by the wall clock (SimpleWebAuthn's view) but expired by the server's clock.
    const expiring = acme.leaf({ notAfter: new Date(START - 1000) });
    cases.push([
      'expired',
      new SoftAuthenticator({ aaguid: AAGUID, attestation: { kind: 'full', x5c: [expiring.der], key: expiring.key } }),
      'certificate-expired',
    ]);
    for (const [name, authenticator, reason] of cases) {
      const { result, store, alice } = await registerWith(policy, authenticator);
      const err = await rejection(result);
      expect([name, err.code, err.detail.reason]).toEqual([name, 'ERR_WEBAUTHN_ATTESTATION', reason]);
      expect(await store.authenticators.listByAccount(alice.id)).toEqual([]);
    }
  });

  it('a certificate claiming another AAGUID than the authenticator data is refused (SimpleWebAuthn checks the extension)', async () => {
    const leaf = acme.leaf({ aaguid: new Uint8Array(16).fill(9) });
    const authenticator = new SoftAuthenticator({
      aaguid: AAGUID,
      attestation: { kind: 'full', x5c: [leaf.der], key: leaf.key },
    });
    const { result } = await registerWith(policy, authenticator);
    expect(await rejection(result)).toMatchObject({
      code: 'ERR_WEBAUTHN_VERIFICATION',
      detail: { reason: 'attestation' },
    });
  });

  it('walks a chain through an intermediate CA to the root; an intermediate that is not a CA breaks it', async () => {
    const good = acme.viaIntermediate();
    const ok = await registerWith(
      policy,
      new SoftAuthenticator({ aaguid: AAGUID, attestation: { kind: 'full', x5c: good.x5c, key: good.key } }),
    );
    expect((await ok.result).passkey.attested).toBe(true);
    const bad = acme.viaIntermediate({ intermediateIsCa: false });
    const refused = await registerWith(
      policy,
      new SoftAuthenticator({ aaguid: AAGUID, attestation: { kind: 'full', x5c: bad.x5c, key: bad.key } }),
    );
    expect((await rejection(refused.result)).detail.reason).toBe('chain-broken');
  });

  it('`enforcement: optional` registers other passkeys, but never as hardware-bound', async () => {
    const authenticator = new SoftAuthenticator({ aaguid: AAGUID, attestation: { kind: 'self' } });
    const { result, factor } = await registerWith({ ...policy, enforcement: 'optional' }, authenticator);
    expect((await result).passkey).toMatchObject({ attested: false, model: null, synced: false });
    const request = await factor.startAuthentication();
    const evidence = await factor.finishAuthentication({
      challengeId: request.challengeId,
      response: authenticator.get(request.options, { origin: ORIGIN }),
    });
    expect(evidence).toMatchObject({ hardwareBound: false, amr: ['swk', 'user'] });
  });

  it('an allow-list entry without trust anchors, or with a bad AAGUID or certificate, is refused at start-up', () => {
    const store = createMemoryStore();
    const rp = { id: RP_ID, origins: [ORIGIN] };
    for (const attestation of [
      { authenticators: [{ aaguid: AAGUID_TEXT, trustAnchors: [] }] },
      { authenticators: [{ aaguid: 'not-an-aaguid', trustAnchors: [pem(acme.root)] }] },
      { authenticators: [{ aaguid: '00000000-0000-0000-0000-000000000000', trustAnchors: [pem(acme.root)] }] },
      {
        authenticators: [
          { aaguid: AAGUID_TEXT, trustAnchors: ['-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----'] },
        ],
      },
      { authenticators: [] },
    ]) {
      expect(() => new WebAuthnFactor({ store, rp, attestation })).toThrow(
        expect.objectContaining({ code: 'ERR_WEBAUTHN_CONFIG' }),
      );
    }
  });
});
