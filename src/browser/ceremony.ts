/**
 * The two ceremonies, run in the browser on what `latchkey/webauthn` issued: create a passkey,
 * use a passkey. Each takes the server's challenge envelope (`{ challengeId, options }`), runs
 * @simplewebauthn/browser, and returns the envelope to post back (`{ challengeId, response }`).
 * Every failure is a `LatchkeyError`: `ERR_WEBAUTHN_CANCELLED` when the user dismissed the prompt
 * or it timed out, `ERR_WEBAUTHN_CREDENTIAL_EXISTS` when the authenticator already holds a passkey
 * for this account, `ERR_UNSUPPORTED` without WebAuthn, `ERR_WEBAUTHN_CLIENT` otherwise (with the
 * browser's error `name` and SimpleWebAuthn's `code` in `detail`).
 *
 * The browser only carries messages: whatever it sends, the server decides. Editing the options
 * here (asking for less user verification, another RP ID) cannot make the server accept less.
 *
 * @module latchkey/browser
 */
import { isLatchkeyError, LatchkeyError } from '../core/errors.js';
import type {
  AuthenticationChallenge,
  AuthenticationResponseJSON,
  RegistrationChallenge,
  RegistrationResponseJSON,
} from '../factors/webauthn/wire.js';
import { type BrowserLibrary, loadBrowserLibrary } from './simplewebauthn.js';

/** What to post back after a registration. */
export interface PasskeyCreated {
  readonly challengeId: string;
  readonly response: RegistrationResponseJSON;
}

/** What to post back after a sign-in. */
export interface PasskeyUsed {
  readonly challengeId: string;
  readonly response: AuthenticationResponseJSON;
}

/** The challenge envelope as it arrives (`expiresAt` is optional here). */
type Envelope<T> = Omit<T, 'expiresAt'> & { readonly expiresAt?: number };

function checkEnvelope(value: unknown): { challengeId: string; options: Record<string, unknown> } {
  const envelope = value as { challengeId?: unknown; options?: { challenge?: unknown } } | null;
  if (
    envelope === null ||
    typeof envelope !== 'object' ||
    typeof envelope.challengeId !== 'string' ||
    envelope.options === null ||
    typeof envelope.options !== 'object' ||
    typeof envelope.options.challenge !== 'string'
  ) {
    throw new LatchkeyError(
      'ERR_INVALID_ARGUMENT',
      'expected the challenge from the server: `{ challengeId, options }`',
      { field: 'challenge' },
    );
  }
  return envelope as { challengeId: string; options: Record<string, unknown> };
}

function clientError(error: unknown): LatchkeyError {
  if (isLatchkeyError(error)) return error;
  const e = error as { name?: unknown; code?: unknown; message?: unknown; cause?: { name?: unknown } } | null;
  const name = typeof e?.name === 'string' ? e.name : typeof e?.cause?.name === 'string' ? e.cause.name : 'Error';
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message.slice(0, 200) : '';
  if (code === 'ERROR_CEREMONY_ABORTED' || name === 'AbortError' || name === 'NotAllowedError') {
    return new LatchkeyError(
      'ERR_WEBAUTHN_CANCELLED',
      'the passkey prompt was dismissed, timed out or was cancelled',
      { name, code },
      { cause: error },
    );
  }
  if (code === 'ERROR_AUTHENTICATOR_PREVIOUSLY_REGISTERED' || name === 'InvalidStateError') {
    return new LatchkeyError(
      'ERR_WEBAUTHN_CREDENTIAL_EXISTS',
      'this authenticator already holds a passkey for this account',
      { name, code },
      { cause: error },
    );
  }
  if (/not supported in this browser/i.test(message)) {
    return new LatchkeyError('ERR_UNSUPPORTED', 'this browser does not support WebAuthn', { name }, { cause: error });
  }
  return new LatchkeyError(
    'ERR_WEBAUTHN_CLIENT',
    `the browser refused the passkey ceremony: ${name}${message === '' ? '' : ` (${message})`}`,
    { name, code },
    { cause: error },
  );
}

async function run<T>(step: (library: BrowserLibrary) => Promise<T>): Promise<T> {
  const library = await loadBrowserLibrary();
  try {
    return await step(library);
  } catch (error) {
    throw clientError(error);
  }
}

/**
 * Create a passkey with the options from `WebAuthnFactor.startRegistration`, and return what to
 * post back to `finishRegistration`.
 *
 * @example
 * ```ts
 * import { createPasskey } from 'latchkey/browser';
 * const challenge = await (await fetch('/passkeys/start', { method: 'POST' })).json();
 * const created = await createPasskey(challenge);
 * await fetch('/passkeys/finish', { method: 'POST', body: JSON.stringify(created) });
 * ```
 */
export async function createPasskey(
  challenge: Envelope<RegistrationChallenge>,
  options: {
    /** Create the passkey silently with the password manager the user just signed in with. */
    readonly autoRegister?: boolean;
  } = {},
): Promise<PasskeyCreated> {
  const { challengeId, options: optionsJSON } = checkEnvelope(challenge);
  const response = await run((library) =>
    library.startRegistration({
      optionsJSON: optionsJSON as unknown as Parameters<BrowserLibrary['startRegistration']>[0]['optionsJSON'],
      useAutoRegister: options.autoRegister === true,
    }),
  );
  return { challengeId, response: response as unknown as RegistrationResponseJSON };
}

/**
 * Sign in with a passkey, using the options from `WebAuthnFactor.startAuthentication`, and return
 * what to post back to `finishAuthentication`.
 *
 * @example
 * ```ts
 * import { usePasskey } from 'latchkey/browser';
 * const challenge = await (await fetch('/signin/start', { method: 'POST' })).json();
 * const used = await usePasskey(challenge);
 * await fetch('/signin/finish', { method: 'POST', body: JSON.stringify(used) });
 * ```
 */
export async function usePasskey(
  challenge: Envelope<AuthenticationChallenge>,
  options: {
    /** Offer passkeys in the browser's autofill (conditional UI) instead of a modal prompt. */
    readonly autofill?: boolean;
  } = {},
): Promise<PasskeyUsed> {
  const { challengeId, options: optionsJSON } = checkEnvelope(challenge);
  const response = await run((library) =>
    library.startAuthentication({
      optionsJSON: optionsJSON as unknown as Parameters<BrowserLibrary['startAuthentication']>[0]['optionsJSON'],
      useBrowserAutofill: options.autofill === true,
    }),
  );
  return { challengeId, response: response as unknown as AuthenticationResponseJSON };
}

/** What this browser can do with passkeys. */
export interface PasskeySupport {
  /** WebAuthn is available (a secure context with `PublicKeyCredential`). */
  readonly webauthn: boolean;
  /** A platform authenticator (Touch ID, Windows Hello, Android) with user verification. */
  readonly platformAuthenticator: boolean;
  /** Passkeys can be offered in autofill (conditional UI). */
  readonly autofill: boolean;
}

/**
 * Ask the browser what it supports, e.g. to decide whether to offer "create a passkey".
 *
 * @example
 * ```ts
 * import { passkeySupport } from 'latchkey/browser';
 * if ((await passkeySupport()).platformAuthenticator) showPasskeyButton();
 * ```
 */
export async function passkeySupport(): Promise<PasskeySupport> {
  const library = await loadBrowserLibrary();
  const webauthn = library.browserSupportsWebAuthn();
  if (!webauthn) return { webauthn, platformAuthenticator: false, autofill: false };
  const [platformAuthenticator, autofill] = await Promise.all([
    library.platformAuthenticatorIsAvailable().catch(() => false),
    library.browserSupportsWebAuthnAutofill().catch(() => false),
  ]);
  return { webauthn, platformAuthenticator, autofill };
}

/** Cancel a ceremony in progress (e.g. an autofill sign-in when the user navigates away). */
export async function cancelCeremony(): Promise<void> {
  const library = await loadBrowserLibrary();
  library.WebAuthnAbortService.cancelCeremony();
}
