/**
 * The third party of a third-party caveat. A `Discharger` holds a P-256 private key; holders
 * bring it a caveat identifier (a JWE sealed to its public key by {@link attenuate}); it decrypts
 * the identifier, checks the condition inside through a callback (the gate plugs factor
 * verification in there: "holder proves fob or passkey as bob"), and mints a short-lived
 * discharge macaroon carrying its own random `cid` and a `time <` caveat. The holder binds the discharge to the
 * credential with {@link bindDischarge} and presents both; the verifier accepts each discharge
 * once.
 *
 * @module latchkey
 */
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { utf8, wipe } from '../../core/bytes.js';
import { type Clock, systemClock } from '../../core/clock.js';
import { LatchkeyError, wrapError } from '../../core/errors.js';
import { aint } from '../../core/guards.js';
import { randomId } from '../../core/random.js';
import { Macaroon } from '../macaroon/macaroon.js';
import { formatCaveat } from './caveats.js';
import { type CredentialLimits, resolveCredentialLimits } from './limits.js';
import { openCaveat, privateKeyArgument } from './third-party.js';
import { formatToken, parseToken } from './token.js';

/** What the condition check sees. */
export interface DischargeRequest {
  /** The condition the credential's holder-to-be wrote into the caveat. */
  readonly condition: string;
  /** Whatever the holder brought: a factor assertion, an account name, ... (passed through as is). */
  readonly context: Readonly<Record<string, unknown>>;
  /** This discharger's location. */
  readonly location: string;
}

/** Options for {@link Discharger}. */
export interface DischargerOptions {
  /** The P-256 private key (a private JWK or `KeyObject`). Holders encrypt to its public half. */
  readonly privateKey: JsonWebKey | KeyObject;
  /** Where this discharger is, written into its discharges (a hint, not authenticated). */
  readonly location: string;
  /**
   * Decide whether the condition holds for this request: return (or resolve to) `true` to
   * discharge. Anything else refuses with `ERR_DISCHARGE_CONDITION_FAILED`; a `LatchkeyError` it
   * throws passes through (a factor's own error, say), any other exception is wrapped.
   */
  readonly check: (request: DischargeRequest) => boolean | Promise<boolean>;
  /** The clock for discharge expiry; default the system clock. */
  readonly clock?: Clock;
  /** How long a discharge is valid, in ms: default 5 minutes, at most 10. */
  readonly ttlMs?: number;
  /** A key id written into the public JWK, so that a holder's JWE names the key. */
  readonly keyId?: string;
  /** Size limits; see {@link CredentialLimits}. */
  readonly limits?: Partial<CredentialLimits>;
}

/**
 * A third party that discharges caveats sealed to its key.
 *
 * @example
 * ```ts
 * import { generateKeyPairSync } from 'node:crypto';
 * import { Discharger, bindDischarge, inspectCredential } from 'latchkey';
 * const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
 * const fobCheck = new Discharger({
 *   privateKey,
 *   location: 'https://fob.example',
 *   check: async ({ condition, context }) => verifyFobFor(condition, context),
 * });
 * const [caveat] = inspectCredential(token).thirdParty;
 * const discharge = await fobCheck.discharge(caveat.identifier, { context: { assertion } });
 * await issuer.verify(token, { discharges: [bindDischarge(token, discharge)] });
 * ```
 */
export class Discharger {
  readonly #privateKey: KeyObject;
  readonly #check: DischargerOptions['check'];
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #limits: CredentialLimits;
  readonly #publicKey: JsonWebKey;
  /** Where this discharger is. */
  readonly location: string;

  constructor(options: DischargerOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'options must be an object', { field: 'options' });
    }
    this.#privateKey = privateKeyArgument(options.privateKey, 'privateKey');
    if (typeof options.check !== 'function') {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'check must be a function', { field: 'check' });
    }
    if (typeof options.location !== 'string' || options.location.length === 0 || options.location.length > 1024) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'location must be a string of 1 to 1024 characters', {
        field: 'location',
      });
    }
    this.#check = options.check;
    this.#clock = options.clock ?? systemClock;
    this.#limits = resolveCredentialLimits(options.limits);
    this.#ttlMs = aint(options.ttlMs ?? 5 * 60_000, 'ttlMs', 1000, this.#limits.maxDischargeTtlMs);
    this.location = options.location;
    const jwk = createPublicKey(this.#privateKey).export({ format: 'jwk' });
    const { kty = 'EC', crv = 'P-256', x = '', y = '' } = jwk;
    this.#publicKey = Object.freeze(
      options.keyId === undefined ? { kty, crv, x, y } : { kty, crv, x, y, kid: String(options.keyId) },
    );
    Object.freeze(this);
  }

  /** The public key holders seal third-party caveats to (a P-256 JWK). */
  get publicKey(): JsonWebKey {
    return { ...this.#publicKey };
  }

  /**
   * Discharge a third-party caveat: decrypt `identifier` (`ERR_DISCHARGE_UNREADABLE` when it was
   * not sealed to this key or was tampered with), check its condition with `context`
   * (`ERR_DISCHARGE_CONDITION_FAILED`), and return a discharge token (`lkd1_...`) valid for
   * `ttlMs`. Bind it with {@link bindDischarge} before presenting it.
   */
  async discharge(
    identifier: string,
    options: { readonly context?: Readonly<Record<string, unknown>> } = {},
  ): Promise<string> {
    try {
      return await this.#discharge(identifier, options);
    } catch (error) {
      throw wrapError(error, 'ERR_INTERNAL', 'discharge failed unexpectedly');
    }
  }

  async #discharge(
    identifier: string,
    options: { readonly context?: Readonly<Record<string, unknown>> },
  ): Promise<string> {
    if (typeof identifier !== 'string') {
      throw new LatchkeyError('ERR_DISCHARGE_UNREADABLE', 'a caveat identifier must be a string', {
        field: 'identifier',
      });
    }
    const context = options?.context ?? {};
    if (typeof context !== 'object' || context === null) {
      throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'context must be an object', { field: 'context' });
    }
    const secret = await openCaveat(identifier, this.#privateKey);
    try {
      let accepted: unknown;
      try {
        accepted = await this.#check(Object.freeze({ condition: secret.condition, context, location: this.location }));
      } catch (cause) {
        if (cause instanceof LatchkeyError) throw cause;
        throw new LatchkeyError(
          'ERR_DISCHARGE_CONDITION_FAILED',
          'the discharge condition could not be checked',
          { condition: secret.condition.slice(0, 200), threw: true },
          { cause },
        );
      }
      if (accepted !== true) {
        throw new LatchkeyError(
          'ERR_DISCHARGE_CONDITION_FAILED',
          `the discharge condition \`${secret.condition.slice(0, 80)}\` does not hold`,
          { condition: secret.condition.slice(0, 200), threw: false },
        );
      }
      const expiresAt = this.#clock.now() + this.#ttlMs;
      // The `cid` makes every discharge distinct (and so separately single-use), even two minted
      // for the same caveat within one millisecond.
      const m = Macaroon.mint({ rootKey: secret.key, identifier: utf8(identifier), location: this.location })
        .addFirstPartyCaveat(formatCaveat.cid(randomId(16)))
        .addFirstPartyCaveat(formatCaveat.expiry(expiresAt));
      return formatToken(m, 'discharge', this.#limits);
    } finally {
      wipe(secret.key);
    }
  }

  /** The public key only. */
  toJSON(): { location: string; publicKey: JsonWebKey } {
    return { location: this.location, publicKey: this.publicKey };
  }

  /** Node's `util.inspect` shows the location and public key only. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `Discharger { location: ${JSON.stringify(this.location)} }`;
  }
}

/**
 * Bind `discharge` to the credential `token` (libmacaroons' `prepare_for_request`): the result
 * verifies only together with this very token, so a discharge intercepted on its way to one
 * credential cannot be used with another.
 *
 * @example
 * ```ts
 * const bound = bindDischarge(token, discharge);
 * await issuer.verify(token, { context, discharges: [bound] });
 * ```
 */
export function bindDischarge(
  token: string,
  discharge: string,
  options: { readonly limits?: Partial<CredentialLimits> } = {},
): string {
  try {
    const limits = resolveCredentialLimits(options?.limits);
    const root = parseToken(token, 'credential', limits, 'token');
    const d = parseToken(discharge, 'discharge', limits, 'discharge');
    return formatToken(root.bindDischarge(d), 'discharge', limits);
  } catch (error) {
    throw wrapError(error, 'ERR_INTERNAL', 'binding the discharge failed unexpectedly');
  }
}
