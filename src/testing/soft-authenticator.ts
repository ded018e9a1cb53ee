/**
 * A software WebAuthn client and authenticator in one, built on node:crypto (ES256), for tests
 * and demos of apps without a browser: it answers the options `WebAuthnFactor` issues with the
 * JSON a browser would send (real P-256 signatures), and lets a test set every flag, the counter,
 * the origin and the attestation. latchkey's own browser suite proves the same flows against
 * Chromium's authenticator; this one also reaches the corners a browser will not produce. Never
 * use it as a real authenticator: its keys live in process memory.
 *
 * @example
 * ```ts
 * import { SoftAuthenticator } from 'latchkey/testing';
 * const phone = new SoftAuthenticator({ backupEligible: true, backedUp: true, counterStep: 0 });
 * const creation = await webauthn.startRegistration({ accountId });
 * await webauthn.finishRegistration({ challengeId: creation.challengeId, response: phone.create(creation.options, { origin }) });
 * ```
 *
 * @module latchkey/testing
 */
import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import { LatchkeyError } from '../core/errors.js';
import type {
  AuthenticationResponseJSON,
  CreationOptionsJSON,
  RegistrationResponseJSON,
  RequestOptionsJSON,
} from '../factors/webauthn/wire.js';
import { encodeCbor } from '../hardware/cbor.js';

const b64u = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
const sha256 = (bytes: Uint8Array) => new Uint8Array(createHash('sha256').update(bytes).digest());

export interface SoftCredential {
  readonly id: Uint8Array;
  readonly rpId: string;
  readonly userHandle: Uint8Array;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  counter: number;
  backupEligible: boolean;
  backedUp: boolean;
}

export type SoftAttestation =
  | { readonly kind: 'none' }
  | { readonly kind: 'self' }
  | { readonly kind: 'full'; readonly x5c: readonly Uint8Array[]; readonly key: KeyObject };

export interface Ceremony {
  readonly origin: string;
  readonly uv?: boolean;
  readonly up?: boolean;
  readonly crossOrigin?: boolean;
  readonly topOrigin?: string;
  readonly type?: string;
  /** Answer another challenge than the options' (base64url). */
  readonly challenge?: string;
  /** Sign for another RP ID than the options'. */
  readonly rpId?: string;
}

export class SoftAuthenticator {
  readonly credentials = new Map<string, SoftCredential>();
  aaguid: Uint8Array;
  attestation: SoftAttestation;
  /** Counter step per signature; 0 makes a synced-passkey style authenticator that keeps 0. */
  counterStep: number;
  backupEligible: boolean;
  backedUp: boolean;

  constructor(
    options: {
      aaguid?: Uint8Array;
      attestation?: SoftAttestation;
      counterStep?: number;
      backupEligible?: boolean;
      backedUp?: boolean;
    } = {},
  ) {
    this.aaguid = options.aaguid ?? new Uint8Array(16).fill(0x11);
    this.attestation = options.attestation ?? { kind: 'none' };
    this.counterStep = options.counterStep ?? 1;
    this.backupEligible = options.backupEligible ?? false;
    this.backedUp = options.backedUp ?? false;
  }

  #clientData(type: string, challenge: string, c: Ceremony): Uint8Array {
    const data: Record<string, unknown> = {
      type: c.type ?? type,
      challenge: c.challenge ?? challenge,
      origin: c.origin,
      crossOrigin: c.crossOrigin ?? false,
    };
    if (c.topOrigin !== undefined) data.topOrigin = c.topOrigin;
    return Buffer.from(JSON.stringify(data));
  }

  #flags(c: Ceremony, credential: SoftCredential, attested: boolean): number {
    let flags = 0;
    if (c.up ?? true) flags |= 0x01;
    if (c.uv ?? true) flags |= 0x04;
    if (credential.backupEligible) flags |= 0x08;
    if (credential.backedUp) flags |= 0x10;
    if (attested) flags |= 0x40;
    return flags;
  }

  /** Answer registration options as `navigator.credentials.create()` would. */
  create(options: CreationOptionsJSON, c: Ceremony & { readonly reuse?: string }): RegistrationResponseJSON {
    const rpId = c.rpId ?? options.rp.id ?? new URL(c.origin).hostname;
    const excluded = (options.excludeCredentials ?? []).some((d) => this.credentials.has(d.id));
    if (excluded)
      throw new LatchkeyError('ERR_WEBAUTHN_CLIENT', 'InvalidStateError: the authenticator is already registered');
    // `reuse` registers an existing key pair and id again, as a broken or cloned authenticator might.
    const reused = c.reuse === undefined ? undefined : this.credentials.get(c.reuse);
    const { privateKey, publicKey } = reused ?? generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const id = reused?.id ?? randomBytes(32);
    const credential: SoftCredential = {
      id,
      rpId,
      userHandle: Buffer.from(options.user.id, 'base64url'),
      privateKey,
      publicKey,
      counter: this.counterStep === 0 ? 0 : 1,
      backupEligible: this.backupEligible,
      backedUp: this.backedUp,
    };
    this.credentials.set(b64u(id), credential);
    const jwk = publicKey.export({ format: 'jwk' });
    const cose = encodeCbor(
      new Map<number, number | Uint8Array>([
        [1, 2],
        [3, -7],
        [-1, 1],
        [-2, Buffer.from(jwk.x as string, 'base64url')],
        [-3, Buffer.from(jwk.y as string, 'base64url')],
      ]),
    );
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(id.length);
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(credential.counter);
    const authData = Buffer.concat([
      sha256(Buffer.from(rpId)),
      Buffer.from([this.#flags(c, credential, true)]),
      counter,
      this.aaguid,
      idLength,
      id,
      cose,
    ]);
    const clientDataJSON = this.#clientData('webauthn.create', options.challenge, c);
    const signed = Buffer.concat([authData, sha256(clientDataJSON)]);
    let fmt = 'none';
    let attStmt = new Map<string, number | Uint8Array | Uint8Array[]>();
    if (this.attestation.kind === 'self') {
      fmt = 'packed';
      attStmt = new Map<string, number | Uint8Array | Uint8Array[]>([
        ['alg', -7],
        ['sig', sign('sha256', signed, privateKey)],
      ]);
    } else if (this.attestation.kind === 'full') {
      fmt = 'packed';
      attStmt = new Map<string, number | Uint8Array | Uint8Array[]>([
        ['alg', -7],
        ['sig', sign('sha256', signed, this.attestation.key)],
        ['x5c', [...this.attestation.x5c]],
      ]);
    }
    const attestationObject = encodeCbor(
      new Map<string, string | Uint8Array | Map<string, number | Uint8Array | Uint8Array[]>>([
        ['fmt', fmt],
        ['attStmt', attStmt],
        ['authData', authData],
      ]),
    );
    return {
      id: b64u(id),
      rawId: b64u(id),
      type: 'public-key',
      response: {
        clientDataJSON: b64u(clientDataJSON),
        attestationObject: b64u(attestationObject),
        transports: ['internal'],
      },
      authenticatorAttachment: 'platform',
      clientExtensionResults: { credProps: { rk: true } },
    };
  }

  /** Answer request options as `navigator.credentials.get()` would (the first allowed or any credential). */
  get(options: RequestOptionsJSON, c: Ceremony & { readonly credentialId?: string }): AuthenticationResponseJSON {
    const allowed = (options.allowCredentials ?? []).map((d) => d.id);
    const id =
      c.credentialId ??
      (allowed.length > 0 ? allowed.find((a) => this.credentials.has(a)) : [...this.credentials.keys()][0]);
    const credential = id === undefined ? undefined : this.credentials.get(id);
    if (credential === undefined || id === undefined)
      throw new LatchkeyError('ERR_WEBAUTHN_CLIENT', 'NotAllowedError: no credential');
    credential.counter += this.counterStep;
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(credential.counter >>> 0);
    const rpId = c.rpId ?? options.rpId ?? credential.rpId;
    const authData = Buffer.concat([
      sha256(Buffer.from(rpId)),
      Buffer.from([this.#flags(c, credential, false)]),
      counter,
    ]);
    const clientDataJSON = this.#clientData('webauthn.get', options.challenge, c);
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), credential.privateKey);
    return {
      id,
      rawId: id,
      type: 'public-key',
      response: {
        clientDataJSON: b64u(clientDataJSON),
        authenticatorData: b64u(authData),
        signature: b64u(signature),
        userHandle: b64u(credential.userHandle),
      },
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
    };
  }
}
