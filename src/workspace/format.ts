/**
 * The on-disk format of a workspace folder (version 1):
 *
 * ```
 * <folder>/workspace.json     the header: magic, version, workspace id, unlock policy, key slots,
 *                             the sealed manifest and a MAC over all of it
 * <folder>/entries/<64 hex>   one sealed entry (a file or a setting) per name and generation
 * ```
 *
 * What is in clear, by design: the workspace id, the policy, each slot's public parameters (fob
 * credential ids and rpId, salts, KDF costs, labels), how many entry files there are and each
 * one's padded size (Padmé, so about log log of the real size leaks). Names, real sizes, kinds and
 * contents are sealed. The header is parsed strictly (unknown fields, bad types and oversized
 * values are `ERR_WORKSPACE_FORMAT`); a parsed header is not trusted until its MAC verifies under
 * the unwrapped workspace key.
 *
 * @module latchkey/workspace
 */
import { fromBase64url, utf8 } from '../core/bytes.js';
import { LatchkeyError } from '../core/errors.js';
import type { Policy } from '../policy/types.js';

/** The header's magic string and the format version this code writes and reads. */
export const WORKSPACE_MAGIC = 'latchkey-workspace';
export const WORKSPACE_VERSION = 1;
export const HEADER_FILE = 'workspace.json';
export const ENTRIES_FOLDER = 'entries';

/** Bounds applied when parsing a header. */
export interface WorkspaceFormatLimits {
  readonly maxHeaderBytes: number;
  readonly maxSlots: number;
  readonly maxPartsPerSlot: number;
}

export const DEFAULT_FORMAT_LIMITS: WorkspaceFormatLimits = Object.freeze({
  maxHeaderBytes: 4 << 20,
  maxSlots: 32,
  maxPartsPerSlot: 4,
});

/** A fob part: the secret is the fob's hmac-secret output for `salt`. */
export interface FobPart {
  readonly kind: 'fob';
  readonly rpId: string;
  readonly credentialId: string;
  readonly salt: string;
  /** Whether user verification (the PIN) was used at enrolment: the secret differs without it. */
  readonly uv: boolean;
}

/** A PKCS#11 part: the secret is a data key the token unwraps (JWE, ECDH-ES or RSA-OAEP). */
export interface Pkcs11Part {
  readonly kind: 'pkcs11';
  readonly tokenLabel: string;
  readonly tokenSerial: string;
  /** `CKA_ID` of the private key, hexadecimal. */
  readonly keyId: string;
  readonly jwe: string;
}

/** A recovery code or password part: the secret is argon2id of the normalised text. */
export interface KdfPart {
  readonly kind: 'recovery-code' | 'password';
  readonly salt: string;
  readonly m: number;
  readonly t: number;
  readonly p: number;
}

export type SlotPart = FobPart | Pkcs11Part | KdfPart;
export type PartKind = SlotPart['kind'];

/** One key slot: the workspace key wrapped under a KEK derived from all of its parts' secrets. */
export interface SlotRecord {
  readonly id: string;
  readonly label: string;
  readonly createdAt: number;
  readonly parts: readonly SlotPart[];
  /** nonce ‖ AES-256-GCM(KEK, workspace key) ‖ tag, base64url. */
  readonly wrapped: string;
}

/** The header as stored. */
export interface HeaderRecord {
  readonly magic: typeof WORKSPACE_MAGIC;
  readonly version: typeof WORKSPACE_VERSION;
  readonly id: string;
  readonly createdAt: number;
  readonly policy: Policy;
  readonly slots: readonly SlotRecord[];
  readonly manifest: { readonly generation: number; readonly sealed: string };
  readonly mac: string;
}

function bad(reason: string): never {
  throw new LatchkeyError('ERR_WORKSPACE_FORMAT', `the workspace header is malformed: ${reason}`, { reason });
}

function object(value: unknown, label: string, keys: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) bad(`\`${label}\` is not an object`);
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) if (!keys.includes(key)) bad(`unknown field \`${label}.${key}\``);
  return record;
}

function text(value: unknown, label: string, max = 4096): string {
  if (typeof value !== 'string' || value.length > max) bad(`\`${label}\` is not a string of at most ${max}`);
  return value;
}

function b64(value: unknown, label: string, min: number, max: number): string {
  const s = text(value, label, Math.ceil((max * 4) / 3) + 4);
  let bytes: Uint8Array;
  try {
    bytes = fromBase64url(s, label);
  } catch {
    bad(`\`${label}\` is not base64url`);
  }
  if (bytes.length < min || bytes.length > max) bad(`\`${label}\` has the wrong length`);
  return s;
}

function int(value: unknown, label: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    bad(`\`${label}\` is not an integer in ${min}..${max}`);
  }
  return value;
}

function parsePart(value: unknown, label: string): SlotPart {
  const kind = (value as { kind?: unknown } | null)?.kind;
  switch (kind) {
    case 'fob': {
      const r = object(value, label, ['kind', 'rpId', 'credentialId', 'salt', 'uv']);
      if (typeof r.uv !== 'boolean') bad(`\`${label}.uv\` is not a boolean`);
      return {
        kind,
        rpId: text(r.rpId, `${label}.rpId`, 253),
        credentialId: b64(r.credentialId, `${label}.credentialId`, 16, 1024),
        salt: b64(r.salt, `${label}.salt`, 32, 32),
        uv: r.uv,
      };
    }
    case 'pkcs11': {
      const r = object(value, label, ['kind', 'tokenLabel', 'tokenSerial', 'keyId', 'jwe']);
      const keyId = text(r.keyId, `${label}.keyId`, 256);
      if (!/^([0-9a-f]{2})*$/.test(keyId)) bad(`\`${label}.keyId\` is not hexadecimal`);
      return {
        kind,
        tokenLabel: text(r.tokenLabel, `${label}.tokenLabel`, 64),
        tokenSerial: text(r.tokenSerial, `${label}.tokenSerial`, 64),
        keyId,
        jwe: text(r.jwe, `${label}.jwe`, 16384),
      };
    }
    case 'recovery-code':
    case 'password': {
      const r = object(value, label, ['kind', 'salt', 'm', 't', 'p']);
      // Bounded before use: a stored header cannot ask for more than 1 GiB or 64 passes.
      return {
        kind,
        salt: b64(r.salt, `${label}.salt`, 16, 64),
        m: int(r.m, `${label}.m`, 8, 1 << 20),
        t: int(r.t, `${label}.t`, 1, 64),
        p: int(r.p, `${label}.p`, 1, 16),
      };
    }
    default:
      return bad(`\`${label}.kind\` is not a known slot kind`);
  }
}

/** Parse header bytes strictly. The result is unauthenticated until its MAC is checked. */
export function parseHeader(bytes: Uint8Array, limits: WorkspaceFormatLimits = DEFAULT_FORMAT_LIMITS): HeaderRecord {
  if (bytes.length > limits.maxHeaderBytes) {
    throw new LatchkeyError('ERR_LIMIT_EXCEEDED', 'the workspace header is too large', {
      limit: 'maxHeaderBytes',
      max: limits.maxHeaderBytes,
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    bad('not JSON');
  }
  const magic = (value as { magic?: unknown } | null)?.magic;
  if (magic !== WORKSPACE_MAGIC) {
    throw new LatchkeyError('ERR_WORKSPACE_FORMAT', 'this folder is not a latchkey workspace', { reason: 'magic' });
  }
  const version = (value as { version?: unknown }).version;
  if (version !== WORKSPACE_VERSION) {
    throw new LatchkeyError(
      'ERR_WORKSPACE_VERSION',
      `the workspace has format version \`${String(version)}\`; this latchkey reads version ${WORKSPACE_VERSION}`,
      { version: typeof version === 'number' ? version : -1, supported: WORKSPACE_VERSION },
    );
  }
  const r = object(value, 'header', ['magic', 'version', 'id', 'createdAt', 'policy', 'slots', 'manifest', 'mac']);
  if (!Array.isArray(r.slots) || r.slots.length > limits.maxSlots) bad('`slots` is not a list of at most the limit');
  const slots = (r.slots as unknown[]).map((slot, index): SlotRecord => {
    const label = `slots[${index}]`;
    const s = object(slot, label, ['id', 'label', 'createdAt', 'parts', 'wrapped']);
    if (!Array.isArray(s.parts) || s.parts.length === 0 || s.parts.length > limits.maxPartsPerSlot) {
      bad(`\`${label}.parts\` is not a list of 1..${limits.maxPartsPerSlot}`);
    }
    return {
      id: b64(s.id, `${label}.id`, 8, 32),
      label: text(s.label, `${label}.label`, 200),
      createdAt: int(s.createdAt, `${label}.createdAt`, 0, Number.MAX_SAFE_INTEGER),
      parts: (s.parts as unknown[]).map((part, i) => parsePart(part, `${label}.parts[${i}]`)),
      wrapped: b64(s.wrapped, `${label}.wrapped`, 60, 60),
    };
  });
  const m = object(r.manifest, 'manifest', ['generation', 'sealed']);
  if (typeof r.policy !== 'object' || r.policy === null) bad('`policy` is not an object');
  return {
    magic: WORKSPACE_MAGIC,
    version: WORKSPACE_VERSION,
    id: b64(r.id, 'id', 16, 16),
    createdAt: int(r.createdAt, 'createdAt', 0, Number.MAX_SAFE_INTEGER),
    policy: r.policy as Policy,
    slots,
    manifest: {
      generation: int(m.generation, 'manifest.generation', 0, Number.MAX_SAFE_INTEGER),
      sealed: b64(m.sealed, 'manifest.sealed', 28, limits.maxHeaderBytes),
    },
    mac: b64(r.mac, 'mac', 32, 32),
  };
}

/** The bytes the header MAC covers: the header without `mac`, in one canonical key order. */
export function headerMacInput(header: Omit<HeaderRecord, 'mac'>): Uint8Array {
  return utf8(
    JSON.stringify([
      header.magic,
      header.version,
      header.id,
      header.createdAt,
      header.policy,
      header.slots.map((slot) => [slot.id, slot.label, slot.createdAt, slot.parts.map(partFields), slot.wrapped]),
      header.manifest.generation,
      header.manifest.sealed,
    ]),
  );
}

function partFields(part: SlotPart): unknown[] {
  switch (part.kind) {
    case 'fob':
      return [part.kind, part.rpId, part.credentialId, part.salt, part.uv];
    case 'pkcs11':
      return [part.kind, part.tokenLabel, part.tokenSerial, part.keyId, part.jwe];
    default:
      return [part.kind, part.salt, part.m, part.t, part.p];
  }
}

/** Serialise a header (with its MAC) for writing. */
export function serialiseHeader(header: HeaderRecord): Uint8Array {
  return utf8(`${JSON.stringify(header, null, 1)}\n`);
}
