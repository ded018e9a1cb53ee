/**
 * The fob factor: a FIDO2 security key spoken to directly over CTAP2 (the way pam_u2f,
 * systemd-cryptenroll and ssh do), enrolled as an authenticator record and verified into
 * {@link Evidence}. Enrolment runs makeCredential for the app's RP id (with the fob's PIN when it
 * has one); authentication issues a single-use challenge, runs getAssertion and checks the
 * signature against the enrolled key and the signature counter against the stored one.
 *
 * @module latchkey/fob
 */
import { createHash } from 'node:crypto';
import { base64url, concatBytes, fromBase64url, utf8 } from '../../core/bytes.js';
import { type Clock, systemClock } from '../../core/clock.js';
import { LatchkeyError } from '../../core/errors.js';
import { aint, astring } from '../../core/guards.js';
import { randomBytes, randomId } from '../../core/random.js';
import type { Amr, Evidence, FactorKind } from '../../core/types.js';
import type { Ctap2Client, PinUvAuthToken } from '../../hardware/ctap2.js';
import type { AuthenticatorRecord, AuthenticatorStore, ChallengeStore } from '../../store/types.js';
import { type AttestationType, verifyAssertion, verifyAttestation } from './verify.js';

/** The factor name in records and evidence. */
export const FOB_FACTOR = 'fob';

const PURPOSE = 'fob.authenticate';

/** Bounds of the fob factor. */
export interface FobLimits {
  /** How long an authentication challenge lives (ms). */
  readonly challengeTtlMs: number;
  /** Challenge size in bytes (at least 16). */
  readonly challengeBytes: number;
}

/** Defaults: two minutes, 32 bytes. */
export const DEFAULT_FOB_LIMITS: FobLimits = Object.freeze({ challengeTtlMs: 120_000, challengeBytes: 32 });

/** Options of {@link FobFactor}. */
export interface FobFactorOptions {
  /** Where records and challenges live (a `Store`'s `authenticators` and `challenges`). */
  readonly store: { readonly authenticators: AuthenticatorStore; readonly challenges: ChallengeStore };
  /** The relying-party id the fob's credentials are scoped to, e.g. `example.com`. */
  readonly rpId: string;
  /** Require user verification (the fob's PIN) on every authentication. Default false. */
  readonly requireUserVerification?: boolean;
  readonly clock?: Clock;
  readonly limits?: Partial<FobLimits>;
}

/** What a fob record keeps in `data`. No secret: a credential id and a public key. */
export interface FobRecordData {
  readonly rpId: string;
  readonly credentialId: string;
  readonly publicKey: { readonly x: string; readonly y: string };
  readonly aaguid: string;
  readonly attestation: AttestationType;
  readonly hmacSecret: boolean;
}

/** A challenge to answer with {@link Ctap2Client.getAssertion}. */
export interface FobChallenge {
  readonly id: string;
  readonly rpId: string;
  /** Pass as `clientDataHash`. */
  readonly clientDataHash: Uint8Array;
  /** The account's fob credentials, to pass as `allowList`. */
  readonly allowList: readonly Uint8Array[];
  readonly expiresAt: number;
}

function clientDataHashOf(challenge: Uint8Array, rpId: string): Uint8Array {
  // Bind the challenge to its purpose and RP, as WebAuthn's clientDataJSON does for a browser.
  return new Uint8Array(
    createHash('sha256')
      .update(concatBytes(utf8('latchkey fob authenticate\u0000'), utf8(rpId), new Uint8Array([0]), challenge))
      .digest(),
  );
}

function readData(record: AuthenticatorRecord): FobRecordData {
  const data = record.data as unknown as FobRecordData;
  if (
    typeof data?.credentialId !== 'string' ||
    typeof data.publicKey?.x !== 'string' ||
    typeof data.publicKey?.y !== 'string' ||
    typeof data.rpId !== 'string'
  ) {
    throw new LatchkeyError('ERR_STORE_CORRUPT', 'the fob record is malformed', { record: record.id });
  }
  return data;
}

/**
 * Enrol and verify FIDO2 fobs over CTAP2.
 *
 * @example
 * ```ts
 * import { Ctap2Client, FobFactor } from 'latchkey/fob';
 * import { createMemoryStore, VirtualFob } from 'latchkey/testing';
 * const store = createMemoryStore();
 * const fob = new FobFactor({ store, rpId: 'example.com' });
 * const client = await Ctap2Client.open(new VirtualFob().connect());
 * const alice = await store.accounts.create({ username: 'alice' });
 * await fob.enrol({ client, accountId: alice.id });
 * const evidence = await fob.authenticate({ client, accountId: alice.id });
 * evidence.amr; // ['hwk']
 * ```
 */
export class FobFactor {
  private readonly clock: Clock;
  private readonly limits: FobLimits;

  constructor(private readonly options: FobFactorOptions) {
    astring(options.rpId, 'rpId', 1, 253);
    this.clock = options.clock ?? systemClock;
    const limits = { ...DEFAULT_FOB_LIMITS, ...options.limits };
    aint(limits.challengeTtlMs, 'limits.challengeTtlMs', 1000, 3_600_000);
    aint(limits.challengeBytes, 'limits.challengeBytes', 16, 64);
    this.limits = limits;
  }

  private async token(client: Ctap2Client, pin: string | undefined): Promise<PinUvAuthToken | undefined> {
    if (pin === undefined) return undefined;
    return client.getPinUvAuthToken(pin, { rpId: this.options.rpId });
  }

  /**
   * Create a credential on the fob for `accountId` and store it as a `fob` authenticator record.
   * When the fob has a PIN, `pin` is required (enrolment proves the user knows it).
   */
  async enrol(input: {
    readonly client: Ctap2Client;
    readonly accountId: string;
    readonly pin?: string;
    readonly label?: string;
    readonly userName?: string;
    /** Ask for hmac-secret too (for deriving keys, e.g. a workspace key slot). */
    readonly hmacSecret?: boolean;
    readonly signal?: AbortSignal;
  }): Promise<AuthenticatorRecord> {
    const { client } = input;
    const pinSet = client.info.options.clientPin === true;
    if (pinSet && input.pin === undefined) {
      throw new LatchkeyError('ERR_CTAP2_PIN_REQUIRED', 'the fob has a PIN: enter it to enrol the fob', {
        statusName: 'CTAP2_ERR_PUAT_REQUIRED',
      });
    }
    const clientDataHash = randomBytes(32);
    const existing = await this.options.store.authenticators.listByAccount(input.accountId, FOB_FACTOR);
    const token = await this.token(client, pinSet ? input.pin : undefined);
    try {
      const response = await client.makeCredential({
        clientDataHash,
        rp: { id: this.options.rpId },
        user: {
          id: utf8(input.accountId).slice(0, 64),
          ...(input.userName === undefined ? {} : { name: input.userName }),
        },
        excludeList: existing.map((record) => fromBase64url(readData(record).credentialId, 'credentialId')),
        ...(input.hmacSecret === true ? { hmacSecret: true } : {}),
        ...(token === undefined ? {} : { pinUvAuthToken: token }),
        ...(input.signal === undefined ? {} : { signal: input.signal }),
      });
      const { publicKey, attestation } = verifyAttestation(response, clientDataHash, {
        rpId: this.options.rpId,
        requireUserVerification: token !== undefined,
      });
      const attested = response.authData.attestedCredential;
      const credentialId = base64url(attested.credentialId);
      const data: FobRecordData = {
        rpId: this.options.rpId,
        credentialId,
        publicKey: { x: base64url(publicKey.x), y: base64url(publicKey.y) },
        aaguid: Buffer.from(attested.aaguid).toString('hex'),
        attestation,
        hmacSecret: response.hmacSecret,
      };
      return await this.options.store.authenticators.add({
        accountId: input.accountId,
        factor: FOB_FACTOR,
        lookupKey: credentialId,
        ...(input.label === undefined ? {} : { label: input.label }),
        data: { ...data },
        counter: response.authData.signCount,
      });
    } finally {
      token?.wipe();
    }
  }

  /** Issue a single-use challenge for `accountId` (its fob credentials form the allow list). */
  async challenge(accountId: string): Promise<FobChallenge> {
    const records = (await this.options.store.authenticators.listByAccount(accountId, FOB_FACTOR)).filter(
      (record) => !record.disabled,
    );
    if (records.length === 0) {
      throw new LatchkeyError('ERR_FOB_CREDENTIAL_UNKNOWN', 'no fob is enrolled for this account', {});
    }
    const bytes = randomBytes(this.limits.challengeBytes);
    const stored = await this.options.store.challenges.put({
      id: randomId(),
      purpose: PURPOSE,
      payload: bytes,
      subject: accountId,
      ttlMs: this.limits.challengeTtlMs,
    });
    return {
      id: stored.id,
      rpId: this.options.rpId,
      clientDataHash: clientDataHashOf(bytes, this.options.rpId),
      allowList: records.map((record) => fromBase64url(readData(record).credentialId, 'credentialId')),
      expiresAt: stored.expiresAt,
    };
  }

  /**
   * Verify an assertion answering `challengeId`: the challenge is consumed (once, atomically),
   * the signature is checked against the enrolled key, and the counter must move forward (a
   * counter that goes back suggests a cloned fob: `ERR_FOB_COUNTER_REGRESSED`).
   * `userVerifiedBy` says how the fob verified the user when it did (`pin` for a fob without a
   * built-in biometric).
   */
  async verify(input: {
    readonly challengeId: string;
    readonly assertion: {
      readonly credentialId: Uint8Array;
      readonly authData: Uint8Array | { readonly raw: Uint8Array };
      readonly signature: Uint8Array;
    };
    readonly userVerifiedBy?: 'pin' | 'fpt';
  }): Promise<Evidence> {
    const challenge = await this.options.store.challenges.take(input.challengeId, PURPOSE);
    if (challenge === null) {
      throw new LatchkeyError('ERR_CHALLENGE_INVALID', 'the challenge is unknown, used or expired', {});
    }
    const record = await this.options.store.authenticators.findByLookupKey(
      FOB_FACTOR,
      base64url(input.assertion.credentialId),
    );
    if (
      record === null ||
      record.disabled ||
      (challenge.subject !== undefined && record.accountId !== challenge.subject)
    ) {
      throw new LatchkeyError('ERR_FOB_CREDENTIAL_UNKNOWN', 'this fob is not enrolled for this account', {});
    }
    const data = readData(record);
    const publicKey = { x: fromBase64url(data.publicKey.x, 'x'), y: fromBase64url(data.publicKey.y, 'y') };
    const raw =
      input.assertion.authData instanceof Uint8Array ? input.assertion.authData : input.assertion.authData.raw;
    const authData = verifyAssertion(
      { authData: raw, signature: input.assertion.signature },
      clientDataHashOf(challenge.payload, this.options.rpId),
      publicKey,
      { rpId: data.rpId, requireUserVerification: this.options.requireUserVerification === true },
    );
    if ((authData.signCount !== 0 || record.counter !== 0) && authData.signCount <= record.counter) {
      throw new LatchkeyError(
        'ERR_FOB_COUNTER_REGRESSED',
        'the fob’s signature counter went backwards: it may have been cloned',
        { stored: record.counter, received: authData.signCount, record: record.id },
      );
    }
    const at = this.clock.now();
    await this.options.store.authenticators.update(record.id, record.version, {
      counter: authData.signCount,
      lastUsedAt: at,
    });
    const amr: Amr[] = ['hwk'];
    const kinds: FactorKind[] = ['possession'];
    if (authData.userVerified) {
      const method = input.userVerifiedBy ?? 'pin';
      amr.push(method);
      kinds.push(method === 'pin' ? 'knowledge' : 'inherence');
    }
    return Object.freeze({
      factor: FOB_FACTOR,
      subject: record.accountId,
      authenticatorId: record.id,
      amr: Object.freeze(amr),
      kinds: Object.freeze(kinds),
      phishingResistant: true,
      hardwareBound: true,
      userVerified: authData.userVerified,
      userPresent: authData.userPresent,
      replayResistant: true,
      at,
    });
  }

  /**
   * The whole flow against a fob at hand: challenge, getAssertion (with a PIN token when `pin`
   * is given), verify.
   */
  async authenticate(input: {
    readonly client: Ctap2Client;
    readonly accountId: string;
    readonly pin?: string;
    readonly signal?: AbortSignal;
    readonly onKeepalive?: (status: number) => void;
  }): Promise<Evidence> {
    const { client } = input;
    const challenge = await this.challenge(input.accountId);
    const token = await this.token(client, input.pin);
    try {
      const assertion = await client.getAssertion({
        rpId: challenge.rpId,
        clientDataHash: challenge.clientDataHash,
        allowList: challenge.allowList,
        ...(token === undefined ? {} : { pinUvAuthToken: token }),
        ...(input.signal === undefined ? {} : { signal: input.signal }),
        ...(input.onKeepalive === undefined ? {} : { onKeepalive: input.onKeepalive }),
      });
      // A fob without built-in user verification verifies the user by its PIN.
      const builtInUv = client.info.options.uv === true && token === undefined;
      return await this.verify({ challengeId: challenge.id, assertion, userVerifiedBy: builtInUv ? 'fpt' : 'pin' });
    } finally {
      token?.wipe();
    }
  }
}
