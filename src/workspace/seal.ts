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
  return Buffer.concat(sealParts(key, [plaintext], aad));
}

/**
 * {@link seal} of the concatenation of `parts`, as a list of buffers to write one after another
 * (no copy of the whole plaintext or ciphertext): nonce, ciphertext pieces, tag.
 */
export function sealParts(key: Uint8Array, parts: readonly Uint8Array[], aad: Uint8Array): Buffer[] {
  const nonce = randomBytes(NONCE);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(aad);
  const out: Buffer[] = [Buffer.from(nonce.buffer, nonce.byteOffset, nonce.byteLength)];
  for (const part of parts) out.push(cipher.update(part));
  out.push(cipher.final(), cipher.getAuthTag());
  return out;
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
    const rest = decipher.final(); // empty for GCM: no copy of the body
    return rest.length === 0 ? body : Buffer.concat([body, rest]);
  } catch {
    throw new LatchkeyError(code, message);
  }
}

/**
 * Replace `file` with `data` so that a crash at any moment leaves either the old or the new
 * content, never a mix: write a temporary file in the same folder, fsync it, rename it over
 * `file`, fsync the folder (so the rename itself is durable).
 */
export async function writeAtomic(file: string, data: Uint8Array | readonly Uint8Array[], mode = 0o600): Promise<void> {
  const folder = dirname(file);
  const temporary = join(folder, `.tmp-${randomId(16)}`);
  const handle = await open(temporary, 'wx', mode);
  try {
    if (data instanceof Uint8Array) await handle.writeFile(data);
    else await handle.writev([...data]);
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
