/**
 * The encrypted workspace: create, inspect, unlock, and (unlocked) read and write entries and
 * manage key slots. See format.ts for what is on disk and what is in clear.
 *
 * Integrity covers the whole set: the manifest (sealed, inside the MAC'd header) lists every
 * entry with the generation it was written at, its size and its GCM tag; each entry is sealed
 * with AAD binding the workspace id, its file id (derived from its name and generation) and that
 * generation. So a swapped entry (another entry's file under this name), a rolled-back entry (an
 * older generation of it), a truncated or modified entry, a missing entry, and a modified header
 * or manifest are each refused with their own code. What cannot be detected from the folder
 * alone is a rollback of the whole folder (header and entries together) to an older consistent
 * state: pass `minGeneration` (a counter kept outside the folder, as the CLI does) to refuse it.
 *
 * Every write is atomic and durable (atomic.ts). A write puts the new entry file under a fresh
 * name first, then commits the header with the new manifest; a crash between the two leaves an
 * unreferenced file that the next unlock removes, and the previous content intact.
 *
 * @module latchkey/workspace
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import { base64url, concatBytes, equalBytes, fromBase64url, hex, utf8, wipe } from '../core/bytes.js';
import { type Clock, systemClock } from '../core/clock.js';
import { LatchkeyError } from '../core/errors.js';
import { astring } from '../core/guards.js';
import { randomBytes, randomId } from '../core/random.js';
import type { Evidence } from '../core/types.js';
import { compilePolicy } from '../policy/compile.js';
import type { Decision, Policy } from '../policy/types.js';
import { removeFile, removeStrayTemporaries, writeFileAtomic } from './atomic.js';
import {
  DEFAULT_FORMAT_LIMITS,
  ENTRIES_FOLDER,
  HEADER_FILE,
  type HeaderRecord,
  headerMacInput,
  type PartKind,
  parseHeader,
  type SlotPart,
  type SlotRecord,
  serialiseHeader,
  WORKSPACE_MAGIC,
  WORKSPACE_VERSION,
} from './format.js';
import {
  NONCE_BYTES,
  newWorkspaceKey,
  open,
  openBytes,
  padme,
  readU64,
  seal,
  sealToBytes,
  TAG_BYTES,
  u64,
  WORKSPACE_ID_BYTES,
  WorkspaceKeys,
} from './keys.js';
import {
  type EnrolledPart,
  type OpenedPart,
  type PartCandidate,
  type PartContext,
  type PartEnroller,
  type PartOpener,
  unwrapWorkspaceKey,
  wrapWorkspaceKey,
} from './slots.js';

/** The action the unlock policy is asked about. */
export const UNLOCK_ACTION = 'workspace.unlock';

/**
 * The default unlock policy (story 2): a fob with its PIN, a PKCS#11 token, or a recovery code
 * opens the workspace; nothing else does (so a password slot is refused unless a policy allows it).
 */
export const DEFAULT_UNLOCK_POLICY: Policy = Object.freeze({
  version: 1,
  description: 'a fob with its PIN, a PKCS#11 token, or a recovery code opens the workspace',
  rules: [
    {
      id: 'workspace-unlock',
      effect: 'permit',
      actions: [UNLOCK_ACTION],
      require: {
        any: [
          { factor: { factor: 'fob', userVerified: true, label: 'your fob with its PIN' } },
          { factor: { factor: 'pkcs11', label: 'your smart card' } },
          { factor: { factor: 'recovery-code', label: 'a recovery code' } },
        ],
      },
    },
  ],
}) as Policy;

/** Limits of a workspace. */
export interface WorkspaceLimits {
  /** Largest entry in bytes (default 1 GiB). */
  readonly maxEntryBytes: number;
  /** Most entries (default 100,000). */
  readonly maxEntries: number;
  /** Longest entry name in characters (default 1024). */
  readonly maxNameLength: number;
}

export const DEFAULT_WORKSPACE_LIMITS: WorkspaceLimits = Object.freeze({
  maxEntryBytes: 1 << 30,
  maxEntries: 100_000,
  maxNameLength: 1024,
});

/** The kind of an entry: a file, or a setting. */
export type EntryKind = 'file' | 'setting';

/** One entry as the manifest lists it. */
export interface EntryInfo {
  readonly name: string;
  readonly kind: EntryKind;
  readonly size: number;
  /** The manifest generation it was last written at. */
  readonly generation: number;
}

interface ManifestEntry extends EntryInfo {
  readonly tag: Uint8Array;
}

/** A slot as `status` shows it (no secrets). */
export interface SlotInfo {
  readonly id: string;
  readonly label: string;
  readonly createdAt: number;
  readonly kinds: readonly PartKind[];
  readonly parts: readonly SlotPart[];
}

/** What anyone can read from a workspace folder without unlocking it (unauthenticated). */
export interface WorkspaceInfo {
  readonly id: string;
  readonly version: number;
  readonly createdAt: number;
  readonly generation: number;
  readonly slots: readonly SlotInfo[];
  readonly policy: Policy;
  readonly entryFiles: number;
}

/** Options shared by create and unlock. */
export interface WorkspaceOptions {
  readonly clock?: Clock;
  readonly limits?: Partial<WorkspaceLimits>;
  readonly signal?: AbortSignal;
}

/** Reports progress of long operations (bytes done of bytes total). */
export type Progress = (done: number, total: number) => void;

const ENTRY_MAGIC = utf8('LKWE');
const ENTRY_VERSION = 1;
const PREFIX_BYTES = 4 + 1 + 32 + 8;

function slotInfo(slot: SlotRecord): SlotInfo {
  return {
    id: slot.id,
    label: slot.label,
    createdAt: slot.createdAt,
    kinds: slot.parts.map((p) => p.kind),
    parts: slot.parts,
  };
}

function readHeaderFile(folder: string): HeaderRecord {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(join(folder, HEADER_FILE));
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new LatchkeyError('ERR_WORKSPACE_NOT_FOUND', `no workspace in \`${folder}\``, {}, { cause });
    }
    throw new LatchkeyError('ERR_STORE_IO', `could not read the workspace in \`${folder}\``, {}, { cause });
  }
  return parseHeader(bytes, DEFAULT_FORMAT_LIMITS);
}

function countEntryFiles(folder: string): number {
  try {
    return readdirSync(join(folder, ENTRIES_FOLDER)).filter((n) => /^[0-9a-f]{64}$/.test(n)).length;
  } catch {
    return 0;
  }
}

/** Read a workspace's public header without unlocking it. Nothing here is authenticated. */
export function inspectWorkspace(folder: string): WorkspaceInfo {
  const header = readHeaderFile(folder);
  return {
    id: header.id,
    version: header.version,
    createdAt: header.createdAt,
    generation: header.manifest.generation,
    slots: header.slots.map(slotInfo),
    policy: header.policy,
    entryFiles: countEntryFiles(folder),
  };
}

function decideSlot(policy: Policy, evidence: readonly Evidence[], now: number): Decision {
  return compilePolicy(policy).decide({ evidence, action: UNLOCK_ACTION, now });
}

async function enrolParts(enrollers: readonly PartEnroller[], context: PartContext): Promise<EnrolledPart[]> {
  if (enrollers.length === 0 || enrollers.length > DEFAULT_FORMAT_LIMITS.maxPartsPerSlot) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', `a slot has 1 to ${DEFAULT_FORMAT_LIMITS.maxPartsPerSlot} parts`, {
      max: DEFAULT_FORMAT_LIMITS.maxPartsPerSlot,
    });
  }
  const parts: EnrolledPart[] = [];
  try {
    for (const enroller of enrollers) parts.push(await enroller.enrol(context));
  } catch (error) {
    for (const part of parts) wipe(part.secret);
    throw error;
  }
  return parts;
}

function notAllowed(decision: Decision): LatchkeyError {
  return new LatchkeyError(
    'ERR_WORKSPACE_SLOT_NOT_ALLOWED',
    `the unlock policy would not let this slot open the workspace: ${decision.reasons.join('; ')}`,
    { reasons: decision.reasons },
  );
}

/**
 * Create a workspace in `folder` (created if missing; must not hold a workspace) with its first
 * slot, and return it unlocked. The slot must satisfy the unlock policy on its own.
 *
 * @example
 * ```ts
 * import { createWorkspace, kdfEnroller, generateRecoveryCode } from 'latchkey/workspace';
 * const code = generateRecoveryCode();
 * const ws = await createWorkspace('/media/alice/ws', { slot: [kdfEnroller('recovery-code', code)] });
 * await ws.put('notes.txt', new TextEncoder().encode('hello'));
 * ws.lock();
 * ```
 */
export async function createWorkspace(
  folder: string,
  options: WorkspaceOptions & {
    readonly slot: readonly PartEnroller[];
    readonly label?: string;
    readonly policy?: Policy;
  },
): Promise<UnlockedWorkspace> {
  const clock = options.clock ?? systemClock;
  const policy = options.policy ?? DEFAULT_UNLOCK_POLICY;
  compilePolicy(policy);
  mkdirSync(join(folder, ENTRIES_FOLDER), { recursive: true, mode: 0o700 });
  try {
    statSync(join(folder, HEADER_FILE));
    throw new LatchkeyError('ERR_WORKSPACE_EXISTS', `\`${folder}\` already holds a workspace`, {});
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const idBytes = randomBytes(WORKSPACE_ID_BYTES);
  const id = base64url(idBytes);
  const context: PartContext = {
    workspaceId: id,
    clock,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  };
  const parts = await enrolParts(options.slot, context);
  const workspaceKey = newWorkspaceKey();
  try {
    const decision = decideSlot(
      policy,
      parts.map((p) => p.evidence),
      clock.now(),
    );
    if (!decision.allow) throw notAllowed(decision);
    const slotId = randomId(16);
    const slot: SlotRecord = {
      id: slotId,
      label: options.label ?? defaultLabel(parts.map((p) => p.part)),
      createdAt: clock.now(),
      parts: parts.map((p) => p.part),
      wrapped: wrapWorkspaceKey(
        idBytes,
        slotId,
        parts.map((p) => p.secret),
        workspaceKey,
      ),
    };
    const release = acquireWriterLock(folder);
    const workspace = new UnlockedWorkspace(
      folder,
      { id, createdAt: clock.now(), policy, slots: [slot], generation: 0 },
      new WorkspaceKeys(workspaceKey, idBytes),
      new Map(),
      { ...DEFAULT_WORKSPACE_LIMITS, ...options.limits },
      clock,
      slotId,
      release,
    );
    try {
      workspace.writeHeader(new Map(), 0);
    } catch (error) {
      release();
      throw error;
    }
    return workspace;
  } catch (error) {
    wipe(workspaceKey);
    throw error;
  } finally {
    for (const part of parts) wipe(part.secret);
  }
}

function defaultLabel(parts: readonly SlotPart[]): string {
  return parts.map((p) => p.kind).join(' + ');
}

/** The result of {@link unlockWorkspace}. */
export interface Unlocked {
  readonly workspace: UnlockedWorkspace;
  /** The slot that opened it. */
  readonly slotId: string;
  /** The policy decision that allowed it. */
  readonly decision: Decision;
}

function tampered(what: string, detail: Record<string, string | number> = {}): LatchkeyError {
  return new LatchkeyError('ERR_WORKSPACE_TAMPERED', `the workspace was tampered with: ${what}`, detail);
}

/**
 * Unlock the workspace in `folder` with `openers` (a fob, a token, a recovery code, a password).
 * A slot opens when every one of its parts was opened; the header's MAC is then checked, and the
 * unlock policy decides on the evidence of that slot's parts.
 *
 * Throws `ERR_WORKSPACE_SECRET_INVALID` when what was given opens no slot (a wrong code or
 * password), `ERR_WORKSPACE_UNLOCK_DENIED` when no slot can be opened with the kinds given or
 * the policy says no, `ERR_WORKSPACE_TAMPERED` / `ERR_WORKSPACE_ROLLED_BACK` for a modified or
 * rolled-back workspace, and the fob's own codes (wrong PIN, PIN blocked, fob removed).
 */
export async function unlockWorkspace(
  folder: string,
  options: WorkspaceOptions & {
    readonly openers: readonly PartOpener[];
    /** Refuse a manifest older than this generation (a counter kept outside the folder). */
    readonly minGeneration?: number;
  },
): Promise<Unlocked> {
  const clock = options.clock ?? systemClock;
  const header = readHeaderFile(folder);
  const idBytes = fromBase64url(header.id, 'id');
  const context: PartContext = {
    workspaceId: header.id,
    clock,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  };
  const candidates: PartCandidate[] = header.slots.flatMap((slot) =>
    slot.parts.map((part, index) => ({ slotId: slot.id, index, part })),
  );
  const opened: OpenedPart[] = [];
  try {
    for (const opener of options.openers) {
      const mine = candidates.filter((c) => c.part.kind === opener.kind);
      if (mine.length === 0) continue;
      opened.push(...(await opener.open(mine, context)));
    }
    let tried = 0;
    for (const slot of header.slots) {
      const secrets: Uint8Array[] = [];
      const evidence: Evidence[] = [];
      for (let index = 0; index < slot.parts.length; index++) {
        const part = opened.find((o) => o.slotId === slot.id && o.index === index);
        if (part === undefined) break;
        secrets.push(part.secret);
        evidence.push(part.evidence);
      }
      if (secrets.length !== slot.parts.length) continue;
      tried++;
      const workspaceKey = unwrapWorkspaceKey(idBytes, slot, secrets);
      if (workspaceKey === undefined) continue;
      const keys = new WorkspaceKeys(workspaceKey, idBytes);
      try {
        const { mac, ...body } = header;
        if (!equalBytes(WorkspaceKeys.mac(keys.header, headerMacInput(body)), fromBase64url(mac, 'mac'))) {
          throw tampered('its header (slots, policy or manifest) was modified');
        }
        const decision = decideSlot(header.policy, evidence, clock.now());
        if (!decision.allow) {
          throw new LatchkeyError(
            'ERR_WORKSPACE_UNLOCK_DENIED',
            `the unlock policy says no: ${decision.reasons.join('; ')}`,
            { reasons: decision.reasons, slot: slot.id },
          );
        }
        if (options.minGeneration !== undefined && header.manifest.generation < options.minGeneration) {
          throw new LatchkeyError(
            'ERR_WORKSPACE_ROLLED_BACK',
            `the workspace was rolled back: generation ${header.manifest.generation} is older than the ${options.minGeneration} last seen`,
            { generation: header.manifest.generation, minGeneration: options.minGeneration },
          );
        }
        const manifest = openManifest(keys, idBytes, header);
        const release = acquireWriterLock(folder);
        const workspace = new UnlockedWorkspace(
          folder,
          {
            id: header.id,
            createdAt: header.createdAt,
            policy: header.policy,
            slots: header.slots,
            generation: header.manifest.generation,
          },
          keys,
          manifest,
          { ...DEFAULT_WORKSPACE_LIMITS, ...options.limits },
          clock,
          slot.id,
          release,
        );
        try {
          workspace.collectGarbage();
        } catch (error) {
          workspace.lock();
          throw error;
        }
        return { workspace, slotId: slot.id, decision };
      } catch (error) {
        keys.wipe();
        throw error;
      }
    }
    if (tried > 0) {
      const names: Record<PartKind, string> = {
        'recovery-code': 'recovery code',
        password: 'password',
        fob: 'fob',
        pkcs11: 'token',
      };
      const kinds = [
        ...new Set(opened.map((o) => candidates.find((c) => c.slotId === o.slotId && c.index === o.index)?.part.kind)),
      ].filter((kind): kind is PartKind => kind !== undefined);
      throw new LatchkeyError(
        'ERR_WORKSPACE_SECRET_INVALID',
        `wrong ${kinds.map((kind) => names[kind]).join(' or ')}: no slot opened`,
        { tried, kinds },
      );
    }
    const needs = header.slots.map((s) => s.parts.map((p) => p.kind).join(' + '));
    throw new LatchkeyError(
      'ERR_WORKSPACE_UNLOCK_DENIED',
      `nothing given opens a slot of this workspace; its slots need: ${[...new Set(needs)].join(', ')}`,
      { needs },
    );
  } finally {
    for (const part of opened) wipe(part.secret);
  }
}

const WRITER_LOCK = 'writer.lock';
const heldHere = new Set<string>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One writer at a time: an unlocked workspace holds `writer.lock` (its pid) until it is locked,
 * so that a second process (say `enrol` while an agent runs) cannot overwrite the header the
 * first one writes next. A lock left by a process that died (kill -9) is taken over.
 */
function acquireWriterLock(folder: string): () => void {
  const path = join(folder, WRITER_LOCK);
  const key = resolvePath(path);
  if (heldHere.has(key)) {
    throw new LatchkeyError('ERR_WORKSPACE_AGENT', 'the workspace is already open in this process: lock it first', {});
  }
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      heldHere.add(key);
      return () => {
        heldHere.delete(key);
        rmSync(path, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new LatchkeyError('ERR_STORE_IO', 'could not take the workspace writer lock', {}, { cause: error });
      }
    }
    let pid = Number.NaN;
    try {
      pid = Number(readFileSync(path, 'utf8').trim());
    } catch {
      // removed meanwhile: try again
    }
    if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
      throw new LatchkeyError(
        'ERR_WORKSPACE_AGENT',
        `the workspace is open in process ${pid} (an agent or a shell): lock it there first`,
        { pid },
      );
    }
    rmSync(path, { force: true });
  }
  throw new LatchkeyError('ERR_WORKSPACE_AGENT', 'could not take the workspace writer lock', {});
}

function manifestAad(idBytes: Uint8Array, generation: number): Uint8Array {
  return concatBytes(utf8('latchkey workspace v1 manifest\u0000'), idBytes, u64(generation));
}

function openManifest(keys: WorkspaceKeys, idBytes: Uint8Array, header: HeaderRecord): Map<string, ManifestEntry> {
  const plain = openBytes(
    keys.manifest,
    manifestAad(idBytes, header.manifest.generation),
    fromBase64url(header.manifest.sealed, 'manifest'),
  );
  if (plain === undefined) throw tampered('its manifest does not verify');
  let rows: unknown;
  try {
    rows = JSON.parse(Buffer.from(plain).toString('utf8'));
  } catch {
    throw tampered('its manifest is not readable');
  } finally {
    wipe(plain);
  }
  if (!Array.isArray(rows)) throw tampered('its manifest is not readable');
  const manifest = new Map<string, ManifestEntry>();
  for (const row of rows as unknown[]) {
    const [name, kind, size, generation, tag] = row as [string, EntryKind, number, number, string];
    manifest.set(name, { name, kind, size, generation, tag: fromBase64url(tag, 'tag') });
  }
  return manifest;
}

/** Write operations of one commit. */
export interface Changes {
  readonly put?: readonly { readonly name: string; readonly data: Uint8Array; readonly kind?: EntryKind }[];
  readonly remove?: readonly string[];
}

interface HeaderState {
  readonly id: string;
  readonly createdAt: number;
  readonly policy: Policy;
  slots: readonly SlotRecord[];
  generation: number;
}

/**
 * An unlocked workspace: it holds the keys until {@link lock} wipes them. Every method after
 * `lock()` throws `ERR_WORKSPACE_LOCKED`.
 */
export class UnlockedWorkspace {
  private locked = false;
  private readonly idBytes: Uint8Array;

  /** @internal Use {@link createWorkspace} or {@link unlockWorkspace}. */
  constructor(
    readonly folder: string,
    private readonly state: HeaderState,
    private readonly keys: WorkspaceKeys,
    private manifest: Map<string, ManifestEntry>,
    private readonly limits: WorkspaceLimits,
    private readonly clock: Clock,
    /** The slot that opened this workspace. */
    readonly openedBy: string,
    private readonly releaseWriterLock: () => void = () => undefined,
  ) {
    this.idBytes = fromBase64url(state.id, 'id');
  }

  get id(): string {
    return this.state.id;
  }

  get isLocked(): boolean {
    return this.locked;
  }

  /** The manifest generation (grows by one with every commit). */
  get generation(): number {
    this.check();
    return this.state.generation;
  }

  private check(): void {
    if (this.locked || this.keys.isWiped) {
      throw new LatchkeyError('ERR_WORKSPACE_LOCKED', 'the workspace is locked', {});
    }
  }

  private entryFileId(name: string, generation: number): Uint8Array {
    return WorkspaceKeys.mac(this.keys.names, utf8(name), new Uint8Array([0]), u64(generation));
  }

  private entryPath(fileId: Uint8Array): string {
    return join(this.folder, ENTRIES_FOLDER, hex(fileId));
  }

  private checkName(name: string): string {
    astring(name, 'name', 1, this.limits.maxNameLength);
    if (name.includes('\u0000')) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'an entry name cannot contain NUL', { field: 'name' });
    }
    return name;
  }

  /** @internal Write the header with `manifest` at `generation`. */
  writeHeader(manifest: ReadonlyMap<string, ManifestEntry>, generation: number): void {
    const rows = [...manifest.values()].map((e) => [e.name, e.kind, e.size, e.generation, base64url(e.tag)]);
    const json = utf8(JSON.stringify(rows));
    const padded = new Uint8Array(padme(json.length));
    padded.fill(0x20);
    padded.set(json);
    const sealed = base64url(sealToBytes(this.keys.manifest, manifestAad(this.idBytes, generation), padded));
    wipe(json, padded);
    const body: Omit<HeaderRecord, 'mac'> = {
      magic: WORKSPACE_MAGIC,
      version: WORKSPACE_VERSION,
      id: this.state.id,
      createdAt: this.state.createdAt,
      policy: this.state.policy,
      slots: this.state.slots,
      manifest: { generation, sealed },
    };
    const mac = base64url(WorkspaceKeys.mac(this.keys.header, headerMacInput(body)));
    writeFileAtomic(join(this.folder, HEADER_FILE), [serialiseHeader({ ...body, mac })]);
  }

  /** @internal Remove entry files the manifest does not reference (left by a crash). */
  collectGarbage(): number {
    const folder = join(this.folder, ENTRIES_FOLDER);
    removeStrayTemporaries(folder);
    removeStrayTemporaries(this.folder);
    const live = new Set([...this.manifest.values()].map((e) => hex(this.entryFileId(e.name, e.generation))));
    let removed = 0;
    for (const name of readdirSync(folder)) {
      if (/^[0-9a-f]{64}$/.test(name) && !live.has(name)) {
        removeFile(join(folder, name));
        removed++;
      }
    }
    return removed;
  }

  /**
   * Apply `changes` as one atomic commit: entry files first (under fresh names), then the header
   * with the new manifest. When this resolves, the changes are durable.
   */
  commit(changes: Changes, progress?: Progress | undefined): number {
    this.check();
    const puts = changes.put ?? [];
    const removes = changes.remove ?? [];
    const generation = this.state.generation + 1;
    const next = new Map(this.manifest);
    const obsolete: Uint8Array[] = [];
    const total = puts.reduce((sum, p) => sum + p.data.length, 0);
    let done = 0;
    for (const name of removes) {
      const old = next.get(this.checkName(name));
      if (old === undefined) {
        throw new LatchkeyError('ERR_WORKSPACE_ENTRY_NOT_FOUND', `no entry \`${name}\``, { name });
      }
      obsolete.push(this.entryFileId(name, old.generation));
      next.delete(name);
    }
    for (const { name, data, kind } of puts) {
      this.checkName(name);
      if (!(data instanceof Uint8Array)) {
        throw new LatchkeyError('ERR_INVALID_ARGUMENT', '`data` is not bytes', { field: 'data' });
      }
      if (data.length > this.limits.maxEntryBytes) {
        throw new LatchkeyError('ERR_LIMIT_EXCEEDED', `entry \`${name}\` is larger than the limit`, {
          limit: 'maxEntryBytes',
          max: this.limits.maxEntryBytes,
        });
      }
      const old = next.get(name);
      if (old !== undefined && old.generation !== generation) obsolete.push(this.entryFileId(name, old.generation));
      const fileId = this.entryFileId(name, generation);
      const entryKind = kind ?? 'file';
      const tag = this.writeEntry(fileId, generation, entryKind, data);
      next.set(name, { name, kind: entryKind, size: data.length, generation, tag });
      done += data.length;
      progress?.(done, total);
    }
    if (next.size > this.limits.maxEntries) {
      throw new LatchkeyError('ERR_LIMIT_EXCEEDED', 'the workspace has too many entries', {
        limit: 'maxEntries',
        max: this.limits.maxEntries,
      });
    }
    this.writeHeader(next, generation);
    this.manifest = next;
    this.state.generation = generation;
    for (const fileId of obsolete) removeFile(this.entryPath(fileId));
    return generation;
  }

  private writeEntry(fileId: Uint8Array, generation: number, kind: EntryKind, data: Uint8Array): Uint8Array {
    const prefix = concatBytes(ENTRY_MAGIC, new Uint8Array([ENTRY_VERSION]), fileId, u64(generation));
    const aad = concatBytes(prefix, this.idBytes, utf8(kind));
    const padding = new Uint8Array(padme(data.length + 8) - data.length - 8);
    const sealed = seal(this.keys.content, aad, [u64(data.length), data, padding]);
    writeFileAtomic(this.entryPath(fileId), [prefix, sealed.nonce, ...sealed.ciphertext, sealed.tag]);
    return sealed.tag;
  }

  /** Write one entry (a file by default). Resolves when it is durable. */
  async put(name: string, data: Uint8Array, options: { readonly kind?: EntryKind } = {}): Promise<void> {
    this.commit({ put: [{ name, data, ...(options.kind === undefined ? {} : { kind: options.kind }) }] });
  }

  /** Remove one entry. */
  async remove(name: string): Promise<void> {
    this.commit({ remove: [name] });
  }

  /** The entries, sorted by name. */
  list(): EntryInfo[] {
    this.check();
    return [...this.manifest.values()]
      .map(({ name, kind, size, generation }) => ({ name, kind, size, generation }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Whether an entry exists. */
  has(name: string): boolean {
    this.check();
    return this.manifest.has(name);
  }

  /**
   * Read and verify one entry. A swapped, rolled-back, truncated, modified or missing entry
   * file is refused with its own `ERR_WORKSPACE_ENTRY_*` / `ERR_WORKSPACE_TAMPERED` code.
   */
  async get(name: string): Promise<Uint8Array> {
    return this.read(name);
  }

  /** Synchronous {@link get}. */
  read(name: string): Uint8Array {
    this.check();
    const entry = this.manifest.get(this.checkName(name));
    if (entry === undefined) {
      throw new LatchkeyError('ERR_WORKSPACE_ENTRY_NOT_FOUND', `no entry \`${name}\``, { name });
    }
    const fileId = this.entryFileId(name, entry.generation);
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(this.entryPath(fileId));
    } catch (cause) {
      throw new LatchkeyError(
        'ERR_WORKSPACE_ENTRY_MISSING',
        `the file of entry \`${name}\` is missing: it was deleted or the workspace is incomplete`,
        { name },
        { cause },
      );
    }
    if (bytes.length < PREFIX_BYTES) {
      throw new LatchkeyError('ERR_WORKSPACE_ENTRY_TRUNCATED', `entry \`${name}\` was truncated`, { name });
    }
    if (!equalBytes(bytes.subarray(0, 4), ENTRY_MAGIC) || bytes[4] !== ENTRY_VERSION) {
      throw tampered(`entry \`${name}\` was modified`, { name });
    }
    const storedId = bytes.subarray(5, 37);
    if (!equalBytes(storedId, fileId)) {
      // Which file is it? An older version of this entry, or another entry's file. (The prefix is
      // not authenticated, but a file named for this entry at another generation can only be one
      // this workspace wrote: file ids are MACs under the names key.)
      const storedGeneration = readU64(bytes, 37);
      if (
        storedGeneration >= 0 &&
        storedGeneration < entry.generation &&
        equalBytes(storedId, this.entryFileId(name, storedGeneration))
      ) {
        throw new LatchkeyError(
          'ERR_WORKSPACE_ENTRY_ROLLED_BACK',
          `entry \`${name}\` was rolled back to an older version`,
          { name, generation: entry.generation, found: storedGeneration },
        );
      }
      throw new LatchkeyError(
        'ERR_WORKSPACE_ENTRY_SWAPPED',
        `entry \`${name}\` was swapped with another entry's file`,
        { name },
      );
    }
    const expected = PREFIX_BYTES + NONCE_BYTES + padme(entry.size + 8) + TAG_BYTES;
    if (bytes.length < expected) {
      throw new LatchkeyError('ERR_WORKSPACE_ENTRY_TRUNCATED', `entry \`${name}\` was truncated`, {
        name,
        expected,
        actual: bytes.length,
      });
    }
    if (bytes.length !== expected) throw tampered(`entry \`${name}\` was modified`, { name });
    const tag = bytes.subarray(bytes.length - TAG_BYTES);
    const aad = concatBytes(bytes.subarray(0, PREFIX_BYTES), this.idBytes, utf8(entry.kind));
    const plain = equalBytes(tag, entry.tag)
      ? open(
          this.keys.content,
          aad,
          bytes.subarray(PREFIX_BYTES, PREFIX_BYTES + NONCE_BYTES),
          bytes.subarray(PREFIX_BYTES + NONCE_BYTES, bytes.length - TAG_BYTES),
          tag,
        )
      : undefined;
    if (plain === undefined || readU64(plain, 0) !== entry.size) {
      if (plain !== undefined) wipe(plain);
      throw tampered(`entry \`${name}\` was modified`, { name });
    }
    return plain.subarray(8, 8 + entry.size);
  }

  /** Read every entry and check it; returns the number checked (throws on the first bad one). */
  verifyAll(progress?: Progress): number {
    const entries = this.list();
    const total = entries.reduce((sum, e) => sum + e.size, 0);
    let done = 0;
    for (const entry of entries) {
      wipe(this.read(entry.name));
      done += entry.size;
      progress?.(done, total);
    }
    return entries.length;
  }

  /** The slots (no secrets). */
  slots(): SlotInfo[] {
    this.check();
    return this.state.slots.map(slotInfo);
  }

  /** The unlock policy. */
  get policy(): Policy {
    return this.state.policy;
  }

  /**
   * Add a slot made of `enrollers`' parts. The unlock policy must allow the evidence those
   * parts give (`ERR_WORKSPACE_SLOT_NOT_ALLOWED` otherwise: e.g. a password alone under the
   * default policy). Returns the new slot's id.
   */
  async addSlot(
    enrollers: readonly PartEnroller[],
    options: { readonly label?: string; readonly signal?: AbortSignal } = {},
  ): Promise<string> {
    this.check();
    if (this.state.slots.length >= DEFAULT_FORMAT_LIMITS.maxSlots) {
      throw new LatchkeyError('ERR_LIMIT_EXCEEDED', 'the workspace has the most slots it can have', {
        limit: 'maxSlots',
        max: DEFAULT_FORMAT_LIMITS.maxSlots,
      });
    }
    const context: PartContext = {
      workspaceId: this.state.id,
      clock: this.clock,
      enrolled: this.state.slots.flatMap((s) => s.parts),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    };
    const parts = await enrolParts(enrollers, context);
    try {
      this.check();
      const decision = decideSlot(
        this.state.policy,
        parts.map((p) => p.evidence),
        this.clock.now(),
      );
      if (!decision.allow) throw notAllowed(decision);
      const slotId = randomId(16);
      const slot: SlotRecord = {
        id: slotId,
        label: options.label ?? defaultLabel(parts.map((p) => p.part)),
        createdAt: this.clock.now(),
        parts: parts.map((p) => p.part),
        wrapped: wrapWorkspaceKey(
          this.idBytes,
          slotId,
          parts.map((p) => p.secret),
          this.keys.workspaceKey,
        ),
      };
      const before = this.state.slots;
      this.state.slots = [...before, slot];
      try {
        this.writeHeader(this.manifest, this.state.generation);
      } catch (error) {
        this.state.slots = before;
        throw error;
      }
      return slotId;
    } finally {
      for (const part of parts) wipe(part.secret);
    }
  }

  /** Remove a slot. The last slot cannot be removed (`ERR_WORKSPACE_LAST_SLOT`). */
  async removeSlot(slotId: string): Promise<void> {
    this.check();
    if (!this.state.slots.some((s) => s.id === slotId)) {
      throw new LatchkeyError('ERR_WORKSPACE_SLOT_UNKNOWN', `no slot \`${slotId}\``, { slot: slotId });
    }
    if (this.state.slots.length === 1) {
      throw new LatchkeyError(
        'ERR_WORKSPACE_LAST_SLOT',
        'the last slot cannot be removed: nothing would open the workspace',
        { slot: slotId },
      );
    }
    const before = this.state.slots;
    this.state.slots = before.filter((s) => s.id !== slotId);
    try {
      this.writeHeader(this.manifest, this.state.generation);
    } catch (error) {
      this.state.slots = before;
      throw error;
    }
  }

  /** Wipe the keys and forget the names; every later call throws `ERR_WORKSPACE_LOCKED`. */
  lock(): void {
    if (this.locked) return;
    this.locked = true;
    this.keys.wipe();
    this.manifest = new Map();
    this.releaseWriterLock();
  }
}
