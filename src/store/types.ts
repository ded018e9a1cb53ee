/**
 * Storage interfaces. Every layer above talks to these, never to a database directly, so the
 * same code runs on the in-memory store (tests), SQLite (the embedded default) and PostgreSQL
 * (several app servers). One contract suite (test/store/contract.ts) holds every
 * implementation to the same behaviour, races and crash safety included.
 *
 * All methods are asynchronous, all times are milliseconds since the epoch taken from the
 * store's injected clock, and every failure is a `LatchkeyError`.
 *
 * @module latchkey
 */
import type { FactorName } from '../core/types.js';

/** JSON-serialisable data, as stored in record and audit documents. */
export type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json };

// ---------------------------------------------------------------- accounts

export interface Account {
  readonly id: string;
  /** Unique, compared after Unicode NFC normalisation and case folding. */
  readonly username: string;
  readonly displayName?: string;
  readonly disabled: boolean;
  readonly createdAt: number;
  readonly metadata: { readonly [key: string]: Json };
}

export interface NewAccount {
  readonly id?: string;
  readonly username: string;
  readonly displayName?: string;
  readonly metadata?: { readonly [key: string]: Json };
}

export interface AccountStore {
  /** Create an account; `ERR_STORE_CONFLICT` when the id or the username is taken. */
  create(account: NewAccount): Promise<Account>;
  get(id: string): Promise<Account | null>;
  findByUsername(username: string): Promise<Account | null>;
  /** Enable or disable an account; `ERR_STORE_NOT_FOUND` when it does not exist. */
  setDisabled(id: string, disabled: boolean): Promise<void>;
}

// ---------------------------------------------------------------- authenticator records

/** Every factor's enrolled data: a password hash, a passkey's public key, a fob's credential id. */
export interface AuthenticatorRecord {
  readonly id: string;
  readonly accountId: string;
  readonly factor: FactorName;
  /**
   * A factor-specific handle that is unique per factor (a WebAuthn credential id, a token
   * serial and key id), used to find the record without knowing the account.
   */
  readonly lookupKey?: string;
  readonly label?: string;
  /** Factor-specific enrolled data. Never a plaintext secret. */
  readonly data: { readonly [key: string]: Json };
  /** Signature counter (WebAuthn, FIDO2), when the factor keeps one. */
  readonly counter: number;
  /** A duress authenticator: using it appears to succeed and raises an alarm (see the gate). */
  readonly duress: boolean;
  readonly disabled: boolean;
  readonly createdAt: number;
  readonly lastUsedAt?: number;
  /** Incremented by every update; the compare-and-set token of {@link AuthenticatorStore.update}. */
  readonly version: number;
}

export interface NewAuthenticatorRecord {
  readonly id?: string;
  readonly accountId: string;
  readonly factor: FactorName;
  readonly lookupKey?: string;
  readonly label?: string;
  readonly data: { readonly [key: string]: Json };
  readonly counter?: number;
  readonly duress?: boolean;
}

/** What an update may change. Identity fields (id, account, factor, lookup key) never change. */
export interface AuthenticatorPatch {
  readonly label?: string;
  readonly data?: { readonly [key: string]: Json };
  readonly counter?: number;
  readonly duress?: boolean;
  readonly disabled?: boolean;
  readonly lastUsedAt?: number;
}

export interface AuthenticatorStore {
  /**
   * Enrol a record. `ERR_STORE_CONFLICT` when the id, or the (factor, lookupKey) pair, is taken;
   * `ERR_STORE_NOT_FOUND` when the account does not exist.
   */
  add(record: NewAuthenticatorRecord): Promise<AuthenticatorRecord>;
  get(id: string): Promise<AuthenticatorRecord | null>;
  findByLookupKey(factor: FactorName, lookupKey: string): Promise<AuthenticatorRecord | null>;
  /** The account's records, oldest first, optionally of one factor. */
  listByAccount(accountId: string, factor?: FactorName): Promise<AuthenticatorRecord[]>;
  /**
   * Compare-and-set: applies `patch` only if the stored version is `expectedVersion`, and
   * returns the new record; otherwise `ERR_STORE_CONFLICT` (someone else updated it first).
   */
  update(id: string, expectedVersion: number, patch: AuthenticatorPatch): Promise<AuthenticatorRecord>;
  /** Remove a record; true when it existed. */
  remove(id: string): Promise<boolean>;
}

// ---------------------------------------------------------------- challenges

export interface ChallengeRecord {
  readonly id: string;
  /** What the challenge is for (e.g. `webauthn.authenticate`); `take` checks it. */
  readonly purpose: string;
  /** The challenge bytes and anything else the verifier needs back. */
  readonly payload: Uint8Array;
  /** The account it was issued to, when known. */
  readonly subject?: string;
  readonly expiresAt: number;
}

export interface NewChallenge {
  readonly id: string;
  readonly purpose: string;
  readonly payload: Uint8Array;
  readonly subject?: string;
  /** Lifetime in ms; capped by `limits.maxChallengeTtlMs`. */
  readonly ttlMs: number;
}

export interface ChallengeStore {
  /** Store a challenge; `ERR_STORE_CONFLICT` if the id exists. Returns the stored record. */
  put(challenge: NewChallenge): Promise<ChallengeRecord>;
  /**
   * Atomically remove and return the challenge if it exists, is unexpired and has the given
   * purpose; otherwise null. Of any number of concurrent `take`s of one id, across processes
   * and servers, at most one returns it. A purpose mismatch consumes nothing.
   */
  take(id: string, purpose: string): Promise<ChallengeRecord | null>;
  /** Delete expired challenges; returns how many. */
  purgeExpired(): Promise<number>;
}

// ---------------------------------------------------------------- throttling

export interface ThrottleState {
  /** Hits inside the current window, this one included. */
  readonly count: number;
  /** When the current window ends and the count starts again from zero. */
  readonly resetAt: number;
}

export interface ThrottleStore {
  /** Atomically count one hit against `key` in a fixed window of `windowMs`. */
  hit(key: string, windowMs: number): Promise<ThrottleState>;
  /** The current state without counting a hit; null when no live window exists. */
  peek(key: string): Promise<ThrottleState | null>;
  /** Forget `key` (after a successful sign-in, say). */
  reset(key: string): Promise<void>;
}

// ---------------------------------------------------------------- revocations

export interface Revocation {
  readonly id: string;
  readonly revokedAt: number;
  readonly reason: string;
  /** After this time the revoked credential has expired anyway and the entry may be pruned. */
  readonly expiresAt?: number;
}

export interface RevocationStore {
  /** Revoke a credential id. Idempotent: revoking twice keeps the first entry. */
  revoke(id: string, options: { reason: string; expiresAt?: number }): Promise<Revocation>;
  /** The first of `ids` (in the given order) that is revoked, or null. */
  firstRevoked(ids: readonly string[]): Promise<Revocation | null>;
  /** Delete entries whose credential has expired; returns how many. */
  purgeExpired(): Promise<number>;
}

// ---------------------------------------------------------------- usage counters

export interface UsageResult {
  /** Whether this use was granted. */
  readonly ok: boolean;
  /** Uses recorded after this call (unchanged when refused). */
  readonly used: number;
}

export interface UsageStore {
  /**
   * Atomically record one use of `id` if fewer than `limit` have been recorded. Of any number
   * of concurrent calls, exactly `limit` succeed.
   */
  consume(id: string, limit: number): Promise<UsageResult>;
  used(id: string): Promise<number>;
}

// ---------------------------------------------------------------- audit

/** Who may see an audit entry: the subject themself, or only the operator (duress, for one). */
export type AuditAudience = 'subject' | 'operator';

export interface AuditEntry {
  /** Position in the log; strictly increasing. */
  readonly seq: number;
  readonly at: number;
  readonly subject: string | null;
  readonly type: string;
  readonly audience: AuditAudience;
  readonly detail: { readonly [key: string]: Json };
}

export interface NewAuditEntry {
  readonly subject: string | null;
  readonly type: string;
  readonly audience?: AuditAudience;
  readonly detail?: { readonly [key: string]: Json };
}

export interface AuditQuery {
  readonly subject: string;
  /** Only entries with `seq` greater than this (for paging). */
  readonly afterSeq?: number;
  readonly since?: number;
  readonly until?: number;
  readonly types?: readonly string[];
  /** `subject` (the default) hides operator-only entries. */
  readonly audience?: AuditAudience;
  /** At most this many entries, capped by `limits.maxAuditPage`. */
  readonly limit?: number;
}

/** Append-only: there is no update or delete, and the SQL stores refuse both at the database. */
export interface AuditLog {
  append(entry: NewAuditEntry): Promise<AuditEntry>;
  /** Entries for a subject, oldest first. */
  query(query: AuditQuery): Promise<AuditEntry[]>;
}

// ---------------------------------------------------------------- the store

/** Everything latchkey persists. */
export interface Store {
  readonly kind: string;
  /** True when an acknowledged write survives the process being killed. */
  readonly durable: boolean;
  readonly accounts: AccountStore;
  readonly authenticators: AuthenticatorStore;
  readonly challenges: ChallengeStore;
  readonly throttle: ThrottleStore;
  readonly revocations: RevocationStore;
  readonly usage: UsageStore;
  readonly audit: AuditLog;
  /** Release resources; later calls fail with `ERR_STORE_CLOSED`. */
  close(): Promise<void>;
}
