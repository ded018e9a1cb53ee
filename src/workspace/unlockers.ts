/**
 * Unlockers: what opens a workspace key slot. Each one turns something the user has or knows
 * into a 256-bit key-encryption key (KEK) and the {@link Evidence} that the unlock policy
 * decides on:
 *
 * - {@link fobUnlocker}: a FIDO2 fob's hmac-secret (CTAP 2.1 §12.5). The slot keeps the
 *   credential id, the RP ID, a random salt and whether the PIN was used at enrolment (the fob
 *   derives a different secret with and without user verification, so a slot enrolled with the
 *   PIN can only be opened with it). The fob is identified without a touch first (`up: false`).
 * - {@link recoveryCodeUnlocker}: a 120-bit code shown once, stretched with argon2id.
 * - {@link passwordUnlocker}: a password stretched with argon2id (only where the unlock policy
 *   names the password factor).
 * - {@link pkcs11Unlocker}: a smart card or token: a random KEK wrapped to its public key as JWE
 *   (ECDH-ES+A256KW or RSA-OAEP-256), unwrapped on the token.
 *
 * @module latchkey/workspace
 */
import { createHash, hkdfSync } from 'node:crypto';
import { base64url, fromBase64url, utf8, wipe } from '../core/bytes.js';
import { isLatchkeyError, LatchkeyError } from '../core/errors.js';
import { randomBytes } from '../core/random.js';
import type { Amr, Evidence, FactorKind } from '../core/types.js';
import type { Argon2Backend } from '../factors/password/argon2-backend.js';
import type { Ctap2Client } from '../hardware/ctap2.js';
import { PERMISSION } from '../hardware/ctap2-constants.js';
import type { Pkcs11Key } from '../hardware/pkcs11/keys.js';
import type { Pkcs11Session } from '../hardware/pkcs11/session.js';
import type { Json } from '../store/types.js';

/** What an unlocker hands the workspace: the slot's key-encryption key and the evidence. */
export interface Unlocked {
  readonly kek: Uint8Array;
  readonly evidence: Evidence;
}

/** An enrolment: what the slot stores (never a secret), and the KEK. */
export interface Enrolled extends Unlocked {
  readonly params: { readonly [key: string]: Json };
  readonly label: string;
}

/** Something that can open (and enrol) key slots of one kind. */
export interface Unlocker {
  readonly kind: SlotKind;
  /** Make a new slot. */
  enrol(workspaceId: Uint8Array): Promise<Enrolled>;
  /**
   * Whether this unlocker can open the slot, without asking the user for anything (no touch,
   * no PIN): a fob answers whether it holds the slot's credential.
   */
  matches(params: SlotParams): Promise<boolean>;
  /** Open a slot whose kind and params match. Wrong secrets surface when the KEK fails to unwrap. */
  open(params: SlotParams, workspaceId: Uint8Array): Promise<Unlocked>;
}

export type SlotKind = 'fob' | 'recovery-code' | 'password' | 'pkcs11';
export type SlotParams = { readonly [key: string]: Json };

function evidence(
  factor: string,
  authenticatorId: string,
  amr: readonly Amr[],
  kinds: readonly FactorKind[],
  flags: { phishingResistant: boolean; hardwareBound: boolean; userVerified: boolean; replayResistant: boolean },
): Evidence {
  return Object.freeze({
    factor,
    subject: 'workspace-owner',
    authenticatorId,
    amr: Object.freeze([...amr]),
    kinds: Object.freeze([...kinds]),
    userPresent: true,
    at: Date.now(),
    ...flags,
  });
}

function text(params: SlotParams, key: string): string {
  const value = params[key];
  if (typeof value !== 'string' || value.length === 0 || value.length > 4096) {
    throw new LatchkeyError('ERR_WORKSPACE_FORMAT', `a key slot's \`${key}\` is missing or malformed`);
  }
  return value;
}

// ---------------------------------------------------------------------------------- fob

/** Options of {@link fobUnlocker}. */
export interface FobUnlockerOptions {
  readonly client: Ctap2Client;
  /** The fob's PIN: enrol with user verification, and open slots enrolled with it. */
  readonly pin?: string;
  /** The RP ID the workspace credential is made for. Default `latchkey-workspace`. */
  readonly rpId?: string;
  /** A name for the slot (shown by `status`). */
  readonly label?: string;
  /** Called before the fob waits for a touch (a CLI shows "touch your key"). */
  readonly onTouch?: () => void;
}

const FOB_RP = 'latchkey-workspace';

/** A FIDO2 fob through hmac-secret. See the module documentation. */
export function fobUnlocker(options: FobUnlockerOptions): Unlocker {
  const { client } = options;
  const rpId = options.rpId ?? FOB_RP;
  const token = async (pin: string) =>
    client.getPinUvAuthToken(pin, { permissions: PERMISSION.MAKE_CREDENTIAL | PERMISSION.GET_ASSERTION, rpId });
  const secret = async (credentialId: Uint8Array, slotRp: string, salt: Uint8Array, uv: boolean) => {
    if (uv && options.pin === undefined) {
      throw new LatchkeyError('ERR_CTAP2_PIN_REQUIRED', 'this fob slot was enrolled with the PIN: enter it');
    }
    const pinToken = uv ? await token(options.pin as string) : undefined;
    try {
      options.onTouch?.();
      const assertion = await client.getAssertion({
        rpId: slotRp,
        clientDataHash: randomBytes(32),
        allowList: [credentialId],
        hmacSecret: { salt1: salt },
        ...(pinToken === undefined ? {} : { pinUvAuthToken: pinToken }),
      });
      const output = assertion.hmacSecret?.output1;
      if (output === undefined || output.length !== 32) {
        throw new LatchkeyError('ERR_WORKSPACE_WRONG_KEY', 'the fob did not return an hmac-secret');
      }
      return output;
    } finally {
      pinToken?.wipe();
    }
  };
  const kekOf = (output: Uint8Array, workspaceId: Uint8Array) => {
    const kek = new Uint8Array(hkdfSync('sha256', output, workspaceId, utf8('latchkey workspace v1: fob slot'), 32));
    wipe(output);
    return kek;
  };
  const fobEvidence = (credentialId: string, uv: boolean) =>
    evidence(
      'fob',
      `fob:${credentialId.slice(0, 16)}`,
      uv ? ['hwk', 'pin'] : ['hwk'],
      uv ? ['possession', 'knowledge'] : ['possession'],
      {
        phishingResistant: true,
        hardwareBound: true,
        userVerified: uv,
        replayResistant: true,
      },
    );
  return {
    kind: 'fob',
    async enrol(workspaceId) {
      const uv = options.pin !== undefined;
      const pinToken = uv ? await token(options.pin as string) : undefined;
      let credentialId: Uint8Array;
      try {
        options.onTouch?.();
        const made = await client.makeCredential({
          clientDataHash: randomBytes(32),
          rp: { id: rpId, name: 'latchkey workspace' },
          user: { id: randomBytes(16), name: 'workspace', displayName: 'workspace' },
          hmacSecret: true,
          ...(pinToken === undefined ? {} : { pinUvAuthToken: pinToken }),
        });
        if (!made.hmacSecret) {
          throw new LatchkeyError(
            'ERR_UNSUPPORTED',
            'this fob does not support hmac-secret, so it cannot hold a key slot',
          );
        }
        credentialId = made.authData.attestedCredential.credentialId;
      } finally {
        pinToken?.wipe();
      }
      const salt = randomBytes(32);
      const id = base64url(credentialId);
      const kek = kekOf(await secret(credentialId, rpId, salt, uv), workspaceId);
      return {
        kek,
        evidence: fobEvidence(id, uv),
        label: options.label ?? `fob ${id.slice(0, 8)}`,
        params: { credentialId: id, rpId, salt: base64url(salt), uv, aaguid: base64url(client.info.aaguid) },
      };
    },
    async matches(params) {
      const credentialId = fromBase64url(text(params, 'credentialId'), 'credentialId');
      try {
        await client.getAssertion({
          rpId: text(params, 'rpId'),
          clientDataHash: randomBytes(32),
          allowList: [credentialId],
          userPresence: false,
        });
        return true;
      } catch (error) {
        if (isLatchkeyError(error, 'ERR_CTAP2_NO_CREDENTIALS')) return false;
        throw error;
      }
    },
    async open(params, workspaceId) {
      const id = text(params, 'credentialId');
      const uv = params.uv === true;
      const output = await secret(
        fromBase64url(id, 'credentialId'),
        text(params, 'rpId'),
        fromBase64url(text(params, 'salt'), 'salt'),
        uv,
      );
      return { kek: kekOf(output, workspaceId), evidence: fobEvidence(id, uv) };
    },
  };
}

// --------------------------------------------------------------- recovery code, password

/** argon2id cost: memory in KiB, passes, lanes. */
export interface StretchCost {
  readonly m: number;
  readonly t: number;
  readonly p: number;
}

/** argon2id cost of a slot's stretching (RFC 9106's second recommended option, 64 MiB). */
const STRETCH: StretchCost = { m: 65_536, t: 3, p: 4 };

async function stretch(
  backend: Argon2Backend,
  secretText: string,
  salt: Uint8Array,
  cost: StretchCost,
): Promise<Uint8Array> {
  const password = utf8(secretText.normalize('NFKC'));
  try {
    return await backend.hashRaw({ algorithm: 'argon2id', version: 19, password, salt, ...cost, outputLength: 32 });
  } finally {
    wipe(password);
  }
}

async function defaultBackend(): Promise<Argon2Backend> {
  return (await import('../factors/password/argon2-backend.js')).nodeRsArgon2;
}

const CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A new recovery code: 120 bits from the CSPRNG as 24 Crockford base32 characters in six groups. */
export function newRecoveryCode(): string {
  const bytes = randomBytes(15);
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += CODE_ALPHABET[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  return (out.match(/.{4}/g) as string[]).join('-');
}

/** A recovery code as typed: case, spaces and dashes do not matter; I, L → 1 and O → 0 as Crockford reads them. */
function canonicalCode(code: string): string {
  const cleaned = code.toUpperCase().replace(/[\s-]/g, '').replace(/[IL]/g, '1').replace(/O/g, '0');
  if (!/^[0-9A-HJKMNP-TV-Z]{24}$/.test(cleaned)) {
    throw new LatchkeyError('ERR_WORKSPACE_WRONG_KEY', 'that is not a recovery code (24 letters and digits)');
  }
  return cleaned;
}

function stretchedUnlocker(
  kind: 'recovery-code' | 'password',
  secretText: string,
  options: { readonly label?: string; readonly argon2?: Argon2Backend; readonly cost?: StretchCost },
): Unlocker {
  const cost = options.cost ?? STRETCH;
  const make = (workspaceId: Uint8Array, params: SlotParams) =>
    kind === 'recovery-code'
      ? evidence('recovery-code', `recovery:${text(params, 'salt').slice(0, 8)}`, ['otp'], ['possession'], {
          phishingResistant: false,
          hardwareBound: false,
          userVerified: false,
          replayResistant: true,
        })
      : evidence('password', `password:${base64url(workspaceId).slice(0, 8)}`, ['pwd'], ['knowledge'], {
          phishingResistant: false,
          hardwareBound: false,
          userVerified: false,
          replayResistant: false,
        });
  const input = () => (kind === 'recovery-code' ? canonicalCode(secretText) : secretText);
  return {
    kind,
    async enrol(workspaceId) {
      const salt = randomBytes(16);
      const params = { salt: base64url(salt), m: cost.m, t: cost.t, p: cost.p };
      const kek = await stretch(options.argon2 ?? (await defaultBackend()), input(), salt, cost);
      return { kek, evidence: make(workspaceId, params), params, label: options.label ?? kind };
    },
    async matches() {
      return true;
    },
    async open(params, workspaceId) {
      const m = params.m;
      const t = params.t;
      const p = params.p;
      if (
        typeof m !== 'number' ||
        typeof t !== 'number' ||
        typeof p !== 'number' ||
        !Number.isSafeInteger(m) ||
        m < 8 ||
        m > 4_194_304 ||
        !Number.isSafeInteger(t) ||
        t < 1 ||
        t > 64 ||
        !Number.isSafeInteger(p) ||
        p < 1 ||
        p > 64
      ) {
        throw new LatchkeyError('ERR_WORKSPACE_FORMAT', "a key slot's argon2 parameters are out of bounds");
      }
      const salt = fromBase64url(text(params, 'salt'), 'salt');
      const kek = await stretch(options.argon2 ?? (await defaultBackend()), input(), salt, {
        m,
        t,
        p,
      } as StretchCost);
      return { kek, evidence: make(workspaceId, params) };
    },
  };
}

/** A recovery code slot (make the code with {@link newRecoveryCode} and show it once). */
export function recoveryCodeUnlocker(
  code: string,
  options: { readonly label?: string; readonly argon2?: Argon2Backend; readonly cost?: StretchCost } = {},
): Unlocker {
  if (typeof code !== 'string')
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'code must be a string', { field: 'code' });
  return stretchedUnlocker('recovery-code', code, options);
}

/** A password slot (the workspace accepts it only when its unlock policy names the password factor). */
export function passwordUnlocker(
  password: string,
  options: { readonly label?: string; readonly argon2?: Argon2Backend; readonly cost?: StretchCost } = {},
): Unlocker {
  if (typeof password !== 'string' || password.length === 0 || password.length > 1024) {
    throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'password must be 1 to 1024 characters', { field: 'password' });
  }
  return stretchedUnlocker('password', password, options);
}

// ---------------------------------------------------------------------------------- pkcs11

/** Options of {@link pkcs11Unlocker}: a logged-in session and the token's key pair. */
export interface Pkcs11UnlockerOptions {
  readonly session: Pkcs11Session;
  /** The private key that unwraps (EC for ECDH-ES+A256KW, RSA for RSA-OAEP-256). */
  readonly privateKey: Pkcs11Key;
  /** Its public key, to wrap a new slot's KEK at enrolment. */
  readonly publicKey: import('node:crypto').KeyObject;
  readonly label?: string;
}

/** A PKCS#11 token: the slot's KEK is wrapped to the token's key as a JWE and unwrapped on the token. */
export function pkcs11Unlocker(options: Pkcs11UnlockerOptions): Unlocker {
  const keyId = () =>
    createHash('sha256')
      .update(options.publicKey.export({ type: 'spki', format: 'der' }))
      .digest('base64url');
  const key = options.privateKey;
  // what the token says of its key (see Pkcs11Factor): made there, kept there, never readable
  const hardwareBound =
    key.token && key.local && key.alwaysSensitive && key.neverExtractable && key.sensitive && !key.extractable;
  const pin = key.private;
  const tokenEvidence = (id: string) =>
    evidence(
      'pkcs11',
      `pkcs11:${id.slice(0, 16)}`,
      pin ? ['sc', 'pin'] : ['sc'],
      pin ? ['possession', 'knowledge'] : ['possession'],
      {
        phishingResistant: false,
        hardwareBound,
        userVerified: pin,
        replayResistant: true,
      },
    );
  return {
    kind: 'pkcs11',
    async enrol() {
      const { wrapDataKey } = await import('../hardware/pkcs11/data-key.js');
      const kek = randomBytes(32);
      // ECDH-ES+A256KW for an EC key, RSA-OAEP-256 for an RSA one (pass an EC key to a token whose OAEP knows only SHA-1)
      const wrapped = wrapDataKey(options.publicKey, kek);
      const id = keyId();
      return {
        kek,
        evidence: tokenEvidence(id),
        label: options.label ?? `token key ${id.slice(0, 8)}`,
        params: { keyId: id, wrapped },
      };
    },
    async matches(params) {
      return params.keyId === keyId();
    },
    async open(params) {
      const { unwrapDataKey } = await import('../hardware/pkcs11/data-key.js');
      const kek = await unwrapDataKey(options.session, options.privateKey, text(params, 'wrapped'));
      if (kek.length !== 32)
        throw new LatchkeyError('ERR_WORKSPACE_WRONG_KEY', 'the token unwrapped a key of the wrong size');
      return { kek, evidence: tokenEvidence(text(params, 'keyId')) };
    },
  };
}
