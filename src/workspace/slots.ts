/**
 * Key slots, in the spirit of LUKS2: each slot wraps the workspace key (AES-256-GCM) under a KEK
 * derived with HKDF-SHA256 from the secrets of all of the slot's parts, so a slot of several parts
 * ("recovery code plus password") needs every one of them, cryptographically and not only by
 * policy. A part is a fob (hmac-secret output), a PKCS#11 token (a data key it unwraps), a
 * recovery code or a password (argon2id of the text).
 *
 * Parts are produced by {@link PartEnroller}s when a slot is added and opened by
 * {@link PartOpener}s at unlock; each also yields the {@link Evidence} the unlock policy decides on.
 *
 * @module latchkey/workspace
 */
import { base64url, concatBytes, fromBase64url, utf8, wipe } from '../core/bytes.js';
import type { Clock } from '../core/clock.js';
import { LatchkeyError } from '../core/errors.js';
import { randomBytes } from '../core/random.js';
import { foldRecoveryCode, newRecoveryCode } from '../core/recovery-code.js';
import type { Evidence } from '../core/types.js';
import { nodeRsArgon2 } from '../factors/password/argon2-backend.js';
import { normalisePassword } from '../factors/password/normalise.js';
import type { KdfPart, PartKind, SlotPart, SlotRecord } from './format.js';
import { hkdf, KEY_BYTES, openBytes, sealToBytes } from './keys.js';

/** A part's secret, the evidence that producing it gives, and the part's public record. */
export interface EnrolledPart {
  readonly part: SlotPart;
  readonly secret: Uint8Array;
  readonly evidence: Evidence;
}

/** Creates one part of a new slot (and proves it can reproduce the secret). */
export interface PartEnroller {
  readonly kind: PartKind;
  enrol(context: PartContext): Promise<EnrolledPart>;
}

/** One candidate part at unlock: which slot, which part. */
export interface PartCandidate {
  readonly slotId: string;
  readonly index: number;
  readonly part: SlotPart;
}

/** A secret recovered for a candidate. */
export interface OpenedPart {
  readonly slotId: string;
  readonly index: number;
  readonly secret: Uint8Array;
  readonly evidence: Evidence;
}

/**
 * Opens the parts of one kind at unlock. Returns the secrets it could produce (for a fob: only
 * for the enrolled fob that is present). A wrong secret is found when the slot fails to unwrap.
 */
export interface PartOpener {
  readonly kind: PartKind;
  open(candidates: readonly PartCandidate[], context: PartContext): Promise<OpenedPart[]>;
}

/** What openers and enrollers know about the workspace. */
export interface PartContext {
  readonly workspaceId: string;
  readonly clock: Clock;
  readonly signal?: AbortSignal;
  /** At enrolment: the parts already enrolled (a fob excludes its own credentials). */
  readonly enrolled?: readonly SlotPart[];
}

function kek(workspaceId: Uint8Array, slotId: string, secrets: readonly Uint8Array[]): Uint8Array {
  const ikm = concatBytes(...secrets);
  try {
    return hkdf(ikm, workspaceId, concatBytes(utf8('latchkey workspace v1 slot\u0000'), utf8(slotId)));
  } finally {
    wipe(ikm);
  }
}

function slotAad(workspaceId: Uint8Array, slotId: string): Uint8Array {
  return concatBytes(utf8('latchkey workspace v1 wrapped key\u0000'), workspaceId, utf8(slotId));
}

/** Wrap the workspace key under a slot's secrets (in part order). */
export function wrapWorkspaceKey(
  workspaceId: Uint8Array,
  slotId: string,
  secrets: readonly Uint8Array[],
  workspaceKey: Uint8Array,
): string {
  const key = kek(workspaceId, slotId, secrets);
  try {
    return base64url(sealToBytes(key, slotAad(workspaceId, slotId), workspaceKey));
  } finally {
    wipe(key);
  }
}

/** Unwrap a slot's workspace key; `undefined` when the secrets are wrong. */
export function unwrapWorkspaceKey(
  workspaceId: Uint8Array,
  slot: SlotRecord,
  secrets: readonly Uint8Array[],
): Uint8Array | undefined {
  const key = kek(workspaceId, slot.id, secrets);
  try {
    const plain = openBytes(key, slotAad(workspaceId, slot.id), fromBase64url(slot.wrapped, 'wrapped'));
    if (plain !== undefined && plain.length !== KEY_BYTES) {
      wipe(plain);
      return undefined;
    }
    return plain;
  } finally {
    wipe(key);
  }
}

// --- recovery codes and passwords ---------------------------------------------------------------

/** argon2id cost of recovery-code and password parts. */
export interface KdfCost {
  /** Memory in KiB. */
  readonly m: number;
  readonly t: number;
  readonly p: number;
}

/**
 * Default argon2id cost: 64 MiB, 3 passes, 1 lane (RFC 9106's second recommended option).
 * A recovery code has 120 random bits, so its cost matters less than a password's.
 */
export const DEFAULT_KDF_COST: KdfCost = Object.freeze({ m: 65536, t: 3, p: 1 });

/** A new recovery code: 120 bits from the CSPRNG as 24 Crockford base32 characters in groups of four. */
export function generateRecoveryCode(): string {
  return newRecoveryCode();
}

function normaliseRecoveryCode(input: string): Uint8Array {
  const folded = foldRecoveryCode(input);
  if (folded === null) {
    throw new LatchkeyError(
      'ERR_WORKSPACE_SECRET_INVALID',
      'that is not a recovery code: expect 24 letters and digits',
      { kind: 'recovery-code' },
    );
  }
  return utf8(folded);
}

async function argon2(kind: KdfPart['kind'], text: string, part: KdfPart): Promise<Uint8Array> {
  const password = kind === 'recovery-code' ? normaliseRecoveryCode(text) : normalisePassword(text);
  try {
    return await nodeRsArgon2.hashRaw({
      algorithm: 'argon2id',
      version: 19,
      password,
      salt: fromBase64url(part.salt, 'salt'),
      m: part.m,
      t: part.t,
      p: part.p,
      outputLength: KEY_BYTES,
    });
  } finally {
    wipe(password);
  }
}

function kdfEvidence(kind: KdfPart['kind'], context: PartContext, authenticatorId: string): Evidence {
  const recovery = kind === 'recovery-code';
  return Object.freeze({
    factor: kind,
    subject: context.workspaceId,
    authenticatorId,
    amr: Object.freeze([recovery ? 'otp' : 'pwd'] as const),
    kinds: Object.freeze([recovery ? 'possession' : 'knowledge'] as const),
    phishingResistant: false,
    hardwareBound: false,
    userVerified: false,
    userPresent: false,
    replayResistant: false,
    at: context.clock.now(),
  });
}

/** Enrol a recovery code or password part. For a recovery code, omit `text` to generate one. */
export function kdfEnroller(
  kind: KdfPart['kind'],
  text: string,
  cost: Partial<KdfCost> = {},
): PartEnroller & { readonly text: string } {
  if (kind === 'password' && (typeof text !== 'string' || text.length < 8)) {
    throw new LatchkeyError('ERR_PASSWORD_TOO_SHORT', 'a workspace password needs at least 8 characters', {
      min: 8,
    });
  }
  const { m, t, p } = { ...DEFAULT_KDF_COST, ...cost };
  return {
    kind,
    text,
    async enrol(context) {
      const part: KdfPart = { kind, salt: base64url(randomBytes(16)), m, t, p };
      const secret = await argon2(kind, text, part);
      return { part, secret, evidence: kdfEvidence(kind, context, `${kind}:new`) };
    },
  };
}

/** Open recovery-code or password parts with `text` (each candidate costs one argon2id run). */
export function kdfOpener(kind: KdfPart['kind'], text: string): PartOpener {
  return {
    kind,
    async open(candidates, context) {
      const opened: OpenedPart[] = [];
      for (const candidate of candidates) {
        if (candidate.part.kind !== kind) continue;
        context.signal?.throwIfAborted();
        const secret = await argon2(kind, text, candidate.part);
        opened.push({
          slotId: candidate.slotId,
          index: candidate.index,
          secret,
          evidence: kdfEvidence(kind, context, `${kind}:${candidate.slotId}`),
        });
      }
      return opened;
    },
  };
}
