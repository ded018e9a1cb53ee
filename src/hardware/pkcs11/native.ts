/**
 * The pkcs11js adapter. This is the only file that imports `pkcs11js` (an optional peer
 * dependency with a native addon), and only when a module is opened; a missing package or addon
 * gives `ERR_MISSING_DEPENDENCY` naming it. Everything above talks to {@link NativeLibrary}: a
 * small typed surface whose every failure is a `LatchkeyError` (each CKR_* through `ckrError`).
 *
 * `C_Initialize` is always called with `CKF_OS_LOCKING_OK`: pkcs11js runs its asynchronous calls
 * (sign, decrypt, derive, generate) on libuv's thread pool, and without OS locking a module may
 * crash the process. Mechanisms reach this file only as a {@link NativeMechanism}, which only
 * `validateMechanism` makes. Handles are Buffers holding a CK_ULONG in native byte order.
 * Internal: not exported from `latchkey/pkcs11`.
 *
 * @module latchkey/pkcs11
 */
import { LatchkeyError } from '../../core/errors.js';
import { ckrError } from './ckr.js';
import { CKF } from './constants.js';
import type { NativeMechanism } from './mechanism.js';

/** A template attribute in pkcs11js's form. */
export interface NativeAttribute {
  readonly type: number;
  readonly value?: boolean | number | Buffer;
}

interface Version {
  major: number;
  minor: number;
}

/** C_GetInfo. */
interface NativeModuleInfo {
  cryptokiVersion: Version;
  manufacturerID: string;
  libraryDescription: string;
  libraryVersion: Version;
}

/** C_GetSlotInfo. */
interface NativeSlotInfo {
  slotDescription: string;
  manufacturerID: string;
  flags: number;
}

/** C_GetTokenInfo (the fields latchkey reads). */
export interface NativeTokenInfo {
  label: string;
  manufacturerID: string;
  model: string;
  serialNumber: string;
  flags: number;
  maxPinLen: number;
  minPinLen: number;
}

/** C_GetSessionInfo. */
interface NativeSessionInfo {
  state: number;
  flags: number;
}

/** The part of pkcs11js's `PKCS11` class latchkey calls. */
interface Pkcs11Js {
  load(path: string): void;
  close(): void;
  C_Initialize(options?: { flags?: number }): void;
  C_Finalize(): void;
  C_GetInfo(): NativeModuleInfo;
  C_GetSlotList(tokenPresent?: boolean): Buffer[];
  C_GetSlotInfo(slot: Buffer): NativeSlotInfo;
  C_GetTokenInfo(slot: Buffer): NativeTokenInfo;
  C_GetMechanismList(slot: Buffer): number[];
  C_WaitForSlotEvent(flags: number): Buffer | null;
  C_OpenSession(slot: Buffer, flags: number): Buffer;
  C_CloseSession(session: Buffer): void;
  C_GetSessionInfo(session: Buffer): NativeSessionInfo;
  C_Login(session: Buffer, userType: number, pin?: string): void;
  C_Logout(session: Buffer): void;
  C_InitPIN(session: Buffer, pin?: string): void;
  C_SetPIN(session: Buffer, oldPin: string, newPin: string): void;
  C_FindObjectsInit(session: Buffer, template: NativeAttribute[]): void;
  C_FindObjects(session: Buffer, max: number): Buffer[];
  C_FindObjectsFinal(session: Buffer): void;
  C_GetAttributeValue(
    session: Buffer,
    object: Buffer,
    template: { type: number }[],
  ): { type: number; value?: Buffer }[];
  C_DestroyObject(session: Buffer, object: Buffer): void;
  C_SignInit(session: Buffer, mechanism: NativeMechanism, key: Buffer): void;
  C_SignAsync(session: Buffer, data: Buffer, out: Buffer): Promise<Buffer>;
  C_DecryptInit(session: Buffer, mechanism: NativeMechanism, key: Buffer): void;
  C_DecryptAsync(session: Buffer, data: Buffer, out: Buffer): Promise<Buffer>;
  C_DeriveKeyAsync(
    session: Buffer,
    mechanism: NativeMechanism,
    key: Buffer,
    template: NativeAttribute[],
  ): Promise<Buffer>;
  C_GenerateKeyPairAsync(
    session: Buffer,
    mechanism: NativeMechanism,
    publicTemplate: NativeAttribute[],
    privateTemplate: NativeAttribute[],
  ): Promise<{ publicKey: Buffer; privateKey: Buffer }>;
}

interface Pkcs11JsBinding {
  PKCS11: new () => Pkcs11Js;
}

const CKR_ATTRIBUTE_SENSITIVE = 0x11;
const CKR_ATTRIBUTE_TYPE_INVALID = 0x12;
const CKR_NO_EVENT = 0x8;
const CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x191;
const CKU_CONTEXT_SPECIFIC = 2;

let loading: Promise<Pkcs11JsBinding> | undefined;

/** Import pkcs11js on first use; its addon loads with it. */
function pkcs11js(): Promise<Pkcs11JsBinding> {
  loading ??= import('pkcs11js').then(
    (module) => ((module as { default?: unknown }).default ?? module) as Pkcs11JsBinding,
    (cause: unknown) => {
      loading = undefined;
      const addon = (cause as { code?: unknown } | null)?.code === 'ERR_DLOPEN_FAILED';
      throw new LatchkeyError(
        'ERR_MISSING_DEPENDENCY',
        addon
          ? 'the `pkcs11js` native addon could not be loaded: rebuild it (npm rebuild pkcs11js)'
          : 'talking to smart cards and PKCS#11 tokens needs the `pkcs11js` package: npm install pkcs11js',
        { package: 'pkcs11js' },
        { cause },
      );
    },
  );
  return loading;
}

/** The CKR value of a pkcs11js error, or undefined for any other error. */
function ckrOf(error: unknown): number | undefined {
  const e = error as { name?: unknown; code?: unknown } | null;
  return e?.name === 'Pkcs11Error' && typeof e.code === 'number' ? e.code : undefined;
}

/** Turn whatever pkcs11js threw into a `LatchkeyError`. */
function nativeError(error: unknown, operation: string): LatchkeyError {
  if (error instanceof LatchkeyError) return error;
  const rv = ckrOf(error);
  if (rv !== undefined) return ckrError(rv, operation, {}, { cause: error });
  if (error instanceof TypeError) {
    // latchkey validates every argument first: this is a latchkey bug.
    return new LatchkeyError(
      'ERR_INTERNAL',
      'pkcs11js refused the arguments latchkey built',
      { operation },
      { cause: error },
    );
  }
  return new LatchkeyError('ERR_PKCS11', 'the PKCS#11 module failed', { operation }, { cause: error });
}

function call<T>(operation: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw nativeError(error, operation);
  }
}

function callAsync<T>(operation: string, fn: () => Promise<T>): Promise<T> {
  let promise: Promise<T>;
  try {
    promise = fn();
  } catch (error) {
    return Promise.reject(nativeError(error, operation));
  }
  return promise.catch((error: unknown) => {
    throw nativeError(error, operation);
  });
}

/** Start an operation (its *Init and an optional context-specific login), then finish it off the main thread. */
function operation<T>(
  init: () => void,
  initName: string,
  login: (() => void) | undefined,
  finish: () => Promise<T>,
  finishName: string,
): Promise<T> {
  try {
    init();
  } catch (error) {
    return Promise.reject(nativeError(error, initName));
  }
  if (login !== undefined) {
    try {
      login();
    } catch (error) {
      // The operation is still active (C_*Init succeeded): finish it once, unauthenticated, so
      // that it ends (a failing C_Sign/C_Decrypt terminates it) and the session stays usable.
      const failed = nativeError(error, 'C_Login');
      return callAsync(finishName, finish).then(
        () => Promise.reject(failed),
        () => Promise.reject(failed),
      );
    }
  }
  return callAsync(finishName, finish);
}

/** A decimal string for a handle (slot ids are shown and compared as strings). */
export function handleId(handle: Buffer): string {
  if (handle.length === 8) return handle.readBigUInt64LE(0).toString();
  if (handle.length === 4) return String(handle.readUInt32LE(0));
  throw new LatchkeyError('ERR_INTERNAL', 'pkcs11js returned a handle of an unexpected size', { size: handle.length });
}

/** One loaded and initialised PKCS#11 module. */
export interface NativeLibrary {
  /** False when another part of the process had initialised the module: never finalise it. */
  readonly ownsInitialization: boolean;
  getInfo(): NativeModuleInfo;
  getSlotList(tokenPresent: boolean): Buffer[];
  getSlotInfo(slot: Buffer): NativeSlotInfo;
  getTokenInfo(slot: Buffer): NativeTokenInfo;
  getMechanismList(slot: Buffer): number[];
  /** C_WaitForSlotEvent with CKF_DONT_BLOCK: the slot of the next event, or null for none. */
  pollSlotEvent(): Buffer | null;
  openSession(slot: Buffer, readWrite: boolean): Buffer;
  closeSession(session: Buffer): void;
  getSessionInfo(session: Buffer): NativeSessionInfo;
  login(session: Buffer, userType: number, pin: string): void;
  logout(session: Buffer): void;
  initPin(session: Buffer, pin: string): void;
  setPin(session: Buffer, oldPin: string, newPin: string): void;
  /** C_FindObjectsInit, C_FindObjects (at most `max`) and, always, C_FindObjectsFinal. */
  findObjects(session: Buffer, template: readonly NativeAttribute[], max: number): Buffer[];
  /** Attribute values; `undefined` for one the object lacks or keeps sensitive. */
  getAttributes(session: Buffer, object: Buffer, types: readonly number[]): (Buffer | undefined)[];
  destroyObject(session: Buffer, object: Buffer): void;
  /** C_SignInit, a context-specific login when `contextPin` is given, and C_Sign off the main thread. */
  sign(
    session: Buffer,
    mechanism: NativeMechanism,
    key: Buffer,
    data: Buffer,
    outLength: number,
    contextPin?: string,
  ): Promise<Buffer>;
  decrypt(
    session: Buffer,
    mechanism: NativeMechanism,
    key: Buffer,
    data: Buffer,
    outLength: number,
    contextPin?: string,
  ): Promise<Buffer>;
  deriveKey(
    session: Buffer,
    mechanism: NativeMechanism,
    key: Buffer,
    template: readonly NativeAttribute[],
  ): Promise<Buffer>;
  generateKeyPair(
    session: Buffer,
    mechanism: NativeMechanism,
    publicTemplate: readonly NativeAttribute[],
    privateTemplate: readonly NativeAttribute[],
  ): Promise<{ publicKey: Buffer; privateKey: Buffer }>;
  /** C_Finalize (when this library initialised the module) and unload. */
  finalize(): void;
}

/**
 * Load the PKCS#11 module at `path` (already checked by the caller) and initialise it with OS
 * locking. A module another part of the process has initialised is used as it is.
 */
export async function loadNativeLibrary(path: string): Promise<NativeLibrary> {
  const binding = await pkcs11js();
  const p11 = new binding.PKCS11();
  try {
    p11.load(path);
  } catch (cause) {
    throw new LatchkeyError(
      'ERR_PKCS11_MODULE_LOAD',
      `\`${path}\` could not be loaded as a PKCS#11 module`,
      { path },
      { cause },
    );
  }
  let ownsInitialization = true;
  try {
    p11.C_Initialize({ flags: CKF.OS_LOCKING_OK });
  } catch (error) {
    if (ckrOf(error) === CKR_CRYPTOKI_ALREADY_INITIALIZED) ownsInitialization = false;
    else {
      p11.close();
      throw nativeError(error, 'C_Initialize');
    }
  }

  const getAttribute = (session: Buffer, object: Buffer, type: number): Buffer | undefined => {
    try {
      return p11.C_GetAttributeValue(session, object, [{ type }])[0]?.value;
    } catch (error) {
      const rv = ckrOf(error);
      if (rv === CKR_ATTRIBUTE_TYPE_INVALID || rv === CKR_ATTRIBUTE_SENSITIVE) return undefined;
      throw nativeError(error, 'C_GetAttributeValue');
    }
  };

  return {
    ownsInitialization,
    getInfo: () => call('C_GetInfo', () => p11.C_GetInfo()),
    getSlotList: (tokenPresent) => call('C_GetSlotList', () => p11.C_GetSlotList(tokenPresent)),
    getSlotInfo: (slot) => call('C_GetSlotInfo', () => p11.C_GetSlotInfo(slot)),
    getTokenInfo: (slot) => call('C_GetTokenInfo', () => p11.C_GetTokenInfo(slot)),
    getMechanismList: (slot) => call('C_GetMechanismList', () => p11.C_GetMechanismList(slot)),
    pollSlotEvent() {
      try {
        return p11.C_WaitForSlotEvent(CKF.DONT_BLOCK);
      } catch (error) {
        if (ckrOf(error) === CKR_NO_EVENT) return null;
        throw nativeError(error, 'C_WaitForSlotEvent');
      }
    },
    openSession: (slot, readWrite) =>
      call('C_OpenSession', () => p11.C_OpenSession(slot, CKF.SERIAL_SESSION | (readWrite ? CKF.RW_SESSION : 0))),
    closeSession: (session) => call('C_CloseSession', () => p11.C_CloseSession(session)),
    getSessionInfo: (session) => call('C_GetSessionInfo', () => p11.C_GetSessionInfo(session)),
    login: (session, userType, pin) => call('C_Login', () => p11.C_Login(session, userType, pin)),
    logout: (session) => call('C_Logout', () => p11.C_Logout(session)),
    initPin: (session, pin) => call('C_InitPIN', () => p11.C_InitPIN(session, pin)),
    setPin: (session, oldPin, newPin) => call('C_SetPIN', () => p11.C_SetPIN(session, oldPin, newPin)),
    findObjects(session, template, max) {
      call('C_FindObjectsInit', () =>
        p11.C_FindObjectsInit(
          session,
          template.map((a) => ({ ...a })),
        ),
      );
      try {
        return call('C_FindObjects', () => p11.C_FindObjects(session, max));
      } finally {
        try {
          p11.C_FindObjectsFinal(session);
        } catch {
          // The search is over either way; a removed token reports itself on the next call.
        }
      }
    },
    getAttributes(session, object, types) {
      try {
        const result = p11.C_GetAttributeValue(
          session,
          object,
          types.map((type) => ({ type })),
        );
        return types.map((_, index) => result[index]?.value);
      } catch (error) {
        const rv = ckrOf(error);
        if (rv !== CKR_ATTRIBUTE_TYPE_INVALID && rv !== CKR_ATTRIBUTE_SENSITIVE) {
          throw nativeError(error, 'C_GetAttributeValue');
        }
        // One of them is missing or sensitive: ask one at a time.
        return types.map((type) => getAttribute(session, object, type));
      }
    },
    destroyObject: (session, object) => call('C_DestroyObject', () => p11.C_DestroyObject(session, object)),
    sign: (session, mechanism, key, data, outLength, contextPin) =>
      operation(
        () => p11.C_SignInit(session, mechanism, key),
        'C_SignInit',
        contextPin === undefined ? undefined : () => p11.C_Login(session, CKU_CONTEXT_SPECIFIC, contextPin),
        () => p11.C_SignAsync(session, data, Buffer.alloc(outLength)),
        'C_Sign',
      ),
    decrypt: (session, mechanism, key, data, outLength, contextPin) =>
      operation(
        () => p11.C_DecryptInit(session, mechanism, key),
        'C_DecryptInit',
        contextPin === undefined ? undefined : () => p11.C_Login(session, CKU_CONTEXT_SPECIFIC, contextPin),
        () => p11.C_DecryptAsync(session, data, Buffer.alloc(outLength)),
        'C_Decrypt',
      ),
    deriveKey: (session, mechanism, key, template) =>
      callAsync('C_DeriveKey', () =>
        p11.C_DeriveKeyAsync(
          session,
          mechanism,
          key,
          template.map((a) => ({ ...a })),
        ),
      ),
    generateKeyPair: (session, mechanism, publicTemplate, privateTemplate) =>
      callAsync('C_GenerateKeyPair', () =>
        p11.C_GenerateKeyPairAsync(
          session,
          mechanism,
          publicTemplate.map((a) => ({ ...a })),
          privateTemplate.map((a) => ({ ...a })),
        ),
      ),
    finalize() {
      try {
        if (ownsInitialization) p11.C_Finalize();
      } catch {
        // Finalising a module whose token vanished may fail; it is unloaded either way.
      } finally {
        p11.close();
      }
    },
  };
}
