/**
 * The gate: what an app calls. It composes factors, the policy engine and credentials.
 *
 * ```text
 * begin() ─► verify(tx, 'fob', …) ─► decide(tx, action)      (a transaction collects Evidence)
 *                         └────────► issueSession(tx) ─► token (a credential, DESIGN.md)
 * authorize(token, { action, context, discharges }) ─► Decision   (credential verify + policy)
 * stepUp(token, tx) ─► a new token with the fresh evidence; the old one is revoked
 * delegate(token, …) ─► a narrowed token for someone else; discharger() checks their own factor
 * ```
 *
 * **Sessions.** A session is a credential whose issuer section declares `sub`, `amr`, `acr` (the
 * AAL reached, `aal1`..`aal3`), `auth_time` and an expiry, plus one always-true caveat
 * (`"lk-session:…" != ""`) that carries the evidence (factor, kinds, flags, time) so that `authorize` can hand the policy
 * the same evidence the session was minted from. Its lifetime follows NIST SP 800-63B-4: at most
 * 30 days for AAL1 (§2.1.3), 24 hours overall and 1 hour idle for AAL2 (§2.2.3), 12 hours and 15
 * minutes for AAL3 (§2.3.3). Evidence keeps its own time, so the policy's freshness rules
 * (`maxAge`, reauthentication) apply to a session exactly as to a fresh sign-in, and a session
 * never reaches a higher AAL than its evidence.
 *
 * **Idle timeout.** Kept in the store's throttle counters, race-free: time is cut into slots of
 * half the idle length; the first activity in a slot opens a window of the idle length under that
 * slot's key (`idle:<cid>:<slot>`, an atomic `hit`); a request is live when a window of its slot or
 * of one of the two before is live. Reads never reset anything, so parallel requests cannot log a
 * session out. A session therefore ends between half the idle length and the idle length after
 * its last activity: never later than NIST allows, sometimes earlier.
 *
 * **Duress.** An authenticator record marked `duress` verifies as usual. A transaction that
 * used one mints a session that looks like any other (same caveats, same size, same response),
 * but the gate remembers it in the store (a usage counter `duress:<cid>`, invisible to the
 * holder), confines it to `duress.actions` (everything else is denied with the same words as an
 * ordinary deny), revokes every session and delegation the subject was issued, writes an audit
 * entry only the operator sees, and calls `hooks.onDuress`. The freezing runs after the sign-in
 * has answered, so the answer takes no longer than a real one.
 *
 * @module latchkey
 */
import { type Clock, systemClock } from '../core/clock.js';
import { isLatchkeyError, LatchkeyError } from '../core/errors.js';
import { randomId } from '../core/random.js';
import type { Amr, Evidence, FactorKind } from '../core/types.js';
import { attenuate } from '../delegation/credentials/attenuate.js';
import type { DischargeRequest } from '../delegation/credentials/discharger.js';
import { inspectCredential } from '../delegation/credentials/inspect.js';
import { CredentialIssuer } from '../delegation/credentials/issuer.js';
import type { KeyRing } from '../delegation/credentials/key-ring.js';
import type { VerifiedCredential } from '../delegation/credentials/verify.js';
import { assuranceLevel } from '../policy/aal.js';
import { type CompiledPolicy, compilePolicy } from '../policy/compile.js';
import type { ExpressionContext } from '../policy/expression.js';
import type { Decision, Policy } from '../policy/types.js';
import type { AuthenticatorRecord, Json, Store } from '../store/types.js';

/** A factor as the gate drives it: verify what the user presented, for an account. */
export interface GateFactor {
  verify(input: { readonly accountId: string } & Readonly<Record<string, unknown>>): Promise<Evidence>;
}

export interface GateHooks {
  /** A duress authenticator was used. Runs after the subject's credentials were frozen. */
  readonly onDuress?: (event: {
    readonly subject: string;
    readonly authenticatorId: string;
    readonly frozen: number;
  }) => void | Promise<void>;
  /** An authenticator was bound to an account (NIST SP 800-63B-4 §4.6: notify the subject). */
  readonly onAuthenticatorBound?: (event: {
    readonly subject: string;
    readonly authenticatorId: string;
    readonly factor: string;
  }) => void | Promise<void>;
  /** An authenticator was removed from an account (§4.6: notify the subject). */
  readonly onAuthenticatorRemoved?: (event: {
    readonly subject: string;
    readonly authenticatorId: string;
    readonly factor: string;
  }) => void | Promise<void>;
  /** A recovery code was used (§4.6: notify the subject). */
  readonly onRecoveryUsed?: (event: {
    readonly subject: string;
    readonly authenticatorId: string;
  }) => void | Promise<void>;
}

export interface GateOptions {
  readonly store: Store;
  /** A policy, or one compiled with `compilePolicy`. */
  readonly policy: Policy | CompiledPolicy;
  /** Root keys for sessions and delegations. */
  readonly keyring: KeyRing;
  /** The factors by name: `fob`, `password`, `webauthn`, `pkcs11`, `recovery-code`, ... */
  readonly factors: Readonly<Record<string, GateFactor>>;
  readonly clock?: Clock;
  readonly hooks?: GateHooks;
  /** What a session minted under duress may still do (a decoy scope). Default: nothing. */
  readonly duress?: { readonly actions?: readonly string[] };
  /** How long a transaction may collect evidence. Default 10 minutes. */
  readonly transactionTtlMs?: number;
  /** Account recovery with a recovery code (see {@link Gate.recover}). */
  readonly recovery?: {
    /**
     * The AAL the app's accounts are kept at. From 2 up, a recovery code alone recovers nothing:
     * it must come with an authenticator already bound to the account (SP 800-63B-4 §4.2). Default 2.
     */
    readonly accountAal?: 1 | 2 | 3;
    /** What a recovery session may do. Default `authenticator.bind`, `authenticator.remove`, `recovery.regenerate`. */
    readonly actions?: readonly string[];
    /** How long a recovery session lasts. Default 15 minutes. */
    readonly ttlMs?: number;
  };
}

/** Evidence being collected for one sign-in or step-up. Server-side; never hand it to a client. */
export interface GateTransaction {
  readonly id: string;
  readonly createdAt: number;
  /** The account, once the first factor verified (or as given to `begin`). */
  readonly accountId: string | undefined;
  readonly evidence: readonly Evidence[];
}

export interface GateSession {
  /** The bearer token. */
  readonly token: string;
  /** Revoke this to end the session and everything delegated from it. */
  readonly credentialId: string;
  readonly expiresAt: number;
  /** How long the session may sit unused, or null (AAL1). */
  readonly idleMs: number | null;
  readonly aal: 1 | 2 | 3;
}

export interface AuthorizeRequest {
  readonly action: string;
  readonly context?: ExpressionContext;
  /** Discharges for third-party caveats of a delegated credential, bound to it. */
  readonly discharges?: readonly string[];
  /** The verifier's own name when credentials carry an audience. */
  readonly audience?: string;
}

export interface Authorization {
  readonly decision: Decision;
  readonly credential: VerifiedCredential;
  /** The evidence the session was minted from, as the policy saw it. */
  readonly evidence: readonly Evidence[];
}

const OVERALL_MS = { 1: 30 * 86_400_000, 2: 24 * 3_600_000, 3: 12 * 3_600_000 } as const;
const IDLE_MS = { 1: null, 2: 3_600_000, 3: 15 * 60_000 } as const;
const SESSION_CAVEAT = /^"lk-session:([A-Za-z0-9_-]{1,4000})" != ""$/;
const CONDITION = /^proves (?:([a-z0-9-]+(?:\|[a-z0-9-]+)*) )?as ([^\s]{1,128})$/;
const EMPTY: readonly never[] = Object.freeze([]);

const KINDS: readonly FactorKind[] = ['knowledge', 'possession', 'inherence'];
const RECOVERY_FACTOR = 'recovery-code';
const RECOVERY_ACTIONS: readonly string[] = Object.freeze([
  'authenticator.bind',
  'authenticator.remove',
  'recovery.regenerate',
]);

/** The idle window opened by the first activity in a time slot of half the idle length. */
function idleKey(cid: string, slot: number): string {
  return `idle:${cid}:${slot}`;
}

/** Evidence as a session carries it: short keys, flags as a bit field. */
function packEvidence(evidence: readonly Evidence[]): string {
  const items = evidence.map((e) => [
    e.factor,
    e.authenticatorId,
    e.amr.join(' '),
    e.kinds.map((k) => KINDS.indexOf(k)).join(''),
    (e.phishingResistant ? 1 : 0) |
      (e.hardwareBound ? 2 : 0) |
      (e.userVerified ? 4 : 0) |
      (e.userPresent ? 8 : 0) |
      (e.replayResistant ? 16 : 0),
    e.at,
  ]);
  return Buffer.from(JSON.stringify([1, items])).toString('base64url');
}

function unpackEvidence(blob: string, subject: string): Evidence[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(blob, 'base64url').toString('utf8'));
  } catch {
    throw new LatchkeyError('ERR_SESSION_INVALID', 'the session evidence is unreadable');
  }
  if (!Array.isArray(parsed) || parsed[0] !== 1 || !Array.isArray(parsed[1]) || parsed[1].length > 16) {
    throw new LatchkeyError('ERR_SESSION_INVALID', 'the session evidence has an unknown form');
  }
  return (parsed[1] as unknown[]).map((item) => {
    if (!Array.isArray(item) || item.length !== 6) {
      throw new LatchkeyError('ERR_SESSION_INVALID', 'the session evidence has an unknown form');
    }
    const [factor, authenticatorId, amr, kinds, flags, at] = item as [string, string, string, string, number, number];
    if (typeof factor !== 'string' || typeof authenticatorId !== 'string' || typeof amr !== 'string') {
      throw new LatchkeyError('ERR_SESSION_INVALID', 'the session evidence has an unknown form');
    }
    if (typeof kinds !== 'string' || !Number.isSafeInteger(flags) || !Number.isSafeInteger(at)) {
      throw new LatchkeyError('ERR_SESSION_INVALID', 'the session evidence has an unknown form');
    }
    return Object.freeze({
      factor,
      subject,
      authenticatorId,
      amr: Object.freeze(amr === '' ? [] : (amr.split(' ') as Amr[])),
      kinds: Object.freeze([...kinds].map((k) => KINDS[Number(k)] as FactorKind)),
      phishingResistant: (flags & 1) !== 0,
      hardwareBound: (flags & 2) !== 0,
      userVerified: (flags & 4) !== 0,
      userPresent: (flags & 8) !== 0,
      replayResistant: (flags & 16) !== 0,
      at,
    });
  });
}

class Transaction implements GateTransaction {
  readonly id = randomId();
  accountId: string | undefined;
  evidence: Evidence[] = [];
  duress: string | null = null;
  constructor(
    readonly createdAt: number,
    accountId: string | undefined,
  ) {
    this.accountId = accountId;
  }
}

/** Create the gate. See the module documentation for what each step does. */
export function createGate(options: GateOptions): Gate {
  return new Gate(options);
}

export class Gate {
  readonly #store: Store;
  readonly #policy: CompiledPolicy;
  readonly #issuer: CredentialIssuer;
  readonly #factors: Readonly<Record<string, GateFactor>>;
  readonly #clock: Clock;
  readonly #hooks: GateHooks;
  readonly #decoy: ReadonlySet<string>;
  readonly #ttl: number;
  readonly #recovery: { readonly accountAal: 1 | 2 | 3; readonly actions: readonly string[]; readonly ttlMs: number };
  readonly #transactions = new WeakSet<Transaction>();
  readonly #pending = new Set<Promise<void>>();

  constructor(options: GateOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'createGate needs options', { field: 'options' });
    }
    this.#store = options.store;
    this.#clock = options.clock ?? systemClock;
    const policy = options.policy as Partial<CompiledPolicy>;
    this.#policy =
      typeof policy.decide === 'function'
        ? (options.policy as CompiledPolicy)
        : compilePolicy(options.policy as Policy, { clock: this.#clock });
    this.#issuer = new CredentialIssuer({ keys: options.keyring, store: options.store, clock: this.#clock });
    this.#factors = { ...options.factors };
    this.#hooks = options.hooks ?? {};
    this.#decoy = new Set(options.duress?.actions ?? []);
    this.#ttl = options.transactionTtlMs ?? 10 * 60_000;
    const recovery = options.recovery ?? {};
    const accountAal = recovery.accountAal ?? 2;
    if (accountAal !== 1 && accountAal !== 2 && accountAal !== 3) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'recovery.accountAal must be 1, 2 or 3', {
        field: 'recovery.accountAal',
      });
    }
    const actions = recovery.actions ?? RECOVERY_ACTIONS;
    if (!Array.isArray(actions) || actions.length === 0 || !actions.every((a) => typeof a === 'string' && a !== '')) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'recovery.actions must be a non-empty list of action names', {
        field: 'recovery.actions',
      });
    }
    const ttlMs = recovery.ttlMs ?? 15 * 60_000;
    if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0 || ttlMs > 3_600_000) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'recovery.ttlMs must be 1 ms to one hour', {
        field: 'recovery.ttlMs',
      });
    }
    this.#recovery = { accountAal, actions: Object.freeze([...actions]), ttlMs };
  }

  /** Start collecting evidence, optionally for a known account (username-first sign-in). */
  begin(input: { readonly accountId?: string } = {}): GateTransaction {
    const tx = new Transaction(this.#clock.now(), input.accountId);
    this.#transactions.add(tx);
    return tx;
  }

  #tx(value: GateTransaction): Transaction {
    if (!(value instanceof Transaction) || !this.#transactions.has(value)) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'not a transaction of this gate', { field: 'transaction' });
    }
    if (this.#clock.now() - value.createdAt > this.#ttl) {
      throw new LatchkeyError('ERR_GATE_TRANSACTION_EXPIRED', 'the sign-in took too long; start again');
    }
    return value;
  }

  /**
   * Verify one factor and add its evidence to the transaction. Every success and failure is
   * audited; evidence for another account than the transaction's is refused.
   */
  async verify(
    transaction: GateTransaction,
    factor: string,
    input: Readonly<Record<string, unknown>> & { readonly accountId?: string },
  ): Promise<Evidence> {
    const tx = this.#tx(transaction);
    const driver = Object.hasOwn(this.#factors, factor) ? this.#factors[factor] : undefined;
    if (driver === undefined) {
      throw new LatchkeyError('ERR_GATE_UNKNOWN_FACTOR', `no factor \`${String(factor).slice(0, 40)}\` is configured`, {
        factor: String(factor).slice(0, 40),
      });
    }
    const accountId = input.accountId ?? tx.accountId;
    if (accountId === undefined) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'which account? pass accountId to begin() or verify()', {
        field: 'accountId',
      });
    }
    if (tx.accountId !== undefined && accountId !== tx.accountId) {
      throw new LatchkeyError('ERR_GATE_SUBJECT_MISMATCH', 'this transaction belongs to another account');
    }
    let evidence: Evidence;
    try {
      evidence = await driver.verify({ ...input, accountId });
      if (evidence.subject !== accountId) {
        throw new LatchkeyError('ERR_GATE_SUBJECT_MISMATCH', 'the factor verified another account');
      }
    } catch (error) {
      const code = isLatchkeyError(error) ? error.code : 'ERR_INTERNAL';
      await this.#audit(accountId, 'signin.failure', { factor, code });
      throw error;
    }
    const record = await this.#store.authenticators.get(evidence.authenticatorId);
    tx.accountId = accountId;
    tx.evidence.push(evidence);
    if (record?.duress === true) tx.duress ??= record.id;
    await this.#audit(accountId, 'signin.evidence', { factor, authenticatorId: evidence.authenticatorId });
    if (evidence.factor === RECOVERY_FACTOR) {
      await this.#audit(accountId, 'recovery.used', { authenticatorId: evidence.authenticatorId });
      await this.#hooks.onRecoveryUsed?.({ subject: accountId, authenticatorId: evidence.authenticatorId });
    }
    return evidence;
  }

  /** The policy's answer for the evidence collected so far (with `stepUp` when denied). */
  decide(transaction: GateTransaction, action: string, context?: ExpressionContext): Decision {
    const tx = this.#tx(transaction);
    const decision = this.#policy.decide({
      evidence: tx.evidence,
      action,
      ...(context === undefined ? {} : { context }),
      now: this.#clock.now(),
    });
    return tx.duress === null ? decision : this.#confine(decision, action);
  }

  /** Under duress, anything outside the decoy scope is denied, in the words of an ordinary deny. */
  #confine(decision: Decision, action: string): Decision {
    if (this.#decoy.has(action)) return decision;
    return {
      allow: false,
      decidedBy: null,
      determining: EMPTY,
      reasons: [`no rule permits \`${action}\` here`],
      aal: decision.aal,
      stepUp: EMPTY,
    };
  }

  /** Mint a session from the transaction's evidence. */
  async issueSession(transaction: GateTransaction): Promise<GateSession> {
    const tx = this.#tx(transaction);
    const subject = tx.accountId;
    if (subject === undefined || tx.evidence.length === 0) {
      throw new LatchkeyError('ERR_GATE_NO_EVIDENCE', 'no factor has verified yet');
    }
    const now = this.#clock.now();
    const aal = assuranceLevel(tx.evidence, { now });
    if (aal === 0) throw new LatchkeyError('ERR_GATE_NO_EVIDENCE', 'the evidence is too old to start a session');
    const session = await this.#mint(subject, tx.evidence, aal, now);
    await this.#audit(subject, 'session.issued', { credentialId: session.credentialId, aal });
    if (tx.duress !== null) await this.#underDuress(subject, session.credentialId, tx.duress);
    return session;
  }

  /**
   * Record that a session was minted under duress (before its token is handed out, so that every
   * later lookup agrees), and freeze the subject's other credentials in the background.
   */
  async #underDuress(subject: string, credentialId: string, authenticatorId: string): Promise<void> {
    await this.#store.usage.consume(`duress:${credentialId}`, 1);
    this.#background(this.#freeze(subject, credentialId, authenticatorId));
  }

  /**
   * Account recovery (NIST SP 800-63B-4 §4.2): mint a short session that may only manage the
   * account's authenticators (bind a new one, remove a lost one, regenerate the codes), from a
   * transaction holding a verified recovery code — and, for accounts kept at AAL2 or AAL3, a
   * second authenticator already bound to the account (a password, a fob, a passkey), because
   * §4.2 does not let a recovery code alone recover such an account. Repeated identity proofing,
   * the other way §4.2 allows, is the app's to run. The recovery is audited and the subject is
   * notified when the code is used (§4.6, `onRecoveryUsed`).
   *
   * @throws LatchkeyError `ERR_GATE_RECOVERY_REFUSED` (with `detail.needs`) when the evidence is
   *   not a combination that may recover the account.
   */
  async recover(transaction: GateTransaction): Promise<GateSession> {
    const tx = this.#tx(transaction);
    const subject = tx.accountId;
    const now = this.#clock.now();
    const fresh = tx.evidence.filter((e) => now - e.at <= this.#recovery.ttlMs);
    const codes = fresh.filter((e) => e.factor === RECOVERY_FACTOR);
    const others = fresh.filter((e) => e.factor !== RECOVERY_FACTOR);
    const needsSecond = this.#recovery.accountAal >= 2;
    if (subject === undefined || codes.length === 0 || (needsSecond && others.length === 0)) {
      const needs = needsSecond
        ? 'a recovery code and one authenticator already bound to the account (a password, a fob or a passkey)'
        : 'a recovery code';
      await this.#audit(subject ?? null, 'recovery.refused', { needs });
      throw new LatchkeyError('ERR_GATE_RECOVERY_REFUSED', `account recovery needs ${needs}`, { needs });
    }
    const aal = Math.max(assuranceLevel(fresh, { now }), 1) as 1 | 2 | 3;
    const session = await this.#mint(subject, fresh, aal, now, {
      expiresAt: now + this.#recovery.ttlMs,
      caveat: `action in [${this.#recovery.actions.map((a) => JSON.stringify(a)).join(', ')}]`,
    });
    if (tx.duress !== null) await this.#underDuress(subject, session.credentialId, tx.duress);
    await this.#audit(subject, 'recovery.completed', {
      credentialId: session.credentialId,
      factors: fresh.map((e) => e.factor),
    });
    return session;
  }

  /**
   * Mint a session from `evidence`: NIST lifetimes for `aal`, its idle window opened. `confine`
   * gives a shorter expiry and one more caveat (a recovery session's scope).
   */
  async #mint(
    subject: string,
    evidence: readonly Evidence[],
    aal: 1 | 2 | 3,
    now: number,
    confine?: { readonly expiresAt: number; readonly caveat: string },
  ): Promise<GateSession> {
    const authTime = Math.max(...evidence.map((e) => e.at));
    const expiresAt = confine?.expiresAt ?? Math.min(now, ...evidence.map((e) => e.at)) + OVERALL_MS[aal];
    const amr = [...new Set(evidence.flatMap((e) => e.amr))].sort();
    const issued = await this.#issuer.issue({
      sub: subject,
      amr,
      acr: `aal${aal}`,
      auth_time: authTime,
      expiry: expiresAt,
      caveats: [`"lk-session:${packEvidence(evidence)}" != ""`, ...(confine === undefined ? [] : [confine.caveat])],
    });
    const idleMs = IDLE_MS[aal];
    if (idleMs !== null) {
      await this.#store.throttle.hit(idleKey(issued.credentialId, Math.floor(now / (idleMs / 2))), idleMs);
    }
    return { token: issued.token, credentialId: issued.credentialId, expiresAt, idleMs, aal };
  }

  /** Verify a session or a credential delegated from one, recover its evidence, apply the policy. */
  async authorize(token: string, request: AuthorizeRequest): Promise<Authorization> {
    const { credential, evidence, duress } = await this.#open(token, request);
    const decision = this.#policy.decide({
      evidence,
      action: request.action,
      ...(request.context === undefined ? {} : { context: request.context }),
      now: this.#clock.now(),
    });
    return { decision: duress ? this.#confine(decision, request.action) : decision, credential, evidence };
  }

  async #open(
    token: string,
    request: Partial<AuthorizeRequest>,
  ): Promise<{ credential: VerifiedCredential; evidence: Evidence[]; duress: boolean }> {
    if (typeof token !== 'string') {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'token must be a string', { field: 'token' });
    }
    const credential = await this.#issuer.verify(token, {
      context: { ...request.context, action: request.action ?? '' },
      ...(request.discharges === undefined ? {} : { discharges: request.discharges }),
      ...(request.audience === undefined ? {} : { audience: request.audience }),
    });
    // The evidence rides in an always-true caveat, `"lk-session:<blob>" != ""`. The first one of
    // the root macaroon is the issuer's (holders can only append after it), and the signature
    // check above proved it authentic; copies a holder appends are ignored.
    let blob: string | undefined;
    for (const caveat of credential.caveats) {
      if (caveat.macaroon !== 'root') continue;
      const match = SESSION_CAVEAT.exec(caveat.text);
      if (match !== null) {
        blob = match[1];
        break;
      }
    }
    if (blob === undefined) throw new LatchkeyError('ERR_SESSION_INVALID', 'not a session of this gate');
    const subject = credential.subject;
    if (subject === undefined) throw new LatchkeyError('ERR_SESSION_INVALID', 'the session names no subject');
    const root = credential.rootCredentialId;
    const known = this.#sessions.get(root);
    if (known !== undefined && known.subject === subject && known.blob === blob) {
      if (credential.chain.length === 1) await this.#touch(root, credential.acr);
      return { credential, evidence: known.evidence, duress: known.duress };
    }
    const [, used] = await Promise.all([
      credential.chain.length === 1 ? this.#touch(root, credential.acr) : undefined,
      this.#store.usage.used(`duress:${root}`),
    ]);
    const evidence = Object.freeze(unpackEvidence(blob, subject)) as Evidence[];
    if (this.#sessions.size >= 1024) this.#sessions.delete(this.#sessions.keys().next().value as string);
    this.#sessions.set(root, { subject, blob, evidence, duress: used > 0 });
    return { credential, evidence, duress: used > 0 };
  }

  /**
   * What never changes about a session once minted, for the sessions seen most recently: its
   * evidence (signed into the credential) and whether it was minted under duress (recorded before
   * the token was handed out, by `issueSession`, `stepUp` and `recover`, so a later lookup cannot
   * differ). Keyed by the root credential id; the subject and evidence blob are compared on a hit.
   */
  readonly #sessions = new Map<
    string,
    { readonly subject: string; readonly blob: string; readonly evidence: Evidence[]; readonly duress: boolean }
  >();

  /** Idle timeout for the session itself (delegations carry their own expiry). */
  async #touch(cid: string, acr: string | undefined): Promise<void> {
    const level = acr === 'aal3' ? 3 : acr === 'aal2' ? 2 : 1;
    const idleMs = IDLE_MS[level];
    if (idleMs === null) return;
    const slot = Math.floor(this.#clock.now() / (idleMs / 2));
    const throttle = this.#store.throttle;
    if ((await throttle.peek(idleKey(cid, slot))) !== null) return;
    // A window opened in either of the two previous slots may still be live.
    const [previous, before] = await Promise.all([
      throttle.peek(idleKey(cid, slot - 1)),
      throttle.peek(idleKey(cid, slot - 2)),
    ]);
    if (previous === null && before === null) {
      throw new LatchkeyError('ERR_SESSION_IDLE', 'the session was idle too long; sign in again');
    }
    await throttle.hit(idleKey(cid, slot), idleMs);
  }

  /**
   * Add fresh evidence to a live session: a new session from the old evidence plus the
   * transaction's, and the old session revoked.
   */
  async stepUp(token: string, transaction: GateTransaction): Promise<GateSession> {
    const tx = this.#tx(transaction);
    const { credential, evidence, duress } = await this.#open(token, {});
    if (credential.chain.length !== 1) {
      throw new LatchkeyError('ERR_SESSION_INVALID', 'only a session, not a delegated credential, can step up');
    }
    const subject = credential.subject as string;
    if (tx.accountId !== subject || tx.evidence.length === 0) {
      throw new LatchkeyError('ERR_GATE_SUBJECT_MISMATCH', "the step-up evidence is not the session subject's");
    }
    const now = this.#clock.now();
    const combined = [...evidence, ...tx.evidence];
    const aal = assuranceLevel(combined, { now });
    if (aal === 0) throw new LatchkeyError('ERR_GATE_NO_EVIDENCE', 'the evidence is too old to start a session');
    const session = await this.#mint(subject, combined, aal, now);
    if (duress || tx.duress !== null) await this.#store.usage.consume(`duress:${session.credentialId}`, 1);
    await this.#issuer.revoke(credential.credentialId, {
      reason: 'stepped up',
      expiresAt: credential.expiresAt ?? now,
    });
    await this.#audit(subject, 'session.step-up', {
      from: credential.credentialId,
      credentialId: session.credentialId,
      aal,
    });
    return session;
  }

  /** Hand on a narrowed copy of a session (story 3). Audited, so duress can freeze it. */
  async delegate(
    token: string,
    options: Parameters<typeof attenuate>[1],
  ): Promise<{ token: string; credentialId: string }> {
    const view = inspectCredential(token);
    const delegated = await attenuate(token, options);
    await this.#audit(view.subject ?? null, 'delegation.issued', {
      credentialId: delegated.credentialId,
      parent: view.credentialId,
    });
    return delegated;
  }

  /** End a session or a delegation, and everything derived from it. */
  async revoke(credentialId: string, reason: string): Promise<void> {
    await this.#issuer.revoke(credentialId, { reason });
    await this.#audit(null, 'credential.revoked', { credentialId, reason });
  }

  /**
   * A condition check for a `Discharger`: conditions of the form `proves fob|webauthn as bob`
   * (or `proves as bob`, any factor) hold when the delegate verifies one of those factors as
   * that account, with the input passed in the discharge request's context (`factor`, then the
   * factor's own input). A stolen delegated token is then worth nothing without its delegate.
   */
  dischargeCheck(): (request: DischargeRequest) => Promise<boolean> {
    return async ({ condition, context }) => {
      const match = CONDITION.exec(condition);
      if (match === null) return false;
      const allowed = match[1]?.split('|');
      const account = await this.#store.accounts.findByUsername(match[2] as string);
      const factor = context.factor;
      if (account === null || typeof factor !== 'string') return false;
      if (allowed !== undefined && !allowed.includes(factor)) return false;
      const tx = this.begin({ accountId: account.id });
      const evidence = await this.verify(tx, factor, {
        ...(context as Record<string, unknown>),
        accountId: account.id,
      });
      await this.#audit(account.id, 'delegation.discharged', { factor, authenticatorId: evidence.authenticatorId });
      return evidence.subject === account.id;
    };
  }

  /** Record that an authenticator was bound to an account, and notify (§4.6). */
  async authenticatorBound(subject: string, authenticatorId: string, factor: string): Promise<void> {
    await this.#audit(subject, 'authenticator.bound', { authenticatorId, factor });
    await this.#hooks.onAuthenticatorBound?.({ subject, authenticatorId, factor });
  }

  /**
   * Remove one of the session subject's authenticators (a lost fob, an old passkey). The session
   * must be allowed `authenticator.remove` by the policy (a recovery session is), the record must
   * be the subject's, and the last authenticator that can sign in (recovery codes and duress
   * records do not count) is kept, so that nobody locks an account out by accident. Audited, and
   * the subject is notified (§4.6).
   *
   * @throws LatchkeyError `ERR_GATE_FORBIDDEN` when the policy denies it (with `detail.stepUp`),
   *   `ERR_STORE_NOT_FOUND` for another account's or an unknown record, `ERR_GATE_LAST_AUTHENTICATOR`.
   */
  async removeAuthenticator(token: string, authenticatorId: string): Promise<void> {
    const { decision, credential } = await this.authorize(token, { action: 'authenticator.remove' });
    const subject = credential.subject as string;
    if (!decision.allow) {
      throw new LatchkeyError(
        'ERR_GATE_FORBIDDEN',
        `removing an authenticator is not allowed here: ${decision.reasons[0] ?? ''}`,
        {
          stepUp: decision.stepUp.map((option) => option.reason),
        },
      );
    }
    const record = typeof authenticatorId === 'string' ? await this.#store.authenticators.get(authenticatorId) : null;
    if (record === null || record.accountId !== subject) {
      throw new LatchkeyError('ERR_STORE_NOT_FOUND', 'no such authenticator on this account');
    }
    const signsIn = (r: AuthenticatorRecord) => !r.duress && !r.disabled && r.factor !== RECOVERY_FACTOR;
    if (signsIn(record)) {
      const others = (await this.#store.authenticators.listByAccount(subject)).filter(
        (r) => r.id !== record.id && signsIn(r),
      );
      if (others.length === 0) {
        throw new LatchkeyError(
          'ERR_GATE_LAST_AUTHENTICATOR',
          'this is the last authenticator that can sign in to the account; bind another one first',
        );
      }
    }
    await this.#store.authenticators.remove(record.id);
    await this.#audit(subject, 'authenticator.removed', { authenticatorId: record.id, factor: record.factor });
    await this.#hooks.onAuthenticatorRemoved?.({ subject, authenticatorId: record.id, factor: record.factor });
  }

  /** Resolves when background work (freezing after a duress sign-in) has finished. */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  #background(work: Promise<void>): void {
    const tracked = work.catch(async (error: unknown) => {
      await this.#audit(null, 'gate.error', { code: isLatchkeyError(error) ? error.code : 'ERR_INTERNAL' }, 'operator');
    });
    this.#pending.add(tracked);
    void tracked.finally(() => this.#pending.delete(tracked));
  }

  /** Duress: revoke every session and delegation of the subject except the decoy session. */
  async #freeze(subject: string, decoy: string, authenticatorId: string): Promise<void> {
    let frozen = 0;
    let afterSeq: number | undefined;
    for (;;) {
      const page = await this.#store.audit.query({
        subject,
        types: ['session.issued', 'session.step-up', 'delegation.issued'],
        ...(afterSeq === undefined ? {} : { afterSeq }),
      });
      if (page.length === 0) break;
      for (const entry of page) {
        const cid = entry.detail.credentialId;
        if (typeof cid !== 'string' || cid === decoy) continue;
        await this.#issuer.revoke(cid, { reason: 'frozen' });
        frozen++;
      }
      afterSeq = page[page.length - 1]?.seq;
    }
    await this.#audit(subject, 'duress', { authenticatorId, decoy, frozen }, 'operator');
    await this.#hooks.onDuress?.({ subject, authenticatorId, frozen });
  }

  async #audit(
    subject: string | null,
    type: string,
    detail: { [key: string]: Json },
    audience: 'subject' | 'operator' = 'subject',
  ): Promise<void> {
    await this.#store.audit.append({ subject, type, audience, detail });
  }
}
