// Password hashing through latchkey against raw @node-rs/argon2, and behaviour under a burst, in
// one run. Run: npm run build && node bench/password.js
//
// 1. Hashes per second at the default parameters (argon2id m=19456 KiB, t=2, p=1): latchkey's
//    PasswordHasher.hash (NFKC, salt, PHC string written by latchkey, the shared limiter) against
//    raw @node-rs/argon2 `hash` with the same parameters and as many in flight as cores,
//    alternated round by round. Target: latchkey's time per hash within 1.05x of raw.
// 2. A burst of 50 concurrent verifies, through latchkey and then raw, each while measuring the
//    event loop's delay (p99, perf_hooks.monitorEventLoopDelay), the latency of an unrelated
//    fs.readFile started with the burst, and peak RSS. Targets for latchkey: p99 under 20 ms,
//    readFile under 50 ms. Raw shows what an unbounded burst does to the libuv threadpool.
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { hash as rawHash, verify as rawVerify } from '@node-rs/argon2';
import { PasswordHasher } from '../dist/factors/password/index.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const PER_ROUND = Number(process.env.BENCH_HASHES ?? 24);
const BURST = 50;
const options = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 };
const hasher = new PasswordHasher();
const password = 'correct horse battery staple';
const lanes = availableParallelism();

async function rate(fn) {
  const start = process.hrtime.bigint();
  let left = PER_ROUND;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (left-- > 0) await fn();
    }),
  );
  return PER_ROUND / (Number(process.hrtime.bigint() - start) / 1e9);
}

// warm up both, then alternate to share any drift fairly
await rate(() => hasher.hash(password));
await rate(() => rawHash(password, options));
const ours = [];
const raw = [];
for (let i = 0; i < ROUNDS; i++) {
  raw.push(await rate(() => rawHash(password, options)));
  ours.push(await rate(() => hasher.hash(password)));
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const r = median(raw);
const o = median(ours);
console.log(
  `hashing, argon2id m=19456 t=2 p=1, ${lanes} in flight, median of ${ROUNDS} rounds of ${PER_ROUND} (limiter: ${hasher.limiter.concurrency} at once)`,
);
console.log(`raw @node-rs/argon2 hash     ${r.toFixed(1).padStart(7)} hashes/s   ratio 1.00x`);
console.log(
  `latchkey PasswordHasher.hash ${o.toFixed(1).padStart(7)} hashes/s   ratio ${(r / o).toFixed(3)}x (target <= 1.05x)`,
);

async function burst(name, verifyOne) {
  global.gc?.();
  await new Promise((resolve) => setTimeout(resolve, 100));
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 2);
  histogram.enable();
  const started = performance.now();
  const all = Promise.all(Array.from({ length: BURST }, verifyOne));
  // an unrelated read, started with the burst, on the same libuv threadpool
  const readMs = await readFile(new URL('../package.json', import.meta.url)).then(() => performance.now() - started);
  const results = await all;
  const totalMs = performance.now() - started;
  histogram.disable();
  clearInterval(sampler);
  if (!results.every(Boolean)) throw new Error(`${name}: a verify failed`);
  return { name, totalMs, p99: histogram.percentile(99) / 1e6, max: histogram.max / 1e6, readMs, peakRss };
}

const stored = await hasher.hash(password);
const rows = [
  await burst('latchkey verify', async () => (await hasher.verify(stored, password)).valid),
  await burst('raw @node-rs/argon2 verify', () => rawVerify(stored, password)),
];
console.log(`\nburst of ${BURST} concurrent verifies (UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? 4})`);
for (const row of rows) {
  console.log(
    `${row.name.padEnd(27)} total ${row.totalMs.toFixed(0).padStart(5)} ms   event-loop p99 ${row.p99.toFixed(1).padStart(5)} ms (max ${row.max.toFixed(1)})   readFile ${row.readMs.toFixed(1).padStart(6)} ms   peak RSS ${(row.peakRss / 2 ** 20).toFixed(0)} MiB`,
  );
}
const [ours2] = rows;
console.log(
  `latchkey: event-loop p99 ${ours2.p99.toFixed(1)} ms (target < 20), readFile ${ours2.readMs.toFixed(1)} ms (target < 50), peak RSS ${(ours2.peakRss / 2 ** 20).toFixed(0)} MiB`,
);
