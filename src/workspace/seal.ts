/**
 * The workspace's cryptography and durable writes: HKDF-SHA256 key derivation from the workspace
 * key, AES-256-GCM sealing with a fresh 96-bit nonce per seal, and atomic file replacement
 * (temporary file, fsync, rename, fsync of the folder).
 *
 * @internal
 * @module latchkey/workspace
 */
import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { utf8 } from '../core/bytes.js';
import { LatchkeyError } from '../core/errors.js';
import { randomBytes, randomId } from '../core/random.js';

const NONCE = 12;
const TAG = 16;

/** A 256-bit key derived from `key` for one purpose (HKDF-SHA256, the workspace id as salt). */
export function deriveKey(key: Uint8Array, salt: Uint8Array, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', key, salt, utf8(`latchkey workspace v1: ${purpose}`), 32));
}

/** `nonce || ciphertext || tag` of `plaintext` under `key`, authenticated with `aad`. */
export function seal(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Buffer {
  const nonce = randomBytes(NONCE);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(aad);
  const body = cipher.update(plaintext);
  const final = cipher.final();
  return Buffer.concat([nonce, body, final, cipher.getAuthTag()]);
}

/**
 * Open what {@link seal} made. Any failure (wrong key, other `aad`, a flipped bit, a cut) is
 * `code` with `message`: the caller names what was being opened.
 */
export function unseal(
  key: Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array,
  code: 'ERR_WORKSPACE_TAMPERED' | 'ERR_WORKSPACE_WRONG_KEY',
  message: string,
): Buffer {
  if (sealed.length < NONCE + TAG) throw new LatchkeyError(code, message);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, NONCE));
    decipher.setAAD(aad);
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG));
    const body = decipher.update(sealed.subarray(NONCE, sealed.length - TAG));
    return Buffer.concat([body, decipher.final()]);
  } catch {
    throw new LatchkeyError(code, message);
  }
}

/**
 * Replace `file` with `data` so that a crash at any moment leaves either the old or the new
 * content, never a mix: write a temporary file in the same folder, fsync it, rename it over
 * `file`, fsync the folder (so the rename itself is durable).
 */
export async function writeAtomic(file: string, data: Uint8Array, mode = 0o600): Promise<void> {
  const folder = dirname(file);
  const temporary = join(folder, `.tmp-${randomId(16)}`);
  const handle = await open(temporary, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
  await handle.close();
  try {
    await rename(temporary, file);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
  await syncFolder(folder);
}

/** fsync a folder, so that names created or renamed in it survive a crash. */
async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
