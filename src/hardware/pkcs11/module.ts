/**
 * A PKCS#11 module (SoftHSM2, OpenSC, ykcs11, a vendor's smart-card library) loaded by path: its
 * slots and tokens, finding a token by label or serial, opening sessions, and slot events.
 *
 * A module is loaded and initialised once per process and path, however many times it is opened;
 * the last `close()` finalises it. A module that another part of the process already initialised
 * (`CKR_CRYPTOKI_ALREADY_INITIALIZED`) is used as it is and never finalised by latchkey.
 *
 * @module latchkey/pkcs11
 */
import { realpathSync, statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { LatchkeyError } from '../../core/errors.js';
import { astring } from '../../core/guards.js';
import { CKF } from './constants.js';
import {
  describeToken,
  LibraryState,
  type Pkcs11Limits,
  type Pkcs11Pin,
  type Pkcs11SlotInfo,
  type Pkcs11TokenInfo,
  resolvePkcs11Limits,
  trimPadded,
} from './library.js';
import { handleId, loadNativeLibrary } from './native.js';
import { Pkcs11Session } from './session.js';

/** Choose a token by label, serial or slot (any combination must all match). */
export interface Pkcs11TokenSelector {
  readonly label?: string;
  readonly serial?: string;
  readonly slotId?: string;
}

/** C_GetInfo, trimmed. */
export interface Pkcs11ModuleInfo {
  readonly cryptokiVersion: string;
  readonly manufacturer: string;
  readonly description: string;
  readonly libraryVersion: string;
}

/** Options of {@link openPkcs11Module}. */
export interface Pkcs11ModuleOptions {
  /** Absolute path of the module's shared library. */
  readonly path: string;
  readonly limits?: Partial<Pkcs11Limits>;
}

const libraries = new Map<string, Promise<LibraryState>>();

function checkPath(path: unknown): string {
  astring(path, 'path', 1, 4096);
  const text = path as string;
  if (!isAbsolute(text)) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'the module path must be absolute', { field: 'path' });
  }
  try {
    if (!statSync(text).isFile()) throw new Error('not a file');
    return realpathSync(text);
  } catch (cause) {
    throw new LatchkeyError('ERR_PKCS11_MODULE_LOAD', `no PKCS#11 module at \`${text}\``, { path: text }, { cause });
  }
}

/**
 * Load (once per process) and initialise the PKCS#11 module at `path`, with OS locking.
 * `ERR_MISSING_DEPENDENCY` when pkcs11js is not installed; `ERR_PKCS11_MODULE_LOAD` when the file
 * is missing or is not a PKCS#11 module.
 *
 * @example
 * ```ts
 * import { openPkcs11Module } from 'latchkey/pkcs11';
 * const module = await openPkcs11Module({ path: '/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so' });
 * for (const token of await module.tokens()) console.log(token.label, token.serial);
 * await module.close();
 * ```
 */
export async function openPkcs11Module(options: Pkcs11ModuleOptions | string): Promise<Pkcs11Module> {
  const { path, limits } = typeof options === 'string' ? { path: options, limits: undefined } : options;
  const resolved = resolvePkcs11Limits(limits);
  const real = checkPath(path);
  for (;;) {
    let pending = libraries.get(real);
    if (pending === undefined) {
      pending = loadNativeLibrary(real).then((native) => new LibraryState(real, native));
      libraries.set(real, pending);
      pending.catch(() => libraries.delete(real));
    }
    const library = await pending;
    // the last other handle may have closed (and finalised the module) while this one waited
    if (library.finalized) {
      if (libraries.get(real) === pending) libraries.delete(real);
      continue;
    }
    library.refs++;
    return new Pkcs11Module(library, resolved);
  }
}

function matches(token: Pkcs11TokenInfo, selector: Pkcs11TokenSelector): boolean {
  return (
    (selector.label === undefined || token.label === selector.label) &&
    (selector.serial === undefined || token.serial === selector.serial) &&
    (selector.slotId === undefined || token.slotId === selector.slotId)
  );
}

function checkSelector(selector: unknown): Pkcs11TokenSelector {
  if (selector === undefined) return {};
  if (typeof selector !== 'object' || selector === null) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'the token selector must be an object', { field: 'token' });
  }
  const s = selector as Pkcs11TokenSelector;
  if (s.label !== undefined) astring(s.label, 'label', 0, 32);
  if (s.serial !== undefined) astring(s.serial, 'serial', 1, 16);
  if (s.slotId !== undefined) astring(s.slotId, 'slotId', 1, 20);
  return s;
}

/** A handle on a loaded PKCS#11 module. Get one with {@link openPkcs11Module}. */
export class Pkcs11Module {
  /** The module's real path. */
  readonly path: string;
  readonly limits: Pkcs11Limits;
  readonly #library: LibraryState;
  readonly #sessions = new Set<Pkcs11Session>();
  #closed = false;
  #info: Pkcs11ModuleInfo | undefined;

  /** @internal */
  constructor(library: LibraryState, limits: Pkcs11Limits) {
    this.#library = library;
    this.path = library.path;
    this.limits = limits;
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new LatchkeyError('ERR_PKCS11_MODULE_CLOSED', 'this PKCS#11 module handle was closed', {
        path: this.path,
      });
    }
    this.#library.assertOpen();
  }

  /** The module's description (C_GetInfo). */
  info(): Pkcs11ModuleInfo {
    this.#assertOpen();
    if (this.#info === undefined) {
      const info = this.#library.native.getInfo();
      this.#info = Object.freeze({
        cryptokiVersion: `${info.cryptokiVersion.major}.${info.cryptokiVersion.minor}`,
        manufacturer: trimPadded(info.manufacturerID),
        description: trimPadded(info.libraryDescription),
        libraryVersion: `${info.libraryVersion.major}.${info.libraryVersion.minor}`,
      });
    }
    return this.#info;
  }

  /** Every slot, with or without a token. */
  async slots(): Promise<Pkcs11SlotInfo[]> {
    this.#assertOpen();
    return this.#library.listSlots(false, this.limits).map(({ id, handle }) => {
      const info = this.#library.native.getSlotInfo(handle);
      return Object.freeze({
        id,
        description: trimPadded(info.slotDescription),
        manufacturer: trimPadded(info.manufacturerID),
        tokenPresent: (info.flags & CKF.TOKEN_PRESENT) !== 0,
        removable: (info.flags & CKF.REMOVABLE_DEVICE) !== 0,
        hardware: (info.flags & CKF.HW_SLOT) !== 0,
      });
    });
  }

  /**
   * The tokens present now (initialised or not). A token pulled out between listing and reading
   * is left out.
   */
  async tokens(): Promise<Pkcs11TokenInfo[]> {
    this.#assertOpen();
    const out: Pkcs11TokenInfo[] = [];
    for (const { id, handle } of this.#library.listSlots(true, this.limits)) {
      try {
        const slot = this.#library.native.getSlotInfo(handle);
        out.push(describeToken(id, slot.slotDescription, this.#library.native.getTokenInfo(handle)));
      } catch (error) {
        // A slot whose token is leaving, or whose reader fails, is left out of the list: one bad
        // slot must not hide every other token (nor the removal of the token it held).
        if (
          error instanceof LatchkeyError &&
          (error.code === 'ERR_PKCS11_TOKEN_NOT_PRESENT' ||
            error.code === 'ERR_PKCS11_DEVICE_REMOVED' ||
            error.detail.ckrName === 'CKR_TOKEN_NOT_RECOGNIZED' ||
            error.detail.ckrName === 'CKR_DEVICE_ERROR')
        ) {
          continue;
        }
        throw error;
      }
    }
    return out;
  }

  /**
   * The one initialised token matching `selector` (all tokens when it is empty);
   * `ERR_PKCS11_TOKEN_NOT_FOUND` when none or several match.
   */
  async token(selector?: Pkcs11TokenSelector): Promise<Pkcs11TokenInfo> {
    const wanted = checkSelector(selector);
    const found = (await this.tokens()).filter((token) => token.initialized && matches(token, wanted));
    if (found.length !== 1) {
      throw new LatchkeyError(
        'ERR_PKCS11_TOKEN_NOT_FOUND',
        found.length === 0
          ? 'no token matches: is it plugged in?'
          : 'more than one token matches: choose one by serial',
        { count: found.length },
      );
    }
    return found[0] as Pkcs11TokenInfo;
  }

  /**
   * Open a session with a token: the one `target` selects, or the token described by a
   * `Pkcs11TokenInfo` (checked to still be in its slot, same serial and label). Read-only unless
   * `readWrite` (needed to create or destroy objects).
   */
  async openSession(
    target?: Pkcs11TokenSelector | Pkcs11TokenInfo,
    options: { readonly readWrite?: boolean } = {},
  ): Promise<Pkcs11Session> {
    this.#assertOpen();
    let token: Pkcs11TokenInfo;
    if (target !== undefined && 'flags' in target && typeof target.flags === 'number') {
      const known = target as Pkcs11TokenInfo;
      token = await this.token({ slotId: known.slotId });
      if (token.serial !== known.serial || token.label !== known.label) {
        throw new LatchkeyError('ERR_PKCS11_TOKEN_NOT_FOUND', 'another token is now in that slot', {
          slotId: known.slotId,
        });
      }
    } else {
      token = await this.token(target as Pkcs11TokenSelector | undefined);
    }
    const slot = this.#library.slotHandle(token.slotId, this.limits);
    const readWrite = options.readWrite === true;
    const handle = this.#library.native.openSession(slot, readWrite);
    const session = new Pkcs11Session({
      library: this.#library,
      limits: this.limits,
      handle,
      slot,
      token,
      readWrite,
      onClose: (closed) => this.#sessions.delete(closed),
    });
    this.#sessions.add(session);
    return session;
  }

  /**
   * Set a new user PIN with the security officer PIN (unblocks a locked PIN). PKCS#11 refuses a
   * security officer login while this application has read-only sessions with the token.
   */
  async unblockUserPin(
    target: Pkcs11TokenSelector | Pkcs11TokenInfo | undefined,
    pins: { readonly soPin: Pkcs11Pin; readonly newPin: Pkcs11Pin },
  ): Promise<void> {
    const session = await this.openSession(target, { readWrite: true });
    try {
      await session.login(pins.soPin, { as: 'so' });
      try {
        await session.initUserPin(pins.newPin);
      } finally {
        await session.logout().catch(() => undefined);
      }
    } finally {
      await session.close();
    }
  }

  /**
   * One slot event without blocking (C_WaitForSlotEvent with CKF_DONT_BLOCK): the id of a slot
   * whose token came or went, `null` when none is pending, `undefined` when the module does not
   * report events (poll {@link Pkcs11Module.tokens} instead).
   */
  async pollSlotEvent(): Promise<string | null | undefined> {
    this.#assertOpen();
    try {
      const slot = this.#library.native.pollSlotEvent();
      return slot === null ? null : handleId(slot);
    } catch (error) {
      if (error instanceof LatchkeyError && error.detail.ckrName === 'CKR_FUNCTION_NOT_SUPPORTED') return undefined;
      throw error;
    }
  }

  /**
   * Close this handle and its sessions; the last handle on the path finalises the module
   * (C_Finalize) and unloads it.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    // closed first: no session can open while the others close
    this.#closed = true;
    for (const session of [...this.#sessions]) await session.close();
    const library = this.#library;
    library.refs--;
    if (library.refs === 0 && !library.finalized) {
      library.finalized = true;
      libraries.delete(library.path);
      library.native.finalize();
    }
  }
}
