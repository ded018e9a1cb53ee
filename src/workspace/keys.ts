/**
 * The workspace key and the keys derived from it, and the one sealing primitive (AES-256-GCM).
 *
 * One random 256-bit workspace key; HKDF-SHA256 (salt = workspace id) derives a key per purpose,
 * so no key is used for two things: `content` seals entries, `names` turns logical names into
 * file names (HMAC-SHA256), `manifest` seals the manifest, `header` MACs the header (slots,
 * policy, manifest). Slot keys (KEKs) come from each slot's secrets the same way (slots.ts).
 *
 * @module latchkey/workspace
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync } from 'node:crypto';
import { concatBytes, utf8, wipe } from '../core/bytes.js';
import { LatchkeyError } from '../core/errors.js';
import { randomBytes } from '../core/random.js';

/** Bytes of the workspace key, of every derived key and of a workspace id. */
export const KEY_BYTES = 32;
export const WORKSPACE_ID_BYTES = 16;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;

/** HKDF-SHA256 to 32 bytes. */
export function hkdf(ikm: Uint8Array, salt: Uint8Array, info: string | Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', ikm, salt, typeof info === 'string' ? utf8(info) : info, KEY_BYTES));
}

/** The keys of an unlocked workspace. `wipe()` zeroes all of them (and the workspace key). */
export class WorkspaceKeys {
  readonly content: Uint8Array;
  readonly names: Uint8Array;
  readonly manifest: Uint8Array;
  readonly header: Uint8Array;
  private wiped = false;

  constructor(
    readonly workspaceKey: Uint8Array,
    workspaceId: Uint8Array,
  ) {
    this.content = hkdf(workspaceKey, workspaceId, 'latchkey workspace v1 content');
    this.names = hkdf(workspaceKey, workspaceId, 'latchkey workspace v1 names');
    this.manifest = hkdf(workspaceKey, workspaceId, 'latchkey workspace v1 manifest');
    this.header = hkdf(workspaceKey, workspaceId, 'latchkey workspace v1 header');
  }

  get isWiped(): boolean {
    return this.wiped;
  }

  /** HMAC-SHA256 under `key` of `parts`. */
  static mac(key: Uint8Array, ...parts: readonly Uint8Array[]): Uint8Array {
    const hmac = createHmac('sha256', key);
    for (const part of parts) hmac.update(part);
    return new Uint8Array(hmac.digest());
  }

  /** Zero every key. JavaScript cannot promise that no copy exists elsewhere (see SECURITY.md). */
  wipe(): void {
    wipe(this.workspaceKey, this.content, this.names, this.manifest, this.header);
    this.wiped = true;
  }
}

/** A fresh workspace key. */
export function newWorkspaceKey(): Uint8Array {
  return randomBytes(KEY_BYTES);
}

/** Sealed bytes: nonce, ciphertext pieces, tag (write them in this order). */
export interface Sealed {
  readonly nonce: Uint8Array;
  readonly ciphertext: readonly Uint8Array[];
  readonly tag: Uint8Array;
}

/** AES-256-GCM with a fresh random nonce over the concatenation of `plaintext` (no copy is made). */
export function seal(key: Uint8Array, aad: Uint8Array, plaintext: readonly Uint8Array[]): Sealed {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(aad);
  const ciphertext: Uint8Array[] = [];
  for (const part of plaintext) if (part.length > 0) ciphertext.push(cipher.update(part));
  const final = cipher.final();
  if (final.length > 0) ciphertext.push(final);
  return { nonce, ciphertext, tag: new Uint8Array(cipher.getAuthTag()) };
}

/** Seal into one buffer: nonce ‖ ciphertext ‖ tag. */
export function sealToBytes(key: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const sealed = seal(key, aad, [plaintext]);
  return concatBytes(sealed.nonce, ...sealed.ciphertext, sealed.tag);
}

/**
 * Open AES-256-GCM; `undefined` when the tag does not verify (the caller says what that means).
 */
export function open(
  key: Uint8Array,
  aad: Uint8Array,
  nonce: Uint8Array,
  ciphertext: Uint8Array,
  tag: Uint8Array,
): Uint8Array | undefined {
  if (nonce.length !== NONCE_BYTES || tag.length !== TAG_BYTES) return undefined;
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  const plain = decipher.update(ciphertext);
  try {
    decipher.final();
  } catch {
    plain.fill(0);
    return undefined;
  }
  return new Uint8Array(plain.buffer, plain.byteOffset, plain.byteLength);
}

/** Open nonce ‖ ciphertext ‖ tag; `undefined` when it does not verify. */
export function openBytes(key: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | undefined {
  if (sealed.length < NONCE_BYTES + TAG_BYTES) return undefined;
  return open(
    key,
    aad,
    sealed.subarray(0, NONCE_BYTES),
    sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES),
    sealed.subarray(sealed.length - TAG_BYTES),
  );
}

/**
 * Padmé padding (Nikitin et al., PETS 2019): the padded length of `length`, leaking
 * O(log log n) bits of it instead of all of it, at most 12% overhead.
 */
export function padme(length: number): number {
  if (length < 2) return length;
  const e = Math.floor(Math.log2(length));
  const s = Math.floor(Math.log2(e)) + 1;
  const lastBits = e - s;
  const mask = 2 ** lastBits - 1;
  return Math.floor((length + mask) / (mask + 1)) * (mask + 1);
}

/** Big-endian u64 of a safe integer. */
export function u64(value: number): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new LatchkeyError('ERR_INTERNAL', 'a counter is out of range', {});
  }
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(value));
  return out;
}

/** Read a big-endian u64 as a safe integer (or -1 when it is not one). */
export function readU64(bytes: Uint8Array, offset: number): number {
  const value = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(offset);
  return value > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(value);
}
