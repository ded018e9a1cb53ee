/**
 * The unlock agent: holds an unlocked workspace while its fob or token is present, and locks it
 * the moment one of the `removed` signals fires (the fob connection's removal signal, a PKCS#11
 * presence watcher's). Locking runs the registered flushers first (a plaintext view seals its
 * pending changes back), then wipes the keys and the names, and every later call throws
 * `ERR_WORKSPACE_LOCKED`. The removal handler runs synchronously in the signal's abort event, so
 * the time from removal to wipe is the time of the flush (no timer, no poll).
 *
 * @module latchkey/workspace
 */
import { type Clock, systemClock } from '../core/clock.js';
import { LatchkeyError } from '../core/errors.js';
import type { Changes, EntryInfo, EntryKind, Progress, UnlockedWorkspace } from './workspace.js';

/** Why and when the agent locked. */
export interface LockEvent {
  readonly reason: 'removed' | 'requested';
  /** A sentence for people, e.g. `the fob closed its end of the pipe`. */
  readonly message: string;
  /** When the removal (or the request) was seen, ms. */
  readonly at: number;
  /** When the keys were wiped, ms. */
  readonly wipedAt: number;
  /** Whether pending changes were sealed (false when a flusher failed; see `error`). */
  readonly flushed: boolean;
  readonly error?: string;
}

/** Flushes pending plaintext changes into the workspace; must be synchronous. */
export type Flusher = () => void;

/** Options of {@link WorkspaceAgent}. */
export interface WorkspaceAgentOptions {
  /** Signals that mean the unlocking fob or token is gone. */
  readonly removed: readonly AbortSignal[];
  readonly clock?: Clock;
  readonly onLock?: (event: LockEvent) => void;
}

/**
 * Hold `workspace` and lock it on removal.
 *
 * @example
 * ```ts
 * import { WorkspaceAgent } from 'latchkey/workspace';
 * const agent = new WorkspaceAgent(workspace, { removed: [fob.connection.removed], onLock: (e) => console.log(e.message) });
 * ```
 */
export class WorkspaceAgent {
  private readonly clock: Clock;
  private readonly flushers = new Set<Flusher>();
  private readonly listeners: (() => void)[] = [];
  private event: LockEvent | undefined;
  private readonly lockedPromise: Promise<LockEvent>;
  private resolveLocked!: (event: LockEvent) => void;

  constructor(
    private readonly workspace: UnlockedWorkspace,
    private readonly options: WorkspaceAgentOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.lockedPromise = new Promise((resolve) => {
      this.resolveLocked = resolve;
    });
    for (const signal of options.removed) {
      const onAbort = (): void => {
        const reason = signal.reason as { message?: string } | undefined;
        this.lock('removed', reason?.message ?? 'the fob was removed');
      };
      if (signal.aborted) {
        onAbort();
        break;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      this.listeners.push(() => signal.removeEventListener('abort', onAbort));
    }
  }

  /** Whether the agent has locked. */
  get isLocked(): boolean {
    return this.event !== undefined;
  }

  /** The lock event, once locked. */
  get lockEvent(): LockEvent | undefined {
    return this.event;
  }

  /** Resolves when the agent locks. */
  whenLocked(): Promise<LockEvent> {
    return this.lockedPromise;
  }

  /** The workspace, while unlocked. */
  get unlocked(): UnlockedWorkspace {
    this.check();
    return this.workspace;
  }

  /** Register a flusher run before the keys are wiped; returns a function that unregisters it. */
  addFlusher(flusher: Flusher): () => void {
    this.flushers.add(flusher);
    return () => this.flushers.delete(flusher);
  }

  private check(): void {
    if (this.event !== undefined) {
      throw new LatchkeyError('ERR_WORKSPACE_LOCKED', `the workspace is locked: ${this.event.message}`, {
        reason: this.event.reason,
      });
    }
  }

  async put(name: string, data: Uint8Array, kind?: EntryKind): Promise<void> {
    this.check();
    await this.workspace.put(name, data, kind === undefined ? {} : { kind });
  }

  async get(name: string): Promise<Uint8Array> {
    this.check();
    return this.workspace.get(name);
  }

  async remove(name: string): Promise<void> {
    this.check();
    await this.workspace.remove(name);
  }

  list(): EntryInfo[] {
    this.check();
    return this.workspace.list();
  }

  commit(changes: Changes, progress?: Progress): number {
    this.check();
    return this.workspace.commit(changes, progress);
  }

  /** Lock now: flush, wipe, refuse. Idempotent. */
  lock(reason: LockEvent['reason'] = 'requested', message = 'locked on request'): LockEvent {
    if (this.event !== undefined) return this.event;
    const at = this.clock.now();
    let flushed = true;
    let error: string | undefined;
    for (const flusher of this.flushers) {
      try {
        flusher();
      } catch (cause) {
        flushed = false;
        error = (cause as Error).message;
      }
    }
    this.workspace.lock();
    const event: LockEvent = {
      reason,
      message,
      at,
      wipedAt: this.clock.now(),
      flushed,
      ...(error === undefined ? {} : { error }),
    };
    this.event = event;
    for (const unlisten of this.listeners) unlisten();
    this.options.onLock?.(event);
    this.resolveLocked(event);
    return event;
  }
}
