/**
 * What a module and its sessions share: the loaded library, its limits, how token information
 * is read, and how a PIN is checked and handed to the token.
 *
 * @module latchkey/pkcs11
 */
import { fromUtf8 } from '../../core/bytes.js';
import { LatchkeyError } from '../../core/errors.js';
import { aint } from '../../core/guards.js';
import { ckrError } from './ckr.js';
import { CKF, unavailable } from './constants.js';
import { handleId, type NativeLibrary, type NativeTokenInfo } from './native.js';

/** Bounds on what latchkey reads from, and sends to, a token. */
export interface Pkcs11Limits {
  /** Most objects one search returns (more is `ERR_LIMIT_EXCEEDED`). */
  readonly maxObjects: number;
  /** Most slots a module may report. */
  readonly maxSlots: number;
  /** Largest attribute value read (a certificate, a modulus). */
  readonly maxAttributeBytes: number;
  /** Largest message `sign` hashes. */
  readonly maxDataBytes: number;
}

/** The defaults. */
export const DEFAULT_PKCS11_LIMITS: Pkcs11Limits = Object.freeze({
  maxObjects: 64,
  maxSlots: 64,
  maxAttributeBytes: 64 * 1024,
  maxDataBytes: 1 << 20,
});

/** Merge overrides into the defaults within hard bounds. */
export function resolvePkcs11Limits(overrides: Partial<Pkcs11Limits> = {}): Pkcs11Limits {
  const out = { ...DEFAULT_PKCS11_LIMITS };
  const bounds: Record<keyof Pkcs11Limits, readonly [number, number]> = {
    maxObjects: [1, 4096],
    maxSlots: [1, 1024],
    maxAttributeBytes: [1024, 1 << 20],
    maxDataBytes: [1, 64 << 20],
  };
  for (const [key, value] of Object.entries(overrides)) {
    const range = bounds[key as keyof Pkcs11Limits];
    if (range === undefined) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', `unknown limit \`${key}\``, { field: key });
    }
    if (value === undefined) continue;
    out[key as keyof Pkcs11Limits] = aint(value, `limits.${key}`, range[0], range[1]);
  }
  return Object.freeze(out);
}

/** A token in a slot, as C_GetSlotInfo and C_GetTokenInfo describe it (strings trimmed). */
export interface Pkcs11TokenInfo {
  /** The slot's id, in decimal. */
  readonly slotId: string;
  readonly slotDescription: string;
  readonly label: string;
  readonly serial: string;
  readonly manufacturer: string;
  readonly model: string;
  /** The raw CKF_* token flags. */
  readonly flags: number;
  readonly initialized: boolean;
  readonly loginRequired: boolean;
  readonly userPinInitialized: boolean;
  /** A PIN pad or other path outside the computer. */
  readonly protectedAuthenticationPath: boolean;
  readonly writeProtected: boolean;
  /** The user PIN's state, from the token's flags. */
  readonly pin: {
    readonly countLow: boolean;
    readonly finalTry: boolean;
    readonly locked: boolean;
    readonly toBeChanged: boolean;
    readonly minLength?: number;
    readonly maxLength?: number;
  };
}

/** A slot (a reader, or a virtual slot), with or without a token. */
export interface Pkcs11SlotInfo {
  readonly id: string;
  readonly description: string;
  readonly manufacturer: string;
  readonly tokenPresent: boolean;
  readonly removable: boolean;
  readonly hardware: boolean;
}

/** Trim the blank (and NUL) padding of a PKCS#11 fixed-length string. */
export function trimPadded(text: string): string {
  let end = text.length;
  while (end > 0 && (text[end - 1] === ' ' || text[end - 1] === '\u0000' || text[end - 1] === '\t')) end--;
  return text.slice(0, end);
}

/** The PIN flags of token flags. */
export function pinFlags(flags: number): { countLow: boolean; finalTry: boolean; locked: boolean } {
  return {
    countLow: (flags & CKF.USER_PIN_COUNT_LOW) !== 0,
    finalTry: (flags & CKF.USER_PIN_FINAL_TRY) !== 0,
    locked: (flags & CKF.USER_PIN_LOCKED) !== 0,
  };
}

/** Describe a token from C_GetTokenInfo. */
export function describeToken(slotId: string, slotDescription: string, info: NativeTokenInfo): Pkcs11TokenInfo {
  const flags = info.flags >>> 0;
  const sane = (n: number): boolean => Number.isSafeInteger(n) && n > 0 && n <= 1024 && !unavailable(n);
  const min = sane(info.minPinLen) ? info.minPinLen : undefined;
  const max = sane(info.maxPinLen) && (min === undefined || info.maxPinLen >= min) ? info.maxPinLen : undefined;
  return Object.freeze({
    slotId,
    slotDescription: trimPadded(slotDescription),
    label: trimPadded(info.label),
    serial: trimPadded(info.serialNumber),
    manufacturer: trimPadded(info.manufacturerID),
    model: trimPadded(info.model),
    flags,
    initialized: (flags & CKF.TOKEN_INITIALIZED) !== 0,
    loginRequired: (flags & CKF.LOGIN_REQUIRED) !== 0,
    userPinInitialized: (flags & CKF.USER_PIN_INITIALIZED) !== 0,
    protectedAuthenticationPath: (flags & CKF.PROTECTED_AUTHENTICATION_PATH) !== 0,
    writeProtected: (flags & CKF.WRITE_PROTECTED) !== 0,
    pin: Object.freeze({
      ...pinFlags(flags),
      toBeChanged: (flags & CKF.USER_PIN_TO_BE_CHANGED) !== 0,
      ...(min === undefined ? {} : { minLength: min }),
      ...(max === undefined ? {} : { maxLength: max }),
    }),
  });
}

/** A PIN as callers give it: text, or UTF-8 bytes (which latchkey never keeps or wipes). */
export type Pkcs11Pin = string | Uint8Array;

/**
 * The PIN as the string pkcs11js needs (it takes no bytes), after checking its type and length
 * (and, when the token says, its bounds, so that a PIN of the wrong length never costs a try).
 * JavaScript strings cannot be wiped: the string lives only for the call that uses it.
 */
export function pinText(pin: unknown, label: string, token?: Pick<Pkcs11TokenInfo, 'pin'>): string {
  let text: string;
  if (typeof pin === 'string') text = pin;
  else if (pin instanceof Uint8Array) {
    if (pin.length === 0 || pin.length > 1024) {
      throw new LatchkeyError('ERR_PKCS11_PIN_INVALID', `the ${label} has an impossible length`, { field: label });
    }
    text = fromUtf8(pin, label);
  } else {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', `the ${label} must be a string or a Uint8Array`, { field: label });
  }
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes === 0 || bytes > 255 || text.includes('\u0000')) {
    throw new LatchkeyError('ERR_PKCS11_PIN_INVALID', `the ${label} must be 1 to 255 bytes without NUL`, {
      field: label,
    });
  }
  const { minLength, maxLength } = token?.pin ?? {};
  if ((minLength !== undefined && bytes < minLength) || (maxLength !== undefined && bytes > maxLength)) {
    throw new LatchkeyError(
      'ERR_PKCS11_PIN_INVALID',
      `the token takes a ${label} of ${minLength ?? 1} to ${maxLength ?? 255} bytes`,
      { field: label, minLength: minLength ?? null, maxLength: maxLength ?? null },
    );
  }
  return text;
}

/** The loaded library, shared by every module handle on the same path. */
export class LibraryState {
  refs = 0;
  finalized = false;
  readonly #slotHandles = new Map<string, Buffer>();

  constructor(
    readonly path: string,
    readonly native: NativeLibrary,
  ) {}

  /** Throw `ERR_PKCS11_MODULE_CLOSED` once the library is finalised. */
  assertOpen(): void {
    if (this.finalized) {
      throw new LatchkeyError('ERR_PKCS11_MODULE_CLOSED', 'the PKCS#11 module was closed', { path: this.path });
    }
  }

  /** Slot handles from C_GetSlotList, remembered by id. */
  listSlots(tokenPresent: boolean, limits: Pkcs11Limits): { id: string; handle: Buffer }[] {
    this.assertOpen();
    const handles = this.native.getSlotList(tokenPresent);
    if (handles.length > limits.maxSlots) {
      throw new LatchkeyError('ERR_LIMIT_EXCEEDED', 'the PKCS#11 module reports too many slots', {
        limit: 'maxSlots',
        max: limits.maxSlots,
      });
    }
    return handles.map((handle) => {
      const id = handleId(handle);
      this.#slotHandles.set(id, handle);
      return { id, handle };
    });
  }

  /** The handle of a slot seen before (or found by listing again). */
  slotHandle(id: string, limits: Pkcs11Limits): Buffer {
    const known = this.#slotHandles.get(id);
    if (known !== undefined) return known;
    const found = this.listSlots(false, limits).find((slot) => slot.id === id);
    if (found === undefined) {
      throw ckrError(0x3, 'C_GetSlotList');
    }
    return found.handle;
  }
}
