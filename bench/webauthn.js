// WebAuthn assertion verification: latchkey's WebAuthnFactor.finishAuthentication (challenge taken
// from the store, response read and bounded, origin/RP/flags/user handle checked, signature
// verified by SimpleWebAuthn, counter and last use written back, evidence built) against raw
// @simplewebauthn/server verifyAuthenticationResponse, on the same recorded Chromium assertion
// (test/vectors/webauthn/chromium-assertion.json; its note says how it was made), in one run.
// Target: latchkey within 1.1x of raw on the memory store; the SQLite and bare-Map rows are for
// information (the bare Map store separates the factor's own cost from the store's).
//
// Each path runs in its own child process, the processes alternating over several rounds. A
// round's ratio compares each path with raw in that same round (so a slow spell on a shared
// machine slows both sides of a ratio); the ratios printed are the medians over the rounds. Measured in one process, the paths call SimpleWebAuthn
// with different argument shapes and pollute each other's JIT type feedback, which makes whichever
// path is not "raw" look 10-20% slower than it is on its own.
// Run: npm run build && node bench/webauthn.js [iterations per process] [rounds]
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

const ITERATIONS = Number(process.argv[2] ?? 800);
const ROUNDS = Number(process.argv[3] ?? 9);
const SUBJECTS = ['raw', 'memory', 'sqlite', 'map'];
const LABELS = {
  raw: 'raw verifyAuthenticationResponse',
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
  // A child: one path, warmed up, then timed; prints microseconds per verification.
  let prepare = async () => undefined;
  let run;
  let cleanup = async () => {};
  if (subjectArg === 'raw') {
    run = async (n) => raw(n);
  } else {
    let store;
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
    prepare = (n) => world.challenges(n);
    run = latchkey(world);
  }
  await run(300, await prepare(300));
  // The challenges of the timed loop are stored before the clock starts (issuing them is
  // startAuthentication's work, not verification's).
  const ids = await prepare(ITERATIONS);
  globalThis.gc?.();
  const timed = await time(() => run(ITERATIONS, ids));
  console.log(
    JSON.stringify({
      subject: subjectArg,
      us: (timed.wall / ITERATIONS) * 1e6,
      cpu: (timed.cpu / ITERATIONS) * 1e6,
    }),
  );
  await cleanup();
} else {
  const self = fileURLToPath(import.meta.url);
  const samples = Object.fromEntries(SUBJECTS.map((s) => [s, []]));
  const cpuSamples = Object.fromEntries(SUBJECTS.map((s) => [s, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = [...SUBJECTS];
    for (let k = 0; k < round % order.length; k++) order.push(order.shift());
    for (const subject of order) {
      const child = spawnSync(
        process.execPath,
        ['--expose-gc', self, String(ITERATIONS), '1', `--subject=${subject}`],
        {
          encoding: 'utf8',
        },
      );
      if (child.status !== 0) throw new Error(`${subject} failed: ${child.stderr}`);
      const result = JSON.parse(child.stdout.trim().split('\n').pop());
      samples[subject].push(result.us);
      cpuSamples[subject].push(result.cpu);
    }
  }
  console.log(
    `WebAuthn assertion verification: the same recorded Chromium assertion (ES256); ${ITERATIONS} verifications per process, ${ROUNDS} rounds, medians`,
  );
  console.log(
    `${''.padEnd(44)} ${'wall'.padStart(11)} ${'ratio'.padStart(6)}   ${'CPU'.padStart(11)} ${'ratio'.padStart(6)}`,
  );
  /** The median over rounds of `subject / raw`, each round against its own raw. */
  const ratioOf = (series, subject) => median(series[subject].map((value, round) => value / series.raw[round]));
  for (const subject of SUBJECTS) {
    const us = median(samples[subject]);
    const cpu = median(cpuSamples[subject]);
    const ratio = ratioOf(samples, subject);
    const cpuRatio = ratioOf(cpuSamples, subject);
    const target =
      subject === 'memory' ? `   (target <= 1.10x: ${ratio <= 1.1 && cpuRatio <= 1.1 ? 'met' : 'MISSED'})` : '';
    console.log(
      `${LABELS[subject].padEnd(44)} ${us.toFixed(0).padStart(5)} us/op ${ratio.toFixed(2).padStart(5)}x   ${cpu.toFixed(0).padStart(5)} us/op ${cpuRatio.toFixed(2).padStart(5)}x${target}`,
    );
  }
  console.log(
    'ratio = latchkey / raw. Wall is what a caller waits; CPU (user + system, all threads) is the work done, and is less disturbed by other processes on a shared machine.',
  );
}
