// Store overhead: latchkey's SQLite store against raw better-sqlite3 doing the same single
// statements, in one run, on one file each. Prints operations per second and the ratio to the
// raw baseline (1.00x = no overhead). Run: npm run build && node bench/store.js
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openSqliteStore } from '../dist/store/sqlite/index.js';

const N = Number(process.argv[2] ?? 20_000);
const dir = mkdtempSync(join(tmpdir(), 'latchkey-bench-store-'));

async function time(fn) {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

const store = await openSqliteStore({ filename: join(dir, 'latchkey.db'), synchronous: 'normal' });
const raw = new Database(join(dir, 'raw.db'));
raw.pragma('journal_mode = WAL');
raw.pragma('synchronous = NORMAL');
raw.exec('CREATE TABLE usage (id TEXT PRIMARY KEY, used INTEGER NOT NULL) STRICT');
raw.exec(
  'CREATE TABLE challenges (id TEXT PRIMARY KEY, purpose TEXT, payload BLOB, subject TEXT, expires_at INTEGER) STRICT',
);
const rawConsume = raw.prepare(
  'INSERT INTO usage (id, used) VALUES (?, 1) ON CONFLICT (id) DO UPDATE SET used = usage.used + 1 WHERE usage.used < ? RETURNING used',
);
const rawPut = raw.prepare('INSERT INTO challenges VALUES (?, ?, ?, NULL, ?)');
const rawTake = raw.prepare('DELETE FROM challenges WHERE id = ? AND purpose = ? RETURNING *');
const payload = Buffer.alloc(32, 7);

const rows = [];
async function compare(name, baseline, subject) {
  // Warm up both, then measure alternately to share any drift fairly.
  await baseline(1000, 'w');
  await subject(1000, 'w');
  const b = await time(() => baseline(N, 'm'));
  const s = await time(() => subject(N, 'm'));
  rows.push({ name, baseline: N / b, latchkey: N / s, ratio: s / b });
}

await compare(
  'consume(id, limit)',
  async (n, tag) => {
    for (let i = 0; i < n; i++) rawConsume.get(`${tag}${i}`, 1);
  },
  async (n, tag) => {
    for (let i = 0; i < n; i++) await store.usage.consume(`${tag}${i}`, 1);
  },
);
await compare(
  'challenge put + take',
  async (n, tag) => {
    for (let i = 0; i < n; i++) {
      rawPut.run(`${tag}${i}`, 'p', payload, Date.now() + 60_000);
      rawTake.get(`${tag}${i}`, 'p');
    }
  },
  async (n, tag) => {
    for (let i = 0; i < n; i++) {
      await store.challenges.put({ id: `${tag}${i}`, purpose: 'p', payload, ttlMs: 60_000 });
      await store.challenges.take(`${tag}${i}`, 'p');
    }
  },
);

console.log(`store overhead, ${N} operations each (synchronous=normal on both)`);
for (const r of rows) {
  console.log(
    `${r.name.padEnd(22)} raw ${r.baseline.toFixed(0).padStart(8)} op/s   latchkey ${r.latchkey.toFixed(0).padStart(8)} op/s   ratio ${r.ratio.toFixed(2)}x`,
  );
}
await store.close();
raw.close();
rmSync(dir, { recursive: true, force: true });
