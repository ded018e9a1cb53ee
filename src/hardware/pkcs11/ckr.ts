/**
 * PKCS#11 return values (CKR_*, OASIS PKCS#11 2.40 §5.1 and 3.x `pkcs11t.h`), each with its spec
 * name, the stable {@link LatchkeyErrorCode} latchkey maps it to, and a message a person can act
 * on. Modelled on python-fido2's `CtapError.ERR`: the table is the spec's, the code is latchkey's
 * promise. Values without a code of their own are `ERR_PKCS11`; every error carries
 * `detail.ckr` (the number), `detail.ckrName` and `detail.operation` (the C_* function).
 *
 * @module latchkey/pkcs11
 */
import { LatchkeyError, type LatchkeyErrorCode, type LatchkeyErrorDetail } from '../../core/errors.js';

type Row = readonly [value: number, name: string, code: LatchkeyErrorCode, message: string];

const G = 'ERR_PKCS11';

const ROWS: readonly Row[] = [
  [0x0, 'CKR_OK', G, 'the call succeeded'],
  [0x1, 'CKR_CANCEL', G, 'the operation was cancelled'],
  [0x2, 'CKR_HOST_MEMORY', G, 'the PKCS#11 module ran out of memory'],
  [0x3, 'CKR_SLOT_ID_INVALID', 'ERR_PKCS11_TOKEN_NOT_PRESENT', 'the slot no longer exists (was the reader unplugged?)'],
  [0x5, 'CKR_GENERAL_ERROR', G, 'the token reported an unrecoverable error'],
  [0x6, 'CKR_FUNCTION_FAILED', G, 'the token could not complete the operation'],
  [0x7, 'CKR_ARGUMENTS_BAD', G, 'the PKCS#11 module refused the arguments'],
  [0x8, 'CKR_NO_EVENT', G, 'no slot event is pending'],
  [0x9, 'CKR_NEED_TO_CREATE_THREADS', G, 'the PKCS#11 module needs to create threads'],
  [0xa, 'CKR_CANT_LOCK', G, 'the PKCS#11 module cannot use the requested locking'],
  [0x10, 'CKR_ATTRIBUTE_READ_ONLY', G, 'an attribute is read-only'],
  [0x11, 'CKR_ATTRIBUTE_SENSITIVE', G, 'an attribute is sensitive and cannot be read'],
  [0x12, 'CKR_ATTRIBUTE_TYPE_INVALID', G, 'the token does not know an attribute'],
  [0x13, 'CKR_ATTRIBUTE_VALUE_INVALID', G, 'the token refused an attribute value'],
  [0x1b, 'CKR_ACTION_PROHIBITED', G, 'the token’s policy prohibits this action'],
  [0x20, 'CKR_DATA_INVALID', G, 'the token refused the input data'],
  [0x21, 'CKR_DATA_LEN_RANGE', G, 'the input data has a length the token does not accept'],
  [0x30, 'CKR_DEVICE_ERROR', G, 'the token or its reader failed'],
  [0x31, 'CKR_DEVICE_MEMORY', G, 'the token is out of memory'],
  [0x32, 'CKR_DEVICE_REMOVED', 'ERR_PKCS11_DEVICE_REMOVED', 'the token was removed during the operation'],
  [0x40, 'CKR_ENCRYPTED_DATA_INVALID', G, 'the token could not decrypt the data (it is not valid ciphertext)'],
  [0x41, 'CKR_ENCRYPTED_DATA_LEN_RANGE', G, 'the ciphertext has a length the token does not accept'],
  [0x42, 'CKR_AEAD_DECRYPT_FAILED', G, 'the token could not authenticate the ciphertext'],
  [0x50, 'CKR_FUNCTION_CANCELED', G, 'the operation was cancelled'],
  [0x51, 'CKR_FUNCTION_NOT_PARALLEL', G, 'the token has no function running in parallel'],
  [0x54, 'CKR_FUNCTION_NOT_SUPPORTED', G, 'the PKCS#11 module does not implement this function'],
  [0x60, 'CKR_KEY_HANDLE_INVALID', 'ERR_PKCS11_KEY_NOT_FOUND', 'the key no longer exists on the token'],
  [0x62, 'CKR_KEY_SIZE_RANGE', 'ERR_PKCS11_KEY_UNSUITABLE', 'the token does not support keys of this size'],
  [0x63, 'CKR_KEY_TYPE_INCONSISTENT', 'ERR_PKCS11_KEY_UNSUITABLE', 'the key’s type does not fit the mechanism'],
  [0x64, 'CKR_KEY_NOT_NEEDED', G, 'the operation takes no key'],
  [0x65, 'CKR_KEY_CHANGED', G, 'the key changed during the operation'],
  [0x66, 'CKR_KEY_NEEDED', G, 'the operation needs a key'],
  [0x67, 'CKR_KEY_INDIGESTIBLE', G, 'the key cannot be digested'],
  [0x68, 'CKR_KEY_FUNCTION_NOT_PERMITTED', 'ERR_PKCS11_KEY_UNSUITABLE', 'the key’s attributes do not allow this use'],
  [0x69, 'CKR_KEY_NOT_WRAPPABLE', 'ERR_PKCS11_KEY_UNSUITABLE', 'the key cannot be wrapped'],
  [0x6a, 'CKR_KEY_UNEXTRACTABLE', 'ERR_PKCS11_KEY_UNSUITABLE', 'the key cannot leave the token'],
  [0x70, 'CKR_MECHANISM_INVALID', 'ERR_PKCS11_MECHANISM_UNSUPPORTED', 'the token does not support this mechanism'],
  [
    0x71,
    'CKR_MECHANISM_PARAM_INVALID',
    'ERR_PKCS11_MECHANISM_UNSUPPORTED',
    'the token does not support these mechanism parameters',
  ],
  [0x82, 'CKR_OBJECT_HANDLE_INVALID', 'ERR_PKCS11_KEY_NOT_FOUND', 'the object no longer exists on the token'],
  [0x90, 'CKR_OPERATION_ACTIVE', G, 'another operation is active in this session'],
  [0x91, 'CKR_OPERATION_NOT_INITIALIZED', G, 'no operation is active in this session'],
  [0xa0, 'CKR_PIN_INCORRECT', 'ERR_PKCS11_PIN_INCORRECT', 'the PIN is incorrect'],
  [0xa1, 'CKR_PIN_INVALID', 'ERR_PKCS11_PIN_INVALID', 'the PIN contains characters the token does not accept'],
  [0xa2, 'CKR_PIN_LEN_RANGE', 'ERR_PKCS11_PIN_INVALID', 'the PIN is too long or too short for the token'],
  [0xa3, 'CKR_PIN_EXPIRED', 'ERR_PKCS11_PIN_EXPIRED', 'the PIN has expired: set a new one'],
  [0xa4, 'CKR_PIN_LOCKED', 'ERR_PKCS11_PIN_LOCKED', 'the PIN is locked: unblock it with the security officer PIN'],
  [0xb0, 'CKR_SESSION_CLOSED', 'ERR_PKCS11_SESSION_INVALID', 'the session was closed'],
  [0xb1, 'CKR_SESSION_COUNT', G, 'the token has too many sessions open'],
  [
    0xb3,
    'CKR_SESSION_HANDLE_INVALID',
    'ERR_PKCS11_SESSION_INVALID',
    'the session is no longer valid (was the token re-plugged?): open a new session and log in again',
  ],
  [0xb4, 'CKR_SESSION_PARALLEL_NOT_SUPPORTED', G, 'the token does not support parallel sessions'],
  [0xb5, 'CKR_SESSION_READ_ONLY', G, 'the session is read-only'],
  [0xb6, 'CKR_SESSION_EXISTS', G, 'a session with the token is open'],
  [
    0xb7,
    'CKR_SESSION_READ_ONLY_EXISTS',
    G,
    'a read-only session is open: close it before logging in as security officer',
  ],
  [0xb8, 'CKR_SESSION_READ_WRITE_SO_EXISTS', G, 'a security officer session is open'],
  [0xc0, 'CKR_SIGNATURE_INVALID', G, 'the signature is invalid'],
  [0xc1, 'CKR_SIGNATURE_LEN_RANGE', G, 'the signature has the wrong length'],
  [0xd0, 'CKR_TEMPLATE_INCOMPLETE', G, 'the token needs more attributes for this object'],
  [0xd1, 'CKR_TEMPLATE_INCONSISTENT', G, 'the token refused a combination of attributes'],
  [0xe0, 'CKR_TOKEN_NOT_PRESENT', 'ERR_PKCS11_TOKEN_NOT_PRESENT', 'the token is not present'],
  [0xe1, 'CKR_TOKEN_NOT_RECOGNIZED', G, 'the PKCS#11 module does not recognise the token in the slot'],
  [0xe2, 'CKR_TOKEN_WRITE_PROTECTED', G, 'the token is write-protected'],
  [0xf0, 'CKR_UNWRAPPING_KEY_HANDLE_INVALID', 'ERR_PKCS11_KEY_NOT_FOUND', 'the unwrapping key no longer exists'],
  [0xf1, 'CKR_UNWRAPPING_KEY_SIZE_RANGE', 'ERR_PKCS11_KEY_UNSUITABLE', 'the unwrapping key has an unsupported size'],
  [
    0xf2,
    'CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT',
    'ERR_PKCS11_KEY_UNSUITABLE',
    'the unwrapping key’s type does not fit the mechanism',
  ],
  [0x100, 'CKR_USER_ALREADY_LOGGED_IN', 'ERR_PKCS11_ALREADY_LOGGED_IN', 'the token is already logged in'],
  [0x101, 'CKR_USER_NOT_LOGGED_IN', 'ERR_PKCS11_NOT_LOGGED_IN', 'log in to the token with its PIN first'],
  [0x102, 'CKR_USER_PIN_NOT_INITIALIZED', G, 'the token has no user PIN yet'],
  [0x103, 'CKR_USER_TYPE_INVALID', G, 'the token does not know this user type'],
  [
    0x104,
    'CKR_USER_ANOTHER_ALREADY_LOGGED_IN',
    'ERR_PKCS11_ALREADY_LOGGED_IN',
    'another user (the security officer) is logged in to the token',
  ],
  [0x105, 'CKR_USER_TOO_MANY_TYPES', G, 'too many users are logged in to the token'],
  [0x110, 'CKR_WRAPPED_KEY_INVALID', G, 'the wrapped key is not valid'],
  [0x112, 'CKR_WRAPPED_KEY_LEN_RANGE', G, 'the wrapped key has an unsupported length'],
  [0x113, 'CKR_WRAPPING_KEY_HANDLE_INVALID', 'ERR_PKCS11_KEY_NOT_FOUND', 'the wrapping key no longer exists'],
  [0x114, 'CKR_WRAPPING_KEY_SIZE_RANGE', 'ERR_PKCS11_KEY_UNSUITABLE', 'the wrapping key has an unsupported size'],
  [
    0x115,
    'CKR_WRAPPING_KEY_TYPE_INCONSISTENT',
    'ERR_PKCS11_KEY_UNSUITABLE',
    'the wrapping key’s type does not fit the mechanism',
  ],
  [0x120, 'CKR_RANDOM_SEED_NOT_SUPPORTED', G, 'the token’s random number generator cannot be seeded'],
  [0x121, 'CKR_RANDOM_NO_RNG', G, 'the token has no random number generator'],
  [
    0x130,
    'CKR_DOMAIN_PARAMS_INVALID',
    'ERR_PKCS11_MECHANISM_UNSUPPORTED',
    'the token does not support these domain parameters',
  ],
  [0x140, 'CKR_CURVE_NOT_SUPPORTED', 'ERR_PKCS11_MECHANISM_UNSUPPORTED', 'the token does not support this curve'],
  [0x150, 'CKR_BUFFER_TOO_SMALL', G, 'the output buffer was too small'],
  [0x160, 'CKR_SAVED_STATE_INVALID', G, 'the saved operation state is invalid'],
  [0x170, 'CKR_INFORMATION_SENSITIVE', G, 'the requested information is sensitive'],
  [0x180, 'CKR_STATE_UNSAVEABLE', G, 'the operation state cannot be saved'],
  [
    0x190,
    'CKR_CRYPTOKI_NOT_INITIALIZED',
    'ERR_PKCS11_MODULE_CLOSED',
    'the PKCS#11 module is not initialised (was it closed?)',
  ],
  [0x191, 'CKR_CRYPTOKI_ALREADY_INITIALIZED', G, 'the PKCS#11 module is already initialised'],
  [0x1a0, 'CKR_MUTEX_BAD', G, 'the PKCS#11 module reported a bad mutex'],
  [0x1a1, 'CKR_MUTEX_NOT_LOCKED', G, 'the PKCS#11 module reported an unlocked mutex'],
  [0x1b0, 'CKR_NEW_PIN_MODE', G, 'the token asks for a new PIN'],
  [0x1b1, 'CKR_NEXT_OTP', G, 'the token asks for the next one-time password'],
  [0x1b5, 'CKR_EXCEEDED_MAX_ITERATIONS', G, 'the token exceeded its iteration limit'],
  [0x1b6, 'CKR_FIPS_SELF_TEST_FAILED', G, 'the token failed its FIPS self-test'],
  [0x1b7, 'CKR_LIBRARY_LOAD_FAILED', G, 'the PKCS#11 module could not load a library it needs'],
  [0x1b8, 'CKR_PIN_TOO_WEAK', 'ERR_PKCS11_PIN_INVALID', 'the new PIN is too weak for the token'],
  [0x1b9, 'CKR_PUBLIC_KEY_INVALID', G, 'the token refused the public key'],
  [0x200, 'CKR_FUNCTION_REJECTED', G, 'the token or its user rejected the operation'],
  [0x201, 'CKR_TOKEN_RESOURCE_EXCEEDED', G, 'the token ran out of a resource'],
  [0x202, 'CKR_OPERATION_CANCEL_FAILED', G, 'the operation could not be cancelled'],
  [0x203, 'CKR_KEY_EXHAUSTED', 'ERR_PKCS11_KEY_UNSUITABLE', 'the key has reached its usage limit'],
  [0x204, 'CKR_PENDING', G, 'the operation is still pending'],
  [0x205, 'CKR_SESSION_ASYNC_NOT_SUPPORTED', G, 'the session does not support asynchronous operations'],
  [0x206, 'CKR_SEED_RANDOM_REQUIRED', G, 'the token’s random number generator must be seeded first'],
  [0x207, 'CKR_OPERATION_NOT_VALIDATED', G, 'the operation is not validated by the token’s policy'],
  [0x208, 'CKR_TOKEN_NOT_INITIALIZED', G, 'the token is not initialised'],
  [0x209, 'CKR_PARAMETER_SET_NOT_SUPPORTED', G, 'the token does not support this parameter set'],
];

/** The first vendor-defined return value; every value from here up belongs to a vendor. */
export const CKR_VENDOR_DEFINED = 0x80000000;

/**
 * Every return value the PKCS#11 specification names, with its spec name.
 *
 * @example
 * ```ts
 * import { CKR } from 'latchkey/pkcs11';
 * CKR[0xa0]; // 'CKR_PIN_INCORRECT'
 * ```
 */
export const CKR: Readonly<Record<number, string>> = Object.freeze(
  Object.fromEntries([...ROWS.map(([value, name]) => [value, name]), [CKR_VENDOR_DEFINED, 'CKR_VENDOR_DEFINED']]),
);

const BY_VALUE = new Map<number, Row>(ROWS.map((row) => [row[0], row]));

/** The spec name of a return value: `CKR_VENDOR_DEFINED+0x…` for a vendor's, `CKR_0x…` if unknown. */
export function ckrName(rv: number): string {
  const row = BY_VALUE.get(rv);
  if (row !== undefined) return row[1];
  if (rv >= CKR_VENDOR_DEFINED) return `CKR_VENDOR_DEFINED+0x${(rv - CKR_VENDOR_DEFINED).toString(16)}`;
  return `CKR_0x${rv.toString(16)}`;
}

/** The {@link LatchkeyErrorCode} a return value maps to (`ERR_PKCS11` when it has none of its own). */
export function ckrCode(rv: number): LatchkeyErrorCode {
  return BY_VALUE.get(rv)?.[2] ?? G;
}

/**
 * The {@link LatchkeyError} for a PKCS#11 return value from `operation` (a C_* function name).
 * `extra` adds non-secret detail, such as the PIN flags after `CKR_PIN_INCORRECT`.
 *
 * @example
 * ```ts
 * import { ckrError } from 'latchkey/pkcs11';
 * ckrError(0xa4, 'C_Login').code; // 'ERR_PKCS11_PIN_LOCKED'
 * ```
 */
export function ckrError(
  rv: number,
  operation: string,
  extra: LatchkeyErrorDetail = {},
  options?: { readonly cause?: unknown; readonly message?: string },
): LatchkeyError {
  const row = BY_VALUE.get(rv);
  const message =
    options?.message ??
    row?.[3] ??
    (rv >= CKR_VENDOR_DEFINED ? 'the token reported a vendor-specific error' : 'the token reported an unknown error');
  return new LatchkeyError(
    row?.[2] ?? G,
    message,
    { ckr: rv, ckrName: ckrName(rv), operation, ...extra },
    options?.cause === undefined ? undefined : { cause: options.cause },
  );
}
