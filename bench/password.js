// Password hashing through latchkey against raw @node-rs/argon2, and behaviour under a burst.
//
//   npm run build && node bench/password.js
//
// 1. Hashes per second at the default parameters (argon2id m=19456, t=2, p=1): latchkey's
//    PasswordHasher.hash (NFKC, salt, PHC string written by latchkey, semaphore) against raw
//    `@node-rs/argon2` `hash` with the same parameters, interleaved in one run. Target <= 1.05x.
// 2. A burst of 50 concurrent verifies while measuring the event loop's delay (p99) and the
//    latency of an unrelated fs.readFile started with the burst, plus peak RSS. Targets: p99
//    under 20 ms, readFile under 50 ms.
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { hash as rawHash } from '@node-rs/argon2';
import { PasswordHasher } from '../dist/factors/password/index.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const PER_ROUND = Number(process.env.BENCH_HASHES ?? 24);
const options = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 };
const hasher = new PasswordHasher();
const password = 'correct horse battery staple';

async function rate(fn) {
  const start = process.hrtime.bigint();
  // as many in flight as cores, as a server would run them
  const lanes = availableParallelism();
  let left = PER_ROUND;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (left-- > 0) await fn();
    }),
  );
  return PER_ROUND / (Number(process.hrtime.bigint() - start) / 1e9);
}

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
console.table([
  { implementation: 'raw @node-rs/argon2 hash', 'hashes/s': r.toFixed(1), 'x raw': '1.00' },
  { implementation: 'latchkey PasswordHasher.hash', 'hashes/s': o.toFixed(1), 'x raw': (r / o).toFixed(3) },
]);
console.log(`latchkey takes ${(r / o).toFixed(3)}x the time of raw @node-rs/argon2 per hash (target <= 1.05x)`);

// the burst
const stored = await hasher.hash(password);
global.gc?.();
const histogram = monitorEventLoopDelay({ resolution: 1 });
let peakRss = process.memoryUsage().rss;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 5);
histogram.enable();
const started = performance.now();
const reading = readFile(new URL(import.meta.url)).then(() => performance.now() - started);
const burst = Promise.all(Array.from({ length: 50 }, () => hasher.verify(stored, password)));
const readMs = await reading;
const results = await burst;
const burstMs = performance.now() - started;
histogram.disable();
clearInterval(sampler);
if (!results.every((result) => result.valid)) throw new Error('a verify failed');
const p99 = histogram.percentile(99) / 1e6;
console.table([
  {
    burst: '50 concurrent verifies',
    'total ms': burstMs.toFixed(0),
    'event-loop delay p99 ms': p99.toFixed(1),
    'readFile ms': readMs.toFixed(1),
    'peak RSS MiB': (peakRss / 2 ** 20).toFixed(0),
  },
]);
console.log(
  `event-loop p99 ${p99.toFixed(1)} ms (target < 20), readFile during the burst ${readMs.toFixed(1)} ms (target < 50)`,
);
