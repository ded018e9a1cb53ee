// WebAuthn assertion verification: latchkey's WebAuthnFactor.finishAuthentication (challenge taken
// from the store, response read and bounded, origin/RP/flags/user handle checked, signature
// verified by SimpleWebAuthn, counter and last use written back, evidence built) against raw
// @simplewebauthn/server verifyAuthenticationResponse, on the same recorded Chromium assertion
// (test/vectors/webauthn/chromium-assertion.json; its note says how it was made), in one run.
// Target: latchkey within 1.1x of raw on the memory store; the SQLite and bare-Map rows are for
// information (the bare Map store separates the factor's own cost from the store's).
//
// Each store runs in its own child process (so the factor's code sees one store shape), and in
// that process raw and latchkey verifications alternate in batches of 50, so that whatever else
// the machine is doing slows both sides of a pair alike; the ratio is the median of the pairs'
// ratios. Both call SimpleWebAuthn with their own argument shapes; measured apart, the shapes
// differ by 1-2%.
// Run: npm run build && node bench/webauthn.js [verifications per side]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { verifyAuthenticationResponse } from '@simplewebauthn/server';
import { fromBase64url } from '../dist/core/bytes.js';
import { randomId } from '../dist/core/random.js';
import { encodeChallenge, PURPOSE_AUTHENTICATE } from '../dist/factors/webauthn/challenge.js';
import { WebAuthnFactor } from '../dist/factors/webauthn/index.js';
import { openSqliteStore } from '../dist/store/sqlite/index.js';
import { createMemoryStore } from '../dist/testing/index.js';

const ITERATIONS = Number(process.argv[2] ?? 3000);
const BATCH = 50;
const SUBJECTS = ['memory', 'sqlite', 'map'];
const LABELS = {
  memory: 'latchkey, memory store',
  sqlite: 'latchkey, SQLite store (synchronous=normal)',
  map: 'latchkey, bare Map store (factor only)',
};
const subjectArg = process.argv.find((a) => a.startsWith('--subject='))?.slice('--subject='.length);

/** Wall-clock and CPU seconds (user + system, all threads: WebCrypto runs on libuv's pool) of `fn`. */
async function time(fn) {
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  await fn();
  const wall = Number(process.hrtime.bigint() - start) / 1e9;
  const used = process.cpuUsage(cpu);
  return { wall, cpu: (used.user + used.system) / 1e6 };
}

const vector = JSON.parse(
  readFileSync(new URL('../test/vectors/webauthn/chromium-assertion.json', import.meta.url), 'utf8'),
);
const publicKey = new Uint8Array(Buffer.from(vector.credential.publicKey, 'base64url'));
const payload = encodeChallenge({
  challenge: fromBase64url(vector.challenge),
  userVerification: 'required',
  binding: undefined,
  userHandle: undefined,
  label: undefined,
});

async function seed(store) {
  const account = await store.accounts.create({ username: 'alice' });
  await store.authenticators.add({
    accountId: account.id,
    factor: 'webauthn',
    lookupKey: vector.credential.id,
    data: {
      v: 1,
      rpId: vector.rpId,
      credentialId: vector.credential.id,
      publicKey: vector.credential.publicKey,
      alg: vector.credential.alg,
      userHandle: vector.credential.userHandle,
      aaguid: '01020304-0506-0708-0102-030405060708',
      transports: ['internal'],
      backupEligible: vector.credential.backupEligible,
      backedUp: vector.credential.backedUp,
      fmt: 'none',
      attested: false,
      model: null,
      discoverable: true,
      origin: vector.origin,
    },
    counter: 0,
  });
  const factor = await new WebAuthnFactor({ store, rp: { id: vector.rpId, origins: [vector.origin] } }).ready();
  /** `n` stored challenges carrying the recorded challenge, as startAuthentication stores them. */
  const challenges = async (n) => {
    const ids = [];
    for (let i = 0; i < n; i++) {
      ids.push(
        (await store.challenges.put({ id: randomId(), purpose: PURPOSE_AUTHENTICATE, payload, ttlMs: 600_000 })).id,
      );
    }
    return ids;
  };
  return { factor, challenges };
}

const raw = async (n) => {
  for (let i = 0; i < n; i++) {
    const result = await verifyAuthenticationResponse({
      response: vector.response,
      expectedChallenge: vector.challenge,
      expectedOrigin: vector.origin,
      expectedRPID: vector.rpId,
      credential: { id: vector.credential.id, publicKey, counter: 0 },
      requireUserVerification: true,
    });
    if (!result.verified) throw new Error('raw verification failed');
  }
};

function latchkey({ factor }) {
  return async (n, ids) => {
    for (let i = 0; i < n; i++) {
      const evidence = await factor.finishAuthentication({ challengeId: ids[i], response: vector.response });
      if (!evidence.userVerified) throw new Error('latchkey verification failed');
    }
  };
}

/**
 * A diagnostic store: plain Maps, no copies, no validation. Not a real store (the memory store
 * copies records as a database would); it separates the factor's own cost from the store's.
 */
function mapStore() {
  const challenges = new Map();
  const records = new Map();
  const byKey = new Map();
  const accounts = new Map();
  let seq = 0;
  return {
    accounts: {
      async create(input) {
        const account = {
          id: `a${++seq}`,
          username: input.username,
          disabled: false,
          createdAt: Date.now(),
          metadata: {},
        };
        accounts.set(account.id, account);
        return account;
      },
    },
    audit: { async append() {} },
    challenges: {
      async put(c) {
        const record = { id: c.id, purpose: c.purpose, payload: c.payload, expiresAt: Date.now() + c.ttlMs };
        challenges.set(c.id, record);
        return record;
      },
      async take(id, purpose) {
        const record = challenges.get(id);
        if (record === undefined || record.purpose !== purpose) return null;
        challenges.delete(id);
        return record.expiresAt > Date.now() ? record : null;
      },
    },
    authenticators: {
      async add(input) {
        const record = { ...input, id: `r${++seq}`, duress: false, disabled: false, createdAt: Date.now(), version: 1 };
        records.set(record.id, record);
        byKey.set(`${input.factor}\u0000${input.lookupKey}`, record.id);
        return record;
      },
      async get(id) {
        return records.get(id) ?? null;
      },
      async findByLookupKey(factor, key) {
        return records.get(byKey.get(`${factor}\u0000${key}`)) ?? null;
      },
      async update(id, version, patch) {
        const current = records.get(id);
        if (current.version !== version) throw new Error('conflict');
        const next = { ...current, ...patch, version: version + 1 };
        records.set(id, next);
        return next;
      },
    },
  };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

if (subjectArg !== undefined) {
  // A child: raw and latchkey on one store, interleaved in batches (raw first in even pairs,
  // latchkey first in odd ones), so that whatever else the machine is doing slows both sides of
  // each pair alike. Prints per-verification medians and the median of the pairs' ratios.
  let store;
  let cleanup = async () => {};
  if (subjectArg === 'memory') store = createMemoryStore();
  else if (subjectArg === 'map') store = mapStore();
  else {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-bench-webauthn-'));
    store = await openSqliteStore({ filename: join(dir, 'latchkey.db'), synchronous: 'normal' });
    cleanup = async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    };
  }
  const world = await seed(store);
  const verify = latchkey(world);
  await raw(300);
  await verify(300, await world.challenges(300));
  const pairs = Math.max(1, Math.round(ITERATIONS / BATCH));
  const rawWall = [];
  const rawCpu = [];
  const lkWall = [];
  const lkCpu = [];
  for (let pair = 0; pair < pairs; pair++) {
    // The challenges are stored before the clock starts (issuing them is startAuthentication's
    // work, not verification's).
    const ids = await world.challenges(BATCH);
    globalThis.gc?.();
    const sides = [
      async () => {
        const t = await time(() => raw(BATCH));
        rawWall.push(t.wall);
        rawCpu.push(t.cpu);
      },
      async () => {
        const t = await time(() => verify(BATCH, ids));
        lkWall.push(t.wall);
        lkCpu.push(t.cpu);
      },
    ];
    if (pair % 2 === 1) sides.reverse();
    for (const side of sides) await side();
  }
  const perOp = (seconds) => (median(seconds) / BATCH) * 1e6;
  const pairRatio = (mine, base) => median(mine.map((value, k) => value / base[k]));
  console.log(
    JSON.stringify({
      subject: subjectArg,
      rawUs: perOp(rawWall),
      rawCpu: perOp(rawCpu),
      us: perOp(lkWall),
      cpu: perOp(lkCpu),
      ratio: pairRatio(lkWall, rawWall),
      cpuRatio: pairRatio(lkCpu, rawCpu),
    }),
  );
  await cleanup();
} else {
  const self = fileURLToPath(import.meta.url);
  const results = [];
  for (const subject of SUBJECTS) {
    const child = spawnSync(process.execPath, ['--expose-gc', self, String(ITERATIONS), `--subject=${subject}`], {
      encoding: 'utf8',
    });
    if (child.status !== 0) throw new Error(`${subject} failed: ${child.stderr}`);
    results.push(JSON.parse(child.stdout.trim().split('\n').pop()));
  }
  console.log(
    `WebAuthn assertion verification: the same recorded Chromium assertion (ES256); per store, ${ITERATIONS} verifications each side in batches of ${BATCH}, raw and latchkey interleaved in one process; medians`,
  );
  console.log(
    `${''.padEnd(44)} ${'raw wall'.padStart(11)} ${'wall'.padStart(11)} ${'ratio'.padStart(6)}   ${'raw CPU'.padStart(11)} ${'CPU'.padStart(11)} ${'ratio'.padStart(6)}`,
  );
  for (const r of results) {
    const target =
      r.subject === 'memory' ? `   (target <= 1.10x: ${r.ratio <= 1.1 && r.cpuRatio <= 1.1 ? 'met' : 'MISSED'})` : '';
    const us = (value) => `${value.toFixed(0).padStart(5)} us/op`;
    console.log(
      `${LABELS[r.subject].padEnd(44)} ${us(r.rawUs)} ${us(r.us)} ${r.ratio.toFixed(2).padStart(5)}x   ${us(r.rawCpu)} ${us(r.cpu)} ${r.cpuRatio.toFixed(2).padStart(5)}x${target}`,
    );
  }
  console.log(
    "ratio = latchkey / raw (the median of the pairs' ratios). Wall is what a caller waits; CPU (user + system, all threads) is the work done.",
  );
}
