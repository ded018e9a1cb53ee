/**
 * Verify a macaroon and its discharges.
 *
 * @module latchkey
 */
import { equalBytes, toBytes, wipe } from '../../core/bytes.js';
import { LatchkeyError } from '../../core/errors.js';
import { bindSignature, deriveKey, hmac, hmac2, openCaveatKey, wipeHmacScratch } from './crypto.js';
import { type MacaroonFields, printable } from './fields.js';
import { checkLimit, type MacaroonLimits, resolveMacaroonLimits } from './limits.js';
import { type Macaroon, macaroonFields } from './macaroon.js';

/** Options for {@link verifyMacaroon}. */
export interface VerifyMacaroonOptions {
  /** The root key the macaroon was minted with (a string is taken as UTF-8). */
  readonly rootKey: Uint8Array | string;
  /** Discharge macaroons, each bound to the root with {@link Macaroon.bindDischarge}. */
  readonly discharges?: readonly Macaroon[];
  /**
   * Decide one first-party predicate: return `true` to accept it. Anything else (or a throw) is a
   * refusal. Called only after every signature has been checked, so it never sees forged input.
   */
  readonly satisfies: (predicate: Uint8Array) => boolean;
  /** Limits on caveats and discharges; see {@link MacaroonLimits}. */
  readonly limits?: Partial<MacaroonLimits>;
}

const UNUSED = 0;
const IN_PROGRESS = 1;
const USED = 2;

interface Pending {
  readonly predicate: Uint8Array;
  /** `root` or `discharge N`. */
  readonly macaroon: string;
  readonly caveat: number;
}

function idKey(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/**
 * Verify `macaroon` against `rootKey`: its signature chain, every third-party caveat through
 * exactly one bound discharge (recursively), and every first-party predicate through
 * `satisfies`. Returns on success; throws a {@link LatchkeyError} on every failure, never
 * another exception:
 *
 * - `ERR_MACAROON_SIGNATURE`: a signature does not match (wrong key, altered, removed or
 *   reordered caveat, discharge not bound to this root)
 * - `ERR_MACAROON_DISCHARGE_MISSING`: no unused discharge for a third-party caveat
 * - `ERR_MACAROON_DISCHARGE_CYCLE`: a discharge (indirectly) requires itself
 * - `ERR_MACAROON_DISCHARGE_UNUSED`: a discharge was given that no caveat needs
 * - `ERR_MACAROON_CAVEAT_UNSATISFIED`: `satisfies` refused (or threw on) a predicate; `detail`
 *   names the macaroon, the caveat index and the predicate text when printable
 * - `ERR_LIMIT_EXCEEDED`, `ERR_INVALID_ARGUMENT`: limits and arguments
 *
 * Signatures are compared in constant time. The `location` fields take no part: they are not
 * authenticated, so an audience must be a caveat, never a location.
 *
 * @example
 * ```ts
 * import { Macaroon, verifyMacaroon } from 'latchkey';
 * const root = Macaroon.deserialize(token);
 * verifyMacaroon(root, {
 *   rootKey,
 *   discharges: dischargeTokens.map((t) => Macaroon.deserialize(t)),
 *   satisfies: (p) => new TextDecoder().decode(p) === 'audience = shop',
 * });
 * ```
 */
export function verifyMacaroon(macaroon: Macaroon, options: VerifyMacaroonOptions): void {
  const root = macaroonFields(macaroon);
  if (typeof options !== 'object' || options === null) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'options must be an object', { field: 'options' });
  }
  const { satisfies } = options;
  if (typeof satisfies !== 'function') {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'satisfies must be a function', { field: 'satisfies' });
  }
  const rootKey = options.rootKey;
  if (typeof rootKey !== 'string' && !(rootKey instanceof Uint8Array)) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'rootKey must be a string or a Uint8Array', { field: 'rootKey' });
  }
  const limits = resolveMacaroonLimits(options.limits);
  const given = options.discharges ?? [];
  if (!Array.isArray(given)) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'discharges must be an array', { field: 'discharges' });
  }
  checkLimit(given.length, limits.maxDischarges, 'maxDischarges', 'discharge count');
  const discharges: MacaroonFields[] = given.map((d, i) => macaroonFields(d, `discharges[${i}]`));

  const pending: Pending[] = [];
  const state = new Uint8Array(discharges.length);
  let byId: Map<string, number[]> | undefined;
  if (discharges.length > 0) {
    byId = new Map();
    for (const [i, d] of discharges.entries()) {
      const key = idKey(d.identifier);
      const list = byId.get(key);
      if (list === undefined) byId.set(key, [i]);
      else list.push(i);
    }
  }

  const check = (m: MacaroonFields, key: Uint8Array, name: string): void => {
    checkLimit(m.caveats.length, limits.maxCaveats, 'maxCaveats', 'caveat count');
    let signature = hmac(key, m.identifier);
    for (let index = 0; index < m.caveats.length; index++) {
      const caveat = m.caveats[index] as MacaroonFields['caveats'][number];
      const vid = caveat.verificationId;
      let next: Uint8Array;
      if (vid === undefined) {
        pending.push({ predicate: caveat.identifier, macaroon: name, caveat: index });
        next = hmac(signature, caveat.identifier);
      } else {
        const detail = { macaroon: name, caveat: index };
        const caveatKey = openCaveatKey(signature, vid, detail);
        try {
          const candidates = byId?.get(idKey(caveat.identifier));
          let chosen = -1;
          let cycle = false;
          if (candidates !== undefined) {
            for (const j of candidates) {
              if (state[j] === UNUSED) {
                chosen = j;
                break;
              }
              if (state[j] === IN_PROGRESS) cycle = true;
            }
          }
          if (chosen < 0) {
            const text = printable(caveat.identifier);
            const info = text === undefined ? detail : { ...detail, identifier: text };
            if (cycle) {
              throw new LatchkeyError(
                'ERR_MACAROON_DISCHARGE_CYCLE',
                `discharge for caveat ${index} of ${name} requires itself`,
                info,
              );
            }
            throw new LatchkeyError(
              'ERR_MACAROON_DISCHARGE_MISSING',
              `no unused discharge for third-party caveat ${index} of ${name}`,
              info,
            );
          }
          state[chosen] = IN_PROGRESS;
          check(discharges[chosen] as MacaroonFields, caveatKey, `discharge ${chosen}`);
          state[chosen] = USED;
        } finally {
          wipe(caveatKey);
        }
        next = hmac2(signature, vid, caveat.identifier);
      }
      wipe(signature);
      signature = next;
    }
    if (m !== root) {
      const bound = bindSignature(root.signature, signature);
      wipe(signature);
      signature = bound;
    }
    const ok = equalBytes(signature, m.signature);
    wipe(signature);
    if (!ok) {
      throw new LatchkeyError('ERR_MACAROON_SIGNATURE', `signature of ${name} does not match`, { macaroon: name });
    }
  };

  const keyBytes = toBytes(rootKey);
  const derived = deriveKey(keyBytes);
  try {
    check(root, derived, 'root');
  } finally {
    wipe(derived);
    wipeHmacScratch();
  }

  for (let i = 0; i < state.length; i++) {
    if (state[i] !== USED) {
      throw new LatchkeyError('ERR_MACAROON_DISCHARGE_UNUSED', `discharge ${i} is not required by any caveat`, {
        discharge: i,
      });
    }
  }

  for (const { predicate, macaroon: name, caveat } of pending) {
    let accepted: unknown;
    try {
      accepted = satisfies(new Uint8Array(predicate));
    } catch (cause) {
      throw new LatchkeyError(
        'ERR_MACAROON_CAVEAT_UNSATISFIED',
        `caveat ${caveat} of ${name} could not be checked: satisfies threw`,
        unsatisfiedDetail(name, caveat, predicate, true),
        { cause },
      );
    }
    if (accepted !== true) {
      throw new LatchkeyError(
        'ERR_MACAROON_CAVEAT_UNSATISFIED',
        `caveat ${caveat} of ${name} is not satisfied${describePredicate(predicate)}`,
        unsatisfiedDetail(name, caveat, predicate, false),
      );
    }
  }
}

function describePredicate(predicate: Uint8Array): string {
  const text = printable(predicate, 80);
  return text === undefined ? '' : `: \`${text}\``;
}

function unsatisfiedDetail(name: string, caveat: number, predicate: Uint8Array, threw: boolean) {
  const text = printable(predicate);
  const base = { macaroon: name, caveat, threw };
  return text === undefined ? base : { ...base, predicate: text };
}
