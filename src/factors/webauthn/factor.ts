/**
 * The WebAuthn factor: passkeys and platform biometrics. The fingerprint or face never leaves the
 * user's device; it unlocks a passkey there, and the server sees only the authenticator's
 * user-verified flag and a signature. Built on @simplewebauthn/server (attestation formats, COSE
 * keys, signatures), with what SimpleWebAuthn leaves to apps done here: challenges in the store
 * (single use, expiring, bound to a transaction, shared by several servers), passkey records,
 * user verification decided by the server, backup eligibility pinned at registration, cloned
 * authenticators detected by their counter, the relying party checked at start-up, and
 * {@link Evidence} for the policy engine.
 *
 * @module latchkey/webauthn
 */
import { createHash } from 'node:crypto';
import { base64url, equalBytes, fromBase64url, utf8 } from '../../core/bytes.js';
import { type Clock, systemClock } from '../../core/clock.js';
import { isLatchkeyError, LatchkeyError } from '../../core/errors.js';
import { aoneOf, astring } from '../../core/guards.js';
import { randomBytes, randomId } from '../../core/random.js';
import type { Amr, Evidence, FactorKind } from '../../core/types.js';
import { asInt, asMap, decodeCbor } from '../../hardware/cbor.js';
import type {
  AccountStore,
  AuditLog,
  AuthenticatorRecord,
  AuthenticatorStore,
  ChallengeStore,
  Json,
} from '../../store/types.js';
import {
  type AttestationOptions,
  type AttestationPolicy,
  type AttestationVerdict,
  aaguidString,
  attestationChain,
  judgeAttestation,
  resolveAttestationPolicy,
} from './attestation.js';
import {
  bindingHash,
  type ChallengeState,
  checkBinding,
  decodeChallenge,
  encodeChallenge,
  PURPOSE_AUTHENTICATE,
  PURPOSE_REGISTER,
} from './challenge.js';
import { type RelyingParty, type RelyingPartyOptions, resolveRelyingParty } from './config.js';
import { resolveWebAuthnLimits, type WebAuthnLimits } from './limits.js';
import {
  lookupKeyOf,
  type PasskeySummary,
  readRecordData,
  summarize,
  WEBAUTHN_FACTOR,
  type WebAuthnRecordData,
} from './record.js';
import {
  type ClientData,
  checkSignatureEncoding,
  malformed,
  readAssertion,
  readAuthenticatorData,
  readRegistration,
} from './response.js';
import {
  authenticationOptions,
  loadSimpleWebAuthn,
  registrationOptions,
  verifyAssertionSignature,
  verifyRegistration,
} from './simplewebauthn.js';
import type {
  AuthenticationChallenge,
  RegistrationChallenge,
  ResidentKeyRequirement,
  UserVerificationRequirement,
} from './wire.js';

/** What the factor needs of a `Store`. */
export interface WebAuthnStore {
  readonly accounts: AccountStore;
  readonly authenticators: AuthenticatorStore;
  readonly challenges: ChallengeStore;
  readonly audit: AuditLog;
}

/** Options of {@link WebAuthnFactor}. */
export interface WebAuthnFactorOptions {
  /** Where accounts, passkey records, challenges and audit entries live. */
  readonly store: WebAuthnStore;
  /** The relying party, checked at start-up. */
  readonly rp: RelyingPartyOptions;
  /**
   * The server's user-verification policy (default `required`). With `required`, a response
   * without the UV flag is refused whatever the client asked its authenticator for. A single
   * ceremony may raise it (`startAuthentication({ userVerification: 'required' })` for a
   * step-up), never lower it.
   */
  readonly userVerification?: UserVerificationRequirement;
  /** Ask for discoverable credentials (passkeys; default `required`, for usernameless sign-in). */
  readonly residentKey?: ResidentKeyRequirement;
  /** Ask for a platform authenticator (Touch ID, Windows Hello) or a roaming one (a security key). */
  readonly authenticatorAttachment?: 'platform' | 'cross-platform';
  /** COSE algorithms accepted, most preferred first; default EdDSA, ES256, RS256. */
  readonly algorithms?: readonly number[];
  /**
   * Attestation with an AAGUID allow-list, for deployments that need AAL3: only passkeys whose
   * attestation chains to an allowed model count as hardware-bound (with `enforcement:
   * 'required'`, the default, no other passkey registers at all).
   */
  readonly attestation?: AttestationOptions;
  /**
   * What user verification proves, as a factor kind. WebAuthn does not say whether a PIN or a
   * biometric unlocked the passkey, so the default is the cautious `inherence` (coercion-safe
   * rules then do not count it); say `knowledge` only when every allowed authenticator verifies
   * users by PIN.
   */
  readonly userVerificationKind?: 'inherence' | 'knowledge';
  readonly clock?: Clock;
  readonly limits?: Partial<WebAuthnLimits>;
}

/** The result of a registration. */
export interface PasskeyRegistration {
  /** The stored record (factor `webauthn`, lookup key the credential id). */
  readonly record: AuthenticatorRecord;
  readonly passkey: PasskeySummary;
}

/** Input of {@link WebAuthnFactor.finishAuthentication}. */
export interface FinishAuthenticationInput {
  /** The id of the challenge this response answers (from `startAuthentication`). */
  readonly challengeId: string;
  /** The browser's response (`AuthenticationResponseJSON`), untrusted. */
  readonly response: unknown;
  /** The transaction binding given to `startAuthentication`, if one was. */
  readonly binding?: string;
  /** When given, the passkey must belong to this account. */
  readonly accountId?: string;
}

/** Input of {@link WebAuthnFactor.finishRegistration}. */
export interface FinishRegistrationInput {
  readonly challengeId: string;
  /** The browser's response (`RegistrationResponseJSON`), untrusted. */
  readonly response: unknown;
  readonly binding?: string;
  /** A label for the passkey (overrides the one given to `startRegistration`). */
  readonly label?: string;
}

const DEFAULT_ALGORITHMS = Object.freeze([-8, -7, -257]);
const UV_ORDER: Readonly<Record<UserVerificationRequirement, number>> = { discouraged: 0, preferred: 1, required: 2 };
const UV_VALUES: readonly UserVerificationRequirement[] = ['required', 'preferred', 'discouraged'];
/** How finely a passkey's last use is kept when nothing else about it changes. */
const LAST_USED_RESOLUTION_MS = 60_000;
const MAX_UPDATE_ATTEMPTS = 3;

function verification(reason: string, message: string, detail: Record<string, string | number> = {}): LatchkeyError {
  return new LatchkeyError('ERR_WEBAUTHN_VERIFICATION', message, { reason, ...detail });
}

function unknownCredential(reason: string): LatchkeyError {
  return new LatchkeyError('ERR_WEBAUTHN_CREDENTIAL_UNKNOWN', 'this passkey is not registered for this sign-in', {
    reason,
  });
}

function optionalString(value: unknown, label: string, max: number): string | undefined {
  return value === undefined ? undefined : astring(value, label, 1, max);
}

function coseAlgorithm(publicKey: Uint8Array): number {
  try {
    return asInt(asMap(decodeCbor(publicKey, { canonical: false }), 'COSE key').get(3), 'COSE alg');
  } catch (cause) {
    throw new LatchkeyError(
      'ERR_WEBAUTHN_VERIFICATION',
      'the passkey’s public key is malformed',
      {
        reason: 'algorithm',
      },
      { cause },
    );
  }
}

/**
 * Register and verify passkeys.
 *
 * @example
 * ```ts
 * import { WebAuthnFactor } from 'latchkey/webauthn';
 * const webauthn = new WebAuthnFactor({
 *   store,
 *   rp: { id: 'example.com', name: 'Example', origins: ['https://example.com'] },
 * });
 * // registration
 * const creation = await webauthn.startRegistration({ accountId, binding: sessionId });
 * // ... the browser runs createPasskey(creation) from 'latchkey/browser' and posts the result
 * await webauthn.finishRegistration({ challengeId: creation.challengeId, response, binding: sessionId });
 * // sign-in (usernameless: no accountId)
 * const request = await webauthn.startAuthentication({ binding: sessionId });
 * const evidence = await webauthn.finishAuthentication({ challengeId: request.challengeId, response, binding: sessionId });
 * evidence.amr; // ['hwk', 'user'] for a device-bound passkey with user verification
 * ```
 */
export class WebAuthnFactor {
  /** The checked relying party. */
  readonly rp: RelyingParty;
  readonly #store: WebAuthnStore;
  readonly #clock: Clock;
  readonly #limits: WebAuthnLimits;
  readonly #userVerification: UserVerificationRequirement;
  readonly #residentKey: ResidentKeyRequirement;
  readonly #attachment: 'platform' | 'cross-platform' | undefined;
  readonly #algorithms: readonly number[];
  readonly #attestation: AttestationPolicy | undefined;
  readonly #uvKind: 'inherence' | 'knowledge';
  readonly #rpIdHash: Uint8Array;

  /**
   * Check the configuration. Throws `ERR_WEBAUTHN_CONFIG` for an IP-address or malformed RP ID,
   * an origin not on it, or unusable attestation settings; nothing is loaded yet (see
   * {@link WebAuthnFactor.ready}).
   */
  constructor(options: WebAuthnFactorOptions) {
    if (options === null || typeof options !== 'object' || options.store === undefined) {
      throw new LatchkeyError('ERR_WEBAUTHN_CONFIG', 'the WebAuthn factor needs `store` and `rp`', {});
    }
    this.rp = resolveRelyingParty(options.rp);
    this.#store = options.store;
    this.#clock = options.clock ?? systemClock;
    this.#limits = resolveWebAuthnLimits(options.limits);
    this.#userVerification = aoneOf(options.userVerification ?? 'required', 'userVerification', UV_VALUES);
    this.#residentKey = aoneOf(options.residentKey ?? 'required', 'residentKey', UV_VALUES);
    this.#attachment =
      options.authenticatorAttachment === undefined
        ? undefined
        : aoneOf(options.authenticatorAttachment, 'authenticatorAttachment', ['platform', 'cross-platform']);
    const algorithms = options.algorithms ?? DEFAULT_ALGORITHMS;
    if (
      !Array.isArray(algorithms) ||
      algorithms.length === 0 ||
      algorithms.length > 16 ||
      !algorithms.every((alg) => Number.isSafeInteger(alg) && alg !== 0)
    ) {
      throw new LatchkeyError('ERR_WEBAUTHN_CONFIG', 'algorithms must list 1 to 16 COSE algorithm numbers', {
        field: 'algorithms',
      });
    }
    this.#algorithms = Object.freeze([...algorithms]);
    this.#attestation = options.attestation === undefined ? undefined : resolveAttestationPolicy(options.attestation);
    this.#uvKind = aoneOf(options.userVerificationKind ?? 'inherence', 'userVerificationKind', [
      'inherence',
      'knowledge',
    ]);
    this.#rpIdHash = new Uint8Array(createHash('sha256').update(utf8(this.rp.id)).digest());
  }

  /** Load @simplewebauthn/server now rather than on the first ceremony (`ERR_MISSING_DEPENDENCY` without it). */
  async ready(): Promise<this> {
    await loadSimpleWebAuthn();
    return this;
  }

  #uv(override: unknown): UserVerificationRequirement {
    if (override === undefined) return this.#userVerification;
    const asked = aoneOf(override, 'userVerification', UV_VALUES);
    return UV_ORDER[asked] > UV_ORDER[this.#userVerification] ? asked : this.#userVerification;
  }

  async #issue(
    purpose: string,
    state: ChallengeState,
    subject: string | undefined,
  ): Promise<{ id: string; expiresAt: number }> {
    const stored = await this.#store.challenges.put({
      id: randomId(),
      purpose,
      payload: encodeChallenge(state),
      ...(subject === undefined ? {} : { subject }),
      ttlMs: this.#limits.challengeTtlMs,
    });
    return { id: stored.id, expiresAt: stored.expiresAt };
  }

  async #take(challengeId: unknown, purpose: string, binding: unknown): Promise<ChallengeState & { subject?: string }> {
    const id = astring(challengeId, 'challengeId', 1, 256);
    const bindingText = optionalString(binding, 'binding', 1024);
    const record = await this.#store.challenges.take(id, purpose);
    if (record === null) {
      throw new LatchkeyError('ERR_CHALLENGE_INVALID', 'the challenge is unknown, used or expired', {
        reason: 'unknown',
      });
    }
    const state = decodeChallenge(record);
    checkBinding(state, bindingText);
    return record.subject === undefined ? state : { ...state, subject: record.subject };
  }

  /** Check `clientDataJSON` against what the server issued and allows (WebAuthn §7.1 steps 7-12, §7.2 steps 10-15). */
  #checkClientData(clientData: ClientData, type: string, state: ChallengeState): void {
    if (clientData.type !== type) {
      throw verification('type', `the response is a \`${clientData.type.slice(0, 32)}\`, not a \`${type}\``);
    }
    if (!equalBytes(clientData.challenge, state.challenge)) {
      throw verification('challenge', 'the response answers another challenge');
    }
    if (!this.rp.origins.includes(clientData.origin)) {
      throw verification(
        'origin',
        `the response was made on \`${clientData.origin.slice(0, 120)}\`, not an allowed origin`,
        {
          origin: clientData.origin.slice(0, 120),
        },
      );
    }
    if (clientData.crossOrigin) {
      if (this.rp.topOrigins.length === 0) {
        throw verification(
          'cross-origin',
          'the response was made in a cross-origin frame, and no top origin is allowed',
        );
      }
      if (clientData.topOrigin === undefined || !this.rp.topOrigins.includes(clientData.topOrigin)) {
        throw verification(
          'top-origin',
          `the response was made in a frame on \`${(clientData.topOrigin ?? 'an unknown page').slice(0, 120)}\`, not an allowed top origin`,
        );
      }
    } else if (clientData.topOrigin !== undefined) {
      throw verification('top-origin', 'the response names a top origin but says it is not cross-origin');
    }
  }

  /**
   * Start a registration for `accountId`: a fresh challenge in the store, and the options for
   * the browser, listing the account's passkeys in `excludeCredentials` (so one authenticator is
   * not registered twice) and the account's user handle (shared by all its passkeys).
   */
  async startRegistration(input: {
    readonly accountId: string;
    /** Shown by the authenticator; defaults to the account's username. */
    readonly userName?: string;
    readonly displayName?: string;
    /** A label for the new passkey, e.g. `MacBook`. */
    readonly label?: string;
    /** Bind the challenge to this transaction (a session id); finishing needs the same value. */
    readonly binding?: string;
    /** Raise (never lower) the user-verification policy for this ceremony. */
    readonly userVerification?: UserVerificationRequirement;
  }): Promise<RegistrationChallenge> {
    const accountId = astring(input?.accountId, 'accountId', 1, 256);
    const label = optionalString(input.label, 'label', 256);
    const binding = optionalString(input.binding, 'binding', 1024);
    const account = await this.#store.accounts.get(accountId);
    if (account === null) throw new LatchkeyError('ERR_STORE_NOT_FOUND', 'no such account', { entity: 'account' });
    if (account.disabled) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'the account is disabled', { field: 'accountId' });
    }
    const existing = await this.#store.authenticators.listByAccount(accountId, WEBAUTHN_FACTOR);
    if (existing.length >= this.#limits.maxCredentialsPerAccount) {
      throw new LatchkeyError(
        'ERR_LIMIT_EXCEEDED',
        `the account has ${existing.length} passkeys, the most allowed; remove one first`,
        { limit: this.#limits.maxCredentialsPerAccount },
      );
    }
    const records = existing.map(readRecordData);
    const userHandle = records[0] === undefined ? randomBytes(32) : fromBase64url(records[0].userHandle, 'userHandle');
    const userName = optionalString(input.userName, 'userName', 256) ?? account.username;
    const userVerification = this.#uv(input.userVerification);
    const challenge = randomBytes(this.#limits.challengeBytes);
    const options = await registrationOptions({
      rpId: this.rp.id,
      rpName: this.rp.name,
      userName,
      userDisplayName: optionalString(input.displayName, 'displayName', 256) ?? account.displayName ?? userName,
      userHandle,
      challenge,
      timeoutMs: this.#limits.challengeTtlMs,
      attestation: this.#attestation === undefined ? 'none' : 'direct',
      exclude: records.map((data) => ({ id: data.credentialId, transports: data.transports })),
      residentKey: this.#residentKey,
      userVerification,
      ...(this.#attachment === undefined ? {} : { authenticatorAttachment: this.#attachment }),
      algorithms: this.#algorithms,
    });
    const issued = await this.#issue(
      PURPOSE_REGISTER,
      {
        challenge,
        userVerification,
        binding: binding === undefined ? undefined : bindingHash(binding),
        userHandle,
        label,
      },
      accountId,
    );
    return { challengeId: issued.id, options, expiresAt: issued.expiresAt };
  }

  /**
   * Finish a registration: the challenge is consumed (once, atomically, whatever the outcome),
   * the response is checked (type, challenge, origin, RP ID, user presence, user verification as
   * the server's policy says, attestation) and the passkey is stored.
   *
   * @throws `ERR_CHALLENGE_INVALID`, `ERR_WEBAUTHN_VERIFICATION` (with `detail.reason`),
   * `ERR_WEBAUTHN_UV_REQUIRED`, `ERR_WEBAUTHN_ATTESTATION`, `ERR_WEBAUTHN_CREDENTIAL_EXISTS`
   */
  async finishRegistration(input: FinishRegistrationInput): Promise<PasskeyRegistration> {
    const state = await this.#take(input?.challengeId, PURPOSE_REGISTER, input?.binding);
    const accountId = state.subject;
    if (accountId === undefined || state.userHandle === undefined) {
      throw new LatchkeyError('ERR_STORE_CORRUPT', 'a stored WebAuthn registration challenge is malformed', {});
    }
    const label = optionalString(input.label, 'label', 256) ?? state.label;
    const read = readRegistration(input.response, this.#limits);
    this.#checkClientData(read.clientData, 'webauthn.create', state);

    const attestationObject = fromBase64url(read.json.response.attestationObject, 'attestationObject');
    let chain: { fmt: string; x5c: Uint8Array[] | undefined };
    let authDataRaw: Uint8Array;
    try {
      const map = asMap(
        decodeCbor(attestationObject, {
          canonical: false,
          limits: { maxBytes: this.#limits.maxAttestationObjectBytes, maxItems: 4096 },
        }),
        'attestationObject',
      );
      const authData = map.get('authData');
      if (!(authData instanceof Uint8Array)) throw malformed('attestationObject.authData');
      authDataRaw = authData;
      chain = attestationChain(attestationObject, this.#limits.maxAttestationObjectBytes);
    } catch (error) {
      if (isLatchkeyError(error, 'ERR_WEBAUTHN_VERIFICATION')) throw error;
      throw malformed('response.attestationObject');
    }
    const header = readAuthenticatorData(authDataRaw);
    if (header.aaguid === undefined) throw malformed('attestationObject.authData');
    if (!equalBytes(header.rpIdHash, this.#rpIdHash)) {
      throw verification('rp-id', `the passkey was made for another RP ID than \`${this.rp.id}\``);
    }
    if (!header.userPresent) throw verification('user-presence', 'the authenticator did not test user presence');
    if (state.userVerification === 'required' && !header.userVerified) {
      throw new LatchkeyError(
        'ERR_WEBAUTHN_UV_REQUIRED',
        'the authenticator did not verify the user, and this server requires it',
        { ceremony: 'registration' },
      );
    }

    const verified = await verifyRegistration({
      response: read.json,
      expectedChallenge: (challenge) => {
        try {
          return equalBytes(fromBase64url(challenge, 'challenge'), state.challenge);
        } catch {
          return false;
        }
      },
      origins: this.rp.origins,
      rpId: this.rp.id,
      requireUserVerification: state.userVerification === 'required',
      algorithms: this.#algorithms,
    });
    if (verified.credentialId !== base64url(read.credentialId)) throw malformed('id');

    let verdict: AttestationVerdict = { attested: false };
    if (this.#attestation !== undefined) {
      verdict = judgeAttestation(
        this.#attestation,
        { fmt: chain.fmt, aaguid: verified.aaguid, x5c: chain.x5c },
        this.#clock.now(),
      );
      if (!verdict.attested && this.#attestation.enforcement === 'required') {
        throw new LatchkeyError(
          'ERR_WEBAUTHN_ATTESTATION',
          `this authenticator is not one this server accepts (${verdict.reason ?? 'not attested'})`,
          { reason: verdict.reason ?? 'not-attested', aaguid: verified.aaguid },
        );
      }
    }

    const data: WebAuthnRecordData = {
      v: 1,
      rpId: this.rp.id,
      credentialId: verified.credentialId,
      publicKey: base64url(verified.publicKey),
      alg: coseAlgorithm(verified.publicKey),
      userHandle: base64url(state.userHandle),
      aaguid: aaguidString(header.aaguid),
      transports: read.transports,
      backupEligible: header.backupEligible,
      backedUp: header.backedUp,
      fmt: chain.fmt,
      attested: verdict.attested,
      model: verdict.model ?? null,
      discoverable: verified.credProps ?? null,
      origin: read.clientData.origin,
    };
    let record: AuthenticatorRecord;
    try {
      record = await this.#store.authenticators.add({
        accountId,
        factor: WEBAUTHN_FACTOR,
        lookupKey: lookupKeyOf(read.credentialId),
        ...(label === undefined ? {} : { label }),
        data: data as unknown as { readonly [key: string]: Json },
        counter: verified.counter,
      });
    } catch (error) {
      if (isLatchkeyError(error, 'ERR_STORE_CONFLICT')) {
        throw new LatchkeyError('ERR_WEBAUTHN_CREDENTIAL_EXISTS', 'this passkey is already registered', {});
      }
      throw error;
    }
    return { record, passkey: summarize(record) };
  }

  /**
   * Start a sign-in. With `accountId` (username-first), the options list that account's passkeys
   * and the response must come from one of them; without it (usernameless), any discoverable
   * passkey may answer and its user handle says whose it is.
   */
  async startAuthentication(
    input: {
      readonly accountId?: string;
      readonly binding?: string;
      /** Raise (never lower) the user-verification policy for this ceremony, e.g. for a step-up. */
      readonly userVerification?: UserVerificationRequirement;
    } = {},
  ): Promise<AuthenticationChallenge> {
    const accountId = optionalString(input.accountId, 'accountId', 256);
    const binding = optionalString(input.binding, 'binding', 1024);
    const userVerification = this.#uv(input.userVerification);
    let allow: { id: string; transports: readonly string[] }[] = [];
    if (accountId !== undefined) {
      const records = await this.#store.authenticators.listByAccount(accountId, WEBAUTHN_FACTOR);
      allow = records
        .filter((record) => !record.disabled)
        .slice(0, this.#limits.maxCredentialsPerAccount)
        .map((record) => {
          const data = readRecordData(record);
          return { id: data.credentialId, transports: data.transports };
        });
    }
    const challenge = randomBytes(this.#limits.challengeBytes);
    const options = await authenticationOptions({
      rpId: this.rp.id,
      challenge,
      timeoutMs: this.#limits.challengeTtlMs,
      allow,
      userVerification,
    });
    const issued = await this.#issue(
      PURPOSE_AUTHENTICATE,
      {
        challenge,
        userVerification,
        binding: binding === undefined ? undefined : bindingHash(binding),
        userHandle: undefined,
        label: undefined,
      },
      accountId,
    );
    return { challengeId: issued.id, options, expiresAt: issued.expiresAt };
  }

  /**
   * Verify a sign-in and return its evidence. The challenge is consumed first (once,
   * atomically); then the response is checked against what the server issued: type, challenge
   * (constant time), origin and top origin, RP ID, user presence, user verification as the
   * server's policy requires (never as the client asked), the passkey's owner and user handle,
   * the signature, backup eligibility (fixed at registration) and the counter. A counter that
   * went backwards marks the passkey as possibly cloned: it is disabled and the event audited.
   *
   * @throws `ERR_CHALLENGE_INVALID`, `ERR_WEBAUTHN_VERIFICATION` (with `detail.reason`),
   * `ERR_WEBAUTHN_UV_REQUIRED`, `ERR_WEBAUTHN_CREDENTIAL_UNKNOWN`, `ERR_WEBAUTHN_BACKUP_CHANGED`,
   * `ERR_WEBAUTHN_COUNTER_ROLLBACK`
   */
  async finishAuthentication(input: FinishAuthenticationInput): Promise<Evidence> {
    const state = await this.#take(input?.challengeId, PURPOSE_AUTHENTICATE, input?.binding);
    const expectedAccount = optionalString(input.accountId, 'accountId', 256);
    const read = readAssertion(input.response, this.#limits);
    this.#checkClientData(read.clientData, 'webauthn.get', state);
    const flags = read.authData;
    if (!equalBytes(flags.rpIdHash, this.#rpIdHash)) {
      throw verification('rp-id', `the assertion was made for another RP ID than \`${this.rp.id}\``);
    }
    if (!flags.userPresent) throw verification('user-presence', 'the authenticator did not test user presence');
    if (state.userVerification === 'required' && !flags.userVerified) {
      throw new LatchkeyError(
        'ERR_WEBAUTHN_UV_REQUIRED',
        'the authenticator did not verify the user, and this server requires it',
        { ceremony: 'authentication' },
      );
    }

    let record = await this.#store.authenticators.findByLookupKey(WEBAUTHN_FACTOR, lookupKeyOf(read.credentialId));
    if (record === null) throw unknownCredential('unknown');
    const data = readRecordData(record);
    if (!equalBytes(fromBase64url(data.credentialId, 'credentialId'), read.credentialId)) {
      throw unknownCredential('unknown');
    }
    if (record.disabled) throw unknownCredential('disabled');
    if (state.subject !== undefined && record.accountId !== state.subject) throw unknownCredential('not-allowed');
    if (expectedAccount !== undefined && record.accountId !== expectedAccount) throw unknownCredential('not-allowed');
    if (data.rpId !== this.rp.id) throw unknownCredential('other-rp-id');
    // WebAuthn §7.2 step 6: the user handle, when given, must be the owner's; usernameless needs it.
    if (read.userHandle === undefined) {
      if (state.subject === undefined) {
        throw verification('user-handle', 'a usernameless sign-in needs the passkey’s user handle');
      }
    } else if (!equalBytes(read.userHandle, fromBase64url(data.userHandle, 'userHandle'))) {
      throw verification('user-handle', 'the user handle is not the passkey owner’s');
    }

    checkSignatureEncoding(read.signature, data.alg);
    await verifyAssertionSignature({
      response: read.json,
      // already compared as bytes above; as the canonical string here (browsers send it so), which
      // spares SimpleWebAuthn a callback per verification
      expectedChallenge: base64url(state.challenge),
      origins: this.rp.origins,
      topOrigins: this.rp.topOrigins,
      rpId: this.rp.id,
      credentialId: data.credentialId,
      publicKey: fromBase64url(data.publicKey, 'publicKey'),
      requireUserVerification: state.userVerification === 'required',
    });

    // The signature verified: from here on the flags and counter are the authenticator's word.
    if (flags.backupEligible !== data.backupEligible) {
      await this.#store.audit.append({
        subject: record.accountId,
        type: 'webauthn.backup-eligibility-changed',
        detail: {
          authenticatorId: record.id,
          registered: data.backupEligible,
          received: flags.backupEligible,
        },
      });
      throw new LatchkeyError(
        'ERR_WEBAUTHN_BACKUP_CHANGED',
        'the passkey’s backup eligibility changed since registration: it is not the credential that was registered',
        { authenticatorId: record.id, registered: data.backupEligible, received: flags.backupEligible },
      );
    }

    const at = this.#clock.now();
    for (let attempt = 1; ; attempt++) {
      const stored = record.counter;
      const received = flags.signCount;
      if ((received !== 0 || stored !== 0) && received <= stored) {
        if (attempt > 1) {
          // Another verification of this passkey moved the counter while this one ran: refuse
          // this response, but do not call a race a clone.
          throw new LatchkeyError('ERR_STORE_CONFLICT', 'the passkey was used concurrently; try again', {
            entity: 'authenticator',
          });
        }
        await this.#disableCloned(record, received);
        throw new LatchkeyError(
          'ERR_WEBAUTHN_COUNTER_ROLLBACK',
          'the passkey’s signature counter went backwards: it may have been cloned, so it has been disabled',
          { authenticatorId: record.id, stored, received },
        );
      }
      // A passkey without a counter (synced ones keep 0) changes nothing but its last use; that
      // is written at most once a minute, so that sign-ins are not a store write each.
      if (
        received === stored &&
        flags.backedUp === data.backedUp &&
        record.lastUsedAt !== undefined &&
        at - record.lastUsedAt >= 0 &&
        at - record.lastUsedAt < LAST_USED_RESOLUTION_MS
      ) {
        break;
      }
      const patch = {
        counter: received,
        lastUsedAt: at,
        ...(flags.backedUp === data.backedUp
          ? {}
          : { data: { ...data, backedUp: flags.backedUp } as unknown as { readonly [key: string]: Json } }),
      };
      try {
        record = await this.#store.authenticators.update(record.id, record.version, patch);
        break;
      } catch (error) {
        if (!isLatchkeyError(error, 'ERR_STORE_CONFLICT') || attempt >= MAX_UPDATE_ATTEMPTS) throw error;
        const fresh = await this.#store.authenticators.get(record.id);
        if (fresh === null || fresh.disabled) throw unknownCredential(fresh === null ? 'unknown' : 'disabled');
        record = fresh;
      }
    }
    return this.#evidence(record, data, flags.userVerified, flags.userPresent, at);
  }

  async #disableCloned(record: AuthenticatorRecord, received: number): Promise<void> {
    let current: AuthenticatorRecord | null = record;
    for (let attempt = 0; current !== null && !current.disabled && attempt < MAX_UPDATE_ATTEMPTS; attempt++) {
      try {
        await this.#store.authenticators.update(current.id, current.version, { disabled: true });
        break;
      } catch (error) {
        if (!isLatchkeyError(error, 'ERR_STORE_CONFLICT')) throw error;
        current = await this.#store.authenticators.get(record.id);
      }
    }
    await this.#store.audit.append({
      subject: record.accountId,
      type: 'webauthn.counter-rollback',
      detail: { authenticatorId: record.id, stored: record.counter, received, disabled: true },
    });
  }

  #evidence(
    record: AuthenticatorRecord,
    data: WebAuthnRecordData,
    userVerified: boolean,
    userPresent: boolean,
    at: number,
  ): Evidence {
    const attestedEnough = this.#attestation === undefined || data.attested;
    const hardwareBound = !data.backupEligible && attestedEnough;
    const amr: Amr[] = [hardwareBound ? 'hwk' : 'swk'];
    const kinds: FactorKind[] = ['possession'];
    if (userVerified) {
      amr.push('user');
      kinds.push(this.#uvKind);
    }
    return Object.freeze({
      factor: WEBAUTHN_FACTOR,
      subject: record.accountId,
      authenticatorId: record.id,
      amr: Object.freeze(amr),
      kinds: Object.freeze(kinds),
      phishingResistant: true,
      hardwareBound,
      userVerified,
      userPresent,
      replayResistant: true,
      at,
    });
  }

  /**
   * The gate's entry point (`GateFactor`): `{ accountId, challengeId, response, binding? }` from
   * the request, checked at run time, then {@link WebAuthnFactor.finishAuthentication}.
   */
  async verify(input: { readonly accountId?: string } & Readonly<Record<string, unknown>>): Promise<Evidence> {
    if (input === null || typeof input !== 'object') {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'expected `{ challengeId, response }`', {});
    }
    const { challengeId, response, binding, accountId } = input;
    return this.finishAuthentication({
      challengeId: astring(challengeId, 'challengeId', 1, 256),
      response,
      ...(binding === undefined ? {} : { binding: astring(binding, 'binding', 1, 1024) }),
      ...(accountId === undefined ? {} : { accountId: astring(accountId, 'accountId', 1, 256) }),
    });
  }

  /**
   * Whose passkey answered a usernameless sign-in: the account of the credential id in
   * `response`, or null. Identification, not authentication: nothing is verified, so use it only
   * to route the response to `finishAuthentication` (or a gate transaction), which verifies it.
   */
  async lookupAccount(response: unknown): Promise<string | null> {
    const id = (response as { id?: unknown } | null)?.id;
    if (typeof id !== 'string' || id.length > Math.ceil((this.#limits.maxCredentialIdBytes * 4) / 3)) return null;
    let credentialId: Uint8Array;
    try {
      credentialId = fromBase64url(id, 'id');
    } catch {
      return null;
    }
    if (credentialId.length === 0) return null;
    const record = await this.#store.authenticators.findByLookupKey(WEBAUTHN_FACTOR, lookupKeyOf(credentialId));
    return record === null || record.disabled ? null : record.accountId;
  }

  /** The account's passkeys, oldest first. */
  async listPasskeys(accountId: string): Promise<PasskeySummary[]> {
    const records = await this.#store.authenticators.listByAccount(
      astring(accountId, 'accountId', 1, 256),
      WEBAUTHN_FACTOR,
    );
    return records.map(summarize);
  }
}
