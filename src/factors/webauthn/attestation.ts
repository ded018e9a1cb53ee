/**
 * Attestation for deployments that need to know what kind of authenticator holds a passkey
 * (AAL3 asks for a hardware-protected, non-exportable key, NIST SP 800-63B-4 §2.3.2): an
 * allow-list of authenticator models by AAGUID, each with the certificates its attestation must
 * chain to. SimpleWebAuthn checks the attestation statement's signature against its leaf
 * certificate; latchkey then builds the chain to one of the anchors configured for that AAGUID,
 * with node:crypto and the injected clock. Without anchors an attestation proves nothing (anyone
 * can mint a certificate claiming an AAGUID), so an entry without anchors is refused at start-up.
 *
 * @module latchkey/webauthn
 */
import { X509Certificate } from 'node:crypto';
import { equalBytes } from '../../core/bytes.js';
import { LatchkeyError } from '../../core/errors.js';
import { asArray, asBytes, asMap, asText, decodeCbor } from '../../hardware/cbor.js';

/** One authenticator model a deployment accepts. */
export interface AttestedAuthenticator {
  /** The model's AAGUID, `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`. */
  readonly aaguid: string;
  /** A name for logs and records, e.g. `YubiKey 5 NFC`. */
  readonly name?: string;
  /**
   * Certificates (PEM text or DER bytes) the attestation must chain to: the vendor's attestation
   * root (a CA certificate), or an attestation certificate itself, which pins its public key (for
   * authenticators that self-sign a batch certificate, as Chromium's virtual authenticator does).
   */
  readonly trustAnchors: readonly (string | Uint8Array)[];
}

/** Options of attestation checking. */
export interface AttestationOptions {
  readonly authenticators: readonly AttestedAuthenticator[];
  /**
   * `required` (the default): a passkey registers only when its attestation chains to an allowed
   * model. `optional`: other passkeys register too, but are never counted as hardware-bound.
   */
  readonly enforcement?: 'required' | 'optional';
}

/** A checked attestation policy. */
export interface AttestationPolicy {
  readonly enforcement: 'required' | 'optional';
  readonly models: ReadonlyMap<string, { readonly name: string; readonly anchors: readonly X509Certificate[] }>;
}

/** What latchkey concluded about a new passkey's attestation. */
export interface AttestationVerdict {
  /** The attestation chained to an anchor of an allowed model. */
  readonly attested: boolean;
  /** That model's name. */
  readonly model?: string;
  /** Why not, when not attested. */
  readonly reason?: string;
}

const AAGUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MAX_CHAIN = 5;
const FORMATS_WITH_CHAINS = new Set(['packed', 'tpm', 'android-key', 'apple']);

function configError(message: string): LatchkeyError {
  return new LatchkeyError('ERR_WEBAUTHN_CONFIG', message, { field: 'attestation' });
}

function certificate(value: string | Uint8Array, label: string): X509Certificate {
  try {
    return new X509Certificate(typeof value === 'string' ? value : Buffer.from(value));
  } catch (cause) {
    throw new LatchkeyError('ERR_WEBAUTHN_CONFIG', `${label} is not an X.509 certificate`, { field: label }, { cause });
  }
}

/** Format 16 bytes as an AAGUID string. */
export function aaguidString(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Check the attestation options at start-up. */
export function resolveAttestationPolicy(options: AttestationOptions): AttestationPolicy {
  if (options === null || typeof options !== 'object' || !Array.isArray(options.authenticators)) {
    throw configError('attestation must be `{ authenticators: [{ aaguid, trustAnchors }] }`');
  }
  const enforcement = options.enforcement ?? 'required';
  if (enforcement !== 'required' && enforcement !== 'optional') {
    throw configError('attestation.enforcement must be `required` or `optional`');
  }
  if (options.authenticators.length === 0 || options.authenticators.length > 1024) {
    throw configError('attestation.authenticators must list 1 to 1024 authenticator models');
  }
  const models = new Map<string, { name: string; anchors: X509Certificate[] }>();
  for (const entry of options.authenticators) {
    const aaguid = typeof entry?.aaguid === 'string' ? entry.aaguid.toLowerCase() : '';
    if (!AAGUID.test(aaguid) || aaguid === '00000000-0000-0000-0000-000000000000') {
      throw configError(`attestation AAGUID \`${String(entry?.aaguid).slice(0, 40)}\` is not a non-zero AAGUID`);
    }
    if (!Array.isArray(entry.trustAnchors) || entry.trustAnchors.length === 0 || entry.trustAnchors.length > 32) {
      throw configError(
        `attestation AAGUID \`${aaguid}\` needs 1 to 32 trust anchors: without one an attestation proves nothing`,
      );
    }
    const anchors = (entry.trustAnchors as readonly (string | Uint8Array)[]).map((anchor, index) =>
      certificate(anchor, `trustAnchors[${index}]`),
    );
    const name = typeof entry.name === 'string' ? entry.name.slice(0, 128) : aaguid;
    models.set(aaguid, { name, anchors });
  }
  return { enforcement, models };
}

/** The DER SubjectPublicKeyInfo of a certificate. */
function spki(cert: X509Certificate): Uint8Array {
  return new Uint8Array(cert.publicKey.export({ type: 'spki', format: 'der' }));
}

function validAt(cert: X509Certificate, now: number): boolean {
  return Date.parse(cert.validFrom) <= now && now <= Date.parse(cert.validTo);
}

function issuedBy(child: X509Certificate, parent: X509Certificate): boolean {
  try {
    return child.checkIssued(parent) && child.verify(parent.publicKey);
  } catch {
    return false;
  }
}

/** The x5c chain of an attestation object, or undefined for self or no attestation. */
export function attestationChain(
  attestationObject: Uint8Array,
  maxBytes: number,
): { fmt: string; x5c: Uint8Array[] | undefined } {
  const map = asMap(
    decodeCbor(attestationObject, { canonical: false, limits: { maxBytes, maxItems: 4096 } }),
    'attestationObject',
  );
  const fmt = asText(map.get('fmt'), 'fmt', 32);
  const statement = asMap(map.get('attStmt'), 'attStmt');
  const x5c = statement.get('x5c');
  if (x5c === undefined) return { fmt, x5c: undefined };
  const certs = asArray(x5c, 'x5c');
  if (certs.length === 0 || certs.length > MAX_CHAIN) return { fmt, x5c: [] };
  return { fmt, x5c: certs.map((cert, index) => asBytes(cert, `x5c[${index}]`, 1, maxBytes)) };
}

/**
 * Judge a new passkey's attestation against the policy: its AAGUID must be allowed, its format
 * must carry a certificate chain, and the chain must be valid now and end at one of that model's
 * anchors: issued by an anchor that is a CA, or certifying the same public key as an anchor. Returns the verdict; never throws for an untrusted attestation.
 */
export function judgeAttestation(
  policy: AttestationPolicy,
  input: { readonly fmt: string; readonly aaguid: string; readonly x5c: readonly Uint8Array[] | undefined },
  now: number,
): AttestationVerdict {
  const model = policy.models.get(input.aaguid);
  if (model === undefined) return { attested: false, reason: 'aaguid-not-allowed' };
  if (!FORMATS_WITH_CHAINS.has(input.fmt) || input.x5c === undefined || input.x5c.length === 0) {
    return { attested: false, reason: input.fmt === 'none' ? 'no-attestation' : 'self-attestation' };
  }
  let chain: X509Certificate[];
  try {
    chain = input.x5c.map((der) => new X509Certificate(Buffer.from(der)));
  } catch {
    return { attested: false, reason: 'certificate-malformed' };
  }
  if (!chain.every((cert) => validAt(cert, now))) return { attested: false, reason: 'certificate-expired' };
  for (let index = 0; index + 1 < chain.length; index++) {
    const parent = chain[index + 1] as X509Certificate;
    if (!parent.ca || !issuedBy(chain[index] as X509Certificate, parent)) {
      return { attested: false, reason: 'chain-broken' };
    }
  }
  const last = chain[chain.length - 1] as X509Certificate;
  const lastKey = spki(last);
  const trusted = model.anchors.some(
    (anchor) => validAt(anchor, now) && (equalBytes(spki(anchor), lastKey) || (anchor.ca && issuedBy(last, anchor))),
  );
  if (!trusted) return { attested: false, reason: 'untrusted-chain' };
  return { attested: true, model: model.name };
}
