// Workspace benchmark (issue 10): sealing and opening throughput of `Workspace.put` / `get`
// against raw node:crypto AES-256-GCM doing the same file work, and the time from "fob pulled"
// (the virtual fob process killed) to "key wiped". Build first (`npm run build`), then
// `node bench/workspace.js`.
//
// Baselines, in the same run, interleaved round by round:
// - seal: `createCipheriv('aes-256-gcm')` over the same bytes, then the same durable write latchkey
//   does (temporary file, write, fsync, rename). latchkey adds: padding to 4 KiB, a SHA-256 of the
//   object, and a sealed manifest written the same durable way.
// - open: `readFile` then `createDecipheriv` over the same size. latchkey adds the SHA-256 check
//   against the manifest.
// The folder is on /dev/shm when it exists, so that a disk's fsync latency does not hide the
// crypto; `--disk` uses the OS temporary folder instead.
//
// Target: latchkey within 1.2x of the baseline (seal and open). `--check` exits 1 on a miss.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { open, readFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ctap2Client, spawnPipeFob } from '../dist/factors/fob/index.js';
import {
  fobUnlocker,
  newRecoveryCode,
  recoveryCodeUnlocker,
  Workspace,
  WorkspaceAgent,
} from '../dist/workspace/index.js';

const base = !process.argv.includes('--disk') && existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
const root = mkdtempSync(join(base, 'latchkey-bench-ws-'));
const SIZE = 8 << 20;
const ROUNDS = 7;
const data = randomBytes(SIZE);
const key = randomBytes(32);

async function durableWrite(file, bytes) {
  const temporary = `${file}.tmp`;
  const handle = await open(temporary, 'w', 0o600);
  await handle.writeFile(bytes);
  await handle.sync();
  await handle.close();
  await rename(temporary, file);
}

async function rawSeal(file) {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  const body = Buffer.concat([nonce, cipher.update(data), cipher.final(), cipher.getAuthTag()]);
  await durableWrite(file, body);
}

async function rawOpen(file) {
  const sealed = await readFile(file);
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12));
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  return Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()]);
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const mbps = (ms) => SIZE / (1 << 20) / (ms / 1000);

const ws = await Workspace.create(
  join(root, 'ws'),
  recoveryCodeUnlocker(newRecoveryCode(), { cost: { m: 256, t: 1, p: 1 } }),
);
const rawFile = join(root, 'raw.bin');
const times = { seal: [], rawSeal: [], open: [], rawOpen: [] };
const ratios = { seal: [], open: [] };
/** ms per call of `fn`, over `REPEAT` calls. */
const REPEAT = 4;
async function timed(fn) {
  const t = performance.now();
  for (let i = 0; i < REPEAT; i++) await fn();
  return (performance.now() - t) / REPEAT;
}
for (let round = -2; round < ROUNDS; round++) {
  const seal = await timed(() => ws.put('big', data));
  const rawSealMs = await timed(() => rawSeal(rawFile));
  const openMs = await timed(async () => {
    if ((await ws.get('big')).length !== SIZE) throw new Error('size mismatch');
  });
  const rawOpenMs = await timed(async () => {
    if ((await rawOpen(rawFile)).length !== SIZE) throw new Error('size mismatch');
  });
  if (round < 0) continue; // warm-up
  times.seal.push(seal);
  times.rawSeal.push(rawSealMs);
  times.open.push(openMs);
  times.rawOpen.push(rawOpenMs);
  ratios.seal.push(seal / rawSealMs);
  ratios.open.push(openMs / rawOpenMs);
}
await ws.lock();

// fob pulled -> key wiped, through the pipe fob process
const pulls = [];
const bin = new URL('../bin/latchkey.js', import.meta.url).pathname;
for (let i = 0; i < 5; i++) {
  const fob = spawnPipeFob(process.execPath, [bin, 'virtual-fob', '--pipe', '--touch-ms', '0']);
  const client = await Ctap2Client.open(fob.connection);
  const pulled = await Workspace.create(join(root, `pull-${i}`), fobUnlocker({ client }));
  await pulled.put('note', 'x');
  const agent = new WorkspaceAgent(pulled, { removal: [fob.connection.removed] });
  const start = performance.now();
  fob.child.kill('SIGKILL');
  await agent.locked;
  pulls.push(performance.now() - start);
}
rmSync(root, { recursive: true, force: true });

const misses = [];
const line = (label, ours, theirs, ratio) => {
  const r = median(ratio);
  if (r > 1.2) misses.push(label);
  console.log(
    `${label.padEnd(6)} latchkey ${mbps(median(ours)).toFixed(0).padStart(6)} MB/s   raw AES-256-GCM ${mbps(median(theirs)).toFixed(0).padStart(6)} MB/s   ratio ${r.toFixed(2)}x (<= 1.2x)`,
  );
};
console.log(
  `workspace: ${SIZE >> 20} MiB entries on ${base}, median of ${ROUNDS} interleaved rounds of ${REPEAT} calls (ratio = time, latchkey / raw)`,
);
line('seal', times.seal, times.rawSeal, ratios.seal);
line('open', times.open, times.rawOpen, ratios.open);
console.log(
  `fob pulled -> key wiped: median ${median(pulls).toFixed(1)} ms, max ${Math.max(...pulls).toFixed(1)} ms over ${pulls.length} pulls (the issue: within 1 s)`,
);
console.log(misses.length === 0 ? 'all targets met' : `missed: ${misses.join(', ')}`);
if (process.argv.includes('--check') && misses.length > 0) process.exit(1);
