/**
 * The password factor: enrolment under the NIST rules, verification that yields Evidence
 * (`amr: ['pwd']`, knowledge), and throttling through the store (NIST SP 800-63B-4 §3.2.2):
 *
 * - per account: after `delayAfter` consecutive failures each further try must wait, the wait
 *   doubling from `baseDelayMs` up to `maxDelayMs`; after `maxFailures` (default 100, §3.2.2's
 *   ceiling) the password is locked until {@link PasswordFactor.unlock} (or a year passes); a
 *   success clears the count. Every attempt reserves its place in the count atomically before
 *   any hashing, so parallel guesses cannot slip past the limit;
 * - per client (an IP address, say, when the app passes `client`): at most `clientLimit` tries
 *   per `clientWindowMs` across all accounts;
 * - an unknown account is throttled, locked and answered exactly as a known one (its counters
 *   are keyed by what the caller named, hashed), and costs the same hashing work: each attempt
 *   verifies against a fixed number of slots, the password and (unless `duress: false`) a duress
 *   password, with a dummy hash in every empty slot. So neither the answers nor the work reveal
 *   which accounts exist or which have a duress password. (A legacy hash costs what its format
 *   costs until the first successful sign-in replaces it.)
 *
 * @module latchkey/password
 */
import { createHash } from 'node:crypto';
import { base64url, utf8 } from '../../core/bytes.js';
import { type Clock, systemClock } from '../../core/clock.js';
import { isLatchkeyError, LatchkeyError } from '../../core/errors.js';
import { aint, astring } from '../../core/guards.js';
import { randomId } from '../../core/random.js';
import type { Evidence } from '../../core/types.js';
import type { AuthenticatorRecord, Store } from '../../store/types.js';
import { PasswordHasher, type PasswordVerification } from './hasher.js';
import { checkNewPassword, type PasswordRules } from './rules.js';

export interface PasswordFactorOptions {
  readonly store: Store;
  readonly hasher?: PasswordHasher;
  readonly clock?: Clock;
  /** Rules for new passwords (`use: 'mfa'` lowers the minimum to 8). */
  readonly rules?: PasswordRules;
  /** Consecutive failures before the password locks. Default 100 (NIST's ceiling). */
  readonly maxFailures?: number;
  /** Failures before waits begin. Default 5. */
  readonly delayAfter?: number;
  /** The first wait, doubled by each further failure. Default 1,000 ms. */
  readonly baseDelayMs?: number;
  /** The longest wait. Default 15 minutes. */
  readonly maxDelayMs?: number;
  /** Tries per client per window. Default 1,000. */
  readonly clientLimit?: number;
  /** The client window. Default one hour. */
  readonly clientWindowMs?: number;
  /**
   * Whether accounts may have a duress password (story 4: it appears to work and the gate raises
   * the alarm). Default true, which makes every attempt verify two slots so that having one is
   * invisible; false halves the work of a sign-in and refuses duress enrolment.
   */
  readonly duress?: boolean;
}

const FACTOR = 'password';
const YEAR = 365 * 86_400_000;

interface Slot {
  readonly record: AuthenticatorRecord | undefined;
}

/**
 * Enrol and verify passwords into Evidence, with throttling and lockout.
 *
 * @example
 * ```ts
 * import { PasswordFactor } from 'latchkey/password';
 * import { createMemoryStore } from 'latchkey/testing';
 * const store = createMemoryStore();
 * const passwords = new PasswordFactor({ store });
 * const alice = await store.accounts.create({ username: 'alice' });
 * await passwords.enrol(alice.id, 'tea at the corner café, 4pm');
 * const evidence = await passwords.verifyUsername('alice', 'tea at the corner café, 4pm', { client: ip });
 * evidence.amr; // ['pwd']
 * ```
 */
export class PasswordFactor {
  readonly #store: Store;
  readonly #hasher: PasswordHasher;
  readonly #clock: Clock;
  readonly #rules: PasswordRules;
  readonly #maxFailures: number;
  readonly #delayAfter: number;
  readonly #baseDelay: number;
  readonly #maxDelay: number;
  readonly #clientLimit: number;
  readonly #clientWindow: number;
  readonly #slots: number;
  #dummy: Promise<string> | undefined;

  constructor(options: PasswordFactorOptions) {
    this.#store = options.store;
    this.#hasher = options.hasher ?? new PasswordHasher();
    this.#clock = options.clock ?? systemClock;
    this.#rules = options.rules ?? {};
    this.#maxFailures = aint(options.maxFailures ?? 100, 'maxFailures', 1, 100);
    this.#delayAfter = aint(options.delayAfter ?? 5, 'delayAfter', 1, 100);
    this.#baseDelay = aint(options.baseDelayMs ?? 1000, 'baseDelayMs', 1, 3_600_000);
    this.#maxDelay = aint(options.maxDelayMs ?? 15 * 60_000, 'maxDelayMs', this.#baseDelay, 24 * 3_600_000);
    this.#clientLimit = aint(options.clientLimit ?? 1000, 'clientLimit', 1, 1_000_000);
    this.#clientWindow = aint(options.clientWindowMs ?? 3_600_000, 'clientWindowMs', 1000, 24 * 3_600_000);
    this.#slots = options.duress === false ? 1 : 2;
  }

  /**
   * Set (or replace) the account's password, or its duress password, after checking it against
   * the rules (the account's username counts as a user input). Clears a lockout.
   *
   * @throws LatchkeyError `ERR_PASSWORD_TOO_SHORT`, `ERR_PASSWORD_BLOCKLISTED`,
   *   `ERR_PASSWORD_TOO_WEAK`, `ERR_PASSWORD_TOO_LONG`, `ERR_STORE_NOT_FOUND`,
   *   `ERR_INVALID_ARGUMENT` (a duress password equal to the password, or duress disabled).
   */
  async enrol(
    accountId: string,
    password: string,
    options: {
      readonly userInputs?: readonly string[];
      readonly duress?: boolean;
      readonly use?: 'single-factor' | 'mfa';
    } = {},
  ): Promise<AuthenticatorRecord> {
    const account = await this.#store.accounts.get(accountId);
    if (account === null) throw new LatchkeyError('ERR_STORE_NOT_FOUND', 'no such account', { entity: 'account' });
    const duress = options.duress === true;
    if (duress && this.#slots === 1) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'this password factor was created with `duress: false`', {
        field: 'duress',
      });
    }
    checkNewPassword(password, {
      ...this.#rules,
      ...(options.use === undefined ? {} : { use: options.use }),
      userInputs: [...(this.#rules.userInputs ?? []), account.username, ...(options.userInputs ?? [])],
    });
    const existing = await this.#store.authenticators.listByAccount(accountId, FACTOR);
    // the password and the duress password must differ, or the duress one could never be told apart
    for (const other of existing.filter((record) => record.duress !== duress)) {
      if ((await this.#hasher.verify(hashOf(other), password)).valid) {
        throw new LatchkeyError(
          'ERR_INVALID_ARGUMENT',
          duress
            ? 'the duress password must differ from the password'
            : 'the password must differ from the duress password',
          { field: 'password' },
        );
      }
    }
    const hash = await this.#hasher.hash(password);
    for (const old of existing) {
      if (old.duress === duress) await this.#store.authenticators.remove(old.id);
    }
    await this.unlock(accountId);
    return this.#store.authenticators.add({
      accountId,
      factor: FACTOR,
      label: duress ? 'duress password' : 'password',
      duress,
      data: { hash },
    });
  }

  /** Clear a lockout and the waits (after the account owner proved themselves another way). */
  async unlock(accountId: string): Promise<void> {
    const keys = throttleKeys(`account\u0000${accountId}`);
    await this.#store.throttle.reset(keys.failures);
    await this.#store.throttle.reset(keys.wait);
  }

  /**
   * Verify a password for an account named by its id.
   *
   * @throws LatchkeyError `ERR_PASSWORD_INVALID` (wrong password, or no such account or
   *   password: the same answer), `ERR_THROTTLED` (wait until `detail.retryAt`),
   *   `ERR_PASSWORD_LOCKED`, `ERR_PASSWORD_TOO_LONG`, `ERR_OVERLOADED`.
   */
  async verify(accountId: string, password: string, options: { readonly client?: string } = {}): Promise<Evidence> {
    astring(accountId, 'accountId', 1, 1024);
    return this.#attempt(`account\u0000${accountId}`, accountId, password, options.client);
  }

  /** Verify a password for an account named by its username (compared as the store compares it). */
  async verifyUsername(
    username: string,
    password: string,
    options: { readonly client?: string } = {},
  ): Promise<Evidence> {
    astring(username, 'username', 1, 256);
    const account = await this.#store.accounts.findByUsername(username);
    const identity =
      account === null ? `username\u0000${username.normalize('NFC').toLowerCase()}` : `account\u0000${account.id}`;
    return this.#attempt(identity, account?.id, password, options.client);
  }

  async #attempt(
    identity: string,
    accountId: string | undefined,
    password: string,
    client: string | undefined,
  ): Promise<Evidence> {
    const store = this.#store;
    if (client !== undefined) {
      astring(client, 'client', 1, 1024);
      const state = await store.throttle.hit(`password:client:${digest(client)}`, this.#clientWindow);
      if (state.count > this.#clientLimit) {
        throw new LatchkeyError('ERR_THROTTLED', 'too many password attempts from here; try again later', {
          retryAt: state.resetAt,
        });
      }
    }
    const keys = throttleKeys(identity);
    const wait = await store.throttle.peek(keys.wait);
    if (wait !== null) {
      throw new LatchkeyError('ERR_THROTTLED', 'too many wrong passwords; wait a moment', { retryAt: wait.resetAt });
    }
    // reserve this attempt's place in the count before any work: parallel guesses each take one
    const reserved = await store.throttle.hit(keys.failures, YEAR);
    if (reserved.count > this.#maxFailures) {
      throw new LatchkeyError('ERR_PASSWORD_LOCKED', 'this password is locked after too many failures; reset it', {
        maxFailures: this.#maxFailures,
      });
    }
    const records =
      accountId === undefined
        ? []
        : (await store.authenticators.listByAccount(accountId, FACTOR)).filter((record) => !record.disabled);
    const slots: Slot[] = [{ record: records.find((record) => !record.duress) }];
    if (this.#slots === 2) slots.push({ record: records.find((record) => record.duress) });
    // every slot is verified, the empty ones against a dummy: the same work whatever exists
    const results = await Promise.all(slots.map((slot) => this.#check(slot, password)));
    const index = results.findIndex((result) => result.valid);
    const slot = slots[index];
    const result = results[index];
    if (slot?.record === undefined || result === undefined) {
      if (reserved.count >= this.#delayAfter) {
        const delay = Math.min(this.#maxDelay, this.#baseDelay * 2 ** Math.min(30, reserved.count - this.#delayAfter));
        await store.throttle.hit(keys.wait, delay);
      }
      throw new LatchkeyError('ERR_PASSWORD_INVALID', 'wrong username or password');
    }
    await store.throttle.reset(keys.failures);
    const record = slot.record;
    const now = this.#clock.now();
    try {
      await store.authenticators.update(record.id, record.version, {
        lastUsedAt: now,
        ...(result.rehash === undefined ? {} : { data: { ...record.data, hash: result.rehash } }),
      });
    } catch (error) {
      // a concurrent sign-in updated the record first; its rehash is as good as ours
      if (!isLatchkeyError(error, 'ERR_STORE_CONFLICT')) throw error;
    }
    return Object.freeze({
      factor: FACTOR,
      subject: record.accountId,
      authenticatorId: record.id,
      amr: Object.freeze(['pwd'] as const),
      kinds: Object.freeze(['knowledge'] as const),
      phishingResistant: false,
      hardwareBound: false,
      userVerified: false,
      userPresent: false,
      replayResistant: false,
      at: now,
    });
  }

  async #check(slot: Slot, password: string): Promise<PasswordVerification> {
    if (slot.record === undefined) {
      this.#dummy ??= this.#hasher.hash(randomId(24));
      await this.#hasher.verify(await this.#dummy, password);
      return { valid: false };
    }
    return this.#hasher.verify(hashOf(slot.record), password);
  }
}

function hashOf(record: AuthenticatorRecord): string {
  const hash = record.data.hash;
  if (typeof hash !== 'string') {
    throw new LatchkeyError('ERR_STORE_CORRUPT', 'the password record holds no hash', { record: record.id });
  }
  return hash;
}

function digest(text: string): string {
  return base64url(new Uint8Array(createHash('sha256').update(utf8(text)).digest()));
}

function throttleKeys(identity: string): { failures: string; wait: string } {
  const id = digest(identity);
  return { failures: `password:failures:${id}`, wait: `password:wait:${id}` };
}
