/**
 * The in-memory store: every interface of {@link Store} in plain Maps, for tests and
 * single-process tools. Not durable. Each operation runs to completion without yielding, so
 * `take` and `consume` are atomic within the process.
 *
 * @module latchkey/testing
 */
import { type Clock, systemClock } from '../core/clock.js';
import { LatchkeyError } from '../core/errors.js';
import { aint, astring } from '../core/guards.js';
import { type Limits, resolveLimits } from '../core/limits.js';
import { randomId } from '../core/random.js';
import type {
  Account,
  AuditEntry,
  AuthenticatorRecord,
  ChallengeRecord,
  Revocation,
  Store,
  ThrottleState,
} from './types.js';
import {
  auditPageSize,
  checkAuditEntry,
  checkId,
  checkIds,
  checkNewAccount,
  checkNewChallenge,
  checkNewRecord,
  checkPatch,
  checkWindow,
  closedError,
  decodeDocument,
  encodeDocument,
  usernameKey,
} from './validate.js';

export interface MemoryStoreOptions {
  readonly clock?: Clock;
  readonly limits?: Partial<Limits>;
}

/**
 * Create an in-memory store.
 *
 * @example
 * ```ts
 * import { createMemoryStore } from 'latchkey/testing';
 * const store = createMemoryStore();
 * ```
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): Store {
  const clock = options.clock ?? systemClock;
  const limits = resolveLimits(options.limits);
  let closed = false;
  const open = (): void => {
    if (closed) throw closedError('memory');
  };

  const accounts = new Map<string, Account>();
  const usernames = new Map<string, string>();
  const records = new Map<string, AuthenticatorRecord>();
  const lookupKeys = new Map<string, string>();
  const challenges = new Map<string, ChallengeRecord>();
  const throttles = new Map<string, ThrottleState>();
  const revocations = new Map<string, Revocation>();
  const usage = new Map<string, number>();
  const audit: AuditEntry[] = [];

  // Records are deep-copied through JSON on the way in and out, as a database would.
  const copyRecord = (record: AuthenticatorRecord): AuthenticatorRecord => ({
    ...record,
    data: decodeDocument(JSON.stringify(record.data)),
  });

  const copyEntry = (entry: AuditEntry): AuditEntry => ({
    ...entry,
    detail: decodeDocument(JSON.stringify(entry.detail)),
  });

  return {
    kind: 'memory',
    durable: false,
    accounts: {
      async create(input) {
        open();
        checkNewAccount(input, limits);
        const id = input.id ?? randomId();
        const key = usernameKey(input.username);
        if (accounts.has(id) || usernames.has(key)) {
          throw new LatchkeyError('ERR_STORE_CONFLICT', 'an account with this id or username exists', {
            entity: 'account',
          });
        }
        const metadata = decodeDocument(encodeDocument(input.metadata ?? {}, 'account.metadata', limits));
        const account: Account = {
          id,
          username: input.username,
          ...(input.displayName === undefined ? {} : { displayName: input.displayName }),
          disabled: false,
          createdAt: clock.now(),
          metadata,
        };
        accounts.set(id, account);
        usernames.set(key, id);
        return { ...account };
      },
      async get(id) {
        open();
        checkId(id, 'account id', limits);
        const account = accounts.get(id);
        return account === undefined ? null : { ...account };
      },
      async findByUsername(username) {
        open();
        astring(username, 'username', 1, 256);
        const id = usernames.get(usernameKey(username));
        const account = id === undefined ? undefined : accounts.get(id);
        return account === undefined ? null : { ...account };
      },
      async setDisabled(id, disabled) {
        open();
        const account = accounts.get(checkId(id, 'account id', limits));
        if (account === undefined) {
          throw new LatchkeyError('ERR_STORE_NOT_FOUND', 'no such account', { entity: 'account' });
        }
        accounts.set(id, { ...account, disabled });
      },
    },

    authenticators: {
      async add(input) {
        open();
        const data = checkNewRecord(input, limits);
        if (!accounts.has(input.accountId)) {
          throw new LatchkeyError('ERR_STORE_NOT_FOUND', 'no such account', { entity: 'account' });
        }
        const id = input.id ?? randomId();
        const lookup = input.lookupKey === undefined ? undefined : `${input.factor}\u0000${input.lookupKey}`;
        if (records.has(id) || (lookup !== undefined && lookupKeys.has(lookup))) {
          throw new LatchkeyError('ERR_STORE_CONFLICT', 'an authenticator with this id or lookup key exists', {
            entity: 'authenticator',
          });
        }
        const record: AuthenticatorRecord = {
          id,
          accountId: input.accountId,
          factor: input.factor,
          ...(input.lookupKey === undefined ? {} : { lookupKey: input.lookupKey }),
          ...(input.label === undefined ? {} : { label: input.label }),
          data: decodeDocument(data),
          counter: input.counter ?? 0,
          duress: input.duress ?? false,
          disabled: false,
          createdAt: clock.now(),
          version: 1,
        };
        records.set(id, record);
        if (lookup !== undefined) lookupKeys.set(lookup, id);
        return copyRecord(record);
      },
      async get(id) {
        open();
        const record = records.get(checkId(id, 'record id', limits));
        return record === undefined ? null : copyRecord(record);
      },
      async findByLookupKey(factor, lookupKey) {
        open();
        checkId(lookupKey, 'lookupKey', limits);
        const id = lookupKeys.get(`${factor}\u0000${lookupKey}`);
        const record = id === undefined ? undefined : records.get(id);
        return record === undefined ? null : copyRecord(record);
      },
      async listByAccount(accountId, factor) {
        open();
        checkId(accountId, 'account id', limits);
        const out: AuthenticatorRecord[] = [];
        for (const record of records.values()) {
          if (record.accountId === accountId && (factor === undefined || record.factor === factor)) {
            out.push(copyRecord(record));
          }
        }
        return out;
      },
      async update(id, expectedVersion, patch) {
        open();
        checkId(id, 'record id', limits);
        aint(expectedVersion, 'expectedVersion', 1);
        const data = checkPatch(patch, limits);
        const current = records.get(id);
        if (current === undefined) {
          throw new LatchkeyError('ERR_STORE_NOT_FOUND', 'no such authenticator', { entity: 'authenticator' });
        }
        if (current.version !== expectedVersion) {
          throw new LatchkeyError('ERR_STORE_CONFLICT', 'the authenticator was updated concurrently', {
            entity: 'authenticator',
            expected: expectedVersion,
            actual: current.version,
          });
        }
        const next: AuthenticatorRecord = {
          ...current,
          ...(patch.label === undefined ? {} : { label: patch.label }),
          ...(data === undefined ? {} : { data: decodeDocument(data) }),
          ...(patch.counter === undefined ? {} : { counter: patch.counter }),
          ...(patch.duress === undefined ? {} : { duress: patch.duress }),
          ...(patch.disabled === undefined ? {} : { disabled: patch.disabled }),
          ...(patch.lastUsedAt === undefined ? {} : { lastUsedAt: patch.lastUsedAt }),
          version: current.version + 1,
        };
        records.set(id, next);
        return copyRecord(next);
      },
      async remove(id) {
        open();
        const record = records.get(checkId(id, 'record id', limits));
        if (record === undefined) return false;
        records.delete(id);
        if (record.lookupKey !== undefined) lookupKeys.delete(`${record.factor}\u0000${record.lookupKey}`);
        return true;
      },
    },

    challenges: {
      async put(input) {
        open();
        checkNewChallenge(input, limits);
        const existing = challenges.get(input.id);
        if (existing !== undefined && existing.expiresAt > clock.now()) {
          throw new LatchkeyError('ERR_STORE_CONFLICT', 'a challenge with this id exists', { entity: 'challenge' });
        }
        const record: ChallengeRecord = {
          id: input.id,
          purpose: input.purpose,
          payload: Uint8Array.from(input.payload),
          ...(input.subject === undefined ? {} : { subject: input.subject }),
          expiresAt: clock.now() + input.ttlMs,
        };
        challenges.set(input.id, record);
        return { ...record, payload: Uint8Array.from(record.payload) };
      },
      async take(id, purpose) {
        open();
        checkId(id, 'challenge id', limits);
        const record = challenges.get(id);
        if (record === undefined || record.purpose !== purpose) return null;
        challenges.delete(id);
        return record.expiresAt > clock.now() ? record : null;
      },
      async purgeExpired() {
        open();
        const now = clock.now();
        let count = 0;
        for (const [id, record] of challenges) {
          if (record.expiresAt <= now) {
            challenges.delete(id);
            count++;
          }
        }
        return count;
      },
    },

    throttle: {
      async hit(key, windowMs) {
        open();
        checkId(key, 'throttle key', limits);
        checkWindow(windowMs);
        const now = clock.now();
        const current = throttles.get(key);
        const next =
          current === undefined || current.resetAt <= now
            ? { count: 1, resetAt: now + windowMs }
            : { count: current.count + 1, resetAt: current.resetAt };
        throttles.set(key, next);
        return next;
      },
      async peek(key) {
        open();
        checkId(key, 'throttle key', limits);
        const current = throttles.get(key);
        return current === undefined || current.resetAt <= clock.now() ? null : current;
      },
      async reset(key) {
        open();
        throttles.delete(checkId(key, 'throttle key', limits));
      },
    },

    revocations: {
      async revoke(id, { reason, expiresAt }) {
        open();
        checkId(id, 'credential id', limits);
        if (expiresAt !== undefined) aint(expiresAt, 'expiresAt');
        const existing = revocations.get(id);
        if (existing !== undefined) return existing;
        const entry: Revocation = {
          id,
          revokedAt: clock.now(),
          reason: String(reason).slice(0, 256),
          ...(expiresAt === undefined ? {} : { expiresAt }),
        };
        revocations.set(id, entry);
        return entry;
      },
      async firstRevoked(ids) {
        open();
        checkIds(ids, limits);
        for (const id of ids) {
          const entry = revocations.get(id);
          if (entry !== undefined) return entry;
        }
        return null;
      },
      async purgeExpired() {
        open();
        const now = clock.now();
        let count = 0;
        for (const [id, entry] of revocations) {
          if (entry.expiresAt !== undefined && entry.expiresAt <= now) {
            revocations.delete(id);
            count++;
          }
        }
        return count;
      },
    },

    usage: {
      async consume(id, limit) {
        open();
        checkId(id, 'usage id', limits);
        aint(limit, 'limit', 1, 0xffff_ffff);
        const used = usage.get(id) ?? 0;
        if (used >= limit) return { ok: false, used };
        usage.set(id, used + 1);
        return { ok: true, used: used + 1 };
      },
      async used(id) {
        open();
        return usage.get(checkId(id, 'usage id', limits)) ?? 0;
      },
    },

    audit: {
      async append(input) {
        open();
        const detail = checkAuditEntry(input, limits);
        const entry: AuditEntry = {
          seq: audit.length + 1,
          at: clock.now(),
          subject: input.subject,
          type: input.type,
          audience: input.audience ?? 'subject',
          detail: decodeDocument(detail),
        };
        audit.push(entry);
        return copyEntry(entry);
      },
      async query(query) {
        open();
        checkId(query.subject, 'query.subject', limits);
        const max = auditPageSize(query.limit, limits);
        const out: AuditEntry[] = [];
        for (const entry of audit) {
          if (out.length >= max) break;
          if (entry.subject !== query.subject) continue;
          if (query.afterSeq !== undefined && entry.seq <= query.afterSeq) continue;
          if (query.since !== undefined && entry.at < query.since) continue;
          if (query.until !== undefined && entry.at > query.until) continue;
          if (query.types !== undefined && !query.types.includes(entry.type)) continue;
          if ((query.audience ?? 'subject') === 'subject' && entry.audience === 'operator') continue;
          out.push(copyEntry(entry));
        }
        return out;
      },
    },

    async close() {
      closed = true;
    },
  };
}
