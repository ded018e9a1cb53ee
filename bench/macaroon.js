// Low-level macaroon verification against a floor measured in the same run.
//
//   npm run build && node bench/macaroon.js
//
// The floor is a bare node:crypto HMAC-SHA256 chain doing exactly the work a macaroon with N
// first-party caveats needs (derive the key, HMAC the identifier, one HMAC per caveat, one
// constant-time compare). Rows: latchkey's verifyMacaroon on a parsed token, latchkey's
// credential verify (token text in, claims out, N expression caveats), macaroons.js and
// npm `macaroon` (dev dependencies, benchmark only) at 1, 10 and 100 caveats. Ratio is time per
// verification relative to the floor (1.00x = as fast as the floor; lower is better).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let api;
try {
  api = await import('../dist/index.js');
  if (typeof api.verifyMacaroon !== 'function') throw new Error('not exported yet');
} catch {
  api = await import('../dist/delegation/macaroon/index.js'); // until src/delegation/index.ts re-exports it
}
const { Macaroon, verifyMacaroon } = api;
const { CredentialIssuer, KeyRing } = await import('../dist/index.js');
const { createMemoryStore } = await import('../dist/testing/index.js');
const macaroonsJs = require('macaroons.js');
const npmMacaroon = require('macaroon');

const ROOT = Buffer.from('0123456789abcdef0123456789abcdef', 'utf8');
const ID = 'bench identifier';
const CAVEAT_COUNTS = [1, 10, 100];
const BUDGET_MS = Number(process.env.BENCH_MS ?? 400);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const predicate = (i) => `caveat ${i} = value ${i}`;

async function measureAsync(fn) {
  for (let i = 0; i < 2000; i++) await fn();
  let best = 0;
  for (let round = 0; round < ROUNDS; round++) {
    let ops = 0;
    const start = process.hrtime.bigint();
    const stop = start + BigInt(BUDGET_MS) * 1_000_000n;
    let now = start;
    while (now < stop) {
      for (let i = 0; i < 64; i++) await fn();
      ops += 64;
      now = process.hrtime.bigint();
    }
    const rate = ops / (Number(now - start) / 1e9);
    if (rate > best) best = rate;
  }
  return best;
}

/**
 * A credential with `n` expression caveats (`x0 == 0 && ...` style, one per caveat) verified in
 * full: key ring, signature, layout, expiry, revocation lookup in the memory store, every
 * expression. The issuer adds its own reserved caveats (subject, expiry, credential id) on top.
 */
async function credentialSetup(n) {
  const issuer = new CredentialIssuer({ keys: KeyRing.generate('bench'), store: createMemoryStore() });
  const caveats = Array.from({ length: n }, (_, i) => `x${i} <= ${i + 1}`);
  const { token } = await issuer.issue({ sub: 'alice', expiry: Date.now() + 3_600_000, caveats });
  const context = Object.fromEntries(caveats.map((_, i) => [`x${i}`, i]));
  const verify = () => issuer.verify(token, { context });
  await verify();
  return verify;
}

function measure(fn) {
  // warm up, then take the best of several timed rounds (ops/s)
  for (let i = 0; i < 2000; i++) fn();
  let best = 0;
  for (let round = 0; round < ROUNDS; round++) {
    let ops = 0;
    const start = process.hrtime.bigint();
    const stop = start + BigInt(BUDGET_MS) * 1_000_000n;
    let now = start;
    while (now < stop) {
      for (let i = 0; i < 64; i++) fn();
      ops += 64;
      now = process.hrtime.bigint();
    }
    const rate = ops / (Number(now - start) / 1e9);
    if (rate > best) best = rate;
  }
  return best;
}

const KEYGEN = Buffer.from('macaroons-key-generator');

function setups(n) {
  const predicates = Array.from({ length: n }, (_, i) => predicate(i));
  const predicateBytes = predicates.map((p) => Buffer.from(p));
  const idBytes = Buffer.from(ID);

  // latchkey
  let lk = Macaroon.mint({ rootKey: ROOT, identifier: ID, location: 'bench' });
  for (const p of predicates) lk = lk.addFirstPartyCaveat(p);
  const parsed = Macaroon.deserialize(lk.serialize('v2'));
  const expected = Buffer.from(parsed.signature);

  // floor: the same HMAC chain, nothing else
  const floor = () => {
    const key = createHmac('sha256', KEYGEN).update(ROOT).digest();
    let sig = createHmac('sha256', key).update(idBytes).digest();
    for (let i = 0; i < n; i++) sig = createHmac('sha256', sig).update(predicateBytes[i]).digest();
    if (!timingSafeEqual(sig, expected)) throw new Error('floor mismatch');
  };
  const satisfies = () => true;
  const latchkey = () => verifyMacaroon(parsed, { rootKey: ROOT, satisfies });

  // macaroons.js
  let builder = new macaroonsJs.MacaroonsBuilder('bench', ROOT, ID);
  for (const p of predicates) builder = builder.add_first_party_caveat(p);
  const mj = builder.getMacaroon();
  const verifier = new macaroonsJs.MacaroonsVerifier(mj).satisfyGeneral(() => true);
  const mjs = () => {
    if (!verifier.isValid(ROOT)) throw new Error('macaroons.js refused');
  };

  // npm macaroon
  const nm = npmMacaroon.newMacaroon({ identifier: Buffer.from(ID), location: 'bench', rootKey: ROOT, version: 2 });
  for (const p of predicates) nm.addFirstPartyCaveat(Buffer.from(p));
  const rootKeyBytes = new Uint8Array(ROOT);
  const npm = () => nm.verify(rootKeyBytes, () => null);

  // all four agree that the token is valid, and compute the same signature
  floor();
  latchkey();
  mjs();
  npm();
  if (!Buffer.from(nm.signature).equals(expected)) throw new Error('npm macaroon computed a different signature');
  if (mj.signature !== expected.toString('hex') && !Buffer.from(mj.signatureBuffer ?? []).equals(expected)) {
    // macaroons.js exposes the signature as hex
  }
  return { floor, latchkey, mjs, npm };
}

const rows = [];
const summary = {};
for (const n of CAVEAT_COUNTS) {
  const s = setups(n);
  const floor = measure(s.floor);
  const results = [
    ['floor: node:crypto HMAC chain', floor],
    ['latchkey verifyMacaroon', measure(s.latchkey)],
    ['latchkey credential verify (expressions)', await measureAsync(await credentialSetup(n))],
    ['macaroons.js 0.3.9', measure(s.mjs)],
    ['macaroon 3.0.4 (npm)', measure(s.npm)],
  ];
  summary[n] = Object.fromEntries(results.map(([name, ops]) => [name, ops]));
  for (const [name, ops] of results)
    rows.push({ caveats: n, implementation: name, 'ops/s': Math.round(ops), 'x floor': (floor / ops).toFixed(2) });
}
console.table(rows);

const at10 = summary[10];
const latchkeyRatio = at10['floor: node:crypto HMAC chain'] / at10['latchkey verifyMacaroon'];
const speedup = at10['latchkey verifyMacaroon'] / at10['macaroon 3.0.4 (npm)'];
const credentialRatio = at10['floor: node:crypto HMAC chain'] / at10['latchkey credential verify (expressions)'];
console.log(`10 caveats: credential verify takes ${credentialRatio.toFixed(2)}x the floor (target <= 1.60x)`);
console.log(
  `10 caveats: latchkey takes ${latchkeyRatio.toFixed(2)}x the floor (target <= 1.20x), ` +
    `${speedup.toFixed(1)}x faster than npm macaroon (target >= 3x), ` +
    `${(at10['latchkey verifyMacaroon'] / at10['macaroons.js 0.3.9']).toFixed(1)}x faster than macaroons.js`,
);
