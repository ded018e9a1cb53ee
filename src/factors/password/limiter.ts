/**
 * A bound on password hashes in flight: a counting semaphore with a bounded queue.
 *
 * Argon2, scrypt and PBKDF2 run on libuv's threadpool, which the app's file system, DNS and zlib
 * work shares (4 threads unless `UV_THREADPOOL_SIZE` says otherwise). Left unbounded, a burst of
 * sign-ins takes every thread and a `fs.readFile` elsewhere in the app waits behind all of them.
 * By default at most `min(cores, threadpool − 1)` hashes run at once, so one thread always stays
 * free, and at most `maxQueue` wait; beyond that a caller gets `ERR_OVERLOADED` at once instead of
 * memory growing without bound. Hashers share one process-wide limiter unless given their own.
 *
 * @module latchkey/password
 */
import { availableParallelism } from 'node:os';
import { LatchkeyError } from '../../core/errors.js';
import { aint } from '../../core/guards.js';

/** Options of {@link HashLimiter}. */
export interface HashLimiterOptions {
  /** Hashes computed at once. Default `min(cores, UV_THREADPOOL_SIZE − 1)`, at least 1. */
  readonly concurrency?: number;
  /** Hashes waiting for a slot before `ERR_OVERLOADED`. Default 64 per slot. */
  readonly maxQueue?: number;
  /** Longest wait for a slot before `ERR_OVERLOADED`, in ms. Default 30,000. */
  readonly maxWaitMs?: number;
}

/** The default concurrency: the cores, leaving at least one libuv thread to the rest of the app. */
export function defaultConcurrency(): number {
  const pool = Number.parseInt(process.env.UV_THREADPOOL_SIZE ?? '', 10);
  const threads = Number.isSafeInteger(pool) && pool > 0 ? pool : 4;
  return Math.max(1, Math.min(availableParallelism(), threads - 1));
}

interface Waiter {
  readonly resolve: () => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * A semaphore with a bounded queue.
 *
 * @example
 * ```ts
 * import { HashLimiter, PasswordHasher } from 'latchkey/password';
 * const hasher = new PasswordHasher({ limiter: new HashLimiter({ concurrency: 2, maxQueue: 100 }) });
 * ```
 */
export class HashLimiter {
  readonly concurrency: number;
  readonly maxQueue: number;
  readonly maxWaitMs: number;
  #running = 0;
  readonly #waiting: Waiter[] = [];

  constructor(options: HashLimiterOptions = {}) {
    this.concurrency = aint(options.concurrency ?? defaultConcurrency(), 'concurrency', 1, 256);
    this.maxQueue = aint(options.maxQueue ?? 64 * this.concurrency, 'maxQueue', 0, 1_000_000);
    this.maxWaitMs = aint(options.maxWaitMs ?? 30_000, 'maxWaitMs', 1, 3_600_000);
  }

  /** Hashes running now. */
  get running(): number {
    return this.#running;
  }

  /** Hashes waiting for a slot now. */
  get queued(): number {
    return this.#waiting.length;
  }

  /** Run `work` when a slot is free; `ERR_OVERLOADED` when the queue is full or the wait too long. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#running < this.concurrency) this.#running++;
    else await this.#wait();
    try {
      return await work();
    } finally {
      this.#release();
    }
  }

  #wait(): Promise<void> {
    if (this.#waiting.length >= this.maxQueue) {
      return Promise.reject(
        new LatchkeyError('ERR_OVERLOADED', 'too many password hashes are waiting; try again shortly', {
          concurrency: this.concurrency,
          maxQueue: this.maxQueue,
        }),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        timer: setTimeout(() => {
          const index = this.#waiting.indexOf(waiter);
          if (index !== -1) this.#waiting.splice(index, 1);
          reject(
            new LatchkeyError('ERR_OVERLOADED', 'a password hash waited too long for a slot; try again shortly', {
              maxWaitMs: this.maxWaitMs,
            }),
          );
        }, this.maxWaitMs),
      };
      waiter.timer.unref?.();
      this.#waiting.push(waiter);
    });
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next === undefined) {
      this.#running--;
      return;
    }
    // the slot passes straight to the next waiter: `running` stays the same
    clearTimeout(next.timer);
    next.resolve();
  }
}

let shared: HashLimiter | undefined;

/** The process-wide limiter that hashers use unless given their own. */
export function sharedHashLimiter(): HashLimiter {
  shared ??= new HashLimiter();
  return shared;
}
