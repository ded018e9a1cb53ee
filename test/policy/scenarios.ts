// The scenario table: DESIGN.md's four stories and the NIST SP 800-63B-4 cases, as data.
import type { Evidence } from '../../src/core/types.js';
import type { ExpressionContext } from '../../src/policy/expression.js';
import type { Policy } from '../../src/policy/types.js';
import {
  bareBiometric,
  DAY,
  deviceBoundPasskey,
  fob,
  HOUR,
  MINUTE,
  password,
  recoveryCode,
  smartCard,
  syncedPasskey,
  totp,
} from './evidence.js';

/** Alice's bank, workspace and corner store, in one policy. */
export const STORIES: Policy = {
  rules: [
    // story 1: app login with step-up
    { id: 'read', effect: 'permit', actions: ['read'], require: { aal: 1 } },
    { id: 'transfer-small', effect: 'permit', actions: ['transfer'], when: 'amount <= 100', require: { aal: 2 } },
    {
      id: 'transfer-large',
      effect: 'permit',
      actions: ['transfer'],
      when: 'amount > 100',
      require: {
        all: [
          { factor: { factor: 'fob', label: 'your fob' } },
          { any: [{ factor: { kind: 'knowledge' } }, { factor: { kind: 'inherence' } }] },
        ],
      },
    },
    {
      id: 'sign-contract',
      effect: 'permit',
      actions: ['sign'],
      require: { factor: { factor: 'fob', hardwareBound: true, maxAge: '5m' } },
    },
    // story 4: your thumb or your life
    { id: 'close-account', effect: 'permit', actions: ['close-account'], sensitive: true, require: { aal: 2 } },
    {
      id: 'frozen',
      effect: 'forbid',
      when: 'account.frozen == true',
      description: 'the account is frozen',
    },
    // administration: a permit, and a forbid that reads as "unless AAL3"
    { id: 'admin', effect: 'permit', actions: ['admin'], require: { aal: 1 } },
    { id: 'admin-needs-aal3', effect: 'forbid', actions: ['admin'], require: { aal: 3 } },
    // story 2: the fob unlocks the workspace; a backup fob and a recovery code do too
    {
      id: 'unlock-workspace',
      effect: 'permit',
      actions: ['unlock-workspace'],
      require: {
        any: [
          { factor: { factor: 'fob', kind: 'knowledge', label: 'your fob with its PIN' } },
          { factor: { factor: 'recovery-code', label: 'a recovery code' } },
        ],
      },
    },
    // story 3: Bob buys at the corner store with Alice's credential, proving himself
    {
      id: 'corner-store',
      effect: 'permit',
      actions: ['purchase'],
      when: 'merchant == "corner-store" && amount <= 10',
      require: {
        any: [
          { factor: { factor: 'fob', label: 'his fob' } },
          { factor: { factor: 'webauthn', label: 'his passkey' } },
        ],
      },
    },
  ],
};

/** One rule per assurance level, for the NIST cases. */
const LEVELS: Policy = {
  rules: [
    { id: 'aal1', effect: 'permit', actions: ['aal1'], require: { aal: 1 } },
    { id: 'aal2', effect: 'permit', actions: ['aal2'], require: { aal: 2 } },
    { id: 'aal3', effect: 'permit', actions: ['aal3'], require: { aal: 3 } },
  ],
};

export interface Scenario {
  readonly name: string;
  readonly policy: Policy;
  readonly evidence: readonly Evidence[];
  readonly action: string;
  readonly context?: ExpressionContext;
  readonly now?: number;
  readonly expect: {
    readonly allow: boolean;
    readonly decidedBy?: string | null;
    readonly aal?: 0 | 1 | 2 | 3;
    /** Each option's item reasons, in order. */
    readonly stepUp?: readonly (readonly string[])[];
    /** Substrings that some reason contains. */
    readonly reasons?: readonly string[];
  };
}

/**
 * What the app knows about Alice's account. The `frozen` forbid reads `account.frozen`, and a
 * forbid whose condition cannot be evaluated applies (fail closed), so every request to the
 * stories policy says whether the account is frozen.
 */
export const ACCOUNT: ExpressionContext = { account: { frozen: false } };

const s = (
  name: string,
  evidence: readonly Evidence[],
  action: string,
  expect: Scenario['expect'],
  context?: ExpressionContext,
  policy: Policy = STORIES,
): Scenario => {
  const full = policy === STORIES ? { ...ACCOUNT, ...context } : context;
  return { name, policy, evidence, action, expect, ...(full === undefined ? {} : { context: full }) };
};

const alicePasskey = syncedPasskey('biometric');
const HW_KEY = 'add a hardware-bound phishing-resistant physical authenticator';

export const SCENARIOS: readonly Scenario[] = [
  // ---- story 1: app login with step-up
  s('story 1: a passkey login reads the account', [alicePasskey], 'read', { allow: true, decidedBy: 'read', aal: 2 }),
  s(
    'story 1: a passkey login moves $50',
    [alicePasskey],
    'transfer',
    { allow: true, decidedBy: 'transfer-small' },
    { amount: 50 },
  ),
  s(
    'story 1: moving $250 with a passkey asks for the fob',
    [alicePasskey],
    'transfer',
    {
      allow: false,
      decidedBy: null,
      stepUp: [['add your fob']],
      reasons: ['needs your fob; you presented a synced passkey'],
    },
    { amount: 250 },
  ),
  s(
    'story 1: passkey and fob move $250',
    [alicePasskey, fob()],
    'transfer',
    { allow: true, decidedBy: 'transfer-large', aal: 2 },
    { amount: 250 },
  ),
  s('story 1: password and fob move $250', [password(), fob()], 'transfer', { allow: true }, { amount: 250 }),
  s(
    'story 1: a fob alone (touch only) needs a password or a biometric',
    [fob()],
    'transfer',
    {
      allow: false,
      stepUp: [['add a password or PIN'], ['add a physical authenticator unlocked with a biometric']],
    },
    { amount: 250 },
  ),
  s('story 1: a fob with its PIN moves $250 alone', [fob('pin')], 'transfer', { allow: true }, { amount: 250 }),
  s('story 1: nothing presented, reading asks for any factor', [], 'read', {
    allow: false,
    aal: 0,
    stepUp: [['add a password or physical authenticator']],
  }),
  s('story 1: a password reads (AAL1)', [password()], 'read', { allow: true, aal: 1 }),
  s(
    'story 1: a password alone cannot move $50 (AAL2 needs a replay-resistant physical authenticator)',
    [password()],
    'transfer',
    { allow: false, stepUp: [['add a replay-resistant physical authenticator']] },
    { amount: 50 },
  ),
  s(
    'story 1: a passkey without UV is single-factor',
    [syncedPasskey('none')],
    'transfer',
    {
      allow: false,
      aal: 1,
      stepUp: [
        ['add a password or PIN'],
        ['add a replay-resistant physical authenticator unlocked with a PIN or biometric'],
      ],
    },
    { amount: 50 },
  ),
  s('story 1: unknown action is denied', [alicePasskey, fob('pin')], 'delete-bank', {
    allow: false,
    decidedBy: null,
    stepUp: [],
    reasons: ['no rule permits `delete-bank` here'],
  }),
  s('story 1: a transfer without an amount fails closed', [alicePasskey, fob('pin')], 'transfer', {
    allow: false,
    stepUp: [],
  }),
  // ---- freshness
  s('stale: a fob used 10 minutes ago does not sign', [password(), fob('none', { ageMs: 10 * MINUTE })], 'sign', {
    allow: false,
    stepUp: [['add a hardware-bound fob used within the last 5 minutes']],
    reasons: [
      'needs a hardware-bound fob used within the last 5 minutes; you presented a password and a fob used 10 minutes ago',
    ],
  }),
  s('stale: the explanation names what was presented', [password(), syncedPasskey('biometric')], 'sign', {
    allow: false,
    reasons: [
      'needs a hardware-bound fob used within the last 5 minutes; you presented a password and a synced passkey',
    ],
  }),
  s('stale: a fob used 4 minutes ago signs', [fob('none', { ageMs: 4 * MINUTE })], 'sign', { allow: true }),
  s('stale: a fob dated 10 minutes in the future is ignored', [fob('none', { ageMs: -10 * MINUTE })], 'sign', {
    allow: false,
    aal: 0,
  }),
  s('stale: a fob 30 s in the future is within clock skew', [fob('none', { ageMs: -30_000 })], 'sign', { allow: true }),
  // ---- story 4: coercion-safe rules
  s('story 4: a biometric passkey alone never closes the account', [alicePasskey], 'close-account', {
    allow: false,
    aal: 2,
    stepUp: [['add a password or PIN']],
  }),
  s('story 4: a fob unlocked by a fingerprint alone never closes the account', [fob('biometric')], 'close-account', {
    allow: false,
    aal: 3,
    stepUp: [['add a password or PIN']],
  }),
  s('story 4: biometric passkey plus password closes the account', [alicePasskey, password()], 'close-account', {
    allow: true,
    decidedBy: 'close-account',
  }),
  s('story 4: a fob with its PIN closes the account', [fob('pin')], 'close-account', { allow: true }),
  s('story 4: a passkey with its PIN closes the account', [syncedPasskey('pin')], 'close-account', { allow: true }),
  s('story 4: password plus touch-only fob closes the account', [password(), fob()], 'close-account', { allow: true }),
  s('story 4: a password alone does not close the account', [password()], 'close-account', {
    allow: false,
    stepUp: [['add a replay-resistant physical authenticator']],
  }),
  s(
    'story 4: a frozen account forbids everything, whatever the evidence',
    [alicePasskey, fob('pin'), password()],
    'transfer',
    { allow: false, decidedBy: 'frozen', stepUp: [], reasons: ['forbidden by rule `frozen`: the account is frozen'] },
    { amount: 250, account: { frozen: true } },
  ),
  s(
    'story 4: the frozen forbid overrides the read permit',
    [alicePasskey],
    'read',
    { allow: false, decidedBy: 'frozen' },
    {
      account: { frozen: true },
    },
  ),
  s('story 4: an unfrozen account reads', [alicePasskey], 'read', { allow: true }, { account: { frozen: false } }),
  {
    name: 'story 4: a request that does not say whether the account is frozen is denied (fail closed)',
    policy: STORIES,
    evidence: [alicePasskey, fob('pin')],
    action: 'read',
    expect: {
      allow: false,
      decidedBy: 'frozen',
      stepUp: [],
      reasons: ['forbidden by rule `frozen`: its condition `account.frozen == true` cannot be evaluated'],
    },
  },
  s(
    'story 4: an account whose `frozen` is not true or false is denied (fail closed)',
    [alicePasskey, fob('pin')],
    'read',
    { allow: false, decidedBy: 'frozen', stepUp: [] },
    { account: { frozen: 'no' } },
  ),
  // ---- forbid overriding permit ("unless")
  s('admin: a password is forbidden, and told to add a hardware key', [password()], 'admin', {
    allow: false,
    decidedBy: 'admin-needs-aal3',
    stepUp: [[HW_KEY]],
  }),
  s('admin: a fob with its PIN is allowed', [fob('pin')], 'admin', { allow: true, decidedBy: 'admin', aal: 3 }),
  s('admin: synced passkey and password cap at AAL2', [alicePasskey, password()], 'admin', {
    allow: false,
    aal: 2,
    stepUp: [[HW_KEY]],
  }),
  s('admin: nothing presented, one user-verified hardware key or a hardware key and a password', [], 'admin', {
    allow: false,
    stepUp: [[`${HW_KEY} unlocked with a PIN or biometric`], ['add a password or PIN', HW_KEY]],
  }),
  s('admin: a smart card with its PIN is allowed', [smartCard()], 'admin', { allow: true, aal: 3 }),
  // ---- story 2: the fob unlocks the workspace
  s('story 2: the fob with its PIN unlocks', [fob('pin')], 'unlock-workspace', { allow: true }),
  s('story 2: the backup fob with its PIN unlocks', [fob('pin', { id: 'fob-backup' })], 'unlock-workspace', {
    allow: true,
  }),
  s('story 2: a recovery code unlocks', [recoveryCode()], 'unlock-workspace', { allow: true }),
  s('story 2: a password does not unlock', [password()], 'unlock-workspace', {
    allow: false,
    stepUp: [['add your fob with its PIN'], ['add a recovery code']],
  }),
  s('story 2: a touch-only fob does not unlock', [fob()], 'unlock-workspace', { allow: false }),
  s('story 2: a passkey does not unlock', [alicePasskey], 'unlock-workspace', { allow: false }),
  s(
    'story 2: a fob unlocked by a fingerprint does not unlock (the PIN is the second factor)',
    [fob('biometric')],
    'unlock-workspace',
    {
      allow: false,
    },
  ),
  // ---- story 3: the corner store
  s(
    'story 3: Bob with his fob buys $8 at the corner store',
    [fob('none', { subject: 'bob' })],
    'purchase',
    { allow: true, decidedBy: 'corner-store' },
    { merchant: 'corner-store', amount: 8 },
  ),
  s(
    'story 3: Bob with his passkey buys $10',
    [syncedPasskey('biometric', { subject: 'bob' })],
    'purchase',
    { allow: true },
    { merchant: 'corner-store', amount: 10 },
  ),
  s(
    'story 3: Bob with only a password is asked for his fob or passkey',
    [password({ subject: 'bob' })],
    'purchase',
    { allow: false, stepUp: [['add his fob'], ['add his passkey']] },
    { merchant: 'corner-store', amount: 8 },
  ),
  s(
    'story 3: $11 is never allowed, and no step-up helps',
    [fob('pin', { subject: 'bob' })],
    'purchase',
    { allow: false, stepUp: [], reasons: ['no rule permits `purchase` here'] },
    { merchant: 'corner-store', amount: 11 },
  ),
  s(
    'story 3: another merchant is never allowed',
    [fob('pin', { subject: 'bob' })],
    'purchase',
    { allow: false, stepUp: [] },
    { merchant: 'big-box', amount: 5 },
  ),
  s(
    "story 3: Bob's fob and Alice's password never combine",
    [fob('none', { subject: 'bob' }), password()],
    'purchase',
    { allow: false, aal: 0, stepUp: [], reasons: ['more than one subject'] },
    { merchant: 'corner-store', amount: 8 },
  ),
  // ---- NIST SP 800-63B-4 cases, through `aal` requirements
  s('nist: password only is AAL1', [password()], 'aal1', { allow: true, aal: 1 }, undefined, LEVELS),
  s('nist: password only is not AAL2', [password()], 'aal2', { allow: false, aal: 1 }, undefined, LEVELS),
  s(
    'nist: synced passkey with UV is AAL2',
    [syncedPasskey('biometric')],
    'aal2',
    { allow: true, aal: 2 },
    undefined,
    LEVELS,
  ),
  s(
    'nist: synced passkey with UV is not AAL3',
    [syncedPasskey('pin')],
    'aal3',
    { allow: false, aal: 2 },
    undefined,
    LEVELS,
  ),
  s(
    'nist: synced passkey without UV is AAL1',
    [syncedPasskey('none')],
    'aal2',
    { allow: false, aal: 1 },
    undefined,
    LEVELS,
  ),
  s(
    'nist: synced passkey without UV plus password is AAL2',
    [syncedPasskey('none'), password()],
    'aal2',
    { allow: true, aal: 2 },
    undefined,
    LEVELS,
  ),
  s(
    'nist: fob without PIN plus password is AAL3',
    [fob(), password()],
    'aal3',
    { allow: true, aal: 3 },
    undefined,
    LEVELS,
  ),
  s('nist: fob without PIN alone is AAL1', [fob()], 'aal2', { allow: false, aal: 1 }, undefined, LEVELS),
  s('nist: fob with PIN is AAL3', [fob('pin')], 'aal3', { allow: true, aal: 3 }, undefined, LEVELS),
  s('nist: fob with fingerprint is AAL3', [fob('biometric')], 'aal3', { allow: true, aal: 3 }, undefined, LEVELS),
  s(
    'nist: device-bound passkey with UV is AAL3',
    [deviceBoundPasskey('biometric')],
    'aal3',
    { allow: true, aal: 3 },
    undefined,
    LEVELS,
  ),
  s(
    'nist: password plus recovery code is AAL2 (a look-up secret is replay resistant, 63B §5.2.8)',
    [password(), recoveryCode()],
    'aal2',
    { allow: true, aal: 2 },
    undefined,
    LEVELS,
  ),
  s(
    'nist: a recovery code alone is AAL1 (one factor)',
    [recoveryCode()],
    'aal2',
    { allow: false, aal: 1 },
    undefined,
    LEVELS,
  ),
  s('nist: password plus TOTP is AAL2', [password(), totp()], 'aal2', { allow: true, aal: 2 }, undefined, LEVELS),
  s('nist: password plus TOTP is not AAL3', [password(), totp()], 'aal3', { allow: false, aal: 2 }, undefined, LEVELS),
  s('nist: a bare biometric is no factor', [bareBiometric()], 'aal1', { allow: false, aal: 0 }, undefined, LEVELS),
  s(
    'nist: a fob with PIN from 13 hours ago is AAL2, not AAL3',
    [fob('pin', { ageMs: 13 * HOUR })],
    'aal3',
    { allow: false, aal: 2 },
    undefined,
    LEVELS,
  ),
  s(
    'nist: a fob with PIN from 25 hours ago is AAL1',
    [fob('pin', { ageMs: 25 * HOUR })],
    'aal2',
    { allow: false, aal: 1 },
    undefined,
    LEVELS,
  ),
  s(
    'nist: a password from 31 days ago is nothing',
    [password({ ageMs: 31 * DAY })],
    'aal1',
    { allow: false, aal: 0 },
    undefined,
    LEVELS,
  ),
];
