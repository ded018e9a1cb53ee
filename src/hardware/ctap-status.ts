/**
 * CTAP status codes (CTAP 2.1 §8.2 "Status codes"), each with its spec name, and the one function
 * that turns a status byte into a {@link LatchkeyError}. Modelled on python-fido2's
 * `CtapError.ERR`: the table is the spec's, the `LatchkeyError` code is latchkey's stable promise.
 *
 * @module latchkey/fob
 */
import { LatchkeyError, type LatchkeyErrorCode } from '../core/errors.js';

/**
 * Every status byte the CTAP 2.1 specification names, with its spec name. Also used for the
 * CTAPHID ERROR command's payload, whose values are the CTAP1 statuses (0x01–0x0b, 0x7f).
 *
 * @example
 * ```ts
 * import { CTAP_STATUS } from 'latchkey/fob';
 * CTAP_STATUS[0x31]; // 'CTAP2_ERR_PIN_INVALID'
 * ```
 */
export const CTAP_STATUS: Readonly<Record<number, string>> = Object.freeze({
  0: 'CTAP2_OK',
  1: 'CTAP1_ERR_INVALID_COMMAND',
  2: 'CTAP1_ERR_INVALID_PARAMETER',
  3: 'CTAP1_ERR_INVALID_LENGTH',
  4: 'CTAP1_ERR_INVALID_SEQ',
  5: 'CTAP1_ERR_TIMEOUT',
  6: 'CTAP1_ERR_CHANNEL_BUSY',
  10: 'CTAP1_ERR_LOCK_REQUIRED',
  11: 'CTAP1_ERR_INVALID_CHANNEL',
  17: 'CTAP2_ERR_CBOR_UNEXPECTED_TYPE',
  18: 'CTAP2_ERR_INVALID_CBOR',
  20: 'CTAP2_ERR_MISSING_PARAMETER',
  21: 'CTAP2_ERR_LIMIT_EXCEEDED',
  22: 'CTAP2_ERR_UNSUPPORTED_EXTENSION',
  23: 'CTAP2_ERR_FP_DATABASE_FULL',
  24: 'CTAP2_ERR_LARGE_BLOB_STORAGE_FULL',
  25: 'CTAP2_ERR_CREDENTIAL_EXCLUDED',
  33: 'CTAP2_ERR_PROCESSING',
  34: 'CTAP2_ERR_INVALID_CREDENTIAL',
  35: 'CTAP2_ERR_USER_ACTION_PENDING',
  36: 'CTAP2_ERR_OPERATION_PENDING',
  37: 'CTAP2_ERR_NO_OPERATIONS',
  38: 'CTAP2_ERR_UNSUPPORTED_ALGORITHM',
  39: 'CTAP2_ERR_OPERATION_DENIED',
  40: 'CTAP2_ERR_KEY_STORE_FULL',
  41: 'CTAP2_ERR_NOT_BUSY',
  42: 'CTAP2_ERR_NO_OPERATION_PENDING',
  43: 'CTAP2_ERR_UNSUPPORTED_OPTION',
  44: 'CTAP2_ERR_INVALID_OPTION',
  45: 'CTAP2_ERR_KEEPALIVE_CANCEL',
  46: 'CTAP2_ERR_NO_CREDENTIALS',
  47: 'CTAP2_ERR_USER_ACTION_TIMEOUT',
  48: 'CTAP2_ERR_NOT_ALLOWED',
  49: 'CTAP2_ERR_PIN_INVALID',
  50: 'CTAP2_ERR_PIN_BLOCKED',
  51: 'CTAP2_ERR_PIN_AUTH_INVALID',
  52: 'CTAP2_ERR_PIN_AUTH_BLOCKED',
  53: 'CTAP2_ERR_PIN_NOT_SET',
  54: 'CTAP2_ERR_PUAT_REQUIRED',
  55: 'CTAP2_ERR_PIN_POLICY_VIOLATION',
  56: 'CTAP2_ERR_PIN_TOKEN_EXPIRED',
  57: 'CTAP2_ERR_REQUEST_TOO_LARGE',
  58: 'CTAP2_ERR_ACTION_TIMEOUT',
  59: 'CTAP2_ERR_UP_REQUIRED',
  60: 'CTAP2_ERR_UV_BLOCKED',
  61: 'CTAP2_ERR_INTEGRITY_FAILURE',
  62: 'CTAP2_ERR_INVALID_SUBCOMMAND',
  63: 'CTAP2_ERR_UV_INVALID',
  64: 'CTAP2_ERR_UNAUTHORIZED_PERMISSION',
  127: 'CTAP1_ERR_OTHER',
  223: 'CTAP2_ERR_SPEC_LAST',
  224: 'CTAP2_ERR_EXTENSION_FIRST',
  239: 'CTAP2_ERR_EXTENSION_LAST',
  240: 'CTAP2_ERR_VENDOR_FIRST',
  255: 'CTAP2_ERR_VENDOR_LAST',
});

/** Status bytes the virtual fob and the framing layer name in code. */
export const Status = Object.freeze({
  OK: 0x00,
  INVALID_COMMAND: 0x01,
  INVALID_PARAMETER: 0x02,
  INVALID_LENGTH: 0x03,
  INVALID_SEQ: 0x04,
  TIMEOUT: 0x05,
  CHANNEL_BUSY: 0x06,
  INVALID_CHANNEL: 0x0b,
  CBOR_UNEXPECTED_TYPE: 0x11,
  INVALID_CBOR: 0x12,
  MISSING_PARAMETER: 0x14,
  LIMIT_EXCEEDED: 0x15,
  CREDENTIAL_EXCLUDED: 0x19,
  INVALID_CREDENTIAL: 0x22,
  UNSUPPORTED_ALGORITHM: 0x26,
  OPERATION_DENIED: 0x27,
  KEY_STORE_FULL: 0x28,
  UNSUPPORTED_OPTION: 0x2b,
  INVALID_OPTION: 0x2c,
  KEEPALIVE_CANCEL: 0x2d,
  NO_CREDENTIALS: 0x2e,
  USER_ACTION_TIMEOUT: 0x2f,
  NOT_ALLOWED: 0x30,
  PIN_INVALID: 0x31,
  PIN_BLOCKED: 0x32,
  PIN_AUTH_INVALID: 0x33,
  PIN_AUTH_BLOCKED: 0x34,
  PIN_NOT_SET: 0x35,
  PUAT_REQUIRED: 0x36,
  PIN_POLICY_VIOLATION: 0x37,
  REQUEST_TOO_LARGE: 0x39,
  UP_REQUIRED: 0x3b,
  INVALID_SUBCOMMAND: 0x3e,
  UNAUTHORIZED_PERMISSION: 0x40,
  OTHER: 0x7f,
} as const);

/** The spec name of a status byte, including the extension and vendor ranges. */
export function ctapStatusName(status: number): string {
  const known = CTAP_STATUS[status];
  if (known !== undefined) return known;
  const hex = `0x${status.toString(16).padStart(2, '0')}`;
  if (status >= 0xe0 && status <= 0xef) return `CTAP2_ERR_EXTENSION_${hex}`;
  if (status >= 0xf0 && status <= 0xff) return `CTAP2_ERR_VENDOR_${hex}`;
  return `CTAP_STATUS_${hex}`;
}

const CODE_BY_STATUS: Readonly<Record<number, LatchkeyErrorCode>> = {
  1: 'ERR_CTAPHID_FRAMING',
  2: 'ERR_CTAPHID_FRAMING',
  3: 'ERR_CTAPHID_FRAMING',
  4: 'ERR_CTAPHID_FRAMING',
  5: 'ERR_FOB_TIMEOUT',
  6: 'ERR_CTAPHID_BUSY',
  10: 'ERR_CTAPHID_FRAMING',
  11: 'ERR_CTAPHID_FRAMING',
  17: 'ERR_CTAP2_CBOR',
  18: 'ERR_CTAP2_CBOR',
  25: 'ERR_CTAP2_CREDENTIAL_EXCLUDED',
  39: 'ERR_CTAP2_OPERATION_DENIED',
  45: 'ERR_CTAP2_KEEPALIVE_CANCEL',
  46: 'ERR_CTAP2_NO_CREDENTIALS',
  47: 'ERR_CTAP2_USER_ACTION_TIMEOUT',
  49: 'ERR_CTAP2_PIN_INVALID',
  50: 'ERR_CTAP2_PIN_BLOCKED',
  52: 'ERR_CTAP2_PIN_AUTH_BLOCKED',
  53: 'ERR_CTAP2_PIN_NOT_SET',
  54: 'ERR_CTAP2_PIN_REQUIRED',
  55: 'ERR_CTAP2_PIN_POLICY_VIOLATION',
  58: 'ERR_CTAP2_USER_ACTION_TIMEOUT',
};

const MESSAGES: Readonly<Record<number, string>> = {
  25: 'the fob already holds a credential for this account',
  39: 'the fob refused the operation',
  45: 'the operation was cancelled',
  46: 'the fob has no matching credential',
  47: 'the fob was not touched in time',
  49: 'the PIN is incorrect',
  50: 'the PIN is blocked: the fob must be reset',
  52: 'too many wrong PINs: remove and reinsert the fob to try again',
  53: 'the fob has no PIN set',
  54: 'the fob requires its PIN for this operation',
  55: 'the new PIN does not meet the fob’s PIN policy',
  58: 'the fob was not touched in time',
};

/** The stable latchkey code for a CTAP status byte. */
export function ctapStatusCode(status: number): LatchkeyErrorCode {
  return CODE_BY_STATUS[status] ?? 'ERR_CTAP2_STATUS';
}

/**
 * The {@link LatchkeyError} for a non-zero CTAP status: a stable code, and `detail.status`
 * (the byte) and `detail.statusName` (the spec name).
 *
 * @example
 * ```ts
 * import { ctapError } from 'latchkey/fob';
 * const error = ctapError(0x31, 'clientPin');
 * error.code; // 'ERR_CTAP2_PIN_INVALID'
 * error.detail.statusName; // 'CTAP2_ERR_PIN_INVALID'
 * ```
 */
export function ctapError(status: number, command?: string): LatchkeyError {
  const statusName = ctapStatusName(status);
  const where = command === undefined ? '' : ` to \`${command}\``;
  const message = MESSAGES[status] ?? `the fob answered${where} with ${statusName}`;
  return new LatchkeyError(ctapStatusCode(status), message, {
    status,
    statusName,
    ...(command === undefined ? {} : { command }),
  });
}
