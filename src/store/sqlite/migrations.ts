/**
 * The SQLite schema, as versioned migrations kept in code. `PRAGMA user_version` records how
 * many have run; each runs once, in order, inside one immediate transaction with the version
 * bump, so a crash mid-migration leaves the previous version intact. Never edit a shipped
 * migration: append a new one.
 */

/** Marks a database file as latchkey's ("LKEY"), so a foreign file is refused rather than altered. */
export const APPLICATION_ID = 0x4c4b4559;

export const MIGRATIONS: readonly string[] = [
  // 1: the first schema
  `
  CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    username_key TEXT NOT NULL UNIQUE,
    display_name TEXT,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    metadata TEXT NOT NULL
  ) STRICT;

  CREATE TABLE authenticators (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    factor TEXT NOT NULL,
    lookup_key TEXT,
    label TEXT,
    data TEXT NOT NULL,
    counter INTEGER NOT NULL,
    duress INTEGER NOT NULL,
    disabled INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    version INTEGER NOT NULL,
    UNIQUE (factor, lookup_key)
  ) STRICT;
  CREATE INDEX authenticators_by_account ON authenticators (account_id, created_at);

  CREATE TABLE challenges (
    id TEXT PRIMARY KEY,
    purpose TEXT NOT NULL,
    payload BLOB NOT NULL,
    subject TEXT,
    expires_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX challenges_by_expiry ON challenges (expires_at);

  CREATE TABLE throttle (
    key TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    reset_at INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE revocations (
    id TEXT PRIMARY KEY,
    revoked_at INTEGER NOT NULL,
    reason TEXT NOT NULL,
    expires_at INTEGER
  ) STRICT;

  CREATE TABLE usage (
    id TEXT PRIMARY KEY,
    used INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    subject TEXT,
    type TEXT NOT NULL,
    audience TEXT NOT NULL CHECK (audience IN ('subject', 'operator')),
    detail TEXT NOT NULL
  ) STRICT;
  CREATE INDEX audit_by_subject ON audit (subject, seq);
  CREATE TRIGGER audit_is_append_only_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
  CREATE TRIGGER audit_is_append_only_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
  `,
];
