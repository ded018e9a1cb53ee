/**
 * A session with one token: log in with the PIN, find keys by label or id, read public keys, and
 * use private keys that never leave the token (sign, ECDH derive, RSA-OAEP decrypt), plus key
 * generation and PIN management. Operations on one session run one at a time (a PKCS#11 session
 * holds one active operation), in the order they were called.
 *
 * When the token reports that it was removed, or that the session is gone (a re-plug), the
 * session is closed for good and {@link Pkcs11Session.removed} aborts with that error.
 *
 * @module latchkey/pkcs11
 */
import { createHash, type KeyObject } from 'node:crypto';
import { fromHex } from '../../core/bytes.js';
import { LatchkeyError } from '../../core/errors.js';
import { abytes, astring } from '../../core/guards.js';
import {
  defaultSignatureAlgorithm,
  oaepMechanism,
  type Pkcs11DecryptionAlgorithm,
  type Pkcs11SignatureAlgorithm,
  type SignaturePlan,
  signaturePlan,
} from './algorithms.js';
import { CKA, CKK, CKO, CKS, CKU } from './constants.js';
import {
  certificatePublicKey,
  describeKey,
  ecPointOf,
  ecPublicKey,
  KEY_ATTRIBUTES,
  type Pkcs11Key,
  type Pkcs11KeyQuery,
  rsaPublicKey,
  unwrapEcPoint,
} from './keys.js';
import {
  type LibraryState,
  type Pkcs11Limits,
  type Pkcs11Pin,
  type Pkcs11TokenInfo,
  pinFlags,
  pinText,
} from './library.js';
import { CURVES, type NativeMechanism, type Pkcs11Curve, validateMechanism } from './mechanism.js';
import type { NativeAttribute } from './native.js';

/** Errors after which a session can never be used again. */
const FATAL = new Set(['ERR_PKCS11_DEVICE_REMOVED', 'ERR_PKCS11_TOKEN_NOT_PRESENT', 'ERR_PKCS11_SESSION_INVALID']);

/** Key generation: the kind of key. */
export type Pkcs11KeySpec =
  | { readonly type: 'EC'; readonly curve: Pkcs11Curve }
  | { readonly type: 'RSA'; readonly modulusBits: 2048 | 3072 | 4096 };

/** Key generation: how the new key is named and what it may do. */
export interface Pkcs11KeyOptions {
  /** `CKA_ID`, 1 to 64 bytes (or hexadecimal). */
  readonly id: Uint8Array | string;
  readonly label: string;
  /** Allow signing (default true). */
  readonly sign?: boolean;
  /** Allow ECDH (EC keys; default true). */
  readonly derive?: boolean;
  /** Allow decryption and unwrapping (RSA keys; default true). */
  readonly decrypt?: boolean;
  /** Ask for the PIN at every use (`CKA_ALWAYS_AUTHENTICATE`; default false). */
  readonly alwaysAuthenticate?: boolean;
  /** Keep the key on the token (default true); false makes a session key. */
  readonly persistent?: boolean;
}

function keyId(value: Uint8Array | string, label: string): Buffer {
  const bytes = typeof value === 'string' ? fromHex(value, label) : value;
  abytes(bytes, label, { min: 1, max: 255 });
  return Buffer.from(bytes);
}

/**
 * An open session. Get one from `Pkcs11Module.openSession`.
 *
 * @example
 * ```ts
 * import { openPkcs11Module } from 'latchkey/pkcs11';
 * const module = await openPkcs11Module({ path: '/usr/lib/softhsm/libsofthsm2.so' });
 * const session = await module.openSession({ label: 'alice' });
 * await session.login(pin);
 * const key = await session.findKey({ label: 'signing key' });
 * const signature = await session.sign(key, message); // ES256 for a P-256 key
 * await session.close();
 * ```
 */
export class Pkcs11Session {
  /** The token as it was when the session opened. */
  readonly token: Pkcs11TokenInfo;
  /** Aborts (with the error as reason) when the token is removed or the session is lost. */
  readonly removed: AbortSignal;
  /** Whether the session may create and destroy objects. */
  readonly readWrite: boolean;

  readonly #library: LibraryState;
  readonly #limits: Pkcs11Limits;
  readonly #handle: Buffer;
  readonly #slot: Buffer;
  readonly #keys = new WeakMap<Pkcs11Key, Buffer>();
  readonly #signers = new WeakMap<Pkcs11Key, Map<string, { plan: SignaturePlan; mechanism: NativeMechanism }>>();
  readonly #controller = new AbortController();
  readonly #onClose: (session: Pkcs11Session) => void;
  #queue: Promise<unknown> = Promise.resolve();
  #pending = 0;
  #closed = false;
  #mechanisms: ReadonlySet<number> | null | undefined;

  /** @internal */
  constructor(init: {
    library: LibraryState;
    limits: Pkcs11Limits;
    handle: Buffer;
    slot: Buffer;
    token: Pkcs11TokenInfo;
    readWrite: boolean;
    onClose: (session: Pkcs11Session) => void;
  }) {
    this.#library = init.library;
    this.#limits = init.limits;
    this.#handle = init.handle;
    this.#slot = init.slot;
    this.token = init.token;
    this.readWrite = init.readWrite;
    this.removed = this.#controller.signal;
    this.#onClose = init.onClose;
  }

  /** True once the session was closed, by `close()` or by the token going away. */
  get closed(): boolean {
    return this.#closed;
  }

  #assertOpen(): void {
    this.#library.assertOpen();
    if (this.#closed) {
      throw new LatchkeyError(
        'ERR_PKCS11_SESSION_INVALID',
        this.#controller.signal.aborted
          ? 'the session was lost with the token: open a new one'
          : 'the session is closed',
        { slotId: this.token.slotId },
      );
    }
  }

  #fail(error: unknown): never {
    if (error instanceof LatchkeyError && FATAL.has(error.code) && !this.#closed) {
      this.#closed = true;
      this.#onClose(this);
      try {
        this.#library.native.closeSession(this.#handle);
      } catch {
        // Already gone with the token.
      }
      this.#controller.abort(error);
    }
    throw error;
  }

  /** Run one operation after those before it; a token failure that ends the session ends it here. */
  #run<T>(fn: () => T | Promise<T>): Promise<T> {
    const start = (): T | Promise<T> => {
      this.#assertOpen();
      return fn();
    };
    let result: Promise<T>;
    if (this.#pending === 0) {
      // Idle: start now, without waiting for the queue.
      try {
        result = Promise.resolve(start());
      } catch (error) {
        result = Promise.reject(error);
      }
    } else {
      // After the previous operation, whether it succeeded or failed.
      result = this.#queue.then(start, start);
    }
    this.#pending++;
    const settled = result.then(
      (value) => {
        this.#pending--;
        return value;
      },
      (error: unknown) => {
        this.#pending--;
        return this.#fail(error);
      },
    );
    this.#queue = settled;
    return settled;
  }

  #tokenInfoNow(): Pkcs11TokenInfo['pin'] | undefined {
    try {
      const info = this.#library.native.getTokenInfo(this.#slot);
      return { ...pinFlags(info.flags >>> 0), toBeChanged: false };
    } catch {
      return undefined;
    }
  }

  /** After a refused PIN: the same error, told what the token now says about its tries. */
  #pinError(error: unknown): never {
    if (!(error instanceof LatchkeyError)) throw error;
    if (error.code !== 'ERR_PKCS11_PIN_INCORRECT' && error.code !== 'ERR_PKCS11_PIN_LOCKED') throw error;
    const flags = this.#tokenInfoNow();
    const detail = {
      ...error.detail,
      countLow: flags?.countLow ?? false,
      finalTry: flags?.finalTry ?? false,
      locked: error.code === 'ERR_PKCS11_PIN_LOCKED' || (flags?.locked ?? false),
    };
    if (error.code === 'ERR_PKCS11_PIN_INCORRECT' && detail.locked) {
      throw new LatchkeyError(
        'ERR_PKCS11_PIN_LOCKED',
        'the PIN is incorrect and the token is now locked: unblock it with the security officer PIN',
        detail,
        { cause: error },
      );
    }
    const message =
      error.code === 'ERR_PKCS11_PIN_LOCKED'
        ? error.message
        : detail.finalTry
          ? 'the PIN is incorrect: one try is left before the token locks'
          : detail.countLow
            ? 'the PIN is incorrect: few tries are left before the token locks'
            : error.message;
    throw new LatchkeyError(error.code, message, detail, { cause: error });
  }

  /** Whether the token lists `mechanism` (true when it cannot list its mechanisms at all). */
  #supports(mechanism: NativeMechanism): void {
    if (this.#mechanisms === undefined) {
      try {
        this.#mechanisms = new Set(this.#library.native.getMechanismList(this.#slot));
      } catch (error) {
        if (error instanceof LatchkeyError && FATAL.has(error.code)) throw error;
        this.#mechanisms = null;
      }
    }
    if (this.#mechanisms !== null && !this.#mechanisms.has(mechanism.mechanism)) {
      throw new LatchkeyError('ERR_PKCS11_MECHANISM_UNSUPPORTED', 'the token does not support this mechanism', {
        mechanism: mechanism.mechanism,
        slotId: this.token.slotId,
      });
    }
  }

  #handleOf(key: Pkcs11Key): Buffer {
    const handle = this.#keys.get(key);
    if (handle === undefined) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'the key was not found through this session', { field: 'key' });
    }
    return handle;
  }

  #attributes(object: Buffer, types: readonly number[]): (Buffer | undefined)[] {
    const values = this.#library.native.getAttributes(this.#handle, object, types);
    for (const value of values) {
      if (value !== undefined && value.length > this.#limits.maxAttributeBytes) {
        throw new LatchkeyError('ERR_LIMIT_EXCEEDED', 'the token returned an attribute larger than allowed', {
          limit: 'maxAttributeBytes',
          max: this.#limits.maxAttributeBytes,
        });
      }
    }
    return values;
  }

  #describe(object: Buffer): Pkcs11Key {
    const key = describeKey(this.#attributes(object, KEY_ATTRIBUTES));
    this.#keys.set(key, object);
    return key;
  }

  #find(template: NativeAttribute[]): Buffer[] {
    const max = this.#limits.maxObjects;
    const objects = this.#library.native.findObjects(this.#handle, template, max + 1);
    if (objects.length > max) {
      throw new LatchkeyError('ERR_LIMIT_EXCEEDED', `more than ${max} objects match`, { limit: 'maxObjects', max });
    }
    return objects;
  }

  /** Who is logged in on the token: `public` (nobody), `user` or `so`. Also a liveness check. */
  state(): Promise<'public' | 'user' | 'so'> {
    return this.#run(() => {
      const { state } = this.#library.native.getSessionInfo(this.#handle);
      if (state === CKS.RO_USER_FUNCTIONS || state === CKS.RW_USER_FUNCTIONS) return 'user';
      if (state === CKS.RW_SO_FUNCTIONS) return 'so';
      return 'public';
    });
  }

  /**
   * Log in with the user PIN (or, with `as: 'so'`, the security officer PIN). The PIN goes to the
   * token and is not kept. A wrong PIN is `ERR_PKCS11_PIN_INCORRECT` with `detail.countLow` and
   * `detail.finalTry` as the token reports them; the try that locks it, and every one after, is
   * `ERR_PKCS11_PIN_LOCKED`. Logging in twice is `ERR_PKCS11_ALREADY_LOGGED_IN`: a login always
   * means the token checked this PIN.
   */
  login(pin: Pkcs11Pin, options: { readonly as?: 'user' | 'so' } = {}): Promise<void> {
    const so = options.as === 'so';
    return this.#run(() => {
      const text = pinText(pin, so ? 'security officer PIN' : 'PIN', so ? undefined : this.token);
      try {
        this.#library.native.login(this.#handle, so ? CKU.SO : CKU.USER, text);
      } catch (error) {
        // The token's flags count the user PIN's tries, not the security officer's.
        if (so) throw error;
        this.#pinError(error);
      }
    });
  }

  /** Log out (of the whole token, for this application: PKCS#11 logins are per token). */
  logout(): Promise<void> {
    return this.#run(() => this.#library.native.logout(this.#handle));
  }

  /** Change the user PIN (logged in as the user) with C_SetPIN. */
  changePin(oldPin: Pkcs11Pin, newPin: Pkcs11Pin): Promise<void> {
    return this.#run(() => {
      const old = pinText(oldPin, 'PIN', this.token);
      const next = pinText(newPin, 'new PIN', this.token);
      try {
        this.#library.native.setPin(this.#handle, old, next);
      } catch (error) {
        this.#pinError(error);
      }
    });
  }

  /** Set a new user PIN as the security officer (C_InitPIN): this unblocks a locked PIN. */
  initUserPin(newPin: Pkcs11Pin): Promise<void> {
    return this.#run(() => this.#library.native.initPin(this.#handle, pinText(newPin, 'new PIN', this.token)));
  }

  /** Keys (private by default) matching `query`, at most `limits.maxObjects`. */
  findKeys(query: Pkcs11KeyQuery = {}): Promise<Pkcs11Key[]> {
    return this.#run(() => {
      const klass = query.class ?? 'private';
      if (!['private', 'public', 'certificate'].includes(klass)) {
        throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'class must be `private`, `public` or `certificate`', {
          field: 'class',
        });
      }
      const template: NativeAttribute[] = [
        {
          type: CKA.CLASS,
          value: klass === 'private' ? CKO.PRIVATE_KEY : klass === 'public' ? CKO.PUBLIC_KEY : CKO.CERTIFICATE,
        },
      ];
      if (query.id !== undefined) template.push({ type: CKA.ID, value: keyId(query.id, 'id') });
      if (query.label !== undefined) {
        template.push({ type: CKA.LABEL, value: Buffer.from(astring(query.label, 'label', 1, 255), 'utf8') });
      }
      if (query.keyType !== undefined) {
        if (query.keyType !== 'EC' && query.keyType !== 'RSA') {
          throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'keyType must be `EC` or `RSA`', { field: 'keyType' });
        }
        template.push({ type: CKA.KEY_TYPE, value: query.keyType === 'EC' ? CKK.EC : CKK.RSA });
      }
      return this.#find(template).map((object) => this.#describe(object));
    });
  }

  /** The one key matching `query`; `ERR_PKCS11_KEY_NOT_FOUND` when none or several match. */
  async findKey(query: Pkcs11KeyQuery): Promise<Pkcs11Key> {
    if (query.id === undefined && query.label === undefined) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'find a key by `id` or `label`', { field: 'query' });
    }
    const keys = await this.findKeys(query);
    if (keys.length !== 1) {
      throw new LatchkeyError(
        'ERR_PKCS11_KEY_NOT_FOUND',
        keys.length === 0 ? 'no key on the token matches' : 'more than one key on the token matches',
        { count: keys.length },
      );
    }
    return keys[0] as Pkcs11Key;
  }

  /**
   * The public key of `key`: from the key itself when it is public, otherwise from the public key
   * object or the certificate with the same `CKA_ID` (or, for RSA, the private key's modulus).
   * `CKA_EC_POINT` is DER-wrapped by most tokens and bare by some; both are read.
   */
  publicKey(key: Pkcs11Key): Promise<KeyObject> {
    return this.#run(() => {
      const handle = this.#handleOf(key);
      const fromPublicObject = (object: Buffer): KeyObject => {
        if (key.keyType === 'EC') {
          const curve = key.curve;
          if (curve === undefined) {
            throw new LatchkeyError('ERR_PKCS11_KEY_UNSUITABLE', 'the key is on a curve latchkey does not support', {});
          }
          const [point] = this.#attributes(object, [CKA.EC_POINT]);
          return ecPublicKey(unwrapEcPoint(point, curve), curve);
        }
        if (key.keyType === 'RSA') {
          const [modulus, exponent] = this.#attributes(object, [CKA.MODULUS, CKA.PUBLIC_EXPONENT]);
          return rsaPublicKey(modulus, exponent);
        }
        throw new LatchkeyError('ERR_PKCS11_KEY_UNSUITABLE', 'latchkey reads only EC and RSA public keys', {});
      };
      if (key.class === 'public') return fromPublicObject(handle);
      if (key.class === 'certificate') return certificatePublicKey(this.#attributes(handle, [CKA.VALUE])[0]);
      const id = Buffer.from(key.id);
      if (id.length > 0) {
        const publics = this.#find([
          { type: CKA.CLASS, value: CKO.PUBLIC_KEY },
          { type: CKA.ID, value: id },
        ]);
        if (publics.length === 1) return fromPublicObject(publics[0] as Buffer);
        const certificates = this.#find([
          { type: CKA.CLASS, value: CKO.CERTIFICATE },
          { type: CKA.ID, value: id },
        ]);
        if (certificates.length === 1) {
          return certificatePublicKey(this.#attributes(certificates[0] as Buffer, [CKA.VALUE])[0]);
        }
      }
      if (key.keyType === 'RSA') {
        const [modulus, exponent] = this.#attributes(handle, [CKA.MODULUS, CKA.PUBLIC_EXPONENT]);
        if (modulus !== undefined && exponent !== undefined) return rsaPublicKey(modulus, exponent);
      }
      throw new LatchkeyError(
        'ERR_PKCS11_KEY_NOT_FOUND',
        'the token holds no public key or certificate with this key’s id',
        {},
      );
    });
  }

  /**
   * Sign `message` with a private key on the token: hashed in Node, signed with the raw mechanism
   * (`CKM_ECDSA`, `CKM_RSA_PKCS`, `CKM_RSA_PKCS_PSS`). `algorithm` defaults to ES256/384/512 by
   * curve, PS256 for RSA. ECDSA signatures come back as `r || s`. A key that needs the PIN at every
   * use (`CKA_ALWAYS_AUTHENTICATE`) takes it as `pin`.
   */
  sign(
    key: Pkcs11Key,
    message: Uint8Array,
    options: { readonly algorithm?: Pkcs11SignatureAlgorithm; readonly pin?: Pkcs11Pin } = {},
  ): Promise<Uint8Array> {
    return this.#run(() => {
      const handle = this.#handleOf(key);
      if (key.class !== 'private' || !key.usage.sign) {
        throw new LatchkeyError('ERR_PKCS11_KEY_UNSUITABLE', 'the key is not allowed to sign', {});
      }
      abytes(message, 'message', { max: this.#limits.maxDataBytes });
      const { plan, mechanism } = this.#signer(key, options.algorithm ?? defaultSignatureAlgorithm(key));
      const contextPin = this.#contextPin(key, options.pin);
      const digest = createHash(plan.hash).update(message).digest();
      return this.#library.native
        .sign(this.#handle, mechanism, handle, plan.input(digest), plan.length, contextPin)
        .then((signature) => {
          if (signature.length !== plan.length) {
            throw new LatchkeyError('ERR_PKCS11', 'the token returned a signature of the wrong length', {
              expected: plan.length,
              actual: signature.length,
            });
          }
          return new Uint8Array(signature.buffer, signature.byteOffset, signature.length);
        });
    });
  }

  /**
   * The plan and validated mechanism for signing with `key` and `algorithm`, validated on first
   * use and kept with the key (a frozen mechanism with no byte parameters, so reuse is safe).
   */
  #signer(key: Pkcs11Key, algorithm: Pkcs11SignatureAlgorithm): { plan: SignaturePlan; mechanism: NativeMechanism } {
    let byAlgorithm = this.#signers.get(key);
    const known = byAlgorithm?.get(algorithm);
    if (known !== undefined) return known;
    const plan = signaturePlan(algorithm, key);
    const mechanism = validateMechanism(plan.mechanism, key);
    this.#supports(mechanism);
    const prepared = { plan, mechanism };
    if (byAlgorithm === undefined) {
      byAlgorithm = new Map();
      this.#signers.set(key, byAlgorithm);
    }
    byAlgorithm.set(algorithm, prepared);
    return prepared;
  }

  #contextPin(key: Pkcs11Key, pin: Pkcs11Pin | undefined): string | undefined {
    if (!key.alwaysAuthenticate) return undefined;
    if (pin === undefined) {
      throw new LatchkeyError('ERR_PKCS11_NOT_LOGGED_IN', 'this key needs the PIN at every use: pass `pin`', {});
    }
    return pinText(pin, 'PIN', this.token);
  }

  /**
   * ECDH on the token (`CKM_ECDH1_DERIVE`, null KDF): the raw shared secret (the x coordinate)
   * between `key` and the peer's public key (a `KeyObject` or an uncompressed point), for a KDF in
   * Node. The peer point is checked to lie on the key's curve first. The secret is a derived
   * session object, read once and destroyed; the caller owns (and should wipe) the bytes.
   */
  deriveEcdh(key: Pkcs11Key, peer: KeyObject | Uint8Array): Promise<Uint8Array> {
    return this.#run(async () => {
      const handle = this.#handleOf(key);
      if (key.class !== 'private' || key.keyType !== 'EC' || !key.usage.derive || key.curve === undefined) {
        throw new LatchkeyError('ERR_PKCS11_KEY_UNSUITABLE', 'the key is not an EC key allowed to derive', {});
      }
      let point: Uint8Array;
      if (peer instanceof Uint8Array) point = peer;
      else {
        const of = ecPointOf(peer);
        if (of.curve !== key.curve) {
          throw new LatchkeyError('ERR_INVALID_ARGUMENT', `the peer key must be on ${key.curve}`, { field: 'peer' });
        }
        point = of.point;
      }
      const mechanism = validateMechanism({ mechanism: 'ECDH1_DERIVE', kdf: 'null', publicData: point }, key);
      this.#supports(mechanism);
      const size = CURVES[key.curve].fieldBytes;
      const derived = await this.#library.native.deriveKey(this.#handle, mechanism, handle, [
        { type: CKA.CLASS, value: CKO.SECRET_KEY },
        { type: CKA.KEY_TYPE, value: CKK.GENERIC_SECRET },
        { type: CKA.TOKEN, value: false },
        { type: CKA.SENSITIVE, value: false },
        { type: CKA.EXTRACTABLE, value: true },
        { type: CKA.VALUE_LEN, value: size },
      ]);
      try {
        const [value] = this.#attributes(derived, [CKA.VALUE]);
        if (value === undefined || value.length !== size) {
          value?.fill(0);
          throw new LatchkeyError('ERR_PKCS11', 'the token returned a shared secret of the wrong length', {
            expected: size,
          });
        }
        return new Uint8Array(value.buffer, value.byteOffset, value.length);
      } finally {
        try {
          this.#library.native.destroyObject(this.#handle, derived);
        } catch {
          // A session object disappears with the session anyway.
        }
      }
    });
  }

  /**
   * RSA-OAEP decryption on the token (to unwrap a data key). `RSA-OAEP` is SHA-1 (SoftHSM 2.6 and
   * some cards support only that), `RSA-OAEP-256` and up SHA-2. The ciphertext must be exactly as
   * long as the modulus.
   */
  decrypt(
    key: Pkcs11Key,
    ciphertext: Uint8Array,
    options: { readonly algorithm: Pkcs11DecryptionAlgorithm; readonly label?: Uint8Array; readonly pin?: Pkcs11Pin },
  ): Promise<Uint8Array> {
    return this.#run(async () => {
      const handle = this.#handleOf(key);
      if (key.class !== 'private' || key.keyType !== 'RSA' || !(key.usage.decrypt || key.usage.unwrap)) {
        throw new LatchkeyError('ERR_PKCS11_KEY_UNSUITABLE', 'the key is not an RSA key allowed to decrypt', {});
      }
      const mechanism = validateMechanism(oaepMechanism(options?.algorithm, options?.label), key);
      const length = Math.ceil((key.modulusBits as number) / 8);
      abytes(ciphertext, 'ciphertext', length);
      this.#supports(mechanism);
      const contextPin = this.#contextPin(key, options.pin);
      const out = await this.#library.native.decrypt(
        this.#handle,
        mechanism,
        handle,
        Buffer.from(ciphertext),
        length,
        contextPin,
      );
      return new Uint8Array(out.buffer, out.byteOffset, out.length);
    });
  }

  /**
   * Generate a key pair on the token (needs a read-write session and a login). The private key is
   * sensitive and not extractable, so it never leaves the token.
   */
  generateKeyPair(
    spec: Pkcs11KeySpec,
    options: Pkcs11KeyOptions,
  ): Promise<{ readonly privateKey: Pkcs11Key; readonly publicKey: Pkcs11Key }> {
    return this.#run(async () => {
      if (!this.readWrite) {
        throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'open the session with `readWrite: true` to create keys', {
          field: 'readWrite',
        });
      }
      const id = keyId(options.id, 'id');
      const label = Buffer.from(astring(options.label, 'label', 1, 255), 'utf8');
      const persistent = options.persistent !== false;
      const sign = options.sign !== false;
      const common: NativeAttribute[] = [
        { type: CKA.TOKEN, value: persistent },
        { type: CKA.ID, value: id },
        { type: CKA.LABEL, value: label },
      ];
      const publicTemplate: NativeAttribute[] = [
        ...common,
        { type: CKA.PRIVATE, value: false },
        { type: CKA.VERIFY, value: sign },
      ];
      const privateTemplate: NativeAttribute[] = [
        ...common,
        { type: CKA.PRIVATE, value: true },
        { type: CKA.SENSITIVE, value: true },
        { type: CKA.EXTRACTABLE, value: false },
        { type: CKA.SIGN, value: sign },
      ];
      if (options.alwaysAuthenticate === true) privateTemplate.push({ type: CKA.ALWAYS_AUTHENTICATE, value: true });
      let mechanism: NativeMechanism;
      if (spec?.type === 'EC') {
        if (!Object.hasOwn(CURVES, spec.curve)) {
          throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'curve must be `P-256`, `P-384` or `P-521`', {
            field: 'curve',
          });
        }
        mechanism = validateMechanism({ mechanism: 'EC_KEY_PAIR_GEN' }, { keyType: 'EC', curve: spec.curve });
        publicTemplate.push({ type: CKA.EC_PARAMS, value: Buffer.from(CURVES[spec.curve].oid, 'hex') });
        privateTemplate.push({ type: CKA.DERIVE, value: options.derive !== false });
      } else if (spec?.type === 'RSA') {
        if (![2048, 3072, 4096].includes(spec.modulusBits)) {
          throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'modulusBits must be 2048, 3072 or 4096', {
            field: 'modulusBits',
          });
        }
        mechanism = validateMechanism({ mechanism: 'RSA_PKCS_KEY_PAIR_GEN' }, { keyType: 'RSA' });
        const decrypt = options.decrypt !== false;
        publicTemplate.push(
          { type: CKA.MODULUS_BITS, value: spec.modulusBits },
          { type: CKA.PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
          { type: CKA.ENCRYPT, value: decrypt },
        );
        privateTemplate.push({ type: CKA.DECRYPT, value: decrypt }, { type: CKA.UNWRAP, value: decrypt });
      } else {
        throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'type must be `EC` or `RSA`', { field: 'type' });
      }
      this.#supports(mechanism);
      const pair = await this.#library.native.generateKeyPair(this.#handle, mechanism, publicTemplate, privateTemplate);
      return Object.freeze({ privateKey: this.#describe(pair.privateKey), publicKey: this.#describe(pair.publicKey) });
    });
  }

  /** Destroy a key (or certificate) found through this session (needs a read-write session). */
  destroy(key: Pkcs11Key): Promise<void> {
    return this.#run(() => {
      const handle = this.#handleOf(key);
      this.#library.native.destroyObject(this.#handle, handle);
      this.#keys.delete(key);
    });
  }

  /** Close the session (idempotent). A login stays until the last session on the token closes. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#queue.catch(() => undefined);
    if (this.#closed) return;
    this.#closed = true;
    this.#onClose(this);
    if (this.#library.finalized) return;
    try {
      this.#library.native.closeSession(this.#handle);
    } catch {
      // A session whose token is gone is closed already.
    }
  }
}
