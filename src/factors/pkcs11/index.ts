/**
 * `latchkey/pkcs11`: smart cards, PIV fobs (a YubiKey's PIV applet through ykcs11 or OpenSC) and
 * HSM tokens through their PKCS#11 module, in layers as the fob is (module → token session →
 * factor). pkcs11js (an optional peer dependency) is loaded only when a module is opened.
 *
 * - Token: {@link openPkcs11Module} loads a module by path (with `CKF_OS_LOCKING_OK`); a
 *   {@link Pkcs11Module} lists slots and tokens and opens a {@link Pkcs11Session} by label or
 *   serial; a session logs in with the PIN, finds keys by label or id, reads public keys, signs
 *   (hashed in Node, raw `CKM_ECDSA` / PKCS#1 v1.5 / PSS), derives ECDH secrets and decrypts
 *   RSA-OAEP, and generates keys.
 * - Data keys: {@link wrapDataKey} and {@link unwrapDataKey} (compact JWE, `ECDH-ES+A256KW` or
 *   `RSA-OAEP`), unwrapped on the token.
 * - Errors: every CKR_* is a `LatchkeyError` ({@link CKR}, {@link ckrError}); mechanism
 *   parameters are checked by {@link validateMechanism} before any native call.
 * - Presence: {@link watchTokens} (slot events where the module has them, polling always).
 * - Factor: {@link Pkcs11Factor} enrols token keys and verifies challenges signed on the token.
 *
 * @example
 * ```ts
 * import { openPkcs11Module, Pkcs11Factor } from 'latchkey/pkcs11';
 * const module = await openPkcs11Module({ path: '/usr/lib/softhsm/libsofthsm2.so' });
 * const factor = new Pkcs11Factor({ store, rpId: 'example.com' });
 * await factor.enrol({ module, accountId, pin, key: { label: 'login' } });
 * const evidence = await factor.authenticate({ module, accountId, pin }); // amr ['sc', 'pin']
 * ```
 *
 * @module latchkey/pkcs11
 */
export {
  DECRYPTION_ALGORITHMS,
  defaultSignatureAlgorithm,
  type Pkcs11DecryptionAlgorithm,
  type Pkcs11SignatureAlgorithm,
  SIGNATURE_ALGORITHMS,
  verifyTokenSignature,
} from '../../hardware/pkcs11/algorithms.js';
export { CKR, CKR_VENDOR_DEFINED, ckrCode, ckrError, ckrName } from '../../hardware/pkcs11/ckr.js';
export { type DataKeyAlgorithm, unwrapDataKey, wrapDataKey } from '../../hardware/pkcs11/data-key.js';
export type { Pkcs11Key, Pkcs11KeyQuery, Pkcs11ObjectClass } from '../../hardware/pkcs11/keys.js';
export {
  DEFAULT_PKCS11_LIMITS,
  type Pkcs11Limits,
  type Pkcs11Pin,
  type Pkcs11SlotInfo,
  type Pkcs11TokenInfo,
} from '../../hardware/pkcs11/library.js';
export {
  type MechanismKey,
  type Pkcs11Curve,
  type Pkcs11Hash,
  type Pkcs11Mechanism,
  validateMechanism,
} from '../../hardware/pkcs11/mechanism.js';
export {
  openPkcs11Module,
  Pkcs11Module,
  type Pkcs11ModuleInfo,
  type Pkcs11ModuleOptions,
  type Pkcs11TokenSelector,
} from '../../hardware/pkcs11/module.js';
export {
  type Pkcs11PresenceEvent,
  type Pkcs11Watcher,
  type Pkcs11WatcherOptions,
  watchTokens,
} from '../../hardware/pkcs11/presence.js';
export { type Pkcs11KeyOptions, type Pkcs11KeySpec, Pkcs11Session } from '../../hardware/pkcs11/session.js';
export {
  DEFAULT_PKCS11_FACTOR_LIMITS,
  PKCS11_FACTOR,
  type Pkcs11Challenge,
  type Pkcs11ChallengeCredential,
  Pkcs11Factor,
  type Pkcs11FactorLimits,
  type Pkcs11FactorOptions,
  type Pkcs11RecordData,
} from './factor.js';
