/**
 * WebAuthn challenges in the store: random bytes (at least 128 bits), single use, expiring within
 * minutes, with everything the server decided when it issued them (which ceremony, the account,
 * whether user verification is required, the transaction they are bound to). Nothing the client
 * sends back can change these: the response is judged against what is stored here. The store's
 * `take` consumes a challenge atomically, so several servers sharing a store share challenges and
 * a response is accepted at most once across all of them.
 *
 * @internal
 * @module latchkey/webauthn
 */
import { createHash } from 'node:crypto';
import { equalBytes, fromUtf8, utf8 } from '../../core/bytes.js';
import { LatchkeyError } from '../../core/errors.js';
import type { ChallengeRecord } from '../../store/types.js';
import type { UserVerificationRequirement } from './wire.js';

export const PURPOSE_REGISTER = 'webauthn.register';
export const PURPOSE_AUTHENTICATE = 'webauthn.authenticate';

/** What the server decided when it issued a challenge. */
export interface ChallengeState {
  readonly challenge: Uint8Array;
  readonly userVerification: UserVerificationRequirement;
  /** SHA-256 of the transaction binding, when the challenge was bound to one. */
  readonly binding: Uint8Array | undefined;
  /** Registration: the user handle the options carried. */
  readonly userHandle: Uint8Array | undefined;
  /** Registration: a label for the new passkey. */
  readonly label: string | undefined;
}

/** The SHA-256 of a transaction binding (kept instead of the value itself). */
export function bindingHash(binding: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(utf8(binding)).digest());
}

const FORMAT = 1;
const UV_CODES: readonly UserVerificationRequirement[] = ['required', 'preferred', 'discouraged'];

/**
 * The stored form, binary so that reading it back is cheap and bounded by construction:
 * `format (1) | uv (1) | challenge length (1) | challenge | binding flag (1) | [binding (32)] |
 * user handle length (1) | user handle | label (UTF-8, the rest)`.
 */
export function encodeChallenge(state: ChallengeState): Uint8Array {
  const handle = state.userHandle ?? new Uint8Array(0);
  const label = state.label === undefined ? new Uint8Array(0) : utf8(state.label);
  const binding = state.binding ?? new Uint8Array(0);
  const out = new Uint8Array(3 + state.challenge.length + 1 + binding.length + 1 + handle.length + label.length);
  let offset = 0;
  out[offset++] = FORMAT;
  out[offset++] = UV_CODES.indexOf(state.userVerification);
  out[offset++] = state.challenge.length;
  out.set(state.challenge, offset);
  offset += state.challenge.length;
  out[offset++] = state.binding === undefined ? 0 : 1;
  out.set(binding, offset);
  offset += binding.length;
  out[offset++] = handle.length;
  out.set(handle, offset);
  offset += handle.length;
  out.set(label, offset);
  return out;
}

function corrupt(): LatchkeyError {
  return new LatchkeyError('ERR_STORE_CORRUPT', 'a stored WebAuthn challenge is malformed', {});
}

export function decodeChallenge(record: ChallengeRecord): ChallengeState {
  const bytes = record.payload;
  const uv = UV_CODES[bytes[1] as number];
  const challengeLength = bytes[2] as number;
  if (bytes[0] !== FORMAT || uv === undefined || challengeLength < 16 || bytes.length < 5 + challengeLength) {
    throw corrupt();
  }
  let offset = 3;
  const challenge = bytes.slice(offset, offset + challengeLength);
  offset += challengeLength;
  const bound = bytes[offset++];
  if (bound !== 0 && bound !== 1) throw corrupt();
  const binding = bound === 1 ? bytes.slice(offset, offset + 32) : undefined;
  offset += bound === 1 ? 32 : 0;
  if (offset >= bytes.length || (binding !== undefined && binding.length !== 32)) throw corrupt();
  const handleLength = bytes[offset++] as number;
  if (offset + handleLength > bytes.length) throw corrupt();
  const userHandle = handleLength === 0 ? undefined : bytes.slice(offset, offset + handleLength);
  offset += handleLength;
  return {
    challenge,
    userVerification: uv,
    binding,
    userHandle,
    label: offset === bytes.length ? undefined : fromUtf8(bytes.subarray(offset), 'challenge label'),
  };
}

/**
 * Check that the transaction presenting a response is the one the challenge was issued to: both
 * unbound, or both bound to the same value (compared in constant time, as hashes).
 */
export function checkBinding(state: ChallengeState, binding: string | undefined): void {
  const presented = binding === undefined ? undefined : bindingHash(binding);
  const same =
    state.binding === undefined || presented === undefined
      ? state.binding === presented
      : equalBytes(state.binding, presented);
  if (!same) {
    throw new LatchkeyError('ERR_CHALLENGE_INVALID', 'the challenge was issued to another transaction', {
      reason: 'binding',
    });
  }
}
