/**
 * The CTAP2 client (CTAP 2.1 §6): authenticatorGetInfo, MakeCredential, GetAssertion (and
 * GetNextAssertion), ClientPIN with PIN/UV auth protocols 1 and 2, the hmac-secret extension,
 * Reset and Selection, over a {@link CtapHid} channel. Modelled on python-fido2's `Ctap2` and
 * `ClientPin`. Every non-zero status becomes a `LatchkeyError` whose `detail.statusName` is the
 * spec's name (see {@link ctapError}); responses must be canonical CBOR.
 *
 * @module latchkey/fob
 */
import { createHash } from 'node:crypto';
import { concatBytes, utf8, wipe } from '../core/bytes.js';
import { LatchkeyError } from '../core/errors.js';
import { abytes, astring } from '../core/guards.js';
import { type AttestedCredential, type AuthenticatorData, parseAuthenticatorData } from './auth-data.js';
import {
  asArray,
  asBool,
  asBytes,
  asInt,
  asMap,
  asText,
  type CborInput,
  type CborKey,
  type CborMap,
  decodeCbor,
  encodeCbor,
} from './cbor.js';
import type { HidConnection } from './connection.js';
import { COSE_ALG, decodeCoseP256, encodeCoseP256 } from './cose.js';
import { ctapError } from './ctap-status.js';
import { CLIENT_PIN_SUBCOMMAND, CTAP2_COMMAND, PERMISSION } from './ctap2-constants.js';
import { CtapHid, type CtapHidCallOptions, type CtapHidTimeouts } from './ctaphid.js';
import { encapsulate, type PinUvAuthProtocol, pinProtocol } from './pin-protocol.js';

/** What authenticatorGetInfo says (CTAP 2.1 §6.4). */
export interface AuthenticatorInfo {
  readonly versions: readonly string[];
  readonly extensions: readonly string[];
  readonly aaguid: Uint8Array;
  readonly options: Readonly<Record<string, boolean>>;
  readonly maxMsgSize?: number;
  readonly pinUvAuthProtocols: readonly number[];
  readonly maxCredentialCountInList?: number;
  readonly maxCredentialIdLength?: number;
  readonly transports?: readonly string[];
  readonly algorithms?: readonly { readonly alg: number; readonly type: string }[];
  readonly minPinLength?: number;
  readonly firmwareVersion?: number;
  readonly remainingDiscoverableCredentials?: number;
}

/** A pinUvAuthToken and the protocol it was obtained with. Call `wipe()` when done. */
export interface PinUvAuthToken {
  readonly protocol: PinUvAuthProtocol;
  readonly token: Uint8Array;
  wipe(): void;
}

/** Options every request takes. */
export type RequestOptions = CtapHidCallOptions;

/** Input of {@link Ctap2Client.makeCredential}. */
export interface MakeCredentialRequest extends RequestOptions {
  readonly clientDataHash: Uint8Array;
  readonly rp: { readonly id: string; readonly name?: string };
  readonly user: { readonly id: Uint8Array; readonly name?: string; readonly displayName?: string };
  /** COSE algorithms in order of preference; ES256 (-7) by default. */
  readonly algorithms?: readonly number[];
  /** Credential ids that must not be registered again on this fob. */
  readonly excludeList?: readonly Uint8Array[];
  /** A discoverable (resident) credential. */
  readonly residentKey?: boolean;
  /** Ask for the hmac-secret extension. */
  readonly hmacSecret?: boolean;
  /** From {@link Ctap2Client.getPinUvAuthToken}: the request is made with user verification. */
  readonly pinUvAuthToken?: PinUvAuthToken;
}

/** What makeCredential returns. Parsed, not verified: the factor checks it. */
export interface MakeCredentialResponse {
  readonly fmt: string;
  readonly authData: AuthenticatorData & { readonly attestedCredential: AttestedCredential };
  readonly attStmt: CborMap;
  /** True when the fob turned hmac-secret on for this credential. */
  readonly hmacSecret: boolean;
}

/** Input of {@link Ctap2Client.getAssertion}. */
export interface GetAssertionRequest extends RequestOptions {
  readonly rpId: string;
  readonly clientDataHash: Uint8Array;
  readonly allowList?: readonly Uint8Array[];
  /** Ask for a touch (default true). */
  readonly userPresence?: boolean;
  readonly pinUvAuthToken?: PinUvAuthToken;
  /** hmac-secret: one or two 32-byte salts. */
  readonly hmacSecret?: { readonly salt1: Uint8Array; readonly salt2?: Uint8Array };
}

/** One assertion. Parsed, not verified. */
export interface Assertion {
  readonly credentialId: Uint8Array;
  readonly authData: AuthenticatorData;
  readonly signature: Uint8Array;
  readonly user?: { readonly id: Uint8Array; readonly name?: string; readonly displayName?: string };
  readonly numberOfCredentials?: number;
  /** hmac-secret outputs, decrypted. */
  readonly hmacSecret?: { readonly output1: Uint8Array; readonly output2?: Uint8Array };
}

/** Options of {@link Ctap2Client.open}. */
export interface Ctap2ClientOptions {
  /** PIN/UV auth protocol to use; the newest the fob supports by default. */
  readonly pinProtocol?: 1 | 2;
  /** Accept non-canonical CBOR from the fob (default false, as python-fido2). */
  readonly lenientCbor?: boolean;
  readonly timeouts?: Partial<CtapHidTimeouts>;
}

const COMMAND_NAMES: Readonly<Record<number, string>> = {
  1: 'authenticatorMakeCredential',
  2: 'authenticatorGetAssertion',
  4: 'authenticatorGetInfo',
  6: 'authenticatorClientPIN',
  7: 'authenticatorReset',
  8: 'authenticatorGetNextAssertion',
  11: 'authenticatorSelection',
};

/** Parse a getInfo response map. Throws `ERR_CTAP2_CBOR` for a malformed one. */
export function parseAuthenticatorInfo(map: CborMap): AuthenticatorInfo {
  const options: Record<string, boolean> = {};
  if (map.has(0x04)) {
    for (const [key, value] of asMap(map.get(0x04), 'options')) {
      options[asText(key, 'option name')] = asBool(value, `option ${String(key)}`);
    }
  }
  const optionalInt = (key: number, label: string): number | undefined =>
    map.has(key) ? asInt(map.get(key), label) : undefined;
  const texts = (key: number, label: string): string[] | undefined =>
    map.has(key) ? asArray(map.get(key), label).map((v) => asText(v, label)) : undefined;
  const info: Record<string, unknown> = {
    versions: texts(0x01, 'versions') ?? [],
    extensions: texts(0x02, 'extensions') ?? [],
    aaguid: asBytes(map.get(0x03), 'aaguid', 16, 16),
    options,
    pinUvAuthProtocols: map.has(0x06)
      ? asArray(map.get(0x06), 'pinUvAuthProtocols').map((v) => asInt(v, 'protocol'))
      : [],
  };
  const extra: [string, unknown][] = [
    ['maxMsgSize', optionalInt(0x05, 'maxMsgSize')],
    ['maxCredentialCountInList', optionalInt(0x07, 'maxCredentialCountInList')],
    ['maxCredentialIdLength', optionalInt(0x08, 'maxCredentialIdLength')],
    ['transports', texts(0x09, 'transports')],
    [
      'algorithms',
      map.has(0x0a)
        ? asArray(map.get(0x0a), 'algorithms').map((v) => {
            const m = asMap(v, 'algorithm');
            return { alg: asInt(m.get('alg'), 'alg'), type: asText(m.get('type'), 'type') };
          })
        : undefined,
    ],
    ['minPinLength', optionalInt(0x0d, 'minPINLength')],
    ['firmwareVersion', optionalInt(0x0e, 'firmwareVersion')],
    ['remainingDiscoverableCredentials', optionalInt(0x14, 'remainingDiscoverableCredentials')],
  ];
  for (const [key, value] of extra) if (value !== undefined) info[key] = value;
  return info as unknown as AuthenticatorInfo;
}

/** Parse a makeCredential response map. */
export function parseMakeCredentialResponse(map: CborMap): MakeCredentialResponse {
  const fmt = asText(map.get(0x01), 'fmt');
  const authData = parseAuthenticatorData(asBytes(map.get(0x02), 'authData'));
  const attStmt = asMap(map.get(0x03), 'attStmt');
  const attestedCredential = authData.attestedCredential;
  if (attestedCredential === undefined) {
    throw new LatchkeyError('ERR_CTAP2_CBOR', 'the new credential has no attested credential data', {
      reason: 'missing attested credential data',
    });
  }
  return {
    fmt,
    authData: { ...authData, attestedCredential },
    attStmt,
    hmacSecret: authData.extensions?.get('hmac-secret') === true,
  };
}

/** Parse a getAssertion response map (hmac-secret output stays encrypted in authData). */
export function parseAssertionResponse(map: CborMap, allowList?: readonly Uint8Array[]): Assertion {
  let credentialId: Uint8Array;
  if (map.has(0x01)) credentialId = asBytes(asMap(map.get(0x01), 'credential').get('id'), 'credential id', 1, 1023);
  else if (allowList?.length === 1 && allowList[0] !== undefined) credentialId = allowList[0];
  else throw new LatchkeyError('ERR_CTAP2_CBOR', '`credential` is missing', { reason: 'missing credential' });
  const authData = parseAuthenticatorData(asBytes(map.get(0x02), 'authData'));
  const signature = asBytes(map.get(0x03), 'signature', 8, 256);
  let user: Assertion['user'];
  if (map.has(0x04)) {
    const u = asMap(map.get(0x04), 'user');
    const name = u.has('name') ? asText(u.get('name'), 'user name') : undefined;
    const displayName = u.has('displayName') ? asText(u.get('displayName'), 'user displayName') : undefined;
    user = {
      id: asBytes(u.get('id'), 'user id', 1, 64),
      ...(name === undefined ? {} : { name }),
      ...(displayName === undefined ? {} : { displayName }),
    };
  }
  const numberOfCredentials = map.has(0x05) ? asInt(map.get(0x05), 'numberOfCredentials') : undefined;
  return {
    credentialId,
    authData,
    signature,
    ...(user === undefined ? {} : { user }),
    ...(numberOfCredentials === undefined ? {} : { numberOfCredentials }),
  };
}

/** Pad a PIN for setPIN and changePIN: UTF-8, 4 to 63 bytes, zero-padded to 64. */
function padPin(pin: string, minLength: number): Uint8Array {
  astring(pin, 'pin', 1, 63);
  const bytes = utf8(pin);
  if ([...pin].length < minLength || bytes.length > 63) {
    wipe(bytes);
    throw new LatchkeyError(
      'ERR_INVALID_ARGUMENT',
      `the PIN must be at least ${minLength} characters and at most 63 bytes`,
      { field: 'pin', min: minLength, max: 63 },
    );
  }
  const padded = new Uint8Array(64);
  padded.set(bytes);
  wipe(bytes);
  return padded;
}

/** LEFT(SHA-256(pin), 16), as getPinToken and changePIN send it. */
function pinHash(pin: string): Uint8Array {
  astring(pin, 'pin', 1, 63);
  const bytes = utf8(pin);
  const digest = new Uint8Array(createHash('sha256').update(bytes).digest());
  wipe(bytes);
  const hash = digest.slice(0, 16);
  wipe(digest);
  return hash;
}

/**
 * A CTAP2 client for one fob.
 *
 * @example
 * ```ts
 * import { Ctap2Client } from 'latchkey/fob';
 * import { VirtualFob } from 'latchkey/testing';
 * const client = await Ctap2Client.open(new VirtualFob().connect());
 * console.log(client.info.versions); // ['FIDO_2_0', 'FIDO_2_1']
 * ```
 */
export class Ctap2Client {
  private cachedInfo: AuthenticatorInfo;

  private constructor(
    readonly hid: CtapHid,
    info: AuthenticatorInfo,
    private readonly options: Ctap2ClientOptions,
  ) {
    this.cachedInfo = info;
  }

  /** Open a channel on the fob behind `connection` and read its info. */
  static async open(connection: HidConnection, options: Ctap2ClientOptions = {}): Promise<Ctap2Client> {
    const hid = await CtapHid.open(connection, options.timeouts);
    if (!hid.supportsCbor) {
      await hid.close();
      throw new LatchkeyError('ERR_UNSUPPORTED', 'the device does not speak CTAP2');
    }
    const client = new Ctap2Client(
      hid,
      { versions: [], extensions: [], aaguid: new Uint8Array(16), options: {}, pinUvAuthProtocols: [] },
      options,
    );
    try {
      await client.getInfo();
    } catch (error) {
      await hid.close();
      throw error;
    }
    return client;
  }

  /** The info read when the client opened (or by the last {@link getInfo}). */
  get info(): AuthenticatorInfo {
    return this.cachedInfo;
  }

  /** The PIN/UV auth protocol this client uses. */
  get pinProtocol(): PinUvAuthProtocol {
    if (this.options.pinProtocol !== undefined) return pinProtocol(this.options.pinProtocol);
    for (const version of [2, 1]) if (this.info.pinUvAuthProtocols.includes(version)) return pinProtocol(version);
    throw new LatchkeyError('ERR_UNSUPPORTED', 'the fob supports no PIN/UV auth protocol latchkey knows');
  }

  /** Release the fob. */
  async close(): Promise<void> {
    await this.hid.close();
  }

  /** Send one command; returns the decoded response map (empty when the fob sent none). */
  async send(
    command: number,
    params?: ReadonlyMap<CborKey, CborInput | undefined>,
    options: RequestOptions = {},
  ): Promise<CborMap> {
    const request = concatBytes(
      new Uint8Array([command]),
      params === undefined ? new Uint8Array(0) : encodeCbor(params),
    );
    const response = await this.hid.cbor(request, options);
    const status = response[0];
    if (status === undefined) {
      throw new LatchkeyError('ERR_CTAPHID_FRAMING', 'the fob sent an empty CTAP2 response');
    }
    if (status !== 0) throw ctapError(status, COMMAND_NAMES[command] ?? `0x${command.toString(16)}`);
    if (response.length === 1) return new Map();
    const decoded = decodeCbor(response.subarray(1), { canonical: this.options.lenientCbor !== true });
    return asMap(decoded, 'response');
  }

  /** authenticatorGetInfo. */
  async getInfo(): Promise<AuthenticatorInfo> {
    this.cachedInfo = parseAuthenticatorInfo(await this.send(CTAP2_COMMAND.GET_INFO));
    return this.cachedInfo;
  }

  /** authenticatorMakeCredential. */
  async makeCredential(request: MakeCredentialRequest): Promise<MakeCredentialResponse> {
    abytes(request.clientDataHash, 'clientDataHash', 32);
    astring(request.rp.id, 'rp.id', 1, 253);
    abytes(request.user.id, 'user.id', { min: 1, max: 64 });
    const token = request.pinUvAuthToken;
    const rp = new Map<CborKey, CborInput | undefined>([
      ['id', request.rp.id],
      ['name', request.rp.name],
    ]);
    const user = new Map<CborKey, CborInput | undefined>([
      ['id', request.user.id],
      ['name', request.user.name],
      ['displayName', request.user.displayName],
    ]);
    const algorithms = (request.algorithms ?? [COSE_ALG.ES256]).map(
      (alg) =>
        new Map<CborKey, CborInput>([
          ['alg', alg],
          ['type', 'public-key'],
        ]),
    );
    const params = new Map<CborKey, CborInput | undefined>([
      [0x01, request.clientDataHash],
      [0x02, rp],
      [0x03, user],
      [0x04, algorithms],
      [0x05, request.excludeList?.length ? request.excludeList.map(descriptor) : undefined],
      [0x06, request.hmacSecret ? new Map([['hmac-secret', true]]) : undefined],
      [0x07, request.residentKey ? new Map([['rk', true]]) : undefined],
      [0x08, token === undefined ? undefined : token.protocol.authenticate(token.token, request.clientDataHash)],
      [0x09, token?.protocol.version],
    ]);
    return parseMakeCredentialResponse(await this.send(CTAP2_COMMAND.MAKE_CREDENTIAL, params, request));
  }

  /** authenticatorGetAssertion, with hmac-secret when asked. */
  async getAssertion(request: GetAssertionRequest): Promise<Assertion> {
    abytes(request.clientDataHash, 'clientDataHash', 32);
    astring(request.rpId, 'rpId', 1, 253);
    const token = request.pinUvAuthToken;
    let hmac: { protocol: PinUvAuthProtocol; shared: Uint8Array; input: CborInput } | undefined;
    if (request.hmacSecret !== undefined) {
      const { salt1, salt2 } = request.hmacSecret;
      abytes(salt1, 'hmacSecret.salt1', 32);
      if (salt2 !== undefined) abytes(salt2, 'hmacSecret.salt2', 32);
      const protocol = token?.protocol ?? this.pinProtocol;
      const { publicKey, sharedSecret } = await this.keyAgreement(protocol);
      const saltEnc = protocol.encrypt(sharedSecret, salt2 === undefined ? salt1 : concatBytes(salt1, salt2));
      hmac = {
        protocol,
        shared: sharedSecret,
        input: new Map<CborKey, CborInput>([
          [1, encodeCoseP256(publicKey, COSE_ALG.ECDH_ES_HKDF_256)],
          [2, saltEnc],
          [3, protocol.authenticate(sharedSecret, saltEnc)],
          [4, protocol.version],
        ]),
      };
    }
    try {
      const params = new Map<CborKey, CborInput | undefined>([
        [0x01, request.rpId],
        [0x02, request.clientDataHash],
        [0x03, request.allowList?.length ? request.allowList.map(descriptor) : undefined],
        [0x04, hmac === undefined ? undefined : new Map([['hmac-secret', hmac.input]])],
        [0x05, request.userPresence === false ? new Map([['up', false]]) : undefined],
        [0x06, token === undefined ? undefined : token.protocol.authenticate(token.token, request.clientDataHash)],
        [0x07, token?.protocol.version],
      ]);
      const assertion = parseAssertionResponse(
        await this.send(CTAP2_COMMAND.GET_ASSERTION, params, request),
        request.allowList,
      );
      if (hmac === undefined) return assertion;
      const encrypted = assertion.authData.extensions?.get('hmac-secret');
      if (!(encrypted instanceof Uint8Array)) {
        throw new LatchkeyError('ERR_CTAP2_CBOR', 'the fob returned no hmac-secret output', {
          reason: 'missing hmac-secret output',
        });
      }
      let plain: Uint8Array;
      try {
        plain = hmac.protocol.decrypt(hmac.shared, encrypted);
      } catch (cause) {
        throw new LatchkeyError(
          'ERR_CTAP2_CBOR',
          'the hmac-secret output has the wrong length',
          { reason: 'hmac-secret' },
          { cause },
        );
      }
      const expected = request.hmacSecret?.salt2 === undefined ? 32 : 64;
      if (plain.length !== expected) {
        throw new LatchkeyError('ERR_CTAP2_CBOR', 'the hmac-secret output has the wrong length', {
          reason: 'hmac-secret',
        });
      }
      return {
        ...assertion,
        hmacSecret: {
          output1: plain.slice(0, 32),
          ...(expected === 64 ? { output2: plain.slice(32, 64) } : {}),
        },
      };
    } finally {
      if (hmac !== undefined) wipe(hmac.shared);
    }
  }

  /** authenticatorGetNextAssertion: the next of `numberOfCredentials` discoverable credentials. */
  async getNextAssertion(): Promise<Assertion> {
    return parseAssertionResponse(await this.send(CTAP2_COMMAND.GET_NEXT_ASSERTION));
  }

  private async keyAgreement(
    protocol: PinUvAuthProtocol,
  ): Promise<{ publicKey: { x: Uint8Array; y: Uint8Array }; sharedSecret: Uint8Array }> {
    const response = await this.send(
      CTAP2_COMMAND.CLIENT_PIN,
      new Map<CborKey, CborInput>([
        [0x01, protocol.version],
        [0x02, CLIENT_PIN_SUBCOMMAND.GET_KEY_AGREEMENT],
      ]),
    );
    const peer = decodeCoseP256(asMap(response.get(0x01), 'keyAgreement'));
    return encapsulate(protocol, peer);
  }

  /** PIN retries left, and whether entering a PIN needs a power cycle first. */
  async getPinRetries(): Promise<{ retries: number; powerCycleState?: boolean }> {
    const response = await this.send(
      CTAP2_COMMAND.CLIENT_PIN,
      new Map<CborKey, CborInput>([
        [0x01, this.pinProtocol.version],
        [0x02, CLIENT_PIN_SUBCOMMAND.GET_PIN_RETRIES],
      ]),
    );
    const retries = asInt(response.get(0x03), 'pinRetries');
    return response.has(0x04)
      ? { retries, powerCycleState: asBool(response.get(0x04), 'powerCycleState') }
      : { retries };
  }

  /** Set the PIN of a fob that has none. */
  async setPin(pin: string): Promise<void> {
    const protocol = this.pinProtocol;
    const padded = padPin(pin, this.info.minPinLength ?? 4);
    const { publicKey, sharedSecret } = await this.keyAgreement(protocol);
    try {
      const newPinEnc = protocol.encrypt(sharedSecret, padded);
      await this.send(
        CTAP2_COMMAND.CLIENT_PIN,
        new Map<CborKey, CborInput>([
          [0x01, protocol.version],
          [0x02, CLIENT_PIN_SUBCOMMAND.SET_PIN],
          [0x03, encodeCoseP256(publicKey, COSE_ALG.ECDH_ES_HKDF_256)],
          [0x04, protocol.authenticate(sharedSecret, newPinEnc)],
          [0x05, newPinEnc],
        ]),
      );
    } finally {
      wipe(padded, sharedSecret);
    }
    await this.getInfo();
  }

  /** Change the PIN. A wrong current PIN costs a retry. */
  async changePin(currentPin: string, newPin: string): Promise<void> {
    const protocol = this.pinProtocol;
    const padded = padPin(newPin, this.info.minPinLength ?? 4);
    const hash = pinHash(currentPin);
    const { publicKey, sharedSecret } = await this.keyAgreement(protocol);
    try {
      const newPinEnc = protocol.encrypt(sharedSecret, padded);
      const pinHashEnc = protocol.encrypt(sharedSecret, hash);
      await this.send(
        CTAP2_COMMAND.CLIENT_PIN,
        new Map<CborKey, CborInput>([
          [0x01, protocol.version],
          [0x02, CLIENT_PIN_SUBCOMMAND.CHANGE_PIN],
          [0x03, encodeCoseP256(publicKey, COSE_ALG.ECDH_ES_HKDF_256)],
          [0x04, protocol.authenticate(sharedSecret, concatBytes(newPinEnc, pinHashEnc))],
          [0x05, newPinEnc],
          [0x06, pinHashEnc],
        ]),
      );
    } finally {
      wipe(padded, hash, sharedSecret);
    }
  }

  /**
   * A pinUvAuthToken from the PIN. With a fob that supports permissions (`pinUvAuthToken`
   * option) the token is limited to `permissions` (makeCredential and getAssertion by default)
   * and, when given, to `rpId`; otherwise the legacy getPinToken is used.
   */
  async getPinUvAuthToken(
    pin: string,
    options: { readonly permissions?: number; readonly rpId?: string } = {},
  ): Promise<PinUvAuthToken> {
    const protocol = this.pinProtocol;
    const hash = pinHash(pin);
    const { publicKey, sharedSecret } = await this.keyAgreement(protocol);
    try {
      const withPermissions = this.info.options.pinUvAuthToken === true;
      const response = await this.send(
        CTAP2_COMMAND.CLIENT_PIN,
        new Map<CborKey, CborInput | undefined>([
          [0x01, protocol.version],
          [
            0x02,
            withPermissions
              ? CLIENT_PIN_SUBCOMMAND.GET_PIN_TOKEN_WITH_PERMISSIONS
              : CLIENT_PIN_SUBCOMMAND.GET_PIN_TOKEN,
          ],
          [0x03, encodeCoseP256(publicKey, COSE_ALG.ECDH_ES_HKDF_256)],
          [0x06, protocol.encrypt(sharedSecret, hash)],
          [
            0x09,
            withPermissions
              ? (options.permissions ?? PERMISSION.MAKE_CREDENTIAL | PERMISSION.GET_ASSERTION)
              : undefined,
          ],
          [0x0a, withPermissions ? options.rpId : undefined],
        ]),
      );
      let token: Uint8Array;
      try {
        token = protocol.decrypt(sharedSecret, asBytes(response.get(0x02), 'pinUvAuthToken', 16, 64));
      } catch (cause) {
        throw new LatchkeyError(
          'ERR_CTAP2_CBOR',
          'the fob returned a malformed PIN token',
          { reason: 'pinUvAuthToken' },
          { cause },
        );
      }
      if (token.length !== 32 && !(protocol.version === 1 && token.length === 16)) {
        throw new LatchkeyError('ERR_CTAP2_CBOR', 'the fob returned a PIN token of the wrong length', {
          reason: 'pinUvAuthToken',
        });
      }
      return { protocol, token, wipe: () => wipe(token) };
    } finally {
      wipe(hash, sharedSecret);
    }
  }

  /** authenticatorReset: erases every credential and the PIN. Needs a touch, soon after power-up. */
  async reset(options: RequestOptions = {}): Promise<void> {
    await this.send(CTAP2_COMMAND.RESET, undefined, options);
    await this.getInfo();
  }

  /** authenticatorSelection: wait for the user to touch this fob (to pick one of several). */
  async selection(options: RequestOptions = {}): Promise<void> {
    await this.send(CTAP2_COMMAND.SELECTION, undefined, options);
  }
}

function descriptor(id: Uint8Array): CborInput {
  return new Map<CborKey, CborInput>([
    ['id', id],
    ['type', 'public-key'],
  ]);
}
