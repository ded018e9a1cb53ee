// PKCS#11 overhead: signatures through latchkey's token session against raw pkcs11js calls doing
// the same work (hash in Node, C_SignInit, C_Sign on the thread pool), on one SoftHSM2 token in a
// temp folder, in one run and one process (they share the module and its login). Prints
// operations per second and the median ratio of 20 alternating rounds to the raw baseline
// (1.00x = no overhead; target < 1.10x).
// Run: npm run build && node bench/pkcs11.js [signatures]
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPkcs11Module } from '../dist/factors/pkcs11/index.js';

const N = Number(process.argv[2] ?? 4000);
const MODULE = '/usr/lib/softhsm/libsofthsm2.so';
const PIN = '1234';

const dir = mkdtempSync(join(tmpdir(), 'latchkey-bench-pkcs11-'));
mkdirSync(join(dir, 'tokens'));
writeFileSync(join(dir, 'softhsm2.conf'), `directories.tokendir = ${join(dir, 'tokens')}\nlog.level = ERROR\n`);
process.env.SOFTHSM2_CONF = join(dir, 'softhsm2.conf');
execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'bench', '--pin', PIN, '--so-pin', '5678'], {
  stdio: 'ignore',
});

// The baseline: pkcs11js as its README uses it, initialised first (latchkey then shares it).
const { PKCS11, CKF_OS_LOCKING_OK, CKF_SERIAL_SESSION, CKF_RW_SESSION, CKU_USER, CKA_CLASS, CKO_PRIVATE_KEY, CKA_ID } =
  createRequire(import.meta.url)('pkcs11js');
const raw = new PKCS11();
raw.load(MODULE);
raw.C_Initialize({ flags: CKF_OS_LOCKING_OK });
const slot = raw.C_GetSlotList(true).find((s) => raw.C_GetTokenInfo(s).label.trim() === 'bench');
const rawSession = raw.C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION);
raw.C_Login(rawSession, CKU_USER, PIN); // logs the token in for latchkey's session too

const module = await openPkcs11Module(MODULE);
const session = await module.openSession({ label: 'bench' }, { readWrite: true });
const ec = await session.generateKeyPair({ type: 'EC', curve: 'P-256' }, { id: '01', label: 'ec', persistent: false });
const rsa = await session.generateKeyPair(
  { type: 'RSA', modulusBits: 2048 },
  { id: '02', label: 'rsa', persistent: false },
);
// Session objects are visible to every session of the application: find the raw handles.
function rawKey(id) {
  raw.C_FindObjectsInit(rawSession, [
    { type: CKA_CLASS, value: CKO_PRIVATE_KEY },
    { type: CKA_ID, value: Buffer.from([id]) },
  ]);
  const [handle] = raw.C_FindObjects(rawSession, 2);
  raw.C_FindObjectsFinal(rawSession);
  return handle;
}
const rawEc = rawKey(1);
const rawRsa = rawKey(2);

const message = Buffer.from('move $100 from alice to bob, reference 0001');
const PSS = { mechanism: 0xd, parameter: { type: 5, hashAlg: 0x250, mgf: 2, saltLen: 32 } };

async function time(fn, n) {
  const start = process.hrtime.bigint();
  await fn(n);
  return Number(process.hrtime.bigint() - start) / 1e9;
}

const rows = [];
async function compare(name, n, baseline, subject) {
  await baseline(Math.ceil(n / 10));
  await subject(Math.ceil(n / 10));
  // Alternate short rounds so that drift (CPU frequency, GC, other processes) is shared fairly;
  // the ratio is the median of the rounds' ratios, so one disturbed round does not decide it.
  const rounds = 20;
  const per = Math.max(1, Math.floor(n / rounds));
  let b = 0;
  let s = 0;
  const ratios = [];
  for (let round = 0; round < rounds; round++) {
    const tb = await time(baseline, per);
    const ts = await time(subject, per);
    b += tb;
    s += ts;
    ratios.push(ts / tb);
  }
  ratios.sort((x, y) => x - y);
  rows.push({ name, baseline: (per * rounds) / b, latchkey: (per * rounds) / s, ratio: ratios[rounds / 2] });
}

await compare(
  'ES256 sign (P-256)',
  N,
  async (n) => {
    for (let i = 0; i < n; i++) {
      const digest = createHash('sha256').update(message).digest();
      raw.C_SignInit(rawSession, { mechanism: 0x1041 }, rawEc);
      await raw.C_SignAsync(rawSession, digest, Buffer.alloc(64));
    }
  },
  async (n) => {
    for (let i = 0; i < n; i++) await session.sign(ec.privateKey, message);
  },
);
await compare(
  'PS256 sign (RSA 2048)',
  Math.max(60, Math.floor(N / 8)),
  async (n) => {
    for (let i = 0; i < n; i++) {
      const digest = createHash('sha256').update(message).digest();
      raw.C_SignInit(rawSession, PSS, rawRsa);
      await raw.C_SignAsync(rawSession, digest, Buffer.alloc(256));
    }
  },
  async (n) => {
    for (let i = 0; i < n; i++) await session.sign(rsa.privateKey, message);
  },
);

console.log(`PKCS#11 sign overhead on SoftHSM2 ${module.info().libraryVersion}, one token, one session each`);
for (const r of rows) {
  console.log(
    `${r.name.padEnd(22)} raw pkcs11js ${r.baseline.toFixed(0).padStart(7)} op/s   latchkey ${r.latchkey.toFixed(0).padStart(7)} op/s   ratio ${r.ratio.toFixed(2)}x`,
  );
}
await session.close();
await module.close();
raw.C_Logout(rawSession);
raw.C_CloseSession(rawSession);
raw.C_Finalize();
raw.close();
rmSync(dir, { recursive: true, force: true });
