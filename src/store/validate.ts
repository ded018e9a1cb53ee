/**
 * Input checks shared by every store implementation, so that memory, SQLite and PostgreSQL
 * refuse exactly the same inputs with exactly the same codes.
 */
import { LatchkeyError } from '../core/errors.js';
import { abytes, aint, astring } from '../core/guards.js';
import type { Limits } from '../core/limits.js';
import type {
  AuthenticatorPatch,
  Json,
  NewAccount,
  NewAuditEntry,
  NewAuthenticatorRecord,
  NewChallenge,
} from './types.js';

export function checkId(value: unknown, label: string, limits: Limits): string {
  return astring(value, label, 1, limits.maxIdLength);
}

/** Usernames are unique after NFC normalisation and case folding. */
export function usernameKey(username: string): string {
  return username.normalize('NFC').toLowerCase();
}

/** Serialise a JSON document, refusing non-JSON values and documents over the size limit. */
export function encodeDocument(value: unknown, label: string, limits: Limits): string {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', `${label} must be a plain object`, { field: label });
  }
  checkJson(value, label, 0);
  const text = JSON.stringify(value);
  if (Buffer.byteLength(text) > limits.maxDocumentBytes) {
    throw new LatchkeyError('ERR_LIMIT_EXCEEDED', `${label} is larger than ${limits.maxDocumentBytes} bytes`, {
      field: label,
      limit: limits.maxDocumentBytes,
    });
  }
  return text;
}

function checkJson(value: unknown, label: string, depth: number): asserts value is Json {
  if (depth > 32) {
    throw new LatchkeyError('ERR_LIMIT_EXCEEDED', `${label} is nested more than 32 levels deep`, {
      field: label,
      limit: 32,
    });
  }
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return;
  if (typeof value === 'number') {
    if (Number.isFinite(value)) return;
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', `${label} holds a non-finite number`, { field: label });
  }
  if (Array.isArray(value)) {
    for (const item of value) checkJson(item, label, depth + 1);
    return;
  }
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const item of Object.values(value)) checkJson(item, label, depth + 1);
    return;
  }
  throw new LatchkeyError('ERR_INVALID_ARGUMENT', `${label} holds a value that is not JSON`, { field: label });
}

export function decodeDocument(text: string): { readonly [key: string]: Json } {
  return JSON.parse(text) as { readonly [key: string]: Json };
}

export function checkNewAccount(account: NewAccount, limits: Limits): void {
  if (account.id !== undefined) checkId(account.id, 'account.id', limits);
  astring(account.username, 'account.username', 1, 256);
  if (account.displayName !== undefined) astring(account.displayName, 'account.displayName', 0, 256);
}

export function checkNewRecord(record: NewAuthenticatorRecord, limits: Limits): string {
  if (record.id !== undefined) checkId(record.id, 'record.id', limits);
  checkId(record.accountId, 'record.accountId', limits);
  astring(record.factor, 'record.factor', 1, 64);
  if (record.lookupKey !== undefined) checkId(record.lookupKey, 'record.lookupKey', limits);
  if (record.label !== undefined) astring(record.label, 'record.label', 0, 256);
  if (record.counter !== undefined) aint(record.counter, 'record.counter', 0, 0xffff_ffff);
  return encodeDocument(record.data, 'record.data', limits);
}

export function checkPatch(patch: AuthenticatorPatch, limits: Limits): string | undefined {
  if (patch.label !== undefined) astring(patch.label, 'patch.label', 0, 256);
  if (patch.counter !== undefined) aint(patch.counter, 'patch.counter', 0, 0xffff_ffff);
  if (patch.lastUsedAt !== undefined) aint(patch.lastUsedAt, 'patch.lastUsedAt');
  return patch.data === undefined ? undefined : encodeDocument(patch.data, 'patch.data', limits);
}

export function checkNewChallenge(challenge: NewChallenge, limits: Limits): void {
  checkId(challenge.id, 'challenge.id', limits);
  astring(challenge.purpose, 'challenge.purpose', 1, 128);
  abytes(challenge.payload, 'challenge.payload', { max: limits.maxChallengePayloadBytes });
  if (challenge.subject !== undefined) checkId(challenge.subject, 'challenge.subject', limits);
  aint(challenge.ttlMs, 'challenge.ttlMs', 1, limits.maxChallengeTtlMs);
}

export function checkAuditEntry(entry: NewAuditEntry, limits: Limits): string {
  if (entry.subject !== null) checkId(entry.subject, 'audit.subject', limits);
  astring(entry.type, 'audit.type', 1, 128);
  if (entry.audience !== undefined && entry.audience !== 'subject' && entry.audience !== 'operator') {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'audit.audience must be `subject` or `operator`', {
      field: 'audit.audience',
    });
  }
  return encodeDocument(entry.detail ?? {}, 'audit.detail', limits);
}

export function checkWindow(windowMs: number): number {
  return aint(windowMs, 'windowMs', 1, 366 * 24 * 3_600_000);
}

export function checkIds(ids: readonly string[], limits: Limits): void {
  if (!Array.isArray(ids) || ids.length > limits.maxRevocationBatch) {
    throw new LatchkeyError(
      'ERR_LIMIT_EXCEEDED',
      `at most ${limits.maxRevocationBatch} ids can be checked for revocation at once`,
      { limit: limits.maxRevocationBatch },
    );
  }
  for (const id of ids) checkId(id, 'revocation id', limits);
}

export function auditPageSize(requested: number | undefined, limits: Limits): number {
  if (requested === undefined) return limits.maxAuditPage;
  return aint(requested, 'query.limit', 1, limits.maxAuditPage);
}

export function closedError(kind: string): LatchkeyError {
  return new LatchkeyError('ERR_STORE_CLOSED', `the ${kind} store is closed`, { store: kind });
}
