/**
 * The password factor: enrolment under the NIST rules, verification that yields Evidence
 * (`amr: ['pwd']`, knowledge), and throttling through the store (NIST SP 800-63B-4 §3.2.2):
 *
 * - per account: after `delayAfter` consecutive failures each further try must wait, the wait
 *   doubling up to 15 minutes; after `maxFailures` (default 100, §3.2.2's ceiling) the password
 *   is locked until `unlock` (a reset); a success clears the count;
 * - per client (an IP address, say, when the app passes `client`): at most `clientLimit` tries
 *   per hour across all accounts;
 * - an unknown account costs the same work as a known one (a hash against a dummy record) and
 *   fails with the same error, so timing and answers do not reveal which accounts exist.
 *
 * @module latchkey
 */
import { type Clock, systemClock } from '../../core/clock.js';
import { isLatchkeyError, LatchkeyError } from '../../core/errors.js';
import { randomId } from '../../core/random.js';
import type { Evidence } from '../../core/types.js';
import type { AuthenticatorRecord, Store } from '../../store/types.js';
import { PasswordHasher } from './hasher.js';
import { checkNewPassword, type PasswordRules } from './rules.js';

export interface PasswordFactorOptions {
  readonly store: Store;
  readonly hasher?: PasswordHasher;
  readonly clock?: Clock;
  /** Rules for new passwords (`use: 'mfa'` lowers the minimum to 8). */
  readonly rules?: PasswordRules;
  /** Consecutive failures before the password locks. Default 100. */
  readonly maxFailures?: number;
  /** Failures before waits begin. Default 5. */
  readonly delayAfter?: number;
  /** Tries per client per hour. Default 1,000. */
  readonly clientLimit?: number;
}

const FACTOR = 'password';
const YEAR = 365 * 86_400_000;
const MAX_DELAY = 15 * 60_000;

export class PasswordFactor {
  readonly #store: Store;
  readonly #hasher: PasswordHasher;
  readonly #clock: Clock;
  readonly #rules: PasswordRules;
  readonly #maxFailures: number;
  readonly #delayAfter: number;
  readonly #clientLimit: number;
  #dummy: Promise<string> | undefined;

  constructor(options: PasswordFactorOptions) {
    this.#store = options.store;
    this.#hasher = options.hasher ?? new PasswordHasher();
    this.#clock = options.clock ?? systemClock;
    this.#rules = options.rules ?? {};
    this.#maxFailures = options.maxFailures ?? 100;
    this.#delayAfter = options.delayAfter ?? 5;
    this.#clientLimit = options.clientLimit ?? 1000;
  }

  /** Set (or replace) the account's password, after checking it against the rules. */
  async enrol(
    accountId: string,
    password: string,
    options: { readonly userInputs?: readonly string[]; readonly duress?: boolean } = {},
  ): Promise<AuthenticatorRecord> {
    const account = await this.#store.accounts.get(accountId);
    if (account === null) throw new LatchkeyError('ERR_STORE_NOT_FOUND', 'no such account');
    checkNewPassword(password, {
      ...this.#rules,
      userInputs: [...(this.#rules.userInputs ?? []), account.username, ...(options.userInputs ?? [])],
    });
    const hash = await this.#hasher.hash(password);
    const duress = options.duress === true;
    for (const old of await this.#store.authenticators.listByAccount(accountId, FACTOR)) {
      if (old.duress === duress) await this.#store.authenticators.remove(old.id);
    }
    await this.#store.throttle.reset(`password:${accountId}`);
    return this.#store.authenticators.add({
      accountId,
      factor: FACTOR,
      label: duress ? 'duress password' : 'password',
      duress,
      data: { hash },
    });
  }

  /** Clear a lockout (after the account owner proved themselves another way). */
  async unlock(accountId: string): Promise<void> {
    await this.#store.throttle.reset(`password:${accountId}`);
    await this.#store.throttle.reset(`password-wait:${accountId}`);
  }

  /**
   * Verify a password for an account.
   *
   * @throws LatchkeyError `ERR_PASSWORD_INVALID` (wrong password, or no such account),
   *   `ERR_THROTTLED` (wait until `detail.retryAt`), `ERR_PASSWORD_LOCKED`.
   */
  async verify(accountId: string, password: string, options: { readonly client?: string } = {}): Promise<Evidence> {
    const store = this.#store;
    if (options.client !== undefined) {
      const state = await store.throttle.hit(`password-client:${options.client}`, 3_600_000);
      if (state.count > this.#clientLimit) {
        throw new LatchkeyError('ERR_THROTTLED', 'too many password attempts from here; try again later', {
          retryAt: state.resetAt,
        });
      }
    }
    const failures = (await store.throttle.peek(`password:${accountId}`))?.count ?? 0;
    if (failures >= this.#maxFailures) {
      throw new LatchkeyError('ERR_PASSWORD_LOCKED', 'this password is locked after too many failures; reset it');
    }
    const wait = await store.throttle.peek(`password-wait:${accountId}`);
    if (wait !== null) {
      throw new LatchkeyError('ERR_THROTTLED', 'too many wrong passwords; wait a moment', { retryAt: wait.resetAt });
    }
    const records = (await store.authenticators.listByAccount(accountId, FACTOR)).filter((r) => !r.disabled);
    // Unknown account (or no password): the same work against a dummy hash, the same answer.
    if (records.length === 0) {
      this.#dummy ??= this.#hasher.hash(randomId(24));
      await this.#hasher.verify(await this.#dummy, password);
      throw new LatchkeyError('ERR_PASSWORD_INVALID', 'wrong username or password');
    }
    for (const record of records) {
      const result = await this.#hasher.verify(record.data.hash as string, password);
      if (!result.valid) continue;
      await store.throttle.reset(`password:${accountId}`);
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
        subject: accountId,
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
    const state = await store.throttle.hit(`password:${accountId}`, YEAR);
    if (state.count >= this.#delayAfter) {
      const delay = Math.min(MAX_DELAY, 1000 * 2 ** (state.count - this.#delayAfter));
      await store.throttle.hit(`password-wait:${accountId}`, delay);
    }
    throw new LatchkeyError('ERR_PASSWORD_INVALID', 'wrong username or password');
  }
}
