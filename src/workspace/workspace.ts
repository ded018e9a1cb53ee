/**
 * An encrypted workspace: a folder of sealed entries (files and settings) that opens with an
 * enrolled fob, token, recovery code or (where the policy allows) password.
 *
 * On disk (format version 1):
 *
 * - `latchkey-workspace.json`, the header, in clear: the format and version, the workspace id,
 *   the header epoch, the unlock policy, and the key slots (kind, label, creation time, the
 *   unlocker's non-secret parameters, and the workspace key sealed under the slot's KEK). A MAC
 *   under a key derived from the workspace key covers all of it.
 * - `manifest`: sealed; the generation (one more per change), the header epoch it goes with, and
 *   every entry: its name, kind, size, modification time, and the id and GCM tag of its object.
 * - `objects/<random id>`: one sealed object per entry version, named at random, the entry's
 *   name and the object id bound in as associated data.
 *
 * What an observer of the folder learns: how many entries there are and the size of each, rounded
 * up to 4 KiB (objects are padded), when they changed, and the slots' kinds and labels. Names,
 * contents and exact sizes stay sealed.
 *
 * What is detected: any change to an object (a flipped bit, a cut, another object swapped in, an
 * older version of an entry put back) and to the manifest or the header (after the unlock; the
 * MAC covers the policy and the slots); a header older than the manifest (a removed slot put
 * back). A rollback of the whole folder to an older, consistent copy is detected only against the
 * generation kept outside it (`stateFile`, which the CLI keeps under `$XDG_STATE_HOME`).
 *
 * Every write is atomic (temporary file, fsync, rename, fsync of the folder); a change is
 * acknowledged when its manifest is durable, so a crash loses nothing acknowledged.
 *
 * @module latchkey/workspace
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdir, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { base64url, fromBase64url, utf8, wipe } from '../core/bytes.js';
import { LatchkeyError } from '../core/errors.js';
import { randomBytes, randomId } from '../core/random.js';
import type { Evidence } from '../core/types.js';
import { compilePolicy } from '../policy/compile.js';
import type { Decision, Policy } from '../policy/types.js';
import type { Json } from '../store/types.js';
import { deriveKey, seal, sealParts, unseal, writeAtomic } from './seal.js';
import type { SlotKind, SlotParams, Unlocker } from './unlockers.js';

const HEADER = 'latchkey-workspace.json';
const MANIFEST = 'manifest';
const OBJECTS = 'objects';
const FORMAT = 'latchkey-workspace';
const VERSION = 1;
const PAD = 4096;
const MAX_NAME = 1024;
const MAX_SLOTS = 32;

/** The default unlock policy: any one enrolled fob, token or recovery code. */
export const DEFAULT_UNLOCK_POLICY: Policy = Object.freeze({
  rules: Object.freeze([
    Object.freeze({
      id: 'unlock',
      effect: 'permit' as const,
      actions: Object.freeze(['unlock']),
      require: Object.freeze({
        any: Object.freeze([
          { factor: { factor: 'fob' } },
          { factor: { factor: 'pkcs11' } },
          { factor: { factor: 'recovery-code' } },
        ]),
      }),
    }),
  ]),
}) as Policy;

interface SlotRecord {
  readonly id: string;
  readonly kind: SlotKind;
  readonly label: string;
  readonly createdAt: number;
  readonly params: SlotParams;
  readonly wrapped: string;
}

interface Header {
  readonly format: typeof FORMAT;
  readonly version: typeof VERSION;
  readonly id: string;
  readonly epoch: number;
  readonly policy: Policy;
  readonly slots: readonly SlotRecord[];
}

interface EntryRecord {
  readonly object: string;
  readonly size: number;
  /** The object's GCM tag: the manifest names the exact object version it expects. */
  readonly tag: string;
  readonly kind: 'file' | 'setting';
  readonly modifiedAt: number;
}

interface Manifest {
  readonly generation: number;
  readonly epoch: number;
  readonly entries: Record<string, EntryRecord>;
}

/** A key slot as `slots()` shows it. */
export interface SlotInfo {
  readonly id: string;
  readonly kind: SlotKind;
  readonly label: string;
  readonly createdAt: number;
  /** Fob slots: whether the PIN opens it (it was enrolled with user verification). */
  readonly userVerified?: boolean;
}

/** An entry as `list()` shows it. */
export interface EntryInfo {
  readonly name: string;
  readonly kind: 'file' | 'setting';
  readonly size: number;
  readonly modifiedAt: number;
}

export interface WorkspaceOptions {
  /**
   * A file outside the workspace that remembers the newest generation seen, so that a rollback
   * of the whole folder to an older copy is detected. Optional; the CLI always keeps one.
   */
  readonly stateFile?: string;
}

function format(message: string): LatchkeyError {
  return new LatchkeyError('ERR_WORKSPACE_FORMAT', message);
}

function tampered(message: string): LatchkeyError {
  return new LatchkeyError('ERR_WORKSPACE_TAMPERED', message);
}

function checkName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_NAME || name.includes('\u0000')) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', `an entry name must be 1 to ${MAX_NAME} characters, without NUL`, {
      field: 'name',
    });
  }
  return name;
}

function slotAad(id: Uint8Array, slot: { readonly id: string; readonly kind: string }): Uint8Array {
  return utf8(`latchkey workspace v1 slot|${base64url(id)}|${slot.id}|${slot.kind}`);
}

function parseHeader(text: string): Header & { readonly mac: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw format('the workspace header is not JSON');
  }
  const h = parsed as Record<string, unknown>;
  if (typeof h !== 'object' || h === null || h.format !== FORMAT) throw format('not a latchkey workspace header');
  if (h.version !== VERSION) {
    throw new LatchkeyError(
      'ERR_UNSUPPORTED',
      `workspace format version ${String(h.version)} is not supported (this latchkey reads ${VERSION})`,
    );
  }
  if (typeof h.id !== 'string' || typeof h.mac !== 'string' || !Number.isSafeInteger(h.epoch)) {
    throw format('the workspace header is incomplete');
  }
  if (!Array.isArray(h.slots) || h.slots.length === 0 || h.slots.length > MAX_SLOTS) {
    throw format('the workspace header has no usable key slots');
  }
  for (const slot of h.slots as unknown[]) {
    const s = slot as Record<string, unknown>;
    if (
      typeof s !== 'object' ||
      s === null ||
      typeof s.id !== 'string' ||
      typeof s.kind !== 'string' ||
      typeof s.label !== 'string' ||
      typeof s.wrapped !== 'string' ||
      typeof s.params !== 'object' ||
      s.params === null ||
      !Number.isSafeInteger(s.createdAt)
    ) {
      throw format('a key slot in the workspace header is malformed');
    }
  }
  if (typeof h.policy !== 'object' || h.policy === null) throw format('the workspace header has no unlock policy');
  return parsed as Header & { readonly mac: string };
}

function headerBytes(header: Header): Uint8Array {
  const { format: f, version, id, epoch, policy, slots } = header;
  return utf8(JSON.stringify({ format: f, version, id, epoch, policy, slots }));
}

/** Whether a policy names the password factor in a rule about unlocking. */
function namesPassword(policy: Policy): boolean {
  return policy.rules.some(
    (rule) =>
      rule.effect === 'permit' &&
      (rule.actions === undefined || rule.actions.includes('unlock')) &&
      JSON.stringify(rule.require ?? null).includes('"password"'),
  );
}

/** An open (unlocked) workspace. Lock it when done: the keys are wiped. */
export class Workspace {
  readonly #dir: string;
  readonly #id: Uint8Array;
  #header: Header;
  #manifest: Manifest;
  #key: Buffer;
  #headerKey: Buffer;
  #manifestKey: Buffer;
  #objectKey: Buffer;
  #locked = false;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #stateFile: string | undefined;
  /** Evidence that opened it (empty for a workspace just created). */
  readonly evidence: readonly Evidence[];
  /** The policy's decision on the unlock, when it was unlocked. */
  readonly decision: Decision | null;

  private constructor(
    dir: string,
    header: Header,
    manifest: Manifest,
    key: Buffer,
    options: WorkspaceOptions,
    evidence: readonly Evidence[],
    decision: Decision | null,
  ) {
    this.#dir = dir;
    this.#header = header;
    this.#manifest = manifest;
    this.#id = fromBase64url(header.id, 'workspace id');
    this.#key = key;
    this.#headerKey = deriveKey(key, this.#id, 'header mac');
    this.#manifestKey = deriveKey(key, this.#id, 'manifest');
    this.#objectKey = deriveKey(key, this.#id, 'objects');
    this.#stateFile = options.stateFile;
    this.evidence = evidence;
    this.decision = decision;
  }

  /**
   * Make a workspace in `dir` (created, or empty) with one key slot, and return it open.
   *
   * @throws LatchkeyError `ERR_WORKSPACE_EXISTS` when `dir` holds anything.
   */
  static async create(
    dir: string,
    first: Unlocker,
    options: WorkspaceOptions & { readonly policy?: Policy } = {},
  ): Promise<Workspace> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if ((await readdir(dir)).length > 0) {
      throw new LatchkeyError('ERR_WORKSPACE_EXISTS', `${dir} is not empty; a workspace is made in an empty folder`);
    }
    const policy = options.policy ?? DEFAULT_UNLOCK_POLICY;
    compilePolicy(policy);
    if (first.kind === 'password' && !namesPassword(policy)) throw passwordRefused();
    const id = randomBytes(16);
    const key = Buffer.from(randomBytes(32));
    const slot = await Workspace.#slot(first, id, key);
    const header: Header = { format: FORMAT, version: VERSION, id: base64url(id), epoch: 1, policy, slots: [slot] };
    await mkdir(join(dir, OBJECTS), { mode: 0o700 });
    const workspace = new Workspace(dir, header, { generation: 0, epoch: 1, entries: {} }, key, options, [], null);
    await workspace.#writeHeader(header);
    await workspace.#writeManifest(workspace.#manifest);
    return workspace;
  }

  static async #slot(unlocker: Unlocker, id: Uint8Array, key: Uint8Array): Promise<SlotRecord> {
    const enrolled = await unlocker.enrol(id);
    const slotId = randomId(16);
    try {
      const wrapped = seal(enrolled.kek, key, slotAad(id, { id: slotId, kind: unlocker.kind }));
      return {
        id: slotId,
        kind: unlocker.kind,
        label: enrolled.label,
        createdAt: Date.now(),
        params: enrolled.params,
        wrapped: base64url(wrapped),
      };
    } finally {
      wipe(enrolled.kek);
    }
  }

  /** Read a workspace's header without unlocking it (its slots, for `status` or to pick an unlocker). */
  static async inspect(dir: string): Promise<{ readonly id: string; readonly slots: readonly SlotInfo[] }> {
    const header = await readHeader(dir);
    return { id: header.id, slots: header.slots.map(slotInfo) };
  }

  /**
   * Open a workspace. Each unlocker opens the slot it matches (a fob is identified without a
   * touch first); the evidence of all of them goes to the workspace's unlock policy, action
   * `unlock`, the same engine as web sign-in. Then the header MAC, the manifest and (with
   * `stateFile`) the generation are checked.
   *
   * @throws LatchkeyError `ERR_WORKSPACE_NO_SLOT` (a fob or token that is not enrolled),
   *   `ERR_WORKSPACE_WRONG_KEY` (a wrong code or password), `ERR_WORKSPACE_POLICY` (with
   *   `detail.stepUp`), `ERR_WORKSPACE_TAMPERED`, `ERR_WORKSPACE_ROLLED_BACK`, and the fob's and
   *   token's own errors (wrong PIN, PIN blocked, removed).
   */
  static async unlock(dir: string, unlockers: readonly Unlocker[], options: WorkspaceOptions = {}): Promise<Workspace> {
    if (!Array.isArray(unlockers) || unlockers.length === 0) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'unlock needs at least one unlocker', { field: 'unlockers' });
    }
    const header = await readHeader(dir);
    const id = fromBase64url(header.id, 'workspace id');
    let key: Buffer | null = null;
    const evidence: Evidence[] = [];
    try {
      for (const unlocker of unlockers) {
        const opened = await openWith(unlocker, header, id);
        if (key !== null && !timingSafeEqual(key, opened.key)) {
          wipe(opened.key);
          throw tampered('two key slots hold different workspace keys');
        }
        if (key === null) key = opened.key;
        else wipe(opened.key);
        evidence.push(opened.evidence);
      }
      const decision = compilePolicy(header.policy).decide({ evidence, action: 'unlock', now: Date.now() });
      const workspace = new Workspace(
        dir,
        header,
        { generation: 0, epoch: 0, entries: {} },
        key as Buffer,
        options,
        evidence,
        decision,
      );
      key = null;
      try {
        workspace.#verifyHeader(header as Header & { readonly mac: string });
        if (!decision.allow) {
          throw new LatchkeyError(
            'ERR_WORKSPACE_POLICY',
            `the unlock policy needs more: ${decision.reasons.join('; ')}`,
            { stepUp: decision.stepUp.map((option) => option.reason) },
          );
        }
        await workspace.#load();
      } catch (error) {
        workspace.#wipe();
        throw error;
      }
      return workspace;
    } finally {
      if (key !== null) wipe(key);
    }
  }

  #verifyHeader(header: Header & { readonly mac: string }): void {
    const expected = createHmac('sha256', this.#headerKey).update(headerBytes(header)).digest();
    const given = Buffer.from(fromBase64url(header.mac, 'header mac'));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw tampered('the workspace header was changed (its MAC does not match)');
    }
  }

  async #load(): Promise<void> {
    let sealed: Buffer;
    try {
      sealed = await readFile(join(this.#dir, MANIFEST));
    } catch {
      throw tampered('the workspace manifest is missing');
    }
    const manifest = parseManifest(
      unseal(
        this.#manifestKey,
        sealed,
        this.#manifestAad(),
        'ERR_WORKSPACE_TAMPERED',
        'the workspace manifest was changed or cut',
      ),
    );
    if (manifest.epoch > this.#header.epoch) {
      throw new LatchkeyError(
        'ERR_WORKSPACE_ROLLED_BACK',
        'the workspace header is older than its contents (an old header was put back)',
      );
    }
    this.#manifest = manifest;
    if (this.#stateFile !== undefined) {
      const seen = await readState(this.#stateFile, this.#header.id);
      if (manifest.generation < seen) {
        throw new LatchkeyError(
          'ERR_WORKSPACE_ROLLED_BACK',
          `the workspace was rolled back: generation ${manifest.generation}, but ${seen} was seen before`,
          { generation: manifest.generation, seen },
        );
      }
    }
    if (manifest.epoch < this.#header.epoch) {
      // the header was written and the manifest not yet (a crash in between): finish the change
      await this.#writeManifest({ ...manifest, epoch: this.#header.epoch });
    }
    await this.#collect();
  }

  /** Remove objects and temporary files that no acknowledged change refers to (left by a crash). */
  async #collect(): Promise<void> {
    const live = new Set(Object.values(this.#manifest.entries).map((e) => e.object));
    for (const folder of [this.#dir, join(this.#dir, OBJECTS)]) {
      for (const name of await readdir(folder)) {
        const orphan = folder === this.#dir ? name.startsWith('.tmp-') : !live.has(name);
        if (orphan) await unlink(join(folder, name)).catch(() => undefined);
      }
    }
  }

  #manifestAad(): Uint8Array {
    return utf8(`latchkey workspace v1 manifest|${this.#header.id}`);
  }

  #objectAad(object: string, name: string): Uint8Array {
    return utf8(`latchkey workspace v1 object|${this.#header.id}|${object}|${name}`);
  }

  #live(): void {
    if (this.#locked) throw new LatchkeyError('ERR_WORKSPACE_LOCKED', 'the workspace is locked');
  }

  /** Run `work` after every change before it, one at a time. */
  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(() => {
      this.#live();
      return work();
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #writeHeader(header: Header): Promise<void> {
    const mac = createHmac('sha256', this.#headerKey).update(headerBytes(header)).digest();
    await writeAtomic(
      join(this.#dir, HEADER),
      utf8(`${JSON.stringify({ ...header, mac: base64url(mac) }, null, 2)}\n`),
      0o600,
    );
    this.#header = header;
  }

  async #writeManifest(manifest: Manifest): Promise<void> {
    const sealed = seal(this.#manifestKey, utf8(JSON.stringify(manifest)), this.#manifestAad());
    await writeAtomic(join(this.#dir, MANIFEST), sealed);
    this.#manifest = manifest;
    if (this.#stateFile !== undefined) await writeState(this.#stateFile, this.#header.id, manifest.generation);
  }

  /** The workspace id (base64url). */
  get id(): string {
    return this.#header.id;
  }

  /** One more for every acknowledged change. */
  get generation(): number {
    return this.#manifest.generation;
  }

  get locked(): boolean {
    return this.#locked;
  }

  /** Write an entry. Resolves when the change is durable (acknowledged). */
  async put(name: string, data: Uint8Array | string, kind: 'file' | 'setting' = 'file'): Promise<void> {
    checkName(name);
    const bytes = typeof data === 'string' ? utf8(data) : data;
    if (!(bytes instanceof Uint8Array)) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'data must be bytes or a string', { field: 'data' });
    }
    return this.#serial(async () => {
      const object = randomId(16);
      // length prefix, content, zeros to the next 4 KiB: sealed piece by piece, never copied whole
      const prefix = Buffer.alloc(4);
      prefix.writeUInt32BE(bytes.length, 0);
      const padding = Buffer.alloc(Math.ceil((bytes.length + 4) / PAD) * PAD - 4 - bytes.length);
      const sealed = sealParts(this.#objectKey, [prefix, bytes, padding], this.#objectAad(object, name));
      await writeAtomic(join(this.#dir, OBJECTS, object), sealed);
      const previous = this.#manifest.entries[name];
      const entries = { ...this.#manifest.entries };
      entries[name] = {
        object,
        size: bytes.length,
        tag: Buffer.from(sealed[sealed.length - 1] as Buffer).toString('base64url'),
        kind,
        modifiedAt: Date.now(),
      };
      await this.#writeManifest({ ...this.#manifest, generation: this.#manifest.generation + 1, entries });
      if (previous !== undefined) await unlink(join(this.#dir, OBJECTS, previous.object)).catch(() => undefined);
    });
  }

  /** Read an entry, checking it against the manifest. */
  async get(name: string): Promise<Uint8Array> {
    checkName(name);
    this.#live();
    const entry = Object.hasOwn(this.#manifest.entries, name) ? this.#manifest.entries[name] : undefined;
    if (entry === undefined)
      throw new LatchkeyError('ERR_WORKSPACE_ENTRY_NOT_FOUND', `no entry \`${name.slice(0, 80)}\``);
    let sealed: Buffer;
    try {
      sealed = await readFile(join(this.#dir, OBJECTS, entry.object));
    } catch {
      throw tampered(`the object of \`${name.slice(0, 80)}\` is missing`);
    }
    if (sealed.length < 44 || sealed.subarray(sealed.length - 16).toString('base64url') !== entry.tag) {
      throw tampered(`the object of \`${name.slice(0, 80)}\` was changed, cut, swapped or rolled back`);
    }
    this.#live();
    const padded = unseal(
      this.#objectKey,
      sealed,
      this.#objectAad(entry.object, name),
      'ERR_WORKSPACE_TAMPERED',
      `the object of \`${name.slice(0, 80)}\` does not open`,
    );
    const length = padded.readUInt32BE(0);
    if (length !== entry.size || length > padded.length - 4)
      throw tampered(`the object of \`${name.slice(0, 80)}\` has the wrong size`);
    return new Uint8Array(padded.buffer, padded.byteOffset + 4, length);
  }

  /** The entries, by name. */
  list(): EntryInfo[] {
    this.#live();
    return Object.entries(this.#manifest.entries)
      .map(([name, e]) => ({ name, kind: e.kind, size: e.size, modifiedAt: e.modifiedAt }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Remove an entry. */
  async remove(name: string): Promise<void> {
    checkName(name);
    return this.#serial(async () => {
      const entry = this.#manifest.entries[name];
      if (entry === undefined)
        throw new LatchkeyError('ERR_WORKSPACE_ENTRY_NOT_FOUND', `no entry \`${name.slice(0, 80)}\``);
      const entries = { ...this.#manifest.entries };
      delete entries[name];
      await this.#writeManifest({ ...this.#manifest, generation: this.#manifest.generation + 1, entries });
      await unlink(join(this.#dir, OBJECTS, entry.object)).catch(() => undefined);
    });
  }

  /** The key slots. */
  slots(): SlotInfo[] {
    this.#live();
    return this.#header.slots.map(slotInfo);
  }

  /** Add a key slot (a backup fob, a token, a recovery code; a password only where the policy names it). */
  async addSlot(unlocker: Unlocker): Promise<SlotInfo> {
    return this.#serial(async () => {
      if (unlocker.kind === 'password' && !namesPassword(this.#header.policy)) throw passwordRefused();
      if (this.#header.slots.length >= MAX_SLOTS) {
        throw new LatchkeyError('ERR_LIMIT_EXCEEDED', `a workspace holds at most ${MAX_SLOTS} key slots`, {
          limit: 'slots',
        });
      }
      const slot = await Workspace.#slot(unlocker, this.#id, this.#key);
      await this.#changeHeader([...this.#header.slots, slot]);
      return slotInfo(slot);
    });
  }

  /** Remove a key slot. The last one cannot be removed. */
  async removeSlot(id: string): Promise<void> {
    return this.#serial(async () => {
      const slots = this.#header.slots.filter((s) => s.id !== id);
      if (slots.length === this.#header.slots.length) {
        throw new LatchkeyError('ERR_WORKSPACE_NO_SLOT', `no key slot \`${String(id).slice(0, 40)}\``);
      }
      if (slots.length === 0) {
        throw new LatchkeyError(
          'ERR_WORKSPACE_LAST_SLOT',
          'the last key slot cannot be removed: add another one first',
        );
      }
      await this.#changeHeader(slots);
    });
  }

  /** Header first, then the manifest with the new epoch (see `#load` for a crash in between). */
  async #changeHeader(slots: readonly SlotRecord[]): Promise<void> {
    const header = { ...this.#header, epoch: this.#header.epoch + 1, slots };
    await this.#writeHeader(header);
    await this.#writeManifest({ ...this.#manifest, generation: this.#manifest.generation + 1, epoch: header.epoch });
  }

  /**
   * Finish every change in flight, then wipe the keys. Reads and writes after this fail with
   * `ERR_WORKSPACE_LOCKED`. Safe to call more than once.
   */
  async lock(): Promise<void> {
    if (this.#locked) return;
    await this.#queue;
    this.#wipe();
  }

  #wipe(): void {
    this.#locked = true;
    this.#key.fill(0);
    this.#headerKey.fill(0);
    this.#manifestKey.fill(0);
    this.#objectKey.fill(0);
    this.#manifest = { generation: this.#manifest.generation, epoch: this.#manifest.epoch, entries: {} };
  }
}

function passwordRefused(): LatchkeyError {
  return new LatchkeyError(
    'ERR_WORKSPACE_POLICY',
    'a password slot is allowed only when the unlock policy names the password factor (for example "recovery code and password")',
  );
}

function slotInfo(slot: SlotRecord): SlotInfo {
  return {
    id: slot.id,
    kind: slot.kind,
    label: slot.label,
    createdAt: slot.createdAt,
    ...(slot.kind === 'fob' ? { userVerified: slot.params.uv === true } : {}),
  };
}

async function readHeader(dir: string): Promise<Header & { readonly mac: string }> {
  let text: string;
  try {
    const info = await stat(join(dir, HEADER));
    if (info.size > 1 << 20) throw format('the workspace header is too large');
    text = await readFile(join(dir, HEADER), 'utf8');
  } catch (error) {
    if (error instanceof LatchkeyError) throw error;
    throw new LatchkeyError('ERR_WORKSPACE_NOT_FOUND', `no workspace in ${dir}`);
  }
  return parseHeader(text);
}

/** Open the slot of `header` that `unlocker` matches; every failure names what to do. */
async function openWith(
  unlocker: Unlocker,
  header: Header,
  id: Uint8Array,
): Promise<{ readonly key: Buffer; readonly evidence: Evidence }> {
  const candidates = header.slots.filter((slot) => slot.kind === unlocker.kind);
  let wrongKey: LatchkeyError | undefined;
  for (const slot of candidates) {
    if (!(await unlocker.matches(slot.params))) continue;
    const { kek, evidence } = await unlocker.open(slot.params, id);
    try {
      const key = unseal(
        kek,
        fromBase64url(slot.wrapped, 'wrapped key'),
        slotAad(id, slot),
        'ERR_WORKSPACE_WRONG_KEY',
        wrongKeyMessage(unlocker.kind),
      );
      return { key, evidence: Object.freeze({ ...evidence, authenticatorId: slot.id }) };
    } catch (error) {
      if (!(error instanceof LatchkeyError) || error.code !== 'ERR_WORKSPACE_WRONG_KEY') throw error;
      wrongKey = error;
    } finally {
      wipe(kek);
    }
  }
  if (wrongKey !== undefined) throw wrongKey;
  throw new LatchkeyError(
    'ERR_WORKSPACE_NO_SLOT',
    unlocker.kind === 'fob' || unlocker.kind === 'pkcs11'
      ? `this ${unlocker.kind === 'fob' ? 'fob' : 'token'} is not enrolled in the workspace (wrong fob?)`
      : `the workspace has no ${unlocker.kind} slot`,
    { kind: unlocker.kind },
  );
}

function wrongKeyMessage(kind: SlotKind): string {
  switch (kind) {
    case 'recovery-code':
      return 'that recovery code does not open the workspace';
    case 'password':
      return 'wrong password';
    default:
      return `the ${kind} did not open its key slot`;
  }
}

function parseManifest(bytes: Uint8Array): Manifest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw tampered('the workspace manifest is unreadable');
  }
  const m = parsed as Record<string, unknown>;
  if (
    typeof m !== 'object' ||
    m === null ||
    !Number.isSafeInteger(m.generation) ||
    !Number.isSafeInteger(m.epoch) ||
    typeof m.entries !== 'object' ||
    m.entries === null
  ) {
    throw tampered('the workspace manifest is malformed');
  }
  const entries: Record<string, EntryRecord> = Object.create(null);
  for (const [name, e] of Object.entries(m.entries as Record<string, unknown>)) {
    const r = e as Record<string, Json>;
    if (typeof r?.object !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(r.object) || typeof r.tag !== 'string') {
      throw tampered('an entry of the workspace manifest is malformed');
    }
    entries[name] = r as unknown as EntryRecord;
  }
  return { generation: m.generation as number, epoch: m.epoch as number, entries };
}

async function readState(file: string, id: string): Promise<number> {
  try {
    const state = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    return state.id === id && Number.isSafeInteger(state.generation) ? (state.generation as number) : 0;
  } catch {
    return 0;
  }
}

async function writeState(file: string, id: string, generation: number): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeAtomic(file, utf8(`${JSON.stringify({ id, generation })}\n`));
}
