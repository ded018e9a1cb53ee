/**
 * `latchkey/browser`: the browser side of `latchkey/webauthn`, on @simplewebauthn/browser (an
 * optional peer dependency, loaded on first use). It runs in browsers only and imports nothing
 * from Node.
 *
 * - {@link createPasskey}: register a passkey with the server's options.
 * - {@link usePasskey}: sign in with a passkey (modal or autofill).
 * - {@link passkeySupport}, {@link cancelCeremony}.
 *
 * @example
 * ```ts
 * import { usePasskey } from 'latchkey/browser';
 * const challenge = await (await fetch('/signin/start', { method: 'POST' })).json();
 * const answer = await usePasskey(challenge); // { challengeId, response }
 * await fetch('/signin/finish', { method: 'POST', body: JSON.stringify(answer) });
 * ```
 *
 * @module latchkey/browser
 */
export { LatchkeyError, type LatchkeyErrorCode } from '../core/errors.js';
export type {
  AuthenticationChallenge,
  AuthenticationResponseJSON,
  RegistrationChallenge,
  RegistrationResponseJSON,
} from '../factors/webauthn/wire.js';
export {
  cancelCeremony,
  createPasskey,
  type PasskeyCreated,
  type PasskeySupport,
  type PasskeyUsed,
  passkeySupport,
  usePasskey,
} from './ceremony.js';
