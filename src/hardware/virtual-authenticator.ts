/**
 * The virtual fob's authenticator: a real CTAP 2.1 authenticator in TypeScript, transport-free.
 * It takes one CTAP2 request (command byte and CBOR parameters) and answers with a status byte
 * and CBOR; {@link VirtualFob} puts CTAPHID in front of it.
 *
 * What it implements (CTAP 2.1 §6): authenticatorGetInfo; authenticatorMakeCredential and
 * authenticatorGetAssertion (and GetNextAssertion) with ES256 and packed self attestation,
 * resident (discoverable) and non-resident credentials, UP and UV flags; authenticatorClientPIN
 * with PIN/UV auth protocols 1 and 2 (set and change PIN, retries, getPinToken and
 * getPinUvAuthTokenUsingPinWithPermissions), 8 retries and a block after 3 consecutive wrong
 * PINs until the next power cycle; the hmac-secret extension with separate secrets with and
 * without user verification; authenticatorReset (within 10 s of power-up, with a touch);
 * authenticatorSelection. Non-resident credential ids wrap the private key with AES-256-GCM under
 * a device key, bound to the RP id hash.
 *
 * It is a test device: its secrets live in process memory and, with `--state`, in a file.
 *
 * @module latchkey/testing
 */
import {
  createCipheriv,
  createDecipheriv,
  createECDH,
  createHash,
  createHmac,
  createPrivateKey,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
  sign,
} from 'node:crypto';
import { base64url, concatBytes, equalBytes, fromBase64url, fromHex, hex, utf8, wipe } from '../core/bytes.js';
import { type Clock, systemClock } from '../core/clock.js';
import { LatchkeyError } from '../core/errors.js';
import { randomBytes } from '../core/random.js';
import { buildAuthenticatorData } from './auth-data.js';
import { type CborInput, type CborKey, type CborMap, type CborValue, decodeCbor, encodeCbor } from './cbor.js';
import { COSE_ALG, decodeCoseP256, encodeCoseP256, type P256PublicKey } from './cose.js';
import { Status } from './ctap-status.js';
import { CLIENT_PIN_SUBCOMMAND, CTAP2_COMMAND, PERMISSION } from './ctap2-constants.js';
import { KEEPALIVE_STATUS } from './ctaphid.js';
import type { CborRequestContext } from './ctaphid-device.js';
import { generateKeyAgreementKey, type KeyAgreementKey, type PinUvAuthProtocol, pinProtocol } from './pin-protocol.js';

/** PIN retries after a reset or a correct PIN. */
export const MAX_PIN_RETRIES = 8;
/** Consecutive wrong PINs that block PIN entry until the next power cycle. */
export const PIN_ATTEMPTS_PER_POWER_CYCLE = 3;

/** A discoverable credential as the state file keeps it. */
export interface ResidentCredentialState {
  readonly id: string;
  readonly rpId: string;
  readonly userId: string;
  readonly userName?: string;
  readonly userDisplayName?: string;
  readonly hmacSecret: boolean;
}

/**
 * Everything a virtual fob keeps across power cycles, as JSON-safe data. It holds secrets (the
 * device key, the PIN hash): treat a state file like a private key.
 */
export interface VirtualFobState {
  readonly version: 1;
  readonly aaguid: string;
  readonly deviceKey: string;
  readonly pinHash: string | null;
  readonly pinRetries: number;
  readonly signCount: number;
  readonly credentials: readonly ResidentCredentialState[];
}

/** How the simulated user answers a request for presence. */
export type UserPresence = (request: {
  readonly command: 'makeCredential' | 'getAssertion' | 'reset' | 'selection';
  readonly rpId?: string;
  readonly signal: AbortSignal;
}) => Promise<boolean>;

/** Options of a {@link VirtualAuthenticator}. */
export interface VirtualAuthenticatorOptions {
  /** Start from a saved state (see {@link VirtualAuthenticator.state}); a fresh fob otherwise. */
  readonly state?: VirtualFobState;
  /** Called (and awaited) after every change to the state, before the response is sent. */
  readonly onStateChange?: (state: VirtualFobState) => void | Promise<void>;
  /** The user touches after this many ms (default 0). */
  readonly touchDelayMs?: number;
  /** The user never touches: requests for presence time out. */
  readonly denyTouch?: boolean;
  /** A custom user: resolve true for a touch, false to decline. Overrides the two above. */
  readonly presence?: UserPresence;
  /** How long to wait for a touch before CTAP2_ERR_USER_ACTION_TIMEOUT (default 30 s). */
  readonly upTimeoutMs?: number;
  /** How long after power-up authenticatorReset is allowed (default 10 s). */
  readonly resetWindowMs?: number;
  /** Most discoverable credentials kept (default 25). */
  readonly maxResidentCredentials?: number;
  readonly clock?: Clock;
  /** Diagnostic lines (never a secret). */
  readonly log?: (line: string) => void;
}

/** Thrown inside the authenticator to answer with a status byte. */
class StatusError extends Error {
  constructor(readonly status: number) {
    super(`status ${status}`);
  }
}

function fail(status: number): never {
  throw new StatusError(status);
}

interface Credential {
  readonly id: Uint8Array;
  readonly privateKey: Uint8Array;
  readonly resident?: ResidentCredentialState;
}

interface Token {
  readonly value: Uint8Array;
  readonly permissions: number;
  rpId: string | undefined;
}

interface PendingAssertions {
  readonly credentials: Credential[];
  readonly rpIdHash: Uint8Array;
  readonly clientDataHash: Uint8Array;
  readonly userPresent: boolean;
  readonly userVerified: boolean;
  readonly expiresAt: number;
  readonly count: number;
}

const MAX_CREDENTIAL_ID_LENGTH = 128;
const MAX_CREDENTIALS_IN_LIST = 8;
const MIN_PIN_LENGTH = 4;

function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest());
}

/** Create a fresh state: a new device key and AAGUID, no PIN, no credentials. */
export function newVirtualFobState(): VirtualFobState {
  return {
    version: 1,
    aaguid: hex(randomBytes(16)),
    deviceKey: base64url(randomBytes(32)),
    pinHash: null,
    pinRetries: MAX_PIN_RETRIES,
    signCount: 0,
    credentials: [],
  };
}

/** Check a state read from a file; `ERR_INVALID_ARGUMENT` when it is not one. */
export function parseVirtualFobState(value: unknown): VirtualFobState {
  const bad = (why: string): never => {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', `the virtual fob state is invalid: ${why}`, { field: 'state' });
  };
  if (typeof value !== 'object' || value === null) return bad('not an object');
  const s = value as Record<string, unknown>;
  if (s.version !== 1) bad('unknown version');
  if (typeof s.aaguid !== 'string' || fromHex(s.aaguid, 'aaguid').length !== 16) bad('aaguid');
  if (typeof s.deviceKey !== 'string' || fromBase64url(s.deviceKey, 'deviceKey').length !== 32) bad('deviceKey');
  if (s.pinHash !== null && (typeof s.pinHash !== 'string' || fromHex(s.pinHash, 'pinHash').length !== 16)) {
    bad('pinHash');
  }
  if (typeof s.pinRetries !== 'number' || !Number.isInteger(s.pinRetries) || s.pinRetries < 0 || s.pinRetries > 8) {
    bad('pinRetries');
  }
  if (
    typeof s.signCount !== 'number' ||
    !Number.isInteger(s.signCount) ||
    s.signCount < 0 ||
    s.signCount > 0xffffffff
  ) {
    bad('signCount');
  }
  if (!Array.isArray(s.credentials) || s.credentials.length > 1000) return bad('credentials');
  for (const c of s.credentials as unknown[]) {
    const r = c as Record<string, unknown>;
    if (typeof r !== 'object' || r === null || typeof r.id !== 'string' || typeof r.rpId !== 'string')
      bad('credential');
    if (typeof r.userId !== 'string' || typeof r.hmacSecret !== 'boolean') bad('credential');
  }
  return s as unknown as VirtualFobState;
}

/**
 * A CTAP 2.1 authenticator without a transport. Most users want {@link VirtualFob}, which adds
 * CTAPHID and connections; this class is the part the pipe command and the HID front-end share.
 *
 * @example
 * ```ts
 * import { VirtualAuthenticator } from 'latchkey/testing';
 * const authenticator = new VirtualAuthenticator({ touchDelayMs: 10 });
 * const info = await authenticator.handle(new Uint8Array([0x04]));
 * ```
 */
export class VirtualAuthenticator {
  private current: VirtualFobState;
  private readonly clock: Clock;
  private readonly options: VirtualAuthenticatorOptions;
  private keyAgreement: KeyAgreementKey = generateKeyAgreementKey();
  private token: Token | undefined;
  private consecutiveFailures = 0;
  private poweredUpAt: number;
  private pending: PendingAssertions | undefined;
  private wrapKey: Uint8Array;
  private hmacKey: Uint8Array;

  constructor(options: VirtualAuthenticatorOptions = {}) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.current = options.state === undefined ? newVirtualFobState() : parseVirtualFobState(options.state);
    this.poweredUpAt = this.clock.now();
    [this.wrapKey, this.hmacKey] = this.deriveKeys();
  }

  /** A copy of the persistent state. */
  get state(): VirtualFobState {
    return structuredClone(this.current);
  }

  /** Lose power: forget tokens, key agreement, the per-power-cycle PIN block and pending assertions. */
  powerCycle(): void {
    this.keyAgreement = generateKeyAgreementKey();
    this.clearToken();
    this.consecutiveFailures = 0;
    this.pending = undefined;
    this.poweredUpAt = this.clock.now();
  }

  private deriveKeys(): [Uint8Array, Uint8Array] {
    const deviceKey = fromBase64url(this.current.deviceKey, 'deviceKey');
    const salt = new Uint8Array(0);
    const wrap = new Uint8Array(hkdfSync('sha256', deviceKey, salt, 'latchkey virtual fob: credential wrap', 32));
    const hmac = new Uint8Array(hkdfSync('sha256', deviceKey, salt, 'latchkey virtual fob: hmac-secret', 32));
    wipe(deviceKey);
    return [wrap, hmac];
  }

  private clearToken(): void {
    if (this.token !== undefined) wipe(this.token.value);
    this.token = undefined;
  }

  private async save(next: VirtualFobState): Promise<void> {
    this.current = next;
    await this.options.onStateChange?.(this.state);
  }

  private log(line: string): void {
    this.options.log?.(line);
  }

  /**
   * Answer one CTAP2 request: the command byte followed by its CBOR parameters. The answer is a
   * status byte followed by the CBOR response. Never throws.
   */
  async handle(request: Uint8Array, context?: CborRequestContext): Promise<Uint8Array> {
    const ctx: CborRequestContext = context ?? { signal: new AbortController().signal, keepalive: () => undefined };
    const command = request[0];
    try {
      let params: CborMap = new Map();
      if (request.length > 1) {
        let decoded: CborValue;
        try {
          decoded = decodeCbor(request.subarray(1));
        } catch {
          return new Uint8Array([Status.INVALID_CBOR]);
        }
        if (!(decoded instanceof Map)) return new Uint8Array([Status.CBOR_UNEXPECTED_TYPE]);
        params = decoded;
      }
      let response: CborInput | undefined;
      switch (command) {
        case CTAP2_COMMAND.GET_INFO:
          response = this.getInfo();
          break;
        case CTAP2_COMMAND.MAKE_CREDENTIAL:
          response = await this.makeCredential(params, ctx);
          break;
        case CTAP2_COMMAND.GET_ASSERTION:
          response = await this.getAssertion(params, ctx);
          break;
        case CTAP2_COMMAND.GET_NEXT_ASSERTION:
          response = await this.getNextAssertion();
          break;
        case CTAP2_COMMAND.CLIENT_PIN:
          response = await this.clientPin(params);
          break;
        case CTAP2_COMMAND.RESET:
          await this.reset(ctx);
          break;
        case CTAP2_COMMAND.SELECTION:
          await this.presence(ctx, 'selection');
          break;
        default:
          return new Uint8Array([Status.INVALID_COMMAND]);
      }
      if (command !== CTAP2_COMMAND.GET_NEXT_ASSERTION && command !== CTAP2_COMMAND.GET_ASSERTION) {
        this.pending = undefined;
      }
      return response === undefined
        ? new Uint8Array([Status.OK])
        : concatBytes(new Uint8Array([0]), encodeCbor(response));
    } catch (error) {
      if (error instanceof StatusError) {
        this.log(`command 0x${(command ?? 0).toString(16)} answered status 0x${error.status.toString(16)}`);
        return new Uint8Array([error.status]);
      }
      if (error instanceof LatchkeyError && error.code === 'ERR_CTAP2_CBOR') {
        return new Uint8Array([
          error.detail.reason === 'unexpected type' ? Status.CBOR_UNEXPECTED_TYPE : Status.INVALID_CBOR,
        ]);
      }
      this.log(`internal error: ${error instanceof Error ? error.message : String(error)}`);
      return new Uint8Array([Status.OTHER]);
    }
  }

  // ------------------------------------------------------------ getInfo

  private getInfo(): CborInput {
    return new Map<CborKey, CborInput>([
      [0x01, ['FIDO_2_0', 'FIDO_2_1']],
      [0x02, ['hmac-secret']],
      [0x03, fromHex(this.current.aaguid)],
      [
        0x04,
        new Map<CborKey, CborInput>([
          ['rk', true],
          ['up', true],
          ['plat', false],
          ['clientPin', this.current.pinHash !== null],
          ['pinUvAuthToken', true],
          ['makeCredUvNotRqd', true],
        ]),
      ],
      [0x05, 7609],
      [0x06, [2, 1]],
      [0x07, MAX_CREDENTIALS_IN_LIST],
      [0x08, MAX_CREDENTIAL_ID_LENGTH],
      [0x09, ['usb']],
      [
        0x0a,
        [
          new Map<CborKey, CborInput>([
            ['alg', COSE_ALG.ES256],
            ['type', 'public-key'],
          ]),
        ],
      ],
      [0x0d, MIN_PIN_LENGTH],
      [0x0e, 0x000100],
      [0x14, (this.options.maxResidentCredentials ?? 25) - this.current.credentials.length],
    ]);
  }

  // ------------------------------------------------------------ presence

  private async presence(
    ctx: CborRequestContext,
    command: 'makeCredential' | 'getAssertion' | 'reset' | 'selection',
    rpId?: string,
  ): Promise<void> {
    const timeoutMs = this.options.upTimeoutMs ?? 30_000;
    ctx.keepalive(KEEPALIVE_STATUS.UP_NEEDED);
    const local = new AbortController();
    const onAbort = (): void => local.abort();
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      if (ctx.signal.aborted) fail(Status.KEEPALIVE_CANCEL);
      const user: Promise<'touched' | 'declined'> = this.options.presence
        ? this.options
            .presence({ command, signal: local.signal, ...(rpId === undefined ? {} : { rpId }) })
            .then((ok) => (ok ? 'touched' : 'declined'))
        : this.options.denyTouch
          ? new Promise(() => undefined)
          : new Promise((resolve) => {
              const delay = this.options.touchDelayMs ?? 0;
              if (delay <= 0) resolve('touched');
              else {
                const touch = setTimeout(() => resolve('touched'), delay);
                local.signal.addEventListener('abort', () => clearTimeout(touch), { once: true });
              }
            });
      const outcome = await Promise.race([
        user,
        new Promise<'cancelled'>((resolve) => {
          if (ctx.signal.aborted) resolve('cancelled');
          ctx.signal.addEventListener('abort', () => resolve('cancelled'), { once: true });
        }),
        new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), timeoutMs);
        }),
      ]);
      if (outcome === 'cancelled') fail(Status.KEEPALIVE_CANCEL);
      if (outcome === 'timeout') fail(Status.USER_ACTION_TIMEOUT);
      if (outcome === 'declined') fail(Status.OPERATION_DENIED);
      this.log(`${command}: touched`);
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      local.abort();
      ctx.signal.removeEventListener('abort', onAbort);
      ctx.keepalive(KEEPALIVE_STATUS.PROCESSING);
    }
  }

  // ------------------------------------------------------------ credentials

  private wrap(privateKey: Uint8Array, rpIdHash: Uint8Array): Uint8Array {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.wrapKey, nonce);
    cipher.setAAD(rpIdHash);
    const body = Buffer.concat([cipher.update(privateKey), cipher.final()]);
    return concatBytes(new Uint8Array([1]), nonce, new Uint8Array(body), new Uint8Array(cipher.getAuthTag()));
  }

  /** The private key inside a credential id made by this fob for this RP, or undefined. */
  private unwrap(id: Uint8Array, rpIdHash: Uint8Array): Uint8Array | undefined {
    if (id.length !== 61 || id[0] !== 1) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.wrapKey, id.subarray(1, 13));
      decipher.setAAD(rpIdHash);
      decipher.setAuthTag(id.subarray(45, 61));
      return new Uint8Array(Buffer.concat([decipher.update(id.subarray(13, 45)), decipher.final()]));
    } catch {
      return undefined;
    }
  }

  private find(id: Uint8Array, rpId: string, rpIdHash: Uint8Array): Credential | undefined {
    const privateKey = this.unwrap(id, rpIdHash);
    if (privateKey === undefined) return undefined;
    const encoded = base64url(id);
    const resident = this.current.credentials.find((c) => c.id === encoded && c.rpId === rpId);
    return { id, privateKey, ...(resident === undefined ? {} : { resident }) };
  }

  private signingKey(privateKey: Uint8Array): { key: KeyObject; publicKey: P256PublicKey } {
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(privateKey);
    const point = new Uint8Array(ecdh.getPublicKey());
    const publicKey = { x: point.slice(1, 33), y: point.slice(33, 65) };
    const key = createPrivateKey({
      key: {
        kty: 'EC',
        crv: 'P-256',
        d: base64url(privateKey),
        x: base64url(publicKey.x),
        y: base64url(publicKey.y),
      },
      format: 'jwk',
    });
    return { key, publicKey };
  }

  private credRandom(id: Uint8Array, userVerified: boolean): Uint8Array {
    return new Uint8Array(
      createHmac('sha256', this.hmacKey)
        .update(concatBytes(new Uint8Array([userVerified ? 1 : 0]), id))
        .digest(),
    );
  }

  private async nextSignCount(): Promise<number> {
    const signCount = (this.current.signCount + 1) >>> 0;
    await this.save({ ...this.current, signCount });
    return signCount;
  }

  // ------------------------------------------------------------ pinUvAuthParam

  private protocolParam(value: CborValue | undefined): PinUvAuthProtocol {
    if (value === undefined) fail(Status.MISSING_PARAMETER);
    if (typeof value !== 'number') fail(Status.CBOR_UNEXPECTED_TYPE);
    if (value !== 1 && value !== 2) fail(Status.INVALID_PARAMETER);
    return pinProtocol(value);
  }

  /**
   * CTAP 2.1 §6.1.2 steps 1–2 and §6.2.2: an empty pinUvAuthParam asks the user to touch and
   * reports whether a PIN is set; otherwise the param must verify under the current token.
   */
  private async checkPinUvAuth(
    params: CborMap,
    paramKey: number,
    protocolKey: number,
    message: Uint8Array,
    permission: number,
    rpId: string,
    ctx: CborRequestContext,
    command: 'makeCredential' | 'getAssertion',
  ): Promise<boolean> {
    const param = params.get(paramKey);
    if (param === undefined) return false;
    if (!(param instanceof Uint8Array)) fail(Status.CBOR_UNEXPECTED_TYPE);
    if (param.length === 0) {
      await this.presence(ctx, command, rpId);
      fail(this.current.pinHash === null ? Status.PIN_NOT_SET : Status.PIN_INVALID);
    }
    const protocol = this.protocolParam(params.get(protocolKey));
    const token = this.token;
    if (token === undefined || !protocol.verify(token.value, message, param)) fail(Status.PIN_AUTH_INVALID);
    if ((token.permissions & permission) === 0) fail(Status.PIN_AUTH_INVALID);
    if (token.rpId !== undefined && token.rpId !== rpId) fail(Status.PIN_AUTH_INVALID);
    token.rpId = rpId;
    return true;
  }

  // ------------------------------------------------------------ makeCredential

  private async makeCredential(params: CborMap, ctx: CborRequestContext): Promise<CborInput> {
    const clientDataHash = bytesParam(params.get(0x01), 32);
    const rp = mapParam(params.get(0x02));
    const user = mapParam(params.get(0x03));
    const algorithms = arrayParam(params.get(0x04));
    const rpId = textParam(rp.get('id'), 256);
    const userId = bytesParam(user.get('id'), undefined, 64);
    const userName = optionalText(user.get('name'));
    const userDisplayName = optionalText(user.get('displayName'));
    const rpIdHash = sha256(utf8(rpId));

    const userVerified = await this.checkPinUvAuth(
      params,
      0x08,
      0x09,
      clientDataHash,
      PERMISSION.MAKE_CREDENTIAL,
      rpId,
      ctx,
      'makeCredential',
    );

    let es256 = false;
    for (const entry of algorithms) {
      const p = mapParam(entry);
      const alg = p.get('alg');
      const type = p.get('type');
      if (typeof alg !== 'number' || typeof type !== 'string') fail(Status.CBOR_UNEXPECTED_TYPE);
      if (alg === COSE_ALG.ES256 && type === 'public-key') es256 = true;
    }
    if (!es256) fail(Status.UNSUPPORTED_ALGORITHM);

    const options = params.has(0x07) ? mapParam(params.get(0x07)) : new Map<CborKey, CborValue>();
    const rk = optionalBool(options.get('rk')) ?? false;
    if (optionalBool(options.get('up')) === false) fail(Status.INVALID_OPTION);
    if (optionalBool(options.get('uv')) === true && !userVerified) fail(Status.INVALID_OPTION);
    if (!userVerified && this.current.pinHash !== null && rk) fail(Status.PUAT_REQUIRED);

    const extensions = params.has(0x06) ? mapParam(params.get(0x06)) : new Map<CborKey, CborValue>();
    const hmacSecret = optionalBool(extensions.get('hmac-secret')) === true;

    if (params.has(0x05)) {
      for (const entry of arrayParam(params.get(0x05))) {
        const descriptor = mapParam(entry);
        const id = bytesParam(descriptor.get('id'), undefined, 1023);
        const found = this.find(id, rpId, rpIdHash);
        if (found !== undefined) {
          wipe(found.privateKey);
          await this.presence(ctx, 'makeCredential', rpId);
          fail(Status.CREDENTIAL_EXCLUDED);
        }
      }
    }

    await this.presence(ctx, 'makeCredential', rpId);

    const { privateKey: keyObject, publicKey: publicKeyObject } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = keyObject.export({ format: 'jwk' });
    const publicJwk = publicKeyObject.export({ format: 'jwk' });
    const privateKey = fromBase64url(jwk.d ?? '', 'd');
    const publicKey = { x: fromBase64url(publicJwk.x ?? '', 'x'), y: fromBase64url(publicJwk.y ?? '', 'y') };
    const id = this.wrap(privateKey, rpIdHash);
    wipe(privateKey);

    if (rk) {
      const max = this.options.maxResidentCredentials ?? 25;
      const encodedUser = base64url(userId);
      const others = this.current.credentials.filter((c) => !(c.rpId === rpId && c.userId === encodedUser));
      if (others.length >= max) fail(Status.KEY_STORE_FULL);
      const resident: ResidentCredentialState = {
        id: base64url(id),
        rpId,
        userId: encodedUser,
        ...(userName === undefined ? {} : { userName }),
        ...(userDisplayName === undefined ? {} : { userDisplayName }),
        hmacSecret,
      };
      await this.save({ ...this.current, credentials: [...others, resident] });
    }

    const signCount = await this.nextSignCount();
    const authData = buildAuthenticatorData({
      rpIdHash,
      userPresent: true,
      userVerified,
      signCount,
      attested: {
        aaguid: fromHex(this.current.aaguid),
        credentialId: id,
        publicKey: encodeCoseP256(publicKey, COSE_ALG.ES256),
      },
      ...(hmacSecret ? { extensions: new Map([['hmac-secret', true]]) } : {}),
    });
    const signature = new Uint8Array(
      sign('sha256', concatBytes(authData, clientDataHash), { key: keyObject, dsaEncoding: 'der' }),
    );
    this.log(`makeCredential for \`${rpId}\`${rk ? ' (resident)' : ''}${userVerified ? ' with UV' : ''}`);
    return new Map<CborKey, CborInput>([
      [0x01, 'packed'],
      [0x02, authData],
      [
        0x03,
        new Map<CborKey, CborInput>([
          ['alg', COSE_ALG.ES256],
          ['sig', signature],
        ]),
      ],
    ]);
  }

  // ------------------------------------------------------------ getAssertion

  private async getAssertion(params: CborMap, ctx: CborRequestContext): Promise<CborInput> {
    this.pending = undefined;
    const rpId = textParam(params.get(0x01), 256);
    const clientDataHash = bytesParam(params.get(0x02), 32);
    const rpIdHash = sha256(utf8(rpId));
    const userVerified = await this.checkPinUvAuth(
      params,
      0x06,
      0x07,
      clientDataHash,
      PERMISSION.GET_ASSERTION,
      rpId,
      ctx,
      'getAssertion',
    );
    const options = params.has(0x05) ? mapParam(params.get(0x05)) : new Map<CborKey, CborValue>();
    if (options.has('rk')) fail(Status.UNSUPPORTED_OPTION);
    const up = optionalBool(options.get('up')) ?? true;
    if (optionalBool(options.get('uv')) === true && !userVerified) fail(Status.INVALID_OPTION);

    const candidates: Credential[] = [];
    const allowList = params.has(0x03) ? arrayParam(params.get(0x03)) : undefined;
    if (allowList !== undefined && allowList.length > 0) {
      if (allowList.length > MAX_CREDENTIALS_IN_LIST) fail(Status.LIMIT_EXCEEDED);
      for (const entry of allowList) {
        const descriptor = mapParam(entry);
        const id = bytesParam(descriptor.get('id'), undefined, 1023);
        if (descriptor.get('type') !== 'public-key') continue;
        const found = this.find(id, rpId, rpIdHash);
        if (found !== undefined) {
          candidates.push(found);
          break;
        }
      }
    } else {
      for (const resident of [...this.current.credentials].reverse()) {
        if (resident.rpId !== rpId) continue;
        const found = this.find(fromBase64url(resident.id, 'credential id'), rpId, rpIdHash);
        if (found !== undefined) candidates.push(found);
      }
    }

    const extensions = params.has(0x04) ? mapParam(params.get(0x04)) : new Map<CborKey, CborValue>();
    const hmacInput = extensions.get('hmac-secret');

    if (up) await this.presence(ctx, 'getAssertion', rpId);
    if (candidates.length === 0) fail(Status.NO_CREDENTIALS);

    const [first, ...rest] = candidates as [Credential, ...Credential[]];
    const count = allowList === undefined || allowList.length === 0 ? candidates.length : 1;
    if (count > 1) {
      this.pending = {
        credentials: rest,
        rpIdHash,
        clientDataHash,
        userPresent: up,
        userVerified,
        expiresAt: this.clock.now() + 30_000,
        count,
      };
    }
    return this.assertion(first, rpIdHash, clientDataHash, up, userVerified, count, hmacInput, allowList !== undefined);
  }

  private async getNextAssertion(): Promise<CborInput> {
    const pending = this.pending;
    if (pending === undefined || this.clock.now() > pending.expiresAt) {
      this.pending = undefined;
      fail(Status.NOT_ALLOWED);
    }
    const next = pending.credentials.shift();
    if (next === undefined) {
      this.pending = undefined;
      fail(Status.NOT_ALLOWED);
    }
    if (pending.credentials.length === 0) this.pending = undefined;
    return this.assertion(
      next,
      pending.rpIdHash,
      pending.clientDataHash,
      pending.userPresent,
      pending.userVerified,
      undefined,
      undefined,
      false,
    );
  }

  private async assertion(
    credential: Credential,
    rpIdHash: Uint8Array,
    clientDataHash: Uint8Array,
    userPresent: boolean,
    userVerified: boolean,
    count: number | undefined,
    hmacInput: CborValue | undefined,
    fromAllowList: boolean,
  ): Promise<CborInput> {
    const extensions = new Map<CborKey, CborInput>();
    if (hmacInput !== undefined) extensions.set('hmac-secret', this.hmacSecret(hmacInput, credential.id, userVerified));
    const signCount = await this.nextSignCount();
    const authData = buildAuthenticatorData({
      rpIdHash,
      userPresent,
      userVerified,
      signCount,
      ...(extensions.size > 0 ? { extensions } : {}),
    });
    const { key } = this.signingKey(credential.privateKey);
    wipe(credential.privateKey);
    const signature = new Uint8Array(
      sign('sha256', concatBytes(authData, clientDataHash), { key, dsaEncoding: 'der' }),
    );
    const response = new Map<CborKey, CborInput>([
      [
        0x01,
        new Map<CborKey, CborInput>([
          ['id', credential.id],
          ['type', 'public-key'],
        ]),
      ],
      [0x02, authData],
      [0x03, signature],
    ]);
    const resident = credential.resident;
    if (resident !== undefined) {
      const user = new Map<CborKey, CborInput>([['id', fromBase64url(resident.userId, 'user id')]]);
      // User-identifiable information only after user verification, and only without an allow list.
      if (userVerified && !fromAllowList) {
        if (resident.userName !== undefined) user.set('name', resident.userName);
        if (resident.userDisplayName !== undefined) user.set('displayName', resident.userDisplayName);
      }
      response.set(0x04, user);
    }
    if (count !== undefined && count > 1) response.set(0x05, count);
    return response;
  }

  /** hmac-secret (CTAP 2.1 §12.5): HMAC-SHA-256 of each salt under CredRandomWithUV or WithoutUV. */
  private hmacSecret(input: CborValue, credentialId: Uint8Array, userVerified: boolean): Uint8Array {
    const map = mapParam(input);
    const keyAgreement = mapParam(map.get(1));
    const saltEnc = bytesParam(map.get(2), undefined, 96);
    const saltAuth = bytesParam(map.get(3), undefined, 32);
    const protocol = map.has(4) ? this.protocolParam(map.get(4)) : pinProtocol(1);
    let peer: P256PublicKey;
    try {
      peer = decodeCoseP256(keyAgreement);
    } catch {
      fail(Status.INVALID_PARAMETER);
    }
    const z = this.keyAgreement.agree(peer);
    const shared = protocol.kdf(z);
    wipe(z);
    try {
      if (!protocol.verify(shared, saltEnc, saltAuth)) fail(Status.PIN_AUTH_INVALID);
      let salts: Uint8Array;
      try {
        salts = protocol.decrypt(shared, saltEnc);
      } catch {
        fail(Status.INVALID_LENGTH);
      }
      if (salts.length !== 32 && salts.length !== 64) fail(Status.INVALID_LENGTH);
      const secret = this.credRandom(credentialId, userVerified);
      const outputs: Uint8Array[] = [];
      for (let offset = 0; offset < salts.length; offset += 32) {
        outputs.push(
          new Uint8Array(
            createHmac('sha256', secret)
              .update(salts.subarray(offset, offset + 32))
              .digest(),
          ),
        );
      }
      wipe(secret, salts);
      return protocol.encrypt(shared, concatBytes(...outputs));
    } finally {
      wipe(shared);
    }
  }

  // ------------------------------------------------------------ clientPIN

  private async clientPin(params: CborMap): Promise<CborInput | undefined> {
    const protocol = this.protocolParam(params.get(0x01));
    const sub = params.get(0x02);
    if (sub === undefined) fail(Status.MISSING_PARAMETER);
    if (typeof sub !== 'number') fail(Status.CBOR_UNEXPECTED_TYPE);
    switch (sub) {
      case CLIENT_PIN_SUBCOMMAND.GET_PIN_RETRIES:
        return new Map<CborKey, CborInput>([
          [0x03, this.current.pinRetries],
          [0x04, this.consecutiveFailures >= PIN_ATTEMPTS_PER_POWER_CYCLE],
        ]);
      case CLIENT_PIN_SUBCOMMAND.GET_KEY_AGREEMENT:
        return new Map<CborKey, CborInput>([
          [0x01, encodeCoseP256(this.keyAgreement.publicKey, COSE_ALG.ECDH_ES_HKDF_256)],
        ]);
      case CLIENT_PIN_SUBCOMMAND.SET_PIN:
        await this.setPin(protocol, params);
        return undefined;
      case CLIENT_PIN_SUBCOMMAND.CHANGE_PIN:
        await this.changePin(protocol, params);
        return undefined;
      case CLIENT_PIN_SUBCOMMAND.GET_PIN_TOKEN:
        if (params.has(0x09) || params.has(0x0a)) fail(Status.INVALID_PARAMETER);
        return this.getPinToken(protocol, params, PERMISSION.MAKE_CREDENTIAL | PERMISSION.GET_ASSERTION, undefined);
      case CLIENT_PIN_SUBCOMMAND.GET_PIN_TOKEN_WITH_PERMISSIONS: {
        const permissions = params.get(0x09);
        if (permissions === undefined) fail(Status.MISSING_PARAMETER);
        if (typeof permissions !== 'number') fail(Status.CBOR_UNEXPECTED_TYPE);
        if (permissions === 0) fail(Status.INVALID_PARAMETER);
        if ((permissions & ~(PERMISSION.MAKE_CREDENTIAL | PERMISSION.GET_ASSERTION)) !== 0) {
          fail(Status.UNAUTHORIZED_PERMISSION);
        }
        const rpId = params.has(0x0a) ? textParam(params.get(0x0a), 256) : undefined;
        return this.getPinToken(protocol, params, permissions, rpId);
      }
      default:
        // No built-in user verification: getPinUvAuthTokenUsingUvWithPermissions and
        // getUVRetries are not supported, like every other unknown subcommand.
        fail(Status.INVALID_SUBCOMMAND);
    }
  }

  private sharedSecret(protocol: PinUvAuthProtocol, params: CborMap): Uint8Array {
    const keyAgreement = params.get(0x03);
    if (keyAgreement === undefined) fail(Status.MISSING_PARAMETER);
    let peer: P256PublicKey;
    try {
      peer = decodeCoseP256(mapParam(keyAgreement));
    } catch (error) {
      if (error instanceof StatusError) throw error;
      fail(Status.INVALID_PARAMETER);
    }
    const z = this.keyAgreement.agree(peer);
    try {
      return protocol.kdf(z);
    } finally {
      wipe(z);
    }
  }

  /** Decrypt and check a new PIN (CTAP 2.1 §6.5.5.5): 64 padded bytes, 4 to 63 bytes of UTF-8. */
  private newPinHash(protocol: PinUvAuthProtocol, shared: Uint8Array, newPinEnc: Uint8Array): string {
    let padded: Uint8Array;
    try {
      padded = protocol.decrypt(shared, newPinEnc);
    } catch {
      fail(Status.PIN_POLICY_VIOLATION);
    }
    try {
      if (padded.length !== 64) fail(Status.PIN_POLICY_VIOLATION);
      let end = padded.indexOf(0);
      if (end === -1) end = 64;
      if (end > 63) fail(Status.PIN_POLICY_VIOLATION);
      for (let i = end; i < 64; i++) if (padded[i] !== 0) fail(Status.PIN_POLICY_VIOLATION);
      const pin = padded.subarray(0, end);
      let codePoints: number;
      try {
        codePoints = [...new TextDecoder('utf-8', { fatal: true }).decode(pin)].length;
      } catch {
        fail(Status.PIN_POLICY_VIOLATION);
      }
      if (codePoints < MIN_PIN_LENGTH) fail(Status.PIN_POLICY_VIOLATION);
      const digest = sha256(pin);
      const result = hex(digest.subarray(0, 16));
      wipe(digest);
      return result;
    } finally {
      wipe(padded);
    }
  }

  private async setPin(protocol: PinUvAuthProtocol, params: CborMap): Promise<void> {
    const param = bytesParam(params.get(0x04), undefined, 32);
    const newPinEnc = bytesParam(params.get(0x05), undefined, 256);
    if (this.current.pinHash !== null) fail(Status.NOT_ALLOWED);
    const shared = this.sharedSecret(protocol, params);
    try {
      if (!protocol.verify(shared, newPinEnc, param)) fail(Status.PIN_AUTH_INVALID);
      const pinHash = this.newPinHash(protocol, shared, newPinEnc);
      await this.save({ ...this.current, pinHash, pinRetries: MAX_PIN_RETRIES });
      this.log('PIN set');
    } finally {
      wipe(shared);
    }
  }

  /**
   * Check `pinHashEnc` against the stored PIN hash (CTAP 2.1 §6.5.5.7.1 steps 3–6): the retry
   * counter goes down (and is saved) before comparing; three misses in one power cycle block
   * PIN entry until the fob is power-cycled; eight in all block the PIN until a reset.
   */
  private async verifyPin(protocol: PinUvAuthProtocol, shared: Uint8Array, pinHashEnc: Uint8Array): Promise<void> {
    const stored = this.current.pinHash;
    if (stored === null) fail(Status.PIN_NOT_SET);
    if (this.current.pinRetries === 0) fail(Status.PIN_BLOCKED);
    if (this.consecutiveFailures >= PIN_ATTEMPTS_PER_POWER_CYCLE) fail(Status.PIN_AUTH_BLOCKED);
    await this.save({ ...this.current, pinRetries: this.current.pinRetries - 1 });
    let candidate: Uint8Array;
    try {
      candidate = protocol.decrypt(shared, pinHashEnc);
    } catch {
      candidate = new Uint8Array(0);
    }
    const expected = fromHex(stored, 'pinHash');
    const ok = equalBytes(candidate.subarray(0, 16), expected) && candidate.length === 16;
    wipe(candidate, expected);
    if (!ok) {
      this.keyAgreement = generateKeyAgreementKey();
      this.consecutiveFailures++;
      this.log(`wrong PIN, ${this.current.pinRetries} retries left`);
      if (this.current.pinRetries === 0) fail(Status.PIN_BLOCKED);
      if (this.consecutiveFailures >= PIN_ATTEMPTS_PER_POWER_CYCLE) fail(Status.PIN_AUTH_BLOCKED);
      fail(Status.PIN_INVALID);
    }
    this.consecutiveFailures = 0;
    await this.save({ ...this.current, pinRetries: MAX_PIN_RETRIES });
  }

  private async changePin(protocol: PinUvAuthProtocol, params: CborMap): Promise<void> {
    const param = bytesParam(params.get(0x04), undefined, 32);
    const newPinEnc = bytesParam(params.get(0x05), undefined, 256);
    const pinHashEnc = bytesParam(params.get(0x06), undefined, 64);
    if (this.current.pinHash === null) fail(Status.PIN_NOT_SET);
    if (this.current.pinRetries === 0) fail(Status.PIN_BLOCKED);
    const shared = this.sharedSecret(protocol, params);
    try {
      if (!protocol.verify(shared, concatBytes(newPinEnc, pinHashEnc), param)) fail(Status.PIN_AUTH_INVALID);
      await this.verifyPin(protocol, shared, pinHashEnc);
      const pinHash = this.newPinHash(protocol, shared, newPinEnc);
      this.clearToken();
      await this.save({ ...this.current, pinHash });
      this.log('PIN changed');
    } finally {
      wipe(shared);
    }
  }

  private async getPinToken(
    protocol: PinUvAuthProtocol,
    params: CborMap,
    permissions: number,
    rpId: string | undefined,
  ): Promise<CborInput> {
    const pinHashEnc = bytesParam(params.get(0x06), undefined, 64);
    if (this.current.pinHash === null) fail(Status.PIN_NOT_SET);
    const shared = this.sharedSecret(protocol, params);
    try {
      await this.verifyPin(protocol, shared, pinHashEnc);
      this.clearToken();
      this.token = { value: randomBytes(32), permissions, rpId };
      this.log('PIN token issued');
      return new Map<CborKey, CborInput>([[0x02, protocol.encrypt(shared, this.token.value)]]);
    } finally {
      wipe(shared);
    }
  }

  // ------------------------------------------------------------ reset

  private async reset(ctx: CborRequestContext): Promise<void> {
    const window = this.options.resetWindowMs ?? 10_000;
    if (this.clock.now() - this.poweredUpAt > window) fail(Status.NOT_ALLOWED);
    await this.presence(ctx, 'reset');
    wipe(this.wrapKey, this.hmacKey);
    await this.save({ ...newVirtualFobState(), aaguid: this.current.aaguid });
    [this.wrapKey, this.hmacKey] = this.deriveKeys();
    this.clearToken();
    this.consecutiveFailures = 0;
    this.pending = undefined;
    this.log('reset');
  }
}

// ------------------------------------------------------------ parameter shapes

function bytesParam(value: CborValue | undefined, exact?: number, max = 1024): Uint8Array {
  if (value === undefined) fail(Status.MISSING_PARAMETER);
  if (!(value instanceof Uint8Array)) fail(Status.CBOR_UNEXPECTED_TYPE);
  if (exact !== undefined && value.length !== exact) fail(Status.INVALID_LENGTH);
  if (value.length > max) fail(Status.INVALID_LENGTH);
  return value;
}

function textParam(value: CborValue | undefined, max: number): string {
  if (value === undefined) fail(Status.MISSING_PARAMETER);
  if (typeof value !== 'string') fail(Status.CBOR_UNEXPECTED_TYPE);
  if (value.length > max) fail(Status.INVALID_LENGTH);
  return value;
}

function optionalText(value: CborValue | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') fail(Status.CBOR_UNEXPECTED_TYPE);
  return value.slice(0, 64);
}

function optionalBool(value: CborValue | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') fail(Status.CBOR_UNEXPECTED_TYPE);
  return value;
}

function mapParam(value: CborValue | undefined): CborMap {
  if (value === undefined) fail(Status.MISSING_PARAMETER);
  if (!(value instanceof Map)) fail(Status.CBOR_UNEXPECTED_TYPE);
  return value;
}

function arrayParam(value: CborValue | undefined): readonly CborValue[] {
  if (value === undefined) fail(Status.MISSING_PARAMETER);
  if (!Array.isArray(value)) fail(Status.CBOR_UNEXPECTED_TYPE);
  return value as readonly CborValue[];
}
