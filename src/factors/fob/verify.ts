/**
 * Verification of what a fob returns, as pure functions: the attestation of a new credential
 * (packed self attestation, `none`) and an assertion against an enrolled public key. A parsed
 * response is not a trusted one; these are the only ways to make it one.
 *
 * @module latchkey/fob
 */
import { createHash, verify as verifySignature, X509Certificate } from 'node:crypto';
import { concatBytes, equalBytes } from '../../core/bytes.js';
import { LatchkeyError } from '../../core/errors.js';
import { type AuthenticatorData, parseAuthenticatorData } from '../../hardware/auth-data.js';
import { asBytes, asInt, type CborMap } from '../../hardware/cbor.js';
import { COSE_ALG, decodeCoseP256, type P256PublicKey, p256KeyObject } from '../../hardware/cose.js';
import type { MakeCredentialResponse } from '../../hardware/ctap2.js';

/** How a new credential vouched for itself. */
export type AttestationType = 'self' | 'basic' | 'none';

function invalid(reason: string, message: string): LatchkeyError {
  return new LatchkeyError('ERR_FOB_ASSERTION_INVALID', message, { reason });
}

function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest());
}

/** The rpIdHash a response for `rpId` must carry. */
function rpIdHash(rpId: string): Uint8Array {
  return sha256(new TextEncoder().encode(rpId));
}

function checkCommon(authData: AuthenticatorData, rpId: string, requireUserVerification: boolean): void {
  if (!equalBytes(authData.rpIdHash, rpIdHash(rpId))) {
    throw invalid('rp-id', `the response is not for \`${rpId}\``);
  }
  if (!authData.userPresent) throw invalid('user-presence', 'the fob was not touched');
  if (requireUserVerification && !authData.userVerified) {
    throw invalid('user-verification', 'the fob did not verify the user');
  }
}

/**
 * Check a makeCredential response: RP, user presence, an ES256 P-256 key, and the attestation
 * signature (`packed` self or with a certificate, or `none`). Certificate chains are not
 * judged: latchkey does not trust or distrust fob vendors, it records which kind it saw.
 */
export function verifyAttestation(
  response: MakeCredentialResponse,
  clientDataHash: Uint8Array,
  options: { readonly rpId: string; readonly requireUserVerification?: boolean },
): { publicKey: P256PublicKey; attestation: AttestationType } {
  const authData = response.authData;
  checkCommon(authData, options.rpId, options.requireUserVerification === true);
  const credentialKey = authData.attestedCredential.publicKey;
  let publicKey: P256PublicKey;
  try {
    if (asInt(credentialKey.get(3), 'COSE alg') !== COSE_ALG.ES256) throw new Error('not ES256');
    publicKey = decodeCoseP256(credentialKey, COSE_ALG.ES256);
  } catch (cause) {
    throw new LatchkeyError('ERR_UNSUPPORTED', 'only ES256 (P-256) fob credentials are supported', {}, { cause });
  }
  const signed = concatBytes(authData.raw, clientDataHash);
  if (response.fmt === 'none') {
    if (response.attStmt.size !== 0) throw invalid('attestation', 'a `none` attestation must be empty');
    return { publicKey, attestation: 'none' };
  }
  if (response.fmt !== 'packed') {
    throw new LatchkeyError('ERR_UNSUPPORTED', `attestation format \`${response.fmt}\` is not supported`, {
      fmt: response.fmt,
    });
  }
  const statement: CborMap = response.attStmt;
  const signature = asBytes(statement.get('sig'), 'attStmt.sig', 8, 256);
  if (asInt(statement.get('alg'), 'attStmt.alg') !== COSE_ALG.ES256) {
    throw invalid('attestation', 'the attestation is not ES256');
  }
  const x5c = statement.get('x5c');
  if (x5c === undefined) {
    if (!verifySignature('sha256', signed, p256KeyObject(publicKey), signature)) {
      throw invalid('attestation', 'the self attestation signature does not verify');
    }
    return { publicKey, attestation: 'self' };
  }
  if (!Array.isArray(x5c) || !(x5c[0] instanceof Uint8Array))
    throw invalid('attestation', 'malformed certificate chain');
  try {
    const leaf = new X509Certificate(x5c[0]);
    if (!verifySignature('sha256', signed, leaf.publicKey, signature)) throw new Error('bad signature');
  } catch (cause) {
    throw new LatchkeyError(
      'ERR_FOB_ASSERTION_INVALID',
      'the attestation signature does not verify',
      { reason: 'attestation' },
      { cause },
    );
  }
  return { publicKey, attestation: 'basic' };
}

/**
 * Check an assertion against the enrolled key: RP, user presence (and verification when
 * required), and the ES256 signature over `authData || clientDataHash`. Returns the parsed
 * authenticator data for the counter check.
 */
export function verifyAssertion(
  assertion: { readonly authData: Uint8Array | AuthenticatorData; readonly signature: Uint8Array },
  clientDataHash: Uint8Array,
  publicKey: P256PublicKey,
  options: { readonly rpId: string; readonly requireUserVerification?: boolean },
): AuthenticatorData {
  const authData =
    assertion.authData instanceof Uint8Array ? parseAuthenticatorData(assertion.authData) : assertion.authData;
  checkCommon(authData, options.rpId, options.requireUserVerification === true);
  let ok = false;
  try {
    ok = verifySignature(
      'sha256',
      concatBytes(authData.raw, clientDataHash),
      p256KeyObject(publicKey),
      assertion.signature,
    );
  } catch {
    ok = false;
  }
  if (!ok) throw invalid('signature', 'the fob’s signature does not verify');
  return authData;
}
