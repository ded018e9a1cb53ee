/**
 * The SQLite store, latchkey's embedded default: one file, WAL journal, versioned migrations,
 * and every single-use operation (`take`, `consume`, throttle hits, compare-and-set updates)
 * done in one SQL statement so that it is atomic across threads and processes sharing the file.
 *
 * better-sqlite3 is an optional peer dependency, loaded only when a store is opened. This is
 * the one file in latchkey that imports it.
 *
 * @example
 * ```ts
 * import { openSqliteStore } from 'latchkey/store/sqlite';
 * const store = await openSqliteStore({ filename: './latchkey.db' });
 * await store.challenges.put({ id, purpose: 'login', payload, ttlMs: 120_000 });
 * ```
 *
 * @module latchkey/store/sqlite
 */
import type BetterSqlite3 from 'better-sqlite3';
import { type Clock, systemClock } from '../../core/clock.js';
import { LatchkeyError, wrapError } from '../../core/errors.js';
import { aint, astring } from '../../core/guards.js';
import { type Limits, resolveLimits } from '../../core/limits.js';
import { randomId } from '../../core/random.js';
import type {
  Account,
  AuditAudience,
  AuditEntry,
  AuthenticatorRecord,
  ChallengeRecord,
  Revocation,
  Store,
} from '../types.js';
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
} from '../validate.js';
import { APPLICATION_ID, MIGRATIONS } from './migrations.js';

export interface SqliteStoreOptions {
  /** Path of the database file; created if missing. `:memory:` gives a private, non-durable store. */
  readonly filename: string;
  readonly clock?: Clock;
  readonly limits?: Partial<Limits>;
  /**
   * `full` (the default) syncs the WAL on every commit, so an acknowledged write survives a
   * power loss too; `normal` survives a crash of the process but may lose the last commits on
   * power loss, for roughly twice the write throughput.
   */
  readonly synchronous?: 'full' | 'normal';
  /** How long a writer waits for another process's lock before `ERR_OVERLOADED`; 5000 ms by default. */
  readonly busyTimeoutMs?: number;
}

/** A SQLite-backed {@link Store}. */
export interface SqliteStore extends Store {
  readonly filename: string;
  /** The number of migrations applied. */
  readonly schemaVersion: number;
  /** Run SQLite's own consistency check; resolves to `ok` or the problems it found. */
  integrityCheck(): Promise<string>;
}

type Database = BetterSqlite3.Database;
type Row = Record<string, unknown>;

async function loadDriver(): Promise<typeof BetterSqlite3> {
  try {
    const module = (await import('better-sqlite3')) as { default: typeof BetterSqlite3 };
    return module.default;
  } catch (cause) {
    throw new LatchkeyError(
      'ERR_MISSING_DEPENDENCY',
      'the SQLite store needs the optional peer dependency `better-sqlite3`: npm install better-sqlite3@12',
      { package: 'better-sqlite3' },
      { cause },
    );
  }
}

/** Map a driver exception to a latchkey error code, keeping the driver's error as the cause. */
function mapError(error: unknown, what: string): LatchkeyError {
  if (error instanceof LatchkeyError) return error;
  const code = typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : '';
  if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE') {
    return wrapError(error, 'ERR_STORE_CONFLICT', `${what}: the record exists`, { sqlite: code });
  }
  if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
    return wrapError(error, 'ERR_STORE_NOT_FOUND', `${what}: a referenced record does not exist`, { sqlite: code });
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return wrapError(error, 'ERR_OVERLOADED', `${what}: the database stayed locked by another writer`, {
      sqlite: code,
    });
  }
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
    return wrapError(error, 'ERR_STORE_CORRUPT', `${what}: the database file is damaged or not a database`, {
      sqlite: code,
    });
  }
  return wrapError(error, 'ERR_STORE_IO', `${what}: the database failed`, { sqlite: code || 'unknown' });
}

function migrate(db: Database): number {
  const applicationId = db.pragma('application_id', { simple: true }) as number;
  const version = db.pragma('user_version', { simple: true }) as number;
  const tables = db.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table'").get() as { n: number };
  if (applicationId !== APPLICATION_ID && (applicationId !== 0 || tables.n > 0)) {
    throw new LatchkeyError('ERR_STORE_SCHEMA', 'the file is a SQLite database that latchkey did not create', {
      applicationId,
    });
  }
  if (version > MIGRATIONS.length) {
    throw new LatchkeyError(
      'ERR_STORE_SCHEMA',
      `the database has schema version ${version}, newer than this latchkey knows (${MIGRATIONS.length})`,
      { version, known: MIGRATIONS.length },
    );
  }
  if (version === MIGRATIONS.length) return version;
  const run = db.transaction(() => {
    // Re-read inside the write lock: another process may have migrated meanwhile.
    const current = db.pragma('user_version', { simple: true }) as number;
    for (let index = current; index < MIGRATIONS.length; index++) {
      db.exec(MIGRATIONS[index] as string);
      db.pragma(`user_version = ${index + 1}`);
    }
    db.pragma(`application_id = ${APPLICATION_ID}`);
  });
  run.immediate();
  return MIGRATIONS.length;
}

/**
 * Open (creating and migrating as needed) a SQLite store.
 *
 * @throws `ERR_MISSING_DEPENDENCY` without better-sqlite3, `ERR_STORE_SCHEMA` for a foreign or
 * newer database, `ERR_STORE_CORRUPT` for a damaged file.
 */
export async function openSqliteStore(options: SqliteStoreOptions): Promise<SqliteStore> {
  const filename = astring(options.filename, 'filename', 1, 4096);
  const clock = options.clock ?? systemClock;
  const limits = resolveLimits(options.limits);
  const synchronous = options.synchronous ?? 'full';
  if (synchronous !== 'full' && synchronous !== 'normal') {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'synchronous must be `full` or `normal`', {
      field: 'synchronous',
    });
  }
  const busyTimeoutMs = aint(options.busyTimeoutMs ?? 5000, 'busyTimeoutMs', 0, 600_000);
  const Driver = await loadDriver();

  let db: Database;
  let schemaVersion: number;
  try {
    db = new Driver(filename, { timeout: busyTimeoutMs });
  } catch (error) {
    throw mapError(error, 'opening the database');
  }
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${synchronous.toUpperCase()}`);
    db.pragma('foreign_keys = ON');
    schemaVersion = migrate(db);
  } catch (error) {
    db.close();
    throw mapError(error, 'opening the database');
  }

  const q = {
    accountInsert: db.prepare(
      'INSERT INTO accounts (id, username, username_key, display_name, disabled, created_at, metadata) VALUES (?, ?, ?, ?, 0, ?, ?)',
    ),
    accountGet: db.prepare('SELECT * FROM accounts WHERE id = ?'),
    accountByUsername: db.prepare('SELECT * FROM accounts WHERE username_key = ?'),
    accountDisable: db.prepare('UPDATE accounts SET disabled = ? WHERE id = ?'),
    recordInsert: db.prepare(
      `INSERT INTO authenticators (id, account_id, factor, lookup_key, label, data, counter, duress, disabled, created_at, version)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, 1) RETURNING *`,
    ),
    recordGet: db.prepare('SELECT * FROM authenticators WHERE id = ?'),
    recordByLookup: db.prepare('SELECT * FROM authenticators WHERE factor = ? AND lookup_key = ?'),
    recordsByAccount: db.prepare('SELECT * FROM authenticators WHERE account_id = ? ORDER BY created_at, rowid'),
    recordsByAccountFactor: db.prepare(
      'SELECT * FROM authenticators WHERE account_id = ? AND factor = ? ORDER BY created_at, rowid',
    ),
    recordUpdate: db.prepare(
      `UPDATE authenticators SET
         label = coalesce(@label, label),
         data = coalesce(@data, data),
         counter = coalesce(@counter, counter),
         duress = coalesce(@duress, duress),
         disabled = coalesce(@disabled, disabled),
         last_used_at = coalesce(@lastUsedAt, last_used_at),
         version = version + 1
       WHERE id = @id AND version = @expected RETURNING *`,
    ),
    recordDelete: db.prepare('DELETE FROM authenticators WHERE id = ?'),
    challengeInsert: db.prepare(
      `INSERT INTO challenges (id, purpose, payload, subject, expires_at) VALUES (@id, @purpose, @payload, @subject, @expiresAt)
       ON CONFLICT (id) DO UPDATE SET purpose = excluded.purpose, payload = excluded.payload,
         subject = excluded.subject, expires_at = excluded.expires_at
       WHERE challenges.expires_at <= @now`,
    ),
    challengeTake: db.prepare('DELETE FROM challenges WHERE id = ? AND purpose = ? RETURNING *'),
    challengePurge: db.prepare('DELETE FROM challenges WHERE expires_at <= ?'),
    throttleHit: db.prepare(
      `INSERT INTO throttle (key, count, reset_at) VALUES (@key, 1, @resetAt)
       ON CONFLICT (key) DO UPDATE SET
         count = CASE WHEN throttle.reset_at <= @now THEN 1 ELSE throttle.count + 1 END,
         reset_at = CASE WHEN throttle.reset_at <= @now THEN @resetAt ELSE throttle.reset_at END
       RETURNING count, reset_at`,
    ),
    throttlePeek: db.prepare('SELECT count, reset_at FROM throttle WHERE key = ? AND reset_at > ?'),
    throttleReset: db.prepare('DELETE FROM throttle WHERE key = ?'),
    revoke: db.prepare(
      'INSERT INTO revocations (id, revoked_at, reason, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING',
    ),
    revocationGet: db.prepare('SELECT * FROM revocations WHERE id = ?'),
    revocationPurge: db.prepare('DELETE FROM revocations WHERE expires_at IS NOT NULL AND expires_at <= ?'),
    consume: db.prepare(
      `INSERT INTO usage (id, used) VALUES (?, 1)
       ON CONFLICT (id) DO UPDATE SET used = usage.used + 1 WHERE usage.used < ?
       RETURNING used`,
    ),
    usageGet: db.prepare('SELECT used FROM usage WHERE id = ?'),
    auditInsert: db.prepare(
      'INSERT INTO audit (at, subject, type, audience, detail) VALUES (?, ?, ?, ?, ?) RETURNING seq',
    ),
    auditQuery: db.prepare(
      `SELECT * FROM audit WHERE subject = @subject AND seq > @afterSeq AND at >= @since AND at <= @until
         AND (@operator = 1 OR audience = 'subject')
         AND (@types IS NULL OR type IN (SELECT value FROM json_each(@types)))
       ORDER BY seq LIMIT @limit`,
    ),
  };

  let closed = false;
  /** Run a synchronous database step, mapping driver errors and refusing after close. */
  const run = <T>(what: string, step: () => T): T => {
    if (closed) throw closedError('sqlite');
    try {
      return step();
    } catch (error) {
      throw mapError(error, what);
    }
  };

  const toAccount = (row: Row): Account => ({
    id: row.id as string,
    username: row.username as string,
    ...(row.display_name === null ? {} : { displayName: row.display_name as string }),
    disabled: row.disabled === 1,
    createdAt: row.created_at as number,
    metadata: decodeDocument(row.metadata as string),
  });
  const toRecord = (row: Row): AuthenticatorRecord => ({
    id: row.id as string,
    accountId: row.account_id as string,
    factor: row.factor as string,
    ...(row.lookup_key === null ? {} : { lookupKey: row.lookup_key as string }),
    ...(row.label === null ? {} : { label: row.label as string }),
    data: decodeDocument(row.data as string),
    counter: row.counter as number,
    duress: row.duress === 1,
    disabled: row.disabled === 1,
    createdAt: row.created_at as number,
    ...(row.last_used_at === null ? {} : { lastUsedAt: row.last_used_at as number }),
    version: row.version as number,
  });
  const toRevocation = (row: Row): Revocation => ({
    id: row.id as string,
    revokedAt: row.revoked_at as number,
    reason: row.reason as string,
    ...(row.expires_at === null ? {} : { expiresAt: row.expires_at as number }),
  });
  const toAudit = (row: Row): AuditEntry => ({
    seq: row.seq as number,
    at: row.at as number,
    subject: row.subject as string | null,
    type: row.type as string,
    audience: row.audience as AuditAudience,
    detail: decodeDocument(row.detail as string),
  });
  const bool = (value: boolean | undefined): number | null => (value === undefined ? null : value ? 1 : 0);

  return {
    kind: 'sqlite',
    durable: filename !== ':memory:',
    filename,
    schemaVersion,

    accounts: {
      async create(input) {
        checkNewAccount(input, limits);
        const metadata = encodeDocument(input.metadata ?? {}, 'account.metadata', limits);
        const id = input.id ?? randomId();
        const createdAt = clock.now();
        run('creating an account', () =>
          q.accountInsert.run(
            id,
            input.username,
            usernameKey(input.username),
            input.displayName ?? null,
            createdAt,
            metadata,
          ),
        );
        return {
          id,
          username: input.username,
          ...(input.displayName === undefined ? {} : { displayName: input.displayName }),
          disabled: false,
          createdAt,
          metadata: decodeDocument(metadata),
        };
      },
      async get(id) {
        checkId(id, 'account id', limits);
        const row = run('reading an account', () => q.accountGet.get(id) as Row | undefined);
        return row === undefined ? null : toAccount(row);
      },
      async findByUsername(username) {
        astring(username, 'username', 1, 256);
        const row = run('reading an account', () => q.accountByUsername.get(usernameKey(username)) as Row | undefined);
        return row === undefined ? null : toAccount(row);
      },
      async setDisabled(id, disabled) {
        checkId(id, 'account id', limits);
        const result = run('updating an account', () => q.accountDisable.run(disabled ? 1 : 0, id));
        if (result.changes === 0) {
          throw new LatchkeyError('ERR_STORE_NOT_FOUND', 'no such account', { entity: 'account' });
        }
      },
    },

    authenticators: {
      async add(input) {
        const data = checkNewRecord(input, limits);
        const row = run('enrolling an authenticator', () =>
          q.recordInsert.get(
            input.id ?? randomId(),
            input.accountId,
            input.factor,
            input.lookupKey ?? null,
            input.label ?? null,
            data,
            input.counter ?? 0,
            input.duress === true ? 1 : 0,
            clock.now(),
          ),
        ) as Row;
        return toRecord(row);
      },
      async get(id) {
        checkId(id, 'record id', limits);
        const row = run('reading an authenticator', () => q.recordGet.get(id) as Row | undefined);
        return row === undefined ? null : toRecord(row);
      },
      async findByLookupKey(factor, lookupKey) {
        checkId(lookupKey, 'lookupKey', limits);
        const row = run('reading an authenticator', () => q.recordByLookup.get(factor, lookupKey) as Row | undefined);
        return row === undefined ? null : toRecord(row);
      },
      async listByAccount(accountId, factor) {
        checkId(accountId, 'account id', limits);
        const rows = run('listing authenticators', () =>
          factor === undefined ? q.recordsByAccount.all(accountId) : q.recordsByAccountFactor.all(accountId, factor),
        ) as Row[];
        return rows.map(toRecord);
      },
      async update(id, expectedVersion, patch) {
        checkId(id, 'record id', limits);
        aint(expectedVersion, 'expectedVersion', 1);
        const data = checkPatch(patch, limits);
        const row = run('updating an authenticator', () =>
          q.recordUpdate.get({
            id,
            expected: expectedVersion,
            label: patch.label ?? null,
            data: data ?? null,
            counter: patch.counter ?? null,
            duress: bool(patch.duress),
            disabled: bool(patch.disabled),
            lastUsedAt: patch.lastUsedAt ?? null,
          }),
        ) as Row | undefined;
        if (row !== undefined) return toRecord(row);
        const current = run('reading an authenticator', () => q.recordGet.get(id) as Row | undefined);
        if (current === undefined) {
          throw new LatchkeyError('ERR_STORE_NOT_FOUND', 'no such authenticator', { entity: 'authenticator' });
        }
        throw new LatchkeyError('ERR_STORE_CONFLICT', 'the authenticator was updated concurrently', {
          entity: 'authenticator',
          expected: expectedVersion,
          actual: current.version as number,
        });
      },
      async remove(id) {
        checkId(id, 'record id', limits);
        return run('removing an authenticator', () => q.recordDelete.run(id)).changes > 0;
      },
    },

    challenges: {
      async put(input) {
        checkNewChallenge(input, limits);
        const now = clock.now();
        const record: ChallengeRecord = {
          id: input.id,
          purpose: input.purpose,
          payload: Uint8Array.from(input.payload),
          ...(input.subject === undefined ? {} : { subject: input.subject }),
          expiresAt: now + input.ttlMs,
        };
        const result = run('storing a challenge', () =>
          q.challengeInsert.run({
            id: input.id,
            purpose: input.purpose,
            payload: Buffer.from(input.payload),
            subject: input.subject ?? null,
            expiresAt: record.expiresAt,
            now,
          }),
        );
        if (result.changes === 0) {
          throw new LatchkeyError('ERR_STORE_CONFLICT', 'a challenge with this id exists', { entity: 'challenge' });
        }
        return record;
      },
      async take(id, purpose) {
        checkId(id, 'challenge id', limits);
        const row = run('taking a challenge', () => q.challengeTake.get(id, purpose) as Row | undefined);
        if (row === undefined || (row.expires_at as number) <= clock.now()) return null;
        const payload = row.payload as Buffer;
        return {
          id,
          purpose: row.purpose as string,
          payload: new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength),
          ...(row.subject === null ? {} : { subject: row.subject as string }),
          expiresAt: row.expires_at as number,
        };
      },
      async purgeExpired() {
        return run('purging challenges', () => q.challengePurge.run(clock.now())).changes;
      },
    },

    throttle: {
      async hit(key, windowMs) {
        checkId(key, 'throttle key', limits);
        checkWindow(windowMs);
        const now = clock.now();
        const row = run('counting a throttle hit', () =>
          q.throttleHit.get({ key, now, resetAt: now + windowMs }),
        ) as Row;
        return { count: row.count as number, resetAt: row.reset_at as number };
      },
      async peek(key) {
        checkId(key, 'throttle key', limits);
        const row = run('reading a throttle', () => q.throttlePeek.get(key, clock.now()) as Row | undefined);
        return row === undefined ? null : { count: row.count as number, resetAt: row.reset_at as number };
      },
      async reset(key) {
        checkId(key, 'throttle key', limits);
        run('resetting a throttle', () => q.throttleReset.run(key));
      },
    },

    revocations: {
      async revoke(id, { reason, expiresAt }) {
        checkId(id, 'credential id', limits);
        if (expiresAt !== undefined) aint(expiresAt, 'expiresAt');
        const row = run('revoking a credential', () => {
          q.revoke.run(id, clock.now(), String(reason).slice(0, 256), expiresAt ?? null);
          return q.revocationGet.get(id) as Row;
        });
        return toRevocation(row);
      },
      async firstRevoked(ids) {
        checkIds(ids, limits);
        return run('checking revocations', () => {
          for (const id of ids) {
            const row = q.revocationGet.get(id) as Row | undefined;
            if (row !== undefined) return toRevocation(row);
          }
          return null;
        });
      },
      async purgeExpired() {
        return run('purging revocations', () => q.revocationPurge.run(clock.now())).changes;
      },
    },

    usage: {
      async consume(id, limit) {
        checkId(id, 'usage id', limits);
        aint(limit, 'limit', 1, 0xffff_ffff);
        return run('consuming a use', () => {
          const row = q.consume.get(id, limit) as Row | undefined;
          if (row !== undefined) return { ok: true, used: row.used as number };
          const current = q.usageGet.get(id) as Row | undefined;
          return { ok: false, used: (current?.used as number | undefined) ?? 0 };
        });
      },
      async used(id) {
        checkId(id, 'usage id', limits);
        const row = run('reading a usage counter', () => q.usageGet.get(id) as Row | undefined);
        return (row?.used as number | undefined) ?? 0;
      },
    },

    audit: {
      async append(input) {
        const detail = checkAuditEntry(input, limits);
        const at = clock.now();
        const audience = input.audience ?? 'subject';
        const row = run('appending to the audit log', () =>
          q.auditInsert.get(at, input.subject, input.type, audience, detail),
        ) as Row;
        return {
          seq: row.seq as number,
          at,
          subject: input.subject,
          type: input.type,
          audience,
          detail: decodeDocument(detail),
        };
      },
      async query(query) {
        checkId(query.subject, 'query.subject', limits);
        const rows = run('querying the audit log', () =>
          q.auditQuery.all({
            subject: query.subject,
            afterSeq: query.afterSeq ?? 0,
            since: query.since ?? Number.MIN_SAFE_INTEGER,
            until: query.until ?? Number.MAX_SAFE_INTEGER,
            operator: query.audience === 'operator' ? 1 : 0,
            types: query.types === undefined ? null : JSON.stringify(query.types.map(String)),
            limit: auditPageSize(query.limit, limits),
          }),
        ) as Row[];
        return rows.map(toAudit);
      },
    },

    async integrityCheck() {
      const rows = run('checking integrity', () => db.pragma('integrity_check') as { integrity_check: string }[]);
      return rows.map((row) => row.integrity_check).join('\n');
    },

    async close() {
      if (closed) return;
      closed = true;
      db.close();
    },
  };
}
