/**
 * Words for people: what a selector asks for and what evidence was presented. Used in decision
 * reasons and step-up answers ("needs a hardware-bound fob used within the last 5 minutes; you
 * presented a password and a synced passkey").
 *
 * @module latchkey
 */
import type { Evidence } from '../core/types.js';
import { formatDuration, tryParseDuration } from './duration.js';
import type { Selector } from './types.js';

function list<T>(value: T | readonly T[] | undefined): readonly T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? (value as readonly T[]) : [value as T];
}

const FACTOR_NOUNS: Readonly<Record<string, string>> = {
  password: 'password',
  webauthn: 'passkey',
  fob: 'fob',
  pkcs11: 'smart card',
  'recovery-code': 'recovery code',
  otp: 'one-time code',
  totp: 'one-time code',
};

function article(phrase: string): string {
  // "a one-time code", "a USB key", but "an authenticator"
  return /^[aeiou]/i.test(phrase) && !/^(one|uni|use|usb)/i.test(phrase) ? `an ${phrase}` : `a ${phrase}`;
}

/** "a, b and c"; "a or b". */
export function joinWords(words: readonly string[], conjunction: 'and' | 'or'): string {
  if (words.length <= 1) return words[0] ?? '';
  return `${words.slice(0, -1).join(', ')} ${conjunction} ${words[words.length - 1]}`;
}

/**
 * A noun phrase for what a selector asks for: its `label` when it has one, otherwise built from
 * its fields.
 *
 * @example
 * ```ts
 * import { describeSelector } from 'latchkey';
 * describeSelector({ factor: 'fob', hardwareBound: true, maxAge: '5m' });
 * // 'a hardware-bound fob used within the last 5 minutes'
 * ```
 */
export function describeSelector(selector: Selector): string {
  if (selector.label !== undefined) return selector.label;
  const factors = list(selector.factor);
  const kinds = list(selector.kind);
  const adjectives: string[] = [];
  if (selector.hardwareBound === true) adjectives.push('hardware-bound');
  if (selector.hardwareBound === false) adjectives.push('synced or software');
  if (selector.phishingResistant === true) adjectives.push('phishing-resistant');
  if (selector.replayResistant === true && selector.phishingResistant !== true) adjectives.push('replay-resistant');
  let noun: string;
  if (factors.length > 0) {
    noun = joinWords(
      factors.map((f) => FACTOR_NOUNS[f] ?? `\`${f}\` factor`),
      'or',
    );
  } else if (kinds.includes('possession')) {
    noun = 'physical authenticator';
  } else if (kinds.includes('knowledge')) {
    noun = 'password or PIN';
  } else if (kinds.includes('inherence')) {
    noun = 'biometric on a physical authenticator';
  } else if (
    selector.hardwareBound === true ||
    selector.phishingResistant === true ||
    selector.replayResistant === true ||
    selector.userVerified === true ||
    list(selector.amr).length > 0
  ) {
    noun = 'authenticator';
  } else {
    noun = 'password or physical authenticator';
  }
  const suffixes: string[] = [];
  const uvByKnowledge =
    kinds.includes('knowledge') && (kinds.includes('possession') || factors.some((f) => f !== 'password'));
  if (kinds.includes('inherence')) suffixes.push('unlocked with a biometric');
  else if (uvByKnowledge) suffixes.push('unlocked with its PIN');
  else if (selector.userVerified === true) suffixes.push('unlocked with a PIN or biometric');
  if (selector.userVerified === false) suffixes.push('without user verification');
  const amr = list(selector.amr);
  if (amr.length > 0) suffixes.push(`using ${amr.map((a) => `\`${a}\``).join(' and ')}`);
  if (selector.maxAge !== undefined) {
    const ms = tryParseDuration(selector.maxAge);
    suffixes.push(`used within the last ${ms === undefined ? selector.maxAge : formatDuration(ms)}`);
  }
  const phrase = [...adjectives, noun].join(' ');
  const head = factors.length > 1 ? `a ${phrase}` : article(phrase);
  return suffixes.length > 0 ? `${head} ${suffixes.join(', ')}` : head;
}

/**
 * A noun phrase for one piece of evidence, e.g. `"a synced passkey"`, `"a fob with its PIN"`.
 * With `verification`, a passkey also says how it was unlocked (`"a synced passkey unlocked
 * with a biometric"`), which matters to coercion-safe rules.
 *
 * @example
 * ```ts
 * import { describeEvidence } from 'latchkey';
 * describeEvidence(passwordEvidence); // 'a password'
 * ```
 */
export function describeEvidence(evidence: Evidence, verification = false): string {
  const uvKnowledge = evidence.userVerified && evidence.kinds.includes('knowledge');
  const uvBiometric = evidence.userVerified && evidence.kinds.includes('inherence');
  switch (evidence.factor) {
    case 'password':
      return 'a password';
    case 'webauthn': {
      const noun = evidence.hardwareBound ? 'a device-bound passkey' : 'a synced passkey';
      if (!verification) return noun;
      if (uvBiometric) return `${noun} unlocked with a biometric`;
      if (uvKnowledge) return `${noun} unlocked with its PIN`;
      return evidence.userVerified ? `${noun} with user verification` : `${noun} without user verification`;
    }
    case 'fob':
      if (uvKnowledge) return 'a fob with its PIN';
      if (uvBiometric) return 'a fob unlocked with a biometric';
      return evidence.userVerified ? 'a fob with user verification' : 'a fob';
    case 'pkcs11':
      return uvKnowledge ? 'a smart card with its PIN' : 'a smart card';
    case 'recovery-code':
      return 'a recovery code';
    default: {
      if (!evidence.kinds.includes('possession') && !evidence.kinds.includes('knowledge')) {
        return `a biometric on its own (\`${evidence.factor.slice(0, 64)}\`), which is not a factor`;
      }
      const noun = FACTOR_NOUNS[evidence.factor];
      return noun !== undefined ? article(noun) : `a \`${evidence.factor.slice(0, 64)}\` factor`;
    }
  }
}

/** How {@link describePresented} words what was presented. */
export interface PresentedOptions {
  /** Items older than this (ms) say how old they are. */
  readonly staleAfterMs?: number;
  /** Items dated further than this (ms) into the future say so (they do not count). */
  readonly maxClockSkewMs?: number;
  /** Passkeys say how they were unlocked (for coercion-safe rules). */
  readonly verification?: boolean;
}

/**
 * What was presented, for a reason: `"a password and a synced passkey"`, `"a fob used 10
 * minutes ago"`, `"no evidence"`.
 */
export function describePresented(evidence: readonly Evidence[], now: number, options: PresentedOptions = {}): string {
  if (evidence.length === 0) return 'no evidence';
  const staleAfterMs = options.staleAfterMs ?? Number.POSITIVE_INFINITY;
  const skew = options.maxClockSkewMs ?? Number.POSITIVE_INFINITY;
  const words = evidence.map((item) => {
    const phrase = describeEvidence(item, options.verification === true);
    const age = now - item.at;
    if (age > staleAfterMs && age >= 1000) return `${phrase} used ${formatDuration(age)} ago`;
    if (-age > skew) return `${phrase} dated ${formatDuration(-age)} in the future`;
    return phrase;
  });
  return joinWords(words, 'and');
}
