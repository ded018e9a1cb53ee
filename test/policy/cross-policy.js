// @ts-check
// The cross-check policy: the same 23 rules in latchkey's JSON form and in Cedar, an independent
// oracle that turns evidence into the facts the Cedar policies read, a hand-written closure
// baseline, and a seeded request corpus. Plain JS so that bench/policy.js can share it.

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
export const NOW = Date.parse('2025-06-01T12:00:00Z');

/** @type {import('../../src/policy/types.js').Policy} */
export const CROSS_POLICY = {
  rules: [
    { id: 'read', effect: 'permit', actions: ['read'], require: { aal: 1 } },
    { id: 'read-public', effect: 'permit', actions: ['read-public'] },
    { id: 'transfer-small', effect: 'permit', actions: ['transfer'], when: 'amount <= 100', require: { aal: 2 } },
    {
      id: 'transfer-large',
      effect: 'permit',
      actions: ['transfer'],
      when: 'amount > 100 && amount <= 10000',
      require: {
        all: [
          { factor: { factor: 'fob' } },
          { any: [{ factor: { kind: 'knowledge' } }, { factor: { kind: 'inherence' } }] },
        ],
      },
    },
    { id: 'transfer-huge', effect: 'forbid', actions: ['transfer'], when: 'amount > 10000' },
    { id: 'transfer-night', effect: 'forbid', actions: ['transfer'], when: 'hour < 6', require: { aal: 3 } },
    { id: 'sign', effect: 'permit', actions: ['sign'], require: { factor: { factor: 'fob', maxAge: '5m' } } },
    { id: 'close-account', effect: 'permit', actions: ['close-account'], sensitive: true, require: { aal: 2 } },
    {
      id: 'change-password',
      effect: 'permit',
      actions: ['change-password'],
      sensitive: true,
      require: { any: [{ factor: { factor: 'fob' } }, { factor: { factor: 'webauthn' } }] },
    },
    { id: 'frozen', effect: 'forbid', when: 'frozen == true' },
    { id: 'admin', effect: 'permit', actions: ['admin'], require: { aal: 1 } },
    { id: 'admin-aal3', effect: 'forbid', actions: ['admin'], require: { aal: 3 } },
    {
      id: 'unlock',
      effect: 'permit',
      actions: ['unlock'],
      require: { any: [{ factor: { factor: 'fob', kind: 'knowledge' } }, { factor: { factor: 'recovery-code' } }] },
    },
    { id: 'unlock-kiosk', effect: 'forbid', actions: ['unlock'], when: 'device == "kiosk"' },
    {
      id: 'purchase',
      effect: 'permit',
      actions: ['purchase'],
      when: 'merchant == "corner-store" && amount <= 10',
      require: { any: [{ factor: { factor: 'fob' } }, { factor: { factor: 'webauthn' } }] },
    },
    {
      id: 'purchase-big',
      effect: 'permit',
      actions: ['purchase'],
      when: 'amount > 10 && amount <= 500',
      require: {
        atLeast: 2,
        of: [{ factor: { factor: 'password' } }, { factor: { factor: 'fob' } }, { factor: { factor: 'webauthn' } }],
      },
    },
    {
      id: 'export',
      effect: 'permit',
      actions: ['export'],
      require: { all: [{ aal: 2 }, { factor: { hardwareBound: true, phishingResistant: true } }] },
    },
    { id: 'export-guest', effect: 'forbid', actions: ['export'], when: 'role == "guest"' },
    {
      id: 'support',
      effect: 'permit',
      actions: ['support'],
      when: 'role == "staff" || role == "admin"',
      require: { factor: { userVerified: true } },
    },
    {
      id: 'delete',
      effect: 'permit',
      actions: ['delete'],
      sensitive: true,
      require: { all: [{ factor: { factor: 'fob', maxAge: '5m' } }, { aal: 3 }] },
    },
    { id: 'pin-action', effect: 'permit', actions: ['pin-action'], require: { factor: { amr: 'pin' } } },
    { id: 'banned', effect: 'forbid', when: 'role == "banned"' },
    { id: 'audit', effect: 'permit', actions: ['audit'], when: '!(role == "guest")', require: { aal: 2 } },
  ],
};

const has = (/** @type {string} */ name) => `context.sel.contains("${name}")`;
const safe = (/** @type {string} */ name) => `context.safe.contains("${name}")`;
const on = (/** @type {string} */ action) => `action == Action::"${action}"`;

/** The same policy in Cedar, by id. Evidence is read through `context.sel`, `context.safe`, `context.aal`, `context.safeAal`. */
export const CEDAR_POLICIES = {
  read: `permit(principal, ${on('read')}, resource) when { context.aal >= 1 };`,
  'read-public': `permit(principal, ${on('read-public')}, resource);`,
  'transfer-small': `permit(principal, ${on('transfer')}, resource) when { context.amount <= 100 && context.aal >= 2 };`,
  'transfer-large': `permit(principal, ${on('transfer')}, resource) when { context.amount > 100 && context.amount <= 10000 } when { ${has('fob')} && (${has('knowledge')} || ${has('bio')}) };`,
  'transfer-huge': `forbid(principal, ${on('transfer')}, resource) when { context.amount > 10000 };`,
  'transfer-night': `forbid(principal, ${on('transfer')}, resource) when { context.hour < 6 } unless { context.aal >= 3 };`,
  sign: `permit(principal, ${on('sign')}, resource) when { ${has('fob5m')} };`,
  'close-account': `permit(principal, ${on('close-account')}, resource) when { context.safeAal >= 2 && ${safe('knowledge')} };`,
  'change-password': `permit(principal, ${on('change-password')}, resource) when { (${safe('fob')} || ${safe('passkey')}) && ${safe('knowledge')} };`,
  frozen: 'forbid(principal, action, resource) when { context.frozen == true };',
  admin: `permit(principal, ${on('admin')}, resource) when { context.aal >= 1 };`,
  'admin-aal3': `forbid(principal, ${on('admin')}, resource) unless { context.aal >= 3 };`,
  unlock: `permit(principal, ${on('unlock')}, resource) when { ${has('fobKnowledge')} || ${has('recovery')} };`,
  'unlock-kiosk': `forbid(principal, ${on('unlock')}, resource) when { context.device == "kiosk" };`,
  purchase: `permit(principal, ${on('purchase')}, resource) when { context.merchant == "corner-store" && context.amount <= 10 } when { ${has('fob')} || ${has('passkey')} };`,
  'purchase-big': `permit(principal, ${on('purchase')}, resource) when { context.amount > 10 && context.amount <= 500 } when { (if ${has('password')} then 1 else 0) + (if ${has('fob')} then 1 else 0) + (if ${has('passkey')} then 1 else 0) >= 2 };`,
  export: `permit(principal, ${on('export')}, resource) when { context.aal >= 2 && ${has('hwpr')} };`,
  'export-guest': `forbid(principal, ${on('export')}, resource) when { context.role == "guest" };`,
  support: `permit(principal, ${on('support')}, resource) when { context.role == "staff" || context.role == "admin" } when { ${has('uv')} };`,
  delete: `permit(principal, ${on('delete')}, resource) when { ${safe('fob5m')} && context.safeAal >= 3 && ${safe('knowledge')} };`,
  'pin-action': `permit(principal, ${on('pin-action')}, resource) when { ${has('pin')} };`,
  banned: 'forbid(principal, action, resource) when { context.role == "banned" };',
  audit: `permit(principal, ${on('audit')}, resource) when { !(context.role == "guest") } when { context.aal >= 2 };`,
};

/**
 * The forbids rewritten as latchkey decides them: a forbid whose condition cannot be evaluated
 * applies (fail closed), where Cedar skips a policy whose condition errors. In Cedar that reads
 * `!(context has x) || ...` for every attribute the condition reads.
 */
export const CEDAR_FAIL_CLOSED_POLICIES = {
  ...CEDAR_POLICIES,
  'transfer-huge': `forbid(principal, ${on('transfer')}, resource) when { !(context has amount) || context.amount > 10000 };`,
  'transfer-night': `forbid(principal, ${on('transfer')}, resource) when { !(context has hour) || context.hour < 6 } unless { context.aal >= 3 };`,
  frozen: 'forbid(principal, action, resource) when { !(context has frozen) || context.frozen == true };',
  'unlock-kiosk': `forbid(principal, ${on('unlock')}, resource) when { !(context has device) || context.device == "kiosk" };`,
  'export-guest': `forbid(principal, ${on('export')}, resource) when { !(context has role) || context.role == "guest" };`,
  banned: 'forbid(principal, action, resource) when { !(context has role) || context.role == "banned" };',
};

export const ACTIONS = [
  'read',
  'read-public',
  'transfer',
  'sign',
  'close-account',
  'change-password',
  'admin',
  'unlock',
  'purchase',
  'export',
  'support',
  'delete',
  'pin-action',
  'audit',
  'unknown',
];

/**
 * @typedef {import('../../src/core/types.js').Evidence} Evidence
 * @typedef {{ pos: boolean, know: boolean, inh: boolean, uv: boolean, factor: boolean }} Facts
 */

/**
 * Written from the rules in the issue, independently of src/policy: what one item proves.
 * @param {Evidence} e
 * @returns {Facts}
 */
function factsOf(e) {
  const pos = e.kinds.includes('possession');
  const uv = e.userVerified === true;
  const know = e.kinds.includes('knowledge') && (!pos || uv);
  const inh = e.kinds.includes('inherence') && pos && uv;
  return { pos, know, inh, uv, factor: pos || know };
}

/** @param {Facts} f @returns {Facts} the coercion-safe view: no biometric counts */
function safeFacts(f) {
  return { ...f, inh: false, uv: f.uv && (!f.pos || f.know) };
}

/** @type {Record<string, (e: Evidence, f: Facts, age: number) => boolean>} */
const SELECTORS = {
  fob: (e, f) => f.factor && e.factor === 'fob',
  fob5m: (e, f, age) => f.factor && e.factor === 'fob' && age <= 5 * MINUTE,
  password: (e, f) => f.factor && e.factor === 'password',
  knowledge: (_e, f) => f.know,
  bio: (_e, f) => f.inh,
  passkey: (e, f) => f.factor && e.factor === 'webauthn',
  hwpr: (e, f) => f.factor && e.hardwareBound && e.phishingResistant,
  uv: (_e, f) => f.factor && f.uv,
  recovery: (e, f) => f.factor && e.factor === 'recovery-code',
  pin: (e, f) => f.factor && e.amr.includes('pin'),
  fobKnowledge: (e, f) => e.factor === 'fob' && f.know,
};

/**
 * AAL per NIST SP 800-63B-4 as the issue states it, written independently.
 * @param {readonly {e: Evidence, f: Facts, age: number}[]} items
 */
function aalOf(items) {
  const within = (/** @type {number} */ ms) => items.filter((i) => i.f.factor && i.age <= ms);
  const h12 = within(12 * HOUR);
  const strong = h12.filter((i) => i.f.pos && i.e.hardwareBound && i.e.phishingResistant && i.e.replayResistant);
  if (strong.some((i) => i.f.uv) || (strong.length > 0 && h12.some((i) => i.f.know))) return 3;
  const h24 = within(24 * HOUR);
  if (
    h24.some((i) => i.f.pos) &&
    h24.some((i) => i.f.know || (i.f.pos && i.f.uv)) &&
    h24.some((i) => i.e.replayResistant)
  ) {
    return 2;
  }
  return within(30 * DAY).length > 0 ? 1 : 0;
}

/**
 * The facts Cedar reads: matched selector names in both views and both AALs.
 * @param {readonly Evidence[]} evidence
 * @param {number} now
 */
export function evidenceFacts(evidence, now) {
  const items = evidence
    .filter((e) => now - e.at >= -60_000)
    .map((e) => ({ e, f: factsOf(e), age: Math.max(0, now - e.at) }));
  const safeItems = items.map((i) => ({ ...i, f: safeFacts(i.f) }));
  /** @param {typeof items} list */
  const matched = (list) =>
    Object.keys(SELECTORS).filter((name) => list.some((i) => SELECTORS[name]?.(i.e, i.f, i.age) === true));
  return { sel: matched(items), safe: matched(safeItems), aal: aalOf(items), safeAal: aalOf(safeItems) };
}

/**
 * @typedef {{ evidence: Evidence[], action: string, context: Record<string, string | number | boolean>, now: number }} CrossRequest
 */

/** A small, seeded PRNG (mulberry32). @param {number} seed */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** @param {'pin' | 'biometric' | 'none'} uv @returns {Omit<Evidence, 'at'>} */
const fob = (uv) => ({
  factor: 'fob',
  subject: 'alice',
  authenticatorId: 'fob',
  amr: uv === 'pin' ? ['hwk', 'pin'] : uv === 'biometric' ? ['hwk', 'fpt'] : ['hwk'],
  kinds: uv === 'pin' ? ['possession', 'knowledge'] : uv === 'biometric' ? ['possession', 'inherence'] : ['possession'],
  phishingResistant: true,
  hardwareBound: true,
  userVerified: uv !== 'none',
  userPresent: true,
  replayResistant: true,
});
/** @param {'pin' | 'biometric' | 'none'} uv @returns {Omit<Evidence, 'at'>} */
const passkey = (uv) => ({
  factor: 'webauthn',
  subject: 'alice',
  authenticatorId: 'passkey',
  amr: uv === 'pin' ? ['swk', 'pin'] : uv === 'biometric' ? ['swk', 'fpt'] : ['swk'],
  kinds: uv === 'pin' ? ['possession', 'knowledge'] : uv === 'biometric' ? ['possession', 'inherence'] : ['possession'],
  phishingResistant: true,
  hardwareBound: false,
  userVerified: uv !== 'none',
  userPresent: true,
  replayResistant: true,
});
/** @type {Omit<Evidence, 'at'>[]} */
export const EVIDENCE_KINDS = [
  {
    factor: 'password',
    subject: 'alice',
    authenticatorId: 'pw',
    amr: ['pwd'],
    kinds: ['knowledge'],
    phishingResistant: false,
    hardwareBound: false,
    userVerified: false,
    userPresent: false,
    replayResistant: false,
  },
  fob('none'),
  fob('pin'),
  fob('biometric'),
  passkey('none'),
  passkey('pin'),
  passkey('biometric'),
  {
    factor: 'recovery-code',
    subject: 'alice',
    authenticatorId: 'codes',
    amr: ['otp'],
    kinds: ['possession'],
    phishingResistant: false,
    hardwareBound: false,
    userVerified: false,
    userPresent: false,
    replayResistant: true,
  },
  {
    factor: 'totp',
    subject: 'alice',
    authenticatorId: 'totp',
    amr: ['otp'],
    kinds: ['possession'],
    phishingResistant: false,
    hardwareBound: false,
    userVerified: false,
    userPresent: false,
    replayResistant: true,
  },
  {
    factor: 'face-match',
    subject: 'alice',
    authenticatorId: 'camera',
    amr: ['face'],
    kinds: ['inherence'],
    phishingResistant: false,
    hardwareBound: false,
    userVerified: true,
    userPresent: true,
    replayResistant: false,
  },
];
const AGES = [0, 0, 0, 2 * MINUTE, 10 * MINUTE, 2 * HOUR, 13 * HOUR, 25 * HOUR, 31 * DAY, -30_000, -10 * MINUTE];

/**
 * A seeded corpus of requests. Each context attribute is left out one time in ten, except that
 * with `complete` the attributes that forbids read (`amount`, `hour`, `frozen`, `role`, `device`)
 * are always there, so that no forbid's condition fails (see CEDAR_FAIL_CLOSED_POLICIES).
 * @param {number} count
 * @param {number} seed
 * @param {boolean} [complete]
 * @returns {CrossRequest[]}
 */
export function corpus(count, seed, complete = false) {
  const random = prng(seed);
  /** @template T @param {readonly T[]} list @returns {T} */
  const pick = (list) => /** @type {T} */ (list[Math.floor(random() * list.length)]);
  /** @type {CrossRequest[]} */
  const out = [];
  for (let n = 0; n < count; n++) {
    const evidence = [];
    const items = Math.floor(random() * 4);
    for (let i = 0; i < items; i++) evidence.push({ ...pick(EVIDENCE_KINDS), at: NOW - pick(AGES) });
    /** @type {Record<string, string | number | boolean>} */
    const context = {};
    const keep = () => random() < 0.9 || complete;
    if (keep()) context.amount = pick([0, 5, 10, 11, 50, 100, 101, 250, 500, 501, 10000, 10001]);
    if (random() < 0.9) context.merchant = pick(['corner-store', 'big-box']);
    if (keep()) context.hour = pick([2, 5, 6, 12, 23]);
    if (keep()) context.frozen = random() < 0.1;
    if (keep()) context.role = pick(['user', 'user', 'staff', 'admin', 'guest', 'banned']);
    if (keep()) context.device = pick(['laptop', 'kiosk']);
    out.push({ evidence, action: pick(ACTIONS), context, now: NOW });
  }
  return out;
}

/**
 * A hand-written closure for the same policy: what a developer would write without an engine.
 * Returns allow or deny only, no explanation. Like latchkey, it fails closed: a forbid's
 * attribute that is missing or of the wrong type denies.
 * @param {CrossRequest} request
 */
export function baselineDecide(request) {
  const c = request.context;
  if (typeof c.frozen !== 'boolean' || c.frozen || typeof c.role !== 'string' || c.role === 'banned') return false;
  const facts = evidenceFacts(request.evidence, request.now);
  const sel = (/** @type {string} */ n) => facts.sel.includes(n);
  const safeSel = (/** @type {string} */ n) => facts.safe.includes(n);
  const amount = typeof c.amount === 'number' ? c.amount : undefined;
  switch (request.action) {
    case 'read':
      return facts.aal >= 1;
    case 'read-public':
      return true;
    case 'transfer': {
      if (amount === undefined || amount > 10000) return false;
      if ((typeof c.hour !== 'number' || c.hour < 6) && facts.aal < 3) return false;
      if (amount <= 100) return facts.aal >= 2;
      return sel('fob') && (sel('knowledge') || sel('bio'));
    }
    case 'sign':
      return sel('fob5m');
    case 'close-account':
      return facts.safeAal >= 2 && safeSel('knowledge');
    case 'change-password':
      return (safeSel('fob') || safeSel('passkey')) && safeSel('knowledge');
    case 'admin':
      return facts.aal >= 3;
    case 'unlock':
      return typeof c.device === 'string' && c.device !== 'kiosk' && (sel('fobKnowledge') || sel('recovery'));
    case 'purchase':
      if (amount === undefined) return false;
      if (c.merchant === 'corner-store' && amount <= 10 && (sel('fob') || sel('passkey'))) return true;
      return amount > 10 && amount <= 500 && [sel('password'), sel('fob'), sel('passkey')].filter(Boolean).length >= 2;
    case 'export':
      return c.role !== 'guest' && facts.aal >= 2 && sel('hwpr');
    case 'support':
      return (c.role === 'staff' || c.role === 'admin') && sel('uv');
    case 'delete':
      return safeSel('fob5m') && facts.safeAal >= 3 && safeSel('knowledge');
    case 'pin-action':
      return sel('pin');
    case 'audit':
      return c.role !== 'guest' && facts.aal >= 2;
    default:
      return false;
  }
}
