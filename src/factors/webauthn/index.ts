/**
 * `latchkey/webauthn`: passkeys and platform biometrics, on @simplewebauthn/server (an optional
 * peer dependency, loaded on first use). The browser side is `latchkey/browser`.
 *
 * - {@link WebAuthnFactor}: registration and sign-in ceremonies, with challenges in the store,
 *   passkey records, server-decided user verification, clone detection, and `Evidence`.
 * - {@link resolveRelyingParty}: the start-up check of the RP ID and origins.
 * - Wire types: the JSON that travels to and from the browser.
 *
 * @example
 * ```ts
 * import { WebAuthnFactor } from 'latchkey/webauthn';
 * const webauthn = await new WebAuthnFactor({
 *   store,
 *   rp: { id: 'example.com', name: 'Example', origins: ['https://example.com'] },
 *   userVerification: 'required',
 * }).ready();
 * const request = await webauthn.startAuthentication({ binding: sessionId });
 * // send `request` to the browser; it answers with usePasskey(request) from 'latchkey/browser'
 * const evidence = await webauthn.finishAuthentication({ ...answer, binding: sessionId });
 * ```
 *
 * @module latchkey/webauthn
 */
export {
  type AttestationOptions,
  type AttestationVerdict,
  type AttestedAuthenticator,
  aaguidString,
} from './attestation.js';
export { checkRpId, type RelyingParty, type RelyingPartyOptions, resolveRelyingParty } from './config.js';
export {
  type FinishAuthenticationInput,
  type FinishRegistrationInput,
  type PasskeyRegistration,
  WebAuthnFactor,
  type WebAuthnFactorOptions,
  type WebAuthnStore,
} from './factor.js';
export { DEFAULT_WEBAUTHN_LIMITS, resolveWebAuthnLimits, type WebAuthnLimits } from './limits.js';
export { lookupKeyOf, type PasskeySummary, WEBAUTHN_FACTOR, type WebAuthnRecordData } from './record.js';
export type {
  AuthenticationChallenge,
  AuthenticationResponseJSON,
  AuthenticatorTransport,
  Base64Url,
  CreationOptionsJSON,
  CredentialDescriptorJSON,
  RegistrationChallenge,
  RegistrationResponseJSON,
  RequestOptionsJSON,
  ResidentKeyRequirement,
  UserVerificationRequirement,
} from './wire.js';
