/**
 * The adapter to @simplewebauthn/server: the one file in latchkey that imports it, loaded on first
 * use (an optional peer dependency; a missing package gives `ERR_MISSING_DEPENDENCY` naming it).
 * SimpleWebAuthn parses attestation formats and COSE keys and verifies signatures; latchkey has
 * already checked challenge, origin, RP ID, flags and sizes itself before calling it, and maps
 * whatever it throws to a `LatchkeyError`.
 * Not exported from the package's entry points (internal).
 *
 * @module latchkey/webauthn
 */
import type * as SimpleWebAuthnServer from '@simplewebauthn/server';
import { LatchkeyError, wrapError } from '../../core/errors.js';
import type {
  AuthenticationResponseJSON,
  CreationOptionsJSON,
  RegistrationResponseJSON,
  RequestOptionsJSON,
  UserVerificationRequirement,
} from './wire.js';

type Server = typeof SimpleWebAuthnServer;

const PACKAGE = '@simplewebauthn/server';
let loaded: Server | undefined;

/** Load @simplewebauthn/server once; later calls return the loaded module without waiting. */
export async function loadSimpleWebAuthn(): Promise<Server> {
  if (loaded !== undefined) return loaded;
  try {
    loaded = (await import('@simplewebauthn/server')) as Server;
  } catch (cause) {
    throw new LatchkeyError(
      'ERR_MISSING_DEPENDENCY',
      `the WebAuthn factor needs the optional peer dependency \`${PACKAGE}\`: npm install ${PACKAGE}@14`,
      { package: PACKAGE },
      { cause },
    );
  }
  return loaded;
}

function rejected(error: unknown, what: string): LatchkeyError {
  const text = error instanceof Error ? error.message : '';
  const reason = /signature/i.test(text)
    ? 'signature'
    : /attestation|certificate|x5c|aaguid/i.test(text)
      ? 'attestation'
      : /alg|public key|kty|curve/i.test(text)
        ? 'algorithm'
        : 'rejected';
  return wrapError(error, 'ERR_WEBAUTHN_VERIFICATION', `the passkey's ${what} did not verify`, { reason });
}

/** Registration options (WebAuthn §5.4) for a challenge latchkey generated. */
export async function registrationOptions(input: {
  readonly rpId: string;
  readonly rpName: string;
  readonly userName: string;
  readonly userDisplayName: string;
  readonly userHandle: Uint8Array;
  readonly challenge: Uint8Array;
  readonly timeoutMs: number;
  readonly attestation: 'none' | 'direct';
  readonly exclude: readonly { readonly id: string; readonly transports: readonly string[] }[];
  readonly residentKey: 'required' | 'preferred' | 'discouraged';
  readonly userVerification: UserVerificationRequirement;
  readonly authenticatorAttachment?: 'platform' | 'cross-platform';
  readonly algorithms: readonly number[];
}): Promise<CreationOptionsJSON> {
  const server = await loadSimpleWebAuthn();
  const options = await server.generateRegistrationOptions({
    rpName: input.rpName,
    rpID: input.rpId,
    userName: input.userName,
    userDisplayName: input.userDisplayName,
    userID: input.userHandle as Uint8Array<ArrayBuffer>,
    challenge: input.challenge as Uint8Array<ArrayBuffer>,
    timeout: input.timeoutMs,
    attestationType: input.attestation,
    excludeCredentials: input.exclude.map((c) => ({ id: c.id, transports: [...c.transports] })),
    authenticatorSelection: {
      residentKey: input.residentKey,
      userVerification: input.userVerification,
      ...(input.authenticatorAttachment === undefined
        ? {}
        : { authenticatorAttachment: input.authenticatorAttachment }),
    },
    supportedAlgorithmIDs: [...input.algorithms],
  });
  return options as unknown as CreationOptionsJSON;
}

/** Authentication options (WebAuthn §5.5) for a challenge latchkey generated. */
export async function authenticationOptions(input: {
  readonly rpId: string;
  readonly challenge: Uint8Array;
  readonly timeoutMs: number;
  readonly allow: readonly { readonly id: string; readonly transports: readonly string[] }[];
  readonly userVerification: UserVerificationRequirement;
}): Promise<RequestOptionsJSON> {
  const server = await loadSimpleWebAuthn();
  const options = await server.generateAuthenticationOptions({
    rpID: input.rpId,
    challenge: input.challenge as Uint8Array<ArrayBuffer>,
    timeout: input.timeoutMs,
    allowCredentials: input.allow.map((c) => ({
      id: c.id,
      transports: [...c.transports] as SimpleWebAuthnServer.AuthenticatorTransport[],
    })),
    userVerification: input.userVerification,
  });
  return options as unknown as RequestOptionsJSON;
}

/** What a verified registration yields. */
export interface VerifiedRegistration {
  readonly fmt: string;
  readonly aaguid: string;
  readonly credentialId: string;
  readonly publicKey: Uint8Array;
  readonly counter: number;
  readonly userVerified: boolean;
  readonly backupEligible: boolean;
  readonly backedUp: boolean;
  readonly attestationObject: Uint8Array;
  readonly credProps: boolean | undefined;
}

/** Verify a registration response (attestation statement and all). */
export async function verifyRegistration(input: {
  readonly response: RegistrationResponseJSON;
  readonly expectedChallenge: (challenge: string) => boolean;
  readonly origins: readonly string[];
  readonly rpId: string;
  readonly requireUserVerification: boolean;
  readonly algorithms: readonly number[];
}): Promise<VerifiedRegistration> {
  const server = await loadSimpleWebAuthn();
  let result: SimpleWebAuthnServer.VerifiedRegistrationResponse;
  try {
    result = await server.verifyRegistrationResponse({
      response: input.response as unknown as SimpleWebAuthnServer.RegistrationResponseJSON,
      expectedChallenge: input.expectedChallenge,
      expectedOrigin: [...input.origins],
      expectedRPID: input.rpId,
      expectedType: 'webauthn.create',
      requireUserPresence: true,
      requireUserVerification: input.requireUserVerification,
      supportedAlgorithmIDs: [...input.algorithms],
    });
  } catch (error) {
    throw rejected(error, 'registration');
  }
  if (!result.verified) {
    throw new LatchkeyError('ERR_WEBAUTHN_VERIFICATION', "the passkey's attestation did not verify", {
      reason: 'attestation',
    });
  }
  const info = result.registrationInfo;
  const credProps = (input.response.clientExtensionResults as { credProps?: { rk?: unknown } } | undefined)?.credProps;
  return {
    fmt: info.fmt,
    aaguid: info.aaguid,
    credentialId: info.credential.id,
    publicKey: info.credential.publicKey,
    counter: info.credential.counter,
    userVerified: info.userVerified,
    backupEligible: info.credentialDeviceType === 'multiDevice',
    backedUp: info.credentialBackedUp,
    attestationObject: info.attestationObject,
    credProps: typeof credProps?.rk === 'boolean' ? credProps.rk : undefined,
  };
}

/**
 * Verify an assertion's signature with the enrolled public key. The counter latchkey passes is 0
 * so that SimpleWebAuthn does not judge it: latchkey judges the counter itself, after the
 * signature verified, because only a verified signature may disable a credential.
 */
export async function verifyAssertionSignature(input: {
  readonly response: AuthenticationResponseJSON;
  readonly expectedChallenge: string | ((challenge: string) => boolean);
  readonly origins: readonly string[];
  readonly topOrigins: readonly string[];
  readonly rpId: string;
  readonly credentialId: string;
  readonly publicKey: Uint8Array;
  readonly requireUserVerification: boolean;
}): Promise<void> {
  const server = loaded ?? (await loadSimpleWebAuthn());
  let verified: boolean;
  try {
    const result = await server.verifyAuthenticationResponse({
      response: input.response as unknown as SimpleWebAuthnServer.AuthenticationResponseJSON,
      expectedChallenge: input.expectedChallenge,
      expectedOrigin: input.origins as string[],
      expectedRPID: input.rpId,
      expectedType: 'webauthn.get',
      ...(input.topOrigins.length === 0 ? {} : { expectedTopOrigin: input.topOrigins as string[] }),
      credential: { id: input.credentialId, publicKey: input.publicKey as Uint8Array<ArrayBuffer>, counter: 0 },
      requireUserVerification: input.requireUserVerification,
    });
    verified = result.verified;
  } catch (error) {
    throw rejected(error, 'assertion');
  }
  if (!verified) {
    throw new LatchkeyError('ERR_WEBAUTHN_VERIFICATION', "the passkey's signature does not verify", {
      reason: 'signature',
    });
  }
}
