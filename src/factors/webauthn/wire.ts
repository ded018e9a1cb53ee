/**
 * The JSON that travels between the server and the browser during a WebAuthn ceremony (WebAuthn
 * Level 3 §5.1.8 and §5.4 `…JSON` dictionaries), typed here so that neither `latchkey/webauthn`
 * nor `latchkey/browser` exposes a dependency's types. Everything a client sends is untrusted:
 * these types describe the expected shape, and the factor checks every field at run time.
 *
 * @module latchkey/webauthn
 */

/** Unpadded base64url text. */
export type Base64Url = string;

/** How a client may reach an authenticator (WebAuthn §5.8.4). */
export type AuthenticatorTransport = 'ble' | 'cable' | 'hybrid' | 'internal' | 'nfc' | 'smart-card' | 'usb';

/** `required`, `preferred` or `discouraged` (WebAuthn §5.8.6). */
export type UserVerificationRequirement = 'required' | 'preferred' | 'discouraged';

/** `required`, `preferred` or `discouraged` (WebAuthn §5.4.6). */
export type ResidentKeyRequirement = 'required' | 'preferred' | 'discouraged';

/** A credential an account already has, to exclude or to allow (WebAuthn §5.10.3). */
export interface CredentialDescriptorJSON {
  readonly id: Base64Url;
  readonly type: 'public-key';
  readonly transports?: readonly AuthenticatorTransport[];
}

/** Options for `navigator.credentials.create()` in their JSON form (WebAuthn §5.4). */
export interface CreationOptionsJSON {
  readonly rp: { readonly id?: string; readonly name: string };
  readonly user: { readonly id: Base64Url; readonly name: string; readonly displayName: string };
  readonly challenge: Base64Url;
  readonly pubKeyCredParams: readonly { readonly type: 'public-key'; readonly alg: number }[];
  readonly timeout?: number;
  readonly excludeCredentials?: readonly CredentialDescriptorJSON[];
  readonly authenticatorSelection?: {
    readonly authenticatorAttachment?: 'platform' | 'cross-platform';
    readonly residentKey?: ResidentKeyRequirement;
    readonly requireResidentKey?: boolean;
    readonly userVerification?: UserVerificationRequirement;
  };
  readonly hints?: readonly string[];
  readonly attestation?: 'none' | 'indirect' | 'direct' | 'enterprise';
  readonly extensions?: Readonly<Record<string, unknown>>;
}

/** Options for `navigator.credentials.get()` in their JSON form (WebAuthn §5.5). */
export interface RequestOptionsJSON {
  readonly challenge: Base64Url;
  readonly timeout?: number;
  readonly rpId?: string;
  readonly allowCredentials?: readonly CredentialDescriptorJSON[];
  readonly userVerification?: UserVerificationRequirement;
  readonly hints?: readonly string[];
  readonly extensions?: Readonly<Record<string, unknown>>;
}

/** What the browser returns from `create()`, as JSON (WebAuthn §5.1.8 `RegistrationResponseJSON`). */
export interface RegistrationResponseJSON {
  readonly id: Base64Url;
  readonly rawId: Base64Url;
  readonly type: 'public-key';
  readonly response: {
    readonly clientDataJSON: Base64Url;
    readonly attestationObject: Base64Url;
    readonly authenticatorData?: Base64Url;
    readonly transports?: readonly string[];
    readonly publicKeyAlgorithm?: number;
    readonly publicKey?: Base64Url;
  };
  readonly authenticatorAttachment?: string;
  readonly clientExtensionResults: Readonly<Record<string, unknown>>;
}

/** What the browser returns from `get()`, as JSON (WebAuthn §5.1.8 `AuthenticationResponseJSON`). */
export interface AuthenticationResponseJSON {
  readonly id: Base64Url;
  readonly rawId: Base64Url;
  readonly type: 'public-key';
  readonly response: {
    readonly clientDataJSON: Base64Url;
    readonly authenticatorData: Base64Url;
    readonly signature: Base64Url;
    readonly userHandle?: Base64Url;
  };
  readonly authenticatorAttachment?: string;
  readonly clientExtensionResults: Readonly<Record<string, unknown>>;
}

/**
 * What the server hands the browser to start a registration: the options and the id of the
 * stored challenge, which comes back with the response. Plain JSON.
 */
export interface RegistrationChallenge {
  readonly challengeId: string;
  readonly options: CreationOptionsJSON;
  /** When the challenge expires, ms since the epoch. */
  readonly expiresAt: number;
}

/** What the server hands the browser to start a sign-in. Plain JSON. */
export interface AuthenticationChallenge {
  readonly challengeId: string;
  readonly options: RequestOptionsJSON;
  readonly expiresAt: number;
}
