/**
 * HMAC-SHA256 (RFC 2104, FIPS 180-4) in plain TypeScript, specialised for what a macaroon
 * chain does: thousands of HMACs with a fresh 32-byte key and a short message each. Calling
 * node:crypto costs a native round trip and a new `Hmac` object per step, which dominates at
 * these sizes; this does the four SHA-256 compressions of a short HMAC directly. It has no
 * data-dependent branches or table lookups. Tested against node:crypto (vectors and properties)
 * in test/delegation/macaroon.test.ts.
 *
 * The scratch state is module-level; {@link wipeHmacScratch} clears it and the verifier calls it
 * when it finishes.
 *
 * @module latchkey
 */

// biome-ignore format: the FIPS 180-4 round constants
const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const IV = new Int32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);

const W = new Int32Array(64);
const KW = new Int32Array(16);
const INNER = new Int32Array(8);
const OUTER = new Int32Array(8);

/** One SHA-256 compression of the 16 words in `W[0..15]` into `state`. */
function compress(state: Int32Array): void {
  for (let i = 16; i < 64; i++) {
    const w15 = W[i - 15] as number;
    const w2 = W[i - 2] as number;
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
    W[i] = ((W[i - 16] as number) + s0 + (W[i - 7] as number) + s1) | 0;
  }
  let a = state[0] as number;
  let b = state[1] as number;
  let c = state[2] as number;
  let d = state[3] as number;
  let e = state[4] as number;
  let f = state[5] as number;
  let g = state[6] as number;
  let h = state[7] as number;
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + S1 + ((e & f) ^ (~e & g)) + (K[i] as number) + (W[i] as number)) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  state[0] = ((state[0] as number) + a) | 0;
  state[1] = ((state[1] as number) + b) | 0;
  state[2] = ((state[2] as number) + c) | 0;
  state[3] = ((state[3] as number) + d) | 0;
  state[4] = ((state[4] as number) + e) | 0;
  state[5] = ((state[5] as number) + f) | 0;
  state[6] = ((state[6] as number) + g) | 0;
  state[7] = ((state[7] as number) + h) | 0;
}

/** Hash `data` into `state` after `prefixBytes` bytes were already compressed, with padding. */
function finish(state: Int32Array, data: Uint8Array, prefixBytes: number): void {
  const length = data.length;
  const full = length - (length % 64);
  let offset = 0;
  for (; offset < full; offset += 64) {
    for (let i = 0, o = offset; i < 16; i++, o += 4) {
      W[i] =
        ((data[o] as number) << 24) |
        ((data[o + 1] as number) << 16) |
        ((data[o + 2] as number) << 8) |
        (data[o + 3] as number);
    }
    compress(state);
  }
  W.fill(0, 0, 16);
  const rest = length - full;
  for (let i = 0; i < rest; i++)
    W[i >> 2] = (W[i >> 2] as number) | ((data[offset + i] as number) << (24 - 8 * (i & 3)));
  W[rest >> 2] = (W[rest >> 2] as number) | (0x80 << (24 - 8 * (rest & 3)));
  if (rest >= 56) {
    compress(state);
    W.fill(0, 0, 16);
  }
  const bits = (prefixBytes + length) * 8;
  W[14] = Math.floor(bits / 0x100000000) | 0;
  W[15] = bits | 0;
  compress(state);
}

function toBytes(state: Int32Array): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 8; i++) {
    const v = state[i] as number;
    out[4 * i] = v >>> 24;
    out[4 * i + 1] = v >>> 16;
    out[4 * i + 2] = v >>> 8;
    out[4 * i + 3] = v;
  }
  return out;
}

/** SHA-256 of `data`. */
function sha256(data: Uint8Array): Uint8Array {
  const state = Int32Array.from(IV);
  finish(state, data, 0);
  return toBytes(state);
}

/** The HMAC states after the key pads: reusable when one key signs many messages. */
export interface HmacKey {
  readonly inner: Int32Array;
  readonly outer: Int32Array;
}

/** Precompute the ipad and opad states of `key`. */
export function hmacKey(key: Uint8Array): HmacKey {
  const inner = new Int32Array(8);
  const outer = new Int32Array(8);
  padStates(key, inner, outer);
  return { inner, outer };
}

function padStates(key: Uint8Array, inner: Int32Array, outer: Int32Array): void {
  const k = key.length > 64 ? sha256(key) : key;
  KW.fill(0);
  for (let i = 0; i < k.length; i++) KW[i >> 2] = (KW[i >> 2] as number) | ((k[i] as number) << (24 - 8 * (i & 3)));
  for (let i = 0; i < 16; i++) W[i] = (KW[i] as number) ^ 0x36363636;
  inner.set(IV);
  compress(inner);
  for (let i = 0; i < 16; i++) W[i] = (KW[i] as number) ^ 0x5c5c5c5c;
  outer.set(IV);
  compress(outer);
  KW.fill(0);
}

/** HMAC-SHA256 of `data` under `key` (any lengths, or precomputed pads). Returns a new 32-byte array. */
export function hmacSha256(key: Uint8Array | HmacKey, data: Uint8Array): Uint8Array {
  if (key instanceof Uint8Array) {
    padStates(key, INNER, OUTER);
  } else {
    INNER.set(key.inner);
    OUTER.set(key.outer);
  }
  finish(INNER, data, 64);
  for (let i = 0; i < 8; i++) W[i] = INNER[i] as number;
  W[8] = 0x80000000 | 0;
  W.fill(0, 9, 15);
  W[15] = (64 + 32) * 8;
  compress(OUTER);
  return toBytes(OUTER);
}

/** Clear the module's scratch state (key pads, message schedule, intermediate digests). */
export function wipeHmacScratch(): void {
  W.fill(0);
  KW.fill(0);
  INNER.fill(0);
  OUTER.fill(0);
}
