/**
 * Data keys wrapped to a token's public key, so that only the token can unwrap them (what the
 * workspace's key slots need). The format is a compact JWE (RFC 7516) with `enc: A256GCM` whose
 * payload is the data key, and one of:
 *
 * - `ECDH-ES+A256KW` (RFC 7518 §4.6): an ephemeral P-256/384/521 key agrees a secret with the
 *   token's EC key; the token computes its side with `CKM_ECDH1_DERIVE`, Node runs the Concat KDF
 *   and AES key unwrap;
 * - `RSA-OAEP` (SHA-1) and `RSA-OAEP-256`: the content key is encrypted to the token's RSA key
 *   and decrypted on the token with `CKM_RSA_PKCS_OAEP`.
 *
 * Any JOSE library can wrap a data key for a token (jose's `CompactEncrypt` does, in the tests),
 * and `wrapDataKey` output is ordinary JWE. Every intermediate secret latchkey holds (the shared
 * secret, the key-encryption key, the content key) is wiped after use; every failure to unwrap is
 * one error, `ERR_PKCS11_WRAPPED_KEY_INVALID`, without detail, so it cannot serve as an oracle.
 *
 * @module latchkey/pkcs11
 */
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHash,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
  publicEncrypt,
} from 'node:crypto';
import { base64url, fromBase64url, fromUtf8, wipe } from '../../core/bytes.js';
import { LatchkeyError } from '../../core/errors.js';
import { abytes, astring } from '../../core/guards.js';
import { randomBytes } from '../../core/random.js';
import type { Pkcs11Key } from './keys.js';
import { ecPointOf } from './keys.js';
import type { Pkcs11Pin } from './library.js';
import { CURVES, type Pkcs11Curve } from './mechanism.js';
import type { Pkcs11Session } from './session.js';

/** Key management algorithms of a wrapped data key. */
export type DataKeyAlgorithm = 'ECDH-ES+A256KW' | 'RSA-OAEP' | 'RSA-OAEP-256';

const ALGORITHMS: readonly DataKeyAlgorithm[] = ['ECDH-ES+A256KW', 'RSA-OAEP', 'RSA-OAEP-256'];

/** Bounds of a wrapped data key. */
const MAX_JWE = 16 * 1024;
const MAX_HEADER = 4 * 1024;
const MAX_DATA_KEY = 1024;
const MAX_PARTY_INFO = 256;
const KW_IV = Buffer.from('a6a6a6a6a6a6a6a6', 'hex');

function invalid(): LatchkeyError {
  return new LatchkeyError('ERR_PKCS11_WRAPPED_KEY_INVALID', 'the wrapped data key is invalid or not for this key', {});
}

function malformed(message: string): LatchkeyError {
  return new LatchkeyError('ERR_ENCODING', `the wrapped data key ${message}`, { field: 'wrapped' });
}

/** RFC 7518 §4.6.2 Concat KDF with SHA-256, for a 256-bit key. */
function concatKdf(secret: Uint8Array, algorithm: string, apu: Uint8Array, apv: Uint8Array): Buffer {
  const length = (bytes: Uint8Array): Buffer => {
    const out = Buffer.alloc(4);
    out.writeUInt32BE(bytes.length);
    return out;
  };
  const id = Buffer.from(algorithm, 'ascii');
  const counter = Buffer.from([0, 0, 0, 1]);
  const keyBits = Buffer.from([0, 0, 1, 0]);
  return createHash('sha256')
    .update(counter)
    .update(secret)
    .update(length(id))
    .update(id)
    .update(length(apu))
    .update(apu)
    .update(length(apv))
    .update(apv)
    .update(keyBits)
    .digest();
}

/**
 * Wrap `dataKey` (1 to 1024 bytes) to a token's public key as a compact JWE. The algorithm
 * defaults to `ECDH-ES+A256KW` for EC keys and `RSA-OAEP-256` for RSA keys (use `RSA-OAEP` for
 * tokens, such as SoftHSM 2.6, whose OAEP knows only SHA-1).
 *
 * @example
 * ```ts
 * import { wrapDataKey } from 'latchkey/pkcs11';
 * const wrapped = wrapDataKey(await session.publicKey(key), dataKey);
 * ```
 */
export function wrapDataKey(
  recipient: KeyObject,
  dataKey: Uint8Array,
  options: { readonly algorithm?: DataKeyAlgorithm; readonly kid?: string } = {},
): string {
  abytes(dataKey, 'dataKey', { min: 1, max: MAX_DATA_KEY });
  if (recipient?.type !== 'public') {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'the recipient must be a public key', { field: 'recipient' });
  }
  const ec = recipient.asymmetricKeyType === 'ec';
  if (!ec && recipient.asymmetricKeyType !== 'rsa') {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'the recipient must be an EC or RSA key', { field: 'recipient' });
  }
  const algorithm = options.algorithm ?? (ec ? 'ECDH-ES+A256KW' : 'RSA-OAEP-256');
  if (!ALGORITHMS.includes(algorithm) || (algorithm === 'ECDH-ES+A256KW') !== ec) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', `\`${String(algorithm)}\` does not fit this key`, {
      field: 'algorithm',
    });
  }
  const header: Record<string, unknown> = { alg: algorithm, enc: 'A256GCM' };
  if (options.kid !== undefined) header.kid = astring(options.kid, 'kid', 1, 256);
  const cek = randomBytes(32);
  let encryptedKey: Uint8Array;
  try {
    if (ec) {
      const { curve } = ecPointOf(recipient);
      const ephemeral = generateKeyPairSync('ec', { namedCurve: curve });
      const jwk = ephemeral.publicKey.export({ format: 'jwk' });
      header.epk = { kty: 'EC', crv: curve, x: jwk.x, y: jwk.y };
      const secret = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: recipient });
      const kek = concatKdf(secret, algorithm, new Uint8Array(0), new Uint8Array(0));
      wipe(secret);
      try {
        const cipher = createCipheriv('id-aes256-wrap', kek, KW_IV);
        encryptedKey = Buffer.concat([cipher.update(cek), cipher.final()]);
      } finally {
        wipe(kek);
      }
    } else {
      encryptedKey = publicEncrypt(
        {
          key: recipient,
          padding: constants.RSA_PKCS1_OAEP_PADDING,
          oaepHash: algorithm === 'RSA-OAEP' ? 'sha1' : 'sha256',
        },
        cek,
      );
    }
    const protectedHeader = base64url(Buffer.from(JSON.stringify(header), 'utf8'));
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', cek, iv);
    cipher.setAAD(Buffer.from(protectedHeader, 'ascii'));
    const ciphertext = Buffer.concat([cipher.update(dataKey), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [protectedHeader, base64url(encryptedKey), base64url(iv), base64url(ciphertext), base64url(tag)].join('.');
  } finally {
    wipe(cek);
  }
}

interface ParsedJwe {
  readonly algorithm: DataKeyAlgorithm;
  readonly protectedHeader: string;
  readonly epk?: { readonly curve: Pkcs11Curve; readonly point: Buffer };
  readonly apu: Uint8Array;
  readonly apv: Uint8Array;
  readonly encryptedKey: Uint8Array;
  readonly iv: Uint8Array;
  readonly ciphertext: Uint8Array;
  readonly tag: Uint8Array;
}

function parse(jwe: unknown): ParsedJwe {
  if (typeof jwe !== 'string' || jwe.length > MAX_JWE)
    throw malformed(`must be a string of at most ${MAX_JWE} characters`);
  const parts = jwe.split('.');
  if (parts.length !== 5) throw malformed('is not a compact JWE');
  const [protectedHeader, ek, iv, ct, tag] = parts as [string, string, string, string, string];
  if (protectedHeader.length > MAX_HEADER) throw malformed('has too large a header');
  let header: unknown;
  try {
    header = JSON.parse(fromUtf8(fromBase64url(protectedHeader, 'header'), 'header'));
  } catch (cause) {
    throw new LatchkeyError(
      'ERR_ENCODING',
      'the wrapped data key has a malformed header',
      { field: 'wrapped' },
      { cause },
    );
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw malformed('has a malformed header');
  const h = header as Record<string, unknown>;
  for (const key of Object.keys(h)) {
    if (!['alg', 'enc', 'epk', 'apu', 'apv', 'kid', 'cty', 'typ'].includes(key)) {
      throw malformed(`has an unsupported header parameter \`${key.slice(0, 32)}\``);
    }
  }
  if (typeof h.alg !== 'string' || !ALGORITHMS.includes(h.alg as DataKeyAlgorithm)) {
    throw malformed('uses an unsupported algorithm');
  }
  if (h.enc !== 'A256GCM') throw malformed('must use `A256GCM` content encryption');
  const algorithm = h.alg as DataKeyAlgorithm;
  const party = (value: unknown, name: string): Uint8Array => {
    if (value === undefined) return new Uint8Array(0);
    if (typeof value !== 'string') throw malformed(`has a malformed \`${name}\``);
    const bytes = fromBase64url(value, name);
    if (bytes.length > MAX_PARTY_INFO) throw malformed(`has too long an \`${name}\``);
    return bytes;
  };
  let epk: ParsedJwe['epk'];
  if (algorithm === 'ECDH-ES+A256KW') {
    const e = h.epk as Record<string, unknown> | undefined;
    if (
      typeof e !== 'object' ||
      e === null ||
      e.kty !== 'EC' ||
      typeof e.crv !== 'string' ||
      !Object.hasOwn(CURVES, e.crv)
    ) {
      throw malformed('has a malformed ephemeral key');
    }
    const curve = e.crv as Pkcs11Curve;
    const size = CURVES[curve].fieldBytes;
    if (typeof e.x !== 'string' || typeof e.y !== 'string') throw malformed('has a malformed ephemeral key');
    const x = fromBase64url(e.x, 'epk.x');
    const y = fromBase64url(e.y, 'epk.y');
    if (x.length !== size || y.length !== size) throw malformed('has a malformed ephemeral key');
    epk = { curve, point: Buffer.concat([Buffer.from([4]), x, y]) };
  } else if (h.epk !== undefined) throw malformed('has an ephemeral key it does not use');
  return {
    algorithm,
    protectedHeader,
    ...(epk === undefined ? {} : { epk }),
    apu: party(h.apu, 'apu'),
    apv: party(h.apv, 'apv'),
    encryptedKey: fromBase64url(ek, 'encrypted key'),
    iv: fromBase64url(iv, 'iv'),
    ciphertext: fromBase64url(ct, 'ciphertext'),
    tag: fromBase64url(tag, 'tag'),
  };
}

/**
 * Unwrap a data key wrapped by {@link wrapDataKey} (or any JWE encrypter using these algorithms)
 * with a private key on the token. The caller owns, and should wipe, the returned bytes.
 *
 * @example
 * ```ts
 * import { unwrapDataKey } from 'latchkey/pkcs11';
 * const dataKey = await unwrapDataKey(session, key, wrapped);
 * ```
 */
export async function unwrapDataKey(
  session: Pkcs11Session,
  key: Pkcs11Key,
  wrapped: string,
  options: { readonly pin?: Pkcs11Pin } = {},
): Promise<Uint8Array> {
  const jwe = parse(wrapped);
  if (jwe.iv.length !== 12 || jwe.tag.length !== 16) throw malformed('has a malformed iv or tag');
  if (jwe.ciphertext.length === 0 || jwe.ciphertext.length > MAX_DATA_KEY) throw malformed('has a malformed payload');
  let cek: Uint8Array | undefined;
  try {
    if (jwe.algorithm === 'ECDH-ES+A256KW') {
      const epk = jwe.epk as NonNullable<ParsedJwe['epk']>;
      if (key.keyType !== 'EC' || key.curve !== epk.curve) {
        throw new LatchkeyError('ERR_PKCS11_KEY_UNSUITABLE', `the data key was wrapped to a ${epk.curve} key`, {});
      }
      if (jwe.encryptedKey.length !== 40) throw invalid();
      const secret = await session.deriveEcdh(key, epk.point);
      const kek = concatKdf(secret, jwe.algorithm, jwe.apu, jwe.apv);
      wipe(secret);
      try {
        const decipher = createDecipheriv('id-aes256-wrap', kek, KW_IV);
        cek = Buffer.concat([decipher.update(jwe.encryptedKey), decipher.final()]);
      } catch {
        throw invalid();
      } finally {
        wipe(kek);
      }
    } else {
      if (key.keyType !== 'RSA') {
        throw new LatchkeyError('ERR_PKCS11_KEY_UNSUITABLE', 'the data key was wrapped to an RSA key', {});
      }
      try {
        cek = await session.decrypt(key, jwe.encryptedKey, {
          algorithm: jwe.algorithm,
          ...(options.pin === undefined ? {} : { pin: options.pin }),
        });
      } catch (error) {
        // A token that cannot decrypt the content key says why in many ways: one answer for all.
        if (error instanceof LatchkeyError && (error.code === 'ERR_PKCS11' || error.code === 'ERR_INVALID_ARGUMENT')) {
          throw invalid();
        }
        throw error;
      }
    }
    if (cek.length !== 32) throw invalid();
    const decipher = createDecipheriv('aes-256-gcm', cek, jwe.iv);
    decipher.setAAD(Buffer.from(jwe.protectedHeader, 'ascii'));
    decipher.setAuthTag(jwe.tag);
    // GCM hands out plaintext before checking the tag: wipe it unless the tag verifies.
    const out = decipher.update(jwe.ciphertext);
    try {
      decipher.final();
    } catch {
      wipe(out);
      throw invalid();
    }
    return new Uint8Array(out.buffer, out.byteOffset, out.length);
  } finally {
    wipe(cek);
  }
}
