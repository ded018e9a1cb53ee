/**
 * Recovery codes: NIST SP 800-63B-4 look-up secrets (§3.1.2) for account recovery (§4.2).
 *
 * - Each code carries 120 bits from the OS CSPRNG (24 Crockford base32 characters, shown in six
 *   groups of four). §3.1.2.1 asks for at least 64 bits; at 112 bits or more §3.1.2.2 lets the
 *   verifier store a plain one-way hash, so codes are stored as HMAC-SHA256 under a per-set salt
 *   and no slow KDF is needed to keep a stolen database from revealing them.
 * - Single use: a used code is marked in the same compare-and-set update that accepts it, so two
 *   servers racing on one code accept it once.
 * - Throttled (§3.1.2.2 via §3.2.2): at most `maxFailures` wrong codes per account per window,
 *   counted in the store, then `ERR_THROTTLED` until the window ends.
 * - Regenerable: a new set replaces the old one entirely.
 *
 * The evidence is a possession factor (the printed sheet), `amr: ['otp']`, replay resistant (each
 * code works once) but neither phishing resistant nor hardware bound, so it reaches AAL1 alone and
 * AAL2 with a password; `Gate.recover` decides what it must be combined with to recover an account.
 *
 * @module latchkey
 */
import { createHmac } from 'node:crypto';
import { equalBytes } from '../core/bytes.js';
import { type Clock, systemClock } from '../core/clock.js';
import { isLatchkeyError, LatchkeyError } from '../core/errors.js';
import { randomBytes } from '../core/random.js';
import { foldRecoveryCode, newRecoveryCode } from '../core/recovery-code.js';
import type { Evidence } from '../core/types.js';
import type { AuthenticatorRecord, Store } from '../store/types.js';

const FACTOR = 'recovery-code';

export interface RecoveryCodeOptions {
  readonly store: Store;
  readonly clock?: Clock;
  /** Codes per set. Default 10. */
  readonly count?: number;
  /** Wrong codes allowed per account per window. Default 10. */
  readonly maxFailures?: number;
  /** The throttle window. Default one hour. */
  readonly windowMs?: number;
}

/** Codes as shown to the user once, and the record that stores their hashes. */
export interface RecoveryCodeSet {
  readonly codes: readonly string[];
  readonly record: AuthenticatorRecord;
}

function digest(salt: Uint8Array, code: string): string {
  return createHmac('sha256', salt).update(code).digest('base64url');
}

/**
 * @example
 * ```ts
 * const recovery = new RecoveryCodes({ store });
 * const { codes } = await recovery.generate(alice.id); // show once, never again
 * const evidence = await recovery.verify(alice.id, 'ABCD-EFGH-...');
 * ```
 */
export class RecoveryCodes {
  readonly factor = FACTOR;
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #count: number;
  readonly #maxFailures: number;
  readonly #windowMs: number;

  constructor(options: RecoveryCodeOptions) {
    this.#store = options.store;
    this.#clock = options.clock ?? systemClock;
    this.#count = bounded(options.count ?? 10, 'count', 1, 100);
    this.#maxFailures = bounded(options.maxFailures ?? 10, 'maxFailures', 1, 1000);
    this.#windowMs = bounded(options.windowMs ?? 3_600_000, 'windowMs', 1000, 30 * 86_400_000);
  }

  /** A fresh set for the account, replacing any earlier one. The codes are returned only here. */
  async generate(accountId: string, options: { readonly duress?: boolean } = {}): Promise<RecoveryCodeSet> {
    const salt = randomBytes(32);
    const codes: string[] = [];
    for (let i = 0; i < this.#count; i++) codes.push(newRecoveryCode());
    for (const old of await this.#store.authenticators.listByAccount(accountId, FACTOR)) {
      if (old.duress === (options.duress === true)) await this.#store.authenticators.remove(old.id);
    }
    const record = await this.#store.authenticators.add({
      accountId,
      factor: FACTOR,
      label: options.duress === true ? 'duress recovery codes' : 'recovery codes',
      duress: options.duress === true,
      data: {
        salt: Buffer.from(salt).toString('base64url'),
        hashes: codes.map((code) => digest(salt, foldRecoveryCode(code) as string)),
        used: codes.map(() => false),
      },
    });
    return { codes, record };
  }

  /** How many unused codes the account has left (for a "generate new codes" nudge). */
  async remaining(accountId: string): Promise<number> {
    let left = 0;
    for (const record of await this.#store.authenticators.listByAccount(accountId, FACTOR)) {
      if (record.duress || record.disabled) continue;
      left += (record.data.used as boolean[]).filter((used) => !used).length;
    }
    return left;
  }

  /**
   * Accept one code, once. Every unused code of every set is compared (constant time), whatever
   * matches first, so the work does not depend on which code was typed.
   *
   * @throws LatchkeyError `ERR_RECOVERY_CODE_INVALID` for a wrong, used or malformed code,
   *   `ERR_THROTTLED` past `maxFailures` wrong codes in the window.
   */
  async verify(accountId: string, code: string): Promise<Evidence> {
    const key = `recovery-code:${accountId}`;
    const state = await this.#store.throttle.peek(key);
    if (state !== null && state.count >= this.#maxFailures) {
      throw new LatchkeyError('ERR_THROTTLED', 'too many wrong recovery codes; try again later', {
        retryAt: state.resetAt,
      });
    }
    const typed = foldRecoveryCode(code);
    for (let attempt = 0; attempt < 3 && typed !== null; attempt++) {
      const records = await this.#store.authenticators.listByAccount(accountId, FACTOR);
      let match: { record: AuthenticatorRecord; index: number } | null = null;
      for (const record of records) {
        if (record.disabled) continue;
        const salt = Buffer.from(record.data.salt as string, 'base64url');
        const candidate = Buffer.from(digest(salt, typed));
        const hashes = record.data.hashes as string[];
        const used = record.data.used as boolean[];
        hashes.forEach((hash, index) => {
          const same = equalBytes(candidate, Buffer.from(hash));
          if (same && !used[index] && match === null) match = { record, index };
        });
      }
      if (match === null) break;
      const { record, index } = match as { record: AuthenticatorRecord; index: number };
      const used = [...(record.data.used as boolean[])];
      used[index] = true;
      const now = this.#clock.now();
      try {
        await this.#store.authenticators.update(record.id, record.version, {
          data: { ...record.data, used },
          lastUsedAt: now,
        });
      } catch (error) {
        // someone else used a code of this set at the same moment: read again and retry
        if (isLatchkeyError(error, 'ERR_STORE_CONFLICT')) continue;
        throw error;
      }
      await this.#store.throttle.reset(key);
      return Object.freeze({
        factor: FACTOR,
        subject: accountId,
        authenticatorId: record.id,
        amr: Object.freeze(['otp'] as const),
        kinds: Object.freeze(['possession'] as const),
        phishingResistant: false,
        hardwareBound: false,
        userVerified: false,
        userPresent: true,
        // single use: SP 800-63B names look-up secrets among replay-resistant authenticators
        // (rev. 3 §5.2.8; 63B-4 §3.2.7)
        replayResistant: true,
        at: now,
      });
    }
    await this.#store.throttle.hit(key, this.#windowMs);
    throw new LatchkeyError('ERR_RECOVERY_CODE_INVALID', 'that recovery code is not valid (or was already used)');
  }
}

function bounded(value: number, name: string, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', `${name} must be an integer from ${min} to ${max}`, {
      field: name,
    });
  }
  return value;
}
