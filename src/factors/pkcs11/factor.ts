/**
 * The PKCS#11 token factor: a smart card, a YubiKey's PIV applet or an HSM token, reached through
 * its PKCS#11 module. Enrolment records the token's serial, the key's id and its public key, after
 * the token proved it holds the private key (a signature over a fresh challenge, verified here).
 * Authentication issues a single-use challenge, the token signs it after the user's PIN unlocked
 * it, and the signature is verified with node:crypto against the enrolled public key.
 *
 * Evidence: factor `pkcs11`, amr `sc` (smart card) and `pin`, kinds possession and knowledge,
 * user verified, hardware-bound when the token says the key was generated on it and can never
 * leave it. Not phishing-resistant: the token signs whatever it is given, so nothing binds the
 * signature to the verifier's name or to the channel (NIST SP 800-63B-4 §3.2.5); that takes a
 * channel binding this challenge-response does not have (for one, TLS client authentication with
 * the card). Not `userPresent`: a PIN proves knowledge, and PKCS#11 reports no touch.
 *
 * The PIN goes to the token and nowhere else: latchkey does not keep it, log it or put it in an
 * error. A session already logged in is refused (`ERR_PKCS11_ALREADY_LOGGED_IN`), so that a PIN
 * the token did not check never yields evidence.
 *
 * @module latchkey/pkcs11
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { base64url, concatBytes, fromBase64url, hex, utf8 } from '../../core/bytes.js';
import { type Clock, systemClock } from '../../core/clock.js';
import { isLatchkeyError, LatchkeyError } from '../../core/errors.js';
import { aint, astring } from '../../core/guards.js';
import { randomBytes, randomId } from '../../core/random.js';
import type { Amr, Evidence, FactorKind } from '../../core/types.js';
import {
  defaultSignatureAlgorithm,
  type Pkcs11SignatureAlgorithm,
  SIGNATURE_ALGORITHMS,
  verifyTokenSignature,
} from '../../hardware/pkcs11/algorithms.js';
import { isHardwareBound, type Pkcs11Key } from '../../hardware/pkcs11/keys.js';
import type { Pkcs11Pin, Pkcs11TokenInfo } from '../../hardware/pkcs11/library.js';
import type { Pkcs11Module, Pkcs11TokenSelector } from '../../hardware/pkcs11/module.js';
import type { Pkcs11Session } from '../../hardware/pkcs11/session.js';
import type { AuthenticatorRecord, AuthenticatorStore, ChallengeStore } from '../../store/types.js';

/** The factor name in records and evidence. */
export const PKCS11_FACTOR = 'pkcs11';

const PURPOSE = 'pkcs11.authenticate';

/** Bounds of the PKCS#11 factor. */
export interface Pkcs11FactorLimits {
  /** How long an authentication challenge lives (ms). */
  readonly challengeTtlMs: number;
  /** Challenge size in bytes (at least 16). */
  readonly challengeBytes: number;
}

/** Defaults: two minutes, 32 bytes. */
export const DEFAULT_PKCS11_FACTOR_LIMITS: Pkcs11FactorLimits = Object.freeze({
  challengeTtlMs: 120_000,
  challengeBytes: 32,
});

/** Options of {@link Pkcs11Factor}. */
export interface Pkcs11FactorOptions {
  /** Where records and challenges live (a `Store`'s `authenticators` and `challenges`). */
  readonly store: { readonly authenticators: AuthenticatorStore; readonly challenges: ChallengeStore };
  /** The verifier's name, signed with every challenge (domain separation), e.g. `example.com`. */
  readonly rpId: string;
  /** Signature algorithm for RSA keys: `PS256` (default) or `RS256` for tokens without PSS. */
  readonly rsaAlgorithm?: 'PS256' | 'RS256';
  /**
   * Accept keys the token does not vouch for as generated on it and never extractable (imported
   * or exportable keys); their evidence is not hardware-bound. Default false: such keys are refused.
   */
  readonly allowExportableKeys?: boolean;
  readonly clock?: Clock;
  readonly limits?: Partial<Pkcs11FactorLimits>;
}

/** What a PKCS#11 record keeps in `data`: no secret, a public key and where to find its private key. */
export interface Pkcs11RecordData {
  readonly tokenSerial: string;
  readonly tokenLabel: string;
  readonly tokenManufacturer: string;
  readonly tokenModel: string;
  /** `CKA_ID` of the key, hexadecimal. */
  readonly keyId: string;
  readonly keyLabel: string;
  readonly algorithm: Pkcs11SignatureAlgorithm;
  /** SubjectPublicKeyInfo DER, base64url. */
  readonly publicKey: string;
  /** `pin` when the key is usable only after the user PIN (CKA_PRIVATE); `none` otherwise. */
  readonly userVerification: 'pin' | 'none';
  readonly hardwareBound: boolean;
}

/** One enrolled token key a challenge may be answered with. */
export interface Pkcs11ChallengeCredential {
  readonly authenticatorId: string;
  readonly tokenSerial: string;
  readonly tokenLabel: string;
  /** Hexadecimal `CKA_ID`. */
  readonly keyId: string;
  readonly algorithm: Pkcs11SignatureAlgorithm;
}

/** A challenge to sign on the token. */
export interface Pkcs11Challenge {
  readonly id: string;
  /** The exact bytes to sign (with the credential's algorithm). */
  readonly message: Uint8Array;
  /** The account's enrolled token keys. */
  readonly credentials: readonly Pkcs11ChallengeCredential[];
  readonly expiresAt: number;
}

function signedMessage(purpose: 'authenticate' | 'enrol', rpId: string, challenge: Uint8Array): Uint8Array {
  return concatBytes(utf8(`latchkey pkcs11 ${purpose}\u0000`), utf8(rpId), new Uint8Array([0]), challenge);
}

function readData(record: AuthenticatorRecord): Pkcs11RecordData {
  const data = record.data as unknown as Pkcs11RecordData;
  if (
    typeof data?.tokenSerial !== 'string' ||
    typeof data.keyId !== 'string' ||
    typeof data.publicKey !== 'string' ||
    !SIGNATURE_ALGORITHMS.includes(data.algorithm) ||
    (data.userVerification !== 'pin' && data.userVerification !== 'none') ||
    typeof data.hardwareBound !== 'boolean'
  ) {
    throw new LatchkeyError('ERR_STORE_CORRUPT', 'the PKCS#11 record is malformed', { record: record.id });
  }
  return data;
}

function publicKeyOf(data: Pkcs11RecordData, recordId: string): KeyObject {
  try {
    return createPublicKey({
      key: Buffer.from(fromBase64url(data.publicKey, 'publicKey')),
      format: 'der',
      type: 'spki',
    });
  } catch (cause) {
    throw new LatchkeyError(
      'ERR_STORE_CORRUPT',
      'the PKCS#11 record’s public key is malformed',
      { record: recordId },
      { cause },
    );
  }
}

/** Log in, run `fn`, and always log out and close. A session already logged in is refused. */
async function withLogin<T>(session: Pkcs11Session, pin: Pkcs11Pin, fn: () => Promise<T>): Promise<T> {
  try {
    if ((await session.state()) !== 'public') {
      throw new LatchkeyError(
        'ERR_PKCS11_ALREADY_LOGGED_IN',
        'the token is already logged in: log it out first, so that the token checks this PIN',
        { slotId: session.token.slotId },
      );
    }
    await session.login(pin);
    try {
      return await fn();
    } finally {
      await session.logout().catch(() => undefined);
    }
  } finally {
    await session.close();
  }
}

/**
 * Enrol and verify PKCS#11 tokens.
 *
 * @example
 * ```ts
 * import { openPkcs11Module, Pkcs11Factor } from 'latchkey/pkcs11';
 * const module = await openPkcs11Module({ path: '/usr/lib/x86_64-linux-gnu/libykcs11.so' });
 * const factor = new Pkcs11Factor({ store, rpId: 'example.com' });
 * await factor.enrol({ module, accountId, pin, key: { label: 'PIV AUTH key' } });
 * const evidence = await factor.authenticate({ module, accountId, pin });
 * evidence.amr; // ['sc', 'pin']
 * ```
 */
export class Pkcs11Factor {
  private readonly clock: Clock;
  private readonly limits: Pkcs11FactorLimits;

  constructor(private readonly options: Pkcs11FactorOptions) {
    astring(options.rpId, 'rpId', 1, 253);
    if (options.rsaAlgorithm !== undefined && options.rsaAlgorithm !== 'PS256' && options.rsaAlgorithm !== 'RS256') {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'rsaAlgorithm must be `PS256` or `RS256`', {
        field: 'rsaAlgorithm',
      });
    }
    this.clock = options.clock ?? systemClock;
    const limits = { ...DEFAULT_PKCS11_FACTOR_LIMITS, ...options.limits };
    aint(limits.challengeTtlMs, 'limits.challengeTtlMs', 1000, 3_600_000);
    aint(limits.challengeBytes, 'limits.challengeBytes', 16, 64);
    this.limits = limits;
  }

  #algorithm(key: Pkcs11Key): Pkcs11SignatureAlgorithm {
    return key.keyType === 'RSA' ? (this.options.rsaAlgorithm ?? 'PS256') : defaultSignatureAlgorithm(key);
  }

  /**
   * Enrol a key on a token for `accountId`: log in with `pin` (the token checks it), find the
   * private key by `key.id` or `key.label`, read its public key, and have the token sign a fresh
   * challenge that is verified against it. One key can be enrolled once (its public key's hash
   * is the record's lookup key).
   */
  async enrol(input: {
    readonly module: Pkcs11Module;
    readonly accountId: string;
    readonly pin: Pkcs11Pin;
    readonly key: { readonly id?: Uint8Array | string; readonly label?: string };
    readonly token?: Pkcs11TokenSelector | Pkcs11TokenInfo;
    readonly label?: string;
  }): Promise<AuthenticatorRecord> {
    astring(input.accountId, 'accountId', 1, 256);
    const session = await input.module.openSession(input.token);
    const token = session.token;
    const { data, lookupKey } = await withLogin(session, input.pin, async () => {
      const key = await session.findKey({ ...input.key, class: 'private' });
      if (!key.usage.sign) {
        throw new LatchkeyError('ERR_PKCS11_KEY_UNSUITABLE', 'the key is not allowed to sign', {});
      }
      if (key.id.length === 0) {
        throw new LatchkeyError(
          'ERR_PKCS11_KEY_UNSUITABLE',
          'the key has no CKA_ID, so it could not be found again',
          {},
        );
      }
      const hardwareBound = isHardwareBound(key);
      if (!hardwareBound && this.options.allowExportableKeys !== true) {
        throw new LatchkeyError(
          'ERR_PKCS11_KEY_UNSUITABLE',
          'the token does not vouch that the key was generated on it and can never leave it',
          {
            token: key.token,
            local: key.local,
            alwaysSensitive: key.alwaysSensitive,
            neverExtractable: key.neverExtractable,
            extractable: key.extractable,
          },
        );
      }
      const algorithm = this.#algorithm(key);
      const publicKey = await session.publicKey(key);
      // Proof of possession: the public key found must belong to this private key.
      const message = signedMessage('enrol', this.options.rpId, randomBytes(32));
      const signature = await session.sign(key, message, { algorithm, pin: input.pin });
      if (!verifyTokenSignature(publicKey, algorithm, message, signature)) {
        throw new LatchkeyError(
          'ERR_PKCS11_SIGNATURE_INVALID',
          'the token’s public key does not match its private key',
          {},
        );
      }
      const spki = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
      const recordData: Pkcs11RecordData = {
        tokenSerial: token.serial,
        tokenLabel: token.label,
        tokenManufacturer: token.manufacturer,
        tokenModel: token.model,
        keyId: hex(key.id),
        keyLabel: key.label,
        algorithm,
        publicKey: base64url(spki),
        userVerification: key.private ? 'pin' : 'none',
        hardwareBound,
      };
      return { data: recordData, lookupKey: base64url(createHash('sha256').update(spki).digest()) };
    });
    return this.options.store.authenticators.add({
      accountId: input.accountId,
      factor: PKCS11_FACTOR,
      lookupKey,
      ...(input.label === undefined ? {} : { label: input.label }),
      data: { ...data },
    });
  }

  /** Issue a single-use challenge for `accountId` (its enrolled token keys come with it). */
  async challenge(accountId: string): Promise<Pkcs11Challenge> {
    const records = (await this.options.store.authenticators.listByAccount(accountId, PKCS11_FACTOR)).filter(
      (record) => !record.disabled,
    );
    if (records.length === 0) {
      throw new LatchkeyError('ERR_PKCS11_CREDENTIAL_UNKNOWN', 'no token is enrolled for this account', {});
    }
    const bytes = randomBytes(this.limits.challengeBytes);
    const stored = await this.options.store.challenges.put({
      id: randomId(),
      purpose: PURPOSE,
      payload: bytes,
      subject: accountId,
      ttlMs: this.limits.challengeTtlMs,
    });
    return Object.freeze({
      id: stored.id,
      message: signedMessage('authenticate', this.options.rpId, bytes),
      credentials: Object.freeze(
        records.map((record) => {
          const data = readData(record);
          return Object.freeze({
            authenticatorId: record.id,
            tokenSerial: data.tokenSerial,
            tokenLabel: data.tokenLabel,
            keyId: data.keyId,
            algorithm: data.algorithm,
          });
        }),
      ),
      expiresAt: stored.expiresAt,
    });
  }

  /**
   * Verify a signature answering `challengeId` made with the key of record `authenticatorId`:
   * the challenge is consumed (once, atomically), the record must be the challenged account's,
   * and the signature must verify against the enrolled public key.
   */
  async verify(input: {
    readonly challengeId: string;
    readonly authenticatorId: string;
    readonly signature: Uint8Array;
  }): Promise<Evidence> {
    const challenge = await this.options.store.challenges.take(input.challengeId, PURPOSE);
    if (challenge === null) {
      throw new LatchkeyError('ERR_CHALLENGE_INVALID', 'the challenge is unknown, used or expired', {});
    }
    const record = await this.options.store.authenticators.get(input.authenticatorId);
    if (
      record === null ||
      record.factor !== PKCS11_FACTOR ||
      record.disabled ||
      challenge.subject === undefined ||
      record.accountId !== challenge.subject
    ) {
      throw new LatchkeyError('ERR_PKCS11_CREDENTIAL_UNKNOWN', 'this token key is not enrolled for this account', {});
    }
    const data = readData(record);
    const message = signedMessage('authenticate', this.options.rpId, challenge.payload);
    if (!verifyTokenSignature(publicKeyOf(data, record.id), data.algorithm, message, input.signature)) {
      throw new LatchkeyError('ERR_PKCS11_SIGNATURE_INVALID', 'the token’s signature does not verify', {
        record: record.id,
      });
    }
    const at = this.clock.now();
    try {
      await this.options.store.authenticators.update(record.id, record.version, { lastUsedAt: at });
    } catch (error) {
      // A concurrent sign-in with the same token updated it first: the proof stands.
      if (!isLatchkeyError(error, 'ERR_STORE_CONFLICT')) throw error;
    }
    const pin = data.userVerification === 'pin';
    const amr: Amr[] = pin ? ['sc', 'pin'] : ['sc'];
    const kinds: FactorKind[] = pin ? ['possession', 'knowledge'] : ['possession'];
    return Object.freeze({
      factor: PKCS11_FACTOR,
      subject: record.accountId,
      authenticatorId: record.id,
      amr: Object.freeze(amr),
      kinds: Object.freeze(kinds),
      phishingResistant: false,
      hardwareBound: data.hardwareBound,
      userVerified: pin,
      userPresent: false,
      replayResistant: true,
      at,
    });
  }

  /**
   * The whole flow with a token at hand: a challenge, the first enrolled key whose token is
   * present (or the one `token` selects), a login with `pin`, the signature, logout, verify.
   */
  async authenticate(input: {
    readonly module: Pkcs11Module;
    readonly accountId: string;
    readonly pin: Pkcs11Pin;
    readonly token?: Pkcs11TokenSelector;
  }): Promise<Evidence> {
    const challenge = await this.challenge(input.accountId);
    const present = await input.module.tokens();
    let chosen: { credential: Pkcs11ChallengeCredential; token: Pkcs11TokenInfo } | undefined;
    for (const credential of challenge.credentials) {
      const token = present.find(
        (candidate) =>
          candidate.initialized &&
          candidate.serial === credential.tokenSerial &&
          (input.token?.label === undefined || candidate.label === input.token.label) &&
          (input.token?.serial === undefined || candidate.serial === input.token.serial) &&
          (input.token?.slotId === undefined || candidate.slotId === input.token.slotId),
      );
      if (token !== undefined) {
        chosen = { credential, token };
        break;
      }
    }
    if (chosen === undefined) {
      throw new LatchkeyError('ERR_PKCS11_TOKEN_NOT_FOUND', 'none of this account’s tokens is present', {
        enrolled: challenge.credentials.length,
      });
    }
    const { credential, token } = chosen;
    const session = await input.module.openSession(token);
    const signature = await withLogin(session, input.pin, async () => {
      const key = await session.findKey({ id: credential.keyId, class: 'private' });
      return session.sign(key, challenge.message, { algorithm: credential.algorithm, pin: input.pin });
    });
    return this.verify({ challengeId: challenge.id, authenticatorId: credential.authenticatorId, signature });
  }
}
