/**
 * The PKCS#11 numbers latchkey uses (OASIS PKCS#11 2.40 and 3.x, `pkcs11t.h`), declared here
 * rather than read from pkcs11js, so that every template and mechanism is built and checked in
 * TypeScript before the native addon is even loaded.
 *
 * @module latchkey/pkcs11
 */

/** Object classes (CKO_*). */
export const CKO = Object.freeze({
  DATA: 0x0,
  CERTIFICATE: 0x1,
  PUBLIC_KEY: 0x2,
  PRIVATE_KEY: 0x3,
  SECRET_KEY: 0x4,
});

/** Key types (CKK_*). */
export const CKK = Object.freeze({
  RSA: 0x0,
  EC: 0x3,
  GENERIC_SECRET: 0x10,
  AES: 0x1f,
});

/** Attribute types (CKA_*). */
export const CKA = Object.freeze({
  CLASS: 0x0,
  TOKEN: 0x1,
  PRIVATE: 0x2,
  LABEL: 0x3,
  VALUE: 0x11,
  CERTIFICATE_TYPE: 0x80,
  KEY_TYPE: 0x100,
  ID: 0x102,
  SENSITIVE: 0x103,
  ENCRYPT: 0x104,
  DECRYPT: 0x105,
  WRAP: 0x106,
  UNWRAP: 0x107,
  SIGN: 0x108,
  VERIFY: 0x10a,
  DERIVE: 0x10c,
  MODULUS: 0x120,
  MODULUS_BITS: 0x121,
  PUBLIC_EXPONENT: 0x122,
  VALUE_LEN: 0x161,
  EXTRACTABLE: 0x162,
  LOCAL: 0x163,
  NEVER_EXTRACTABLE: 0x164,
  ALWAYS_SENSITIVE: 0x165,
  MODIFIABLE: 0x170,
  EC_PARAMS: 0x180,
  EC_POINT: 0x181,
  ALWAYS_AUTHENTICATE: 0x202,
});

/** Mechanisms (CKM_*) latchkey builds. */
export const CKM = Object.freeze({
  RSA_PKCS_KEY_PAIR_GEN: 0x0,
  RSA_PKCS: 0x1,
  RSA_PKCS_OAEP: 0x9,
  RSA_PKCS_PSS: 0xd,
  SHA_1: 0x220,
  SHA256: 0x250,
  SHA384: 0x260,
  SHA512: 0x270,
  EC_KEY_PAIR_GEN: 0x1040,
  ECDSA: 0x1041,
  ECDSA_SHA256: 0x1044,
  ECDH1_DERIVE: 0x1050,
});

/** Mask generation functions (CKG_*). */
export const CKG = Object.freeze({
  MGF1_SHA1: 0x1,
  MGF1_SHA256: 0x2,
  MGF1_SHA384: 0x3,
  MGF1_SHA512: 0x4,
});

/** Key derivation functions for ECDH (CKD_*). */
export const CKD = Object.freeze({ NULL: 0x1 });

/** OAEP encoding parameter sources (CKZ_*). */
export const CKZ = Object.freeze({ DATA_SPECIFIED: 0x1 });

/** User types (CKU_*). */
export const CKU = Object.freeze({ SO: 0, USER: 1, CONTEXT_SPECIFIC: 2 });

/** Session states (CKS_*). */
export const CKS = Object.freeze({
  RO_PUBLIC_SESSION: 0,
  RO_USER_FUNCTIONS: 1,
  RW_PUBLIC_SESSION: 2,
  RW_USER_FUNCTIONS: 3,
  RW_SO_FUNCTIONS: 4,
});

/** Flags (CKF_*) of slots, tokens, sessions, C_Initialize and C_WaitForSlotEvent. */
export const CKF = Object.freeze({
  // slot
  TOKEN_PRESENT: 0x1,
  REMOVABLE_DEVICE: 0x2,
  HW_SLOT: 0x4,
  // token
  RNG: 0x1,
  WRITE_PROTECTED: 0x2,
  LOGIN_REQUIRED: 0x4,
  USER_PIN_INITIALIZED: 0x8,
  PROTECTED_AUTHENTICATION_PATH: 0x100,
  TOKEN_INITIALIZED: 0x400,
  USER_PIN_COUNT_LOW: 0x10000,
  USER_PIN_FINAL_TRY: 0x20000,
  USER_PIN_LOCKED: 0x40000,
  USER_PIN_TO_BE_CHANGED: 0x80000,
  SO_PIN_LOCKED: 0x400000,
  // session
  RW_SESSION: 0x2,
  SERIAL_SESSION: 0x4,
  // C_Initialize
  OS_LOCKING_OK: 0x2,
  // C_WaitForSlotEvent
  DONT_BLOCK: 0x1,
});

/** pkcs11js's own tags for structured mechanism parameters (`CK_PARAMS_*` in its const.cpp). */
export const PKCS11JS_PARAMS = Object.freeze({
  RSA_OAEP: 4,
  RSA_PSS: 5,
  EC_DH: 6,
});

/** `CK_UNAVAILABLE_INFORMATION` as pkcs11js reports a 32-bit or 64-bit all-ones CK_ULONG. */
export function unavailable(value: number | bigint): boolean {
  return value === 0xffffffff || value === Number.MAX_SAFE_INTEGER || value === 0xffffffffffffffffn || value === -1;
}
