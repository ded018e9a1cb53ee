// The gate's authorize against the sum of its parts, in one run.
//
//   npm run build && node bench/gate.js
//
// Rows, for a session and for a credential delegated three times (each hop adds a cid and a
// narrowing caveat): `gate.authorize(token, request)` (inspect, credential verify with the session
// binding, idle check, duress lookup, evidence unpacking, policy decide), and the baseline: the
// same credential verified by `CredentialIssuer.verify` plus `compilePolicy(...).decide` on
// evidence already at hand. Both on the memory store, measured in alternating rounds; the ratio is
// the median of the per-round ratios. Target (issue 9): within 1.3x.
import { CredentialIssuer, compilePolicy, createGate, KeyRing } from '../dist/index.js';
import { createMemoryStore } from '../dist/testing/index.js';

const BUDGET_MS = Number(process.env.BENCH_MS ?? 400);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);

/** Operations per second of `fn` over about BUDGET_MS. */
async function rate(fn) {
  let ops = 0;
  const start = process.hrtime.bigint();
  const stop = start + BigInt(BUDGET_MS) * 1_000_000n;
  let now = start;
  while (now < stop) {
    for (let i = 0; i < 32; i++) await fn();
    ops += 32;
    now = process.hrtime.bigint();
  }
  return ops / (Number(now - start) / 1e9);
}

/**
 * The baseline and the gate in alternating rounds (so that whatever else the machine does slows
 * both alike): the median rate of each, and the median of the per-round ratios.
 */
async function measure(baselineFn, oursFn) {
  for (let i = 0; i < 2000; i++) {
    await baselineFn();
    await oursFn();
  }
  const base = [];
  const ours = [];
  const ratios = [];
  for (let round = 0; round < ROUNDS; round++) {
    const b = await rate(baselineFn);
    const o = await rate(oursFn);
    base.push(b);
    ours.push(o);
    ratios.push(b / o);
  }
  const median = (values) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)];
  return { baseline: median(base), ours: median(ours), ratio: median(ratios) };
}

const POLICY = {
  rules: [
    { id: 'read', effect: 'permit', actions: ['read'], require: { aal: 1 } },
    { id: 'transfer', effect: 'permit', actions: ['transfer'], when: 'amount <= 100', require: { aal: 2 } },
  ],
};
const NOW = Date.now();
const evidence = {
  factor: 'fob',
  subject: 'alice',
  authenticatorId: 'fob-1',
  amr: ['hwk', 'pin'],
  kinds: ['possession', 'knowledge'],
  phishingResistant: true,
  hardwareBound: true,
  userVerified: true,
  userPresent: true,
  replayResistant: true,
  at: NOW,
};

const store = createMemoryStore();
const keyring = KeyRing.generate('bench');
const gate = createGate({
  store,
  policy: POLICY,
  keyring,
  factors: { fob: { verify: async () => evidence } },
});
const tx = gate.begin({ accountId: 'alice' });
await gate.verify(tx, 'fob', {});
const session = await gate.issueSession(tx);
let delegated = session.token;
for (let hop = 0; hop < 3; hop++) delegated = (await gate.delegate(delegated, [`amount <= ${100 - hop}`])).token;

// the parts: the same kind of credential (issuer section, one app caveat), verify + decide
const issuer = new CredentialIssuer({ keys: keyring, store: createMemoryStore() });
const policy = compilePolicy(POLICY);
const plain = await issuer.issue({
  sub: 'alice',
  amr: ['hwk', 'pin'],
  acr: 'aal3',
  auth_time: NOW,
  expiry: NOW + 3_600_000,
  caveats: ['amount <= 1000'],
});
let plainDelegated = plain.token;
const { attenuate } = await import('../dist/index.js');
for (let hop = 0; hop < 3; hop++) plainDelegated = (await attenuate(plainDelegated, [`amount <= ${100 - hop}`])).token;
const request = { action: 'transfer', context: { amount: 50 } };
const parts = (token) => async () => {
  await issuer.verify(token, { context: { amount: 50 } });
  return policy.decide({ evidence: [evidence], ...request });
};
const whole = (token) => () => gate.authorize(token, request);

for (const [token, fn] of [
  [session.token, whole],
  [delegated, whole],
]) {
  const { decision } = await fn(token)();
  if (!decision.allow) throw new Error(`the bench request should be allowed: ${decision.reasons.join('; ')}`);
}

const rows = [];
for (const [name, gateToken, partsToken] of [
  ['session', session.token, plain.token],
  ['3-hop delegation', delegated, plainDelegated],
]) {
  const { baseline, ours, ratio } = await measure(parts(partsToken), whole(gateToken));
  rows.push({
    credential: name,
    'verify + decide (ops/s)': Math.round(baseline),
    'gate.authorize (ops/s)': Math.round(ours),
    ratio: `${ratio.toFixed(2)}x (<= 1.3x)`,
  });
}
console.table(rows);
