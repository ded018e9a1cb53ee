/**
 * The one error type latchkey throws.
 *
 * Every failure that latchkey detects surfaces as a {@link LatchkeyError} with a stable
 * {@link LatchkeyErrorCode}; apps branch on `code`, never on `message`. Messages follow one
 * style: lower case, no trailing period, user input in backticks, and never a secret.
 *
 * @module latchkey
 */

/**
 * Stable error codes. New codes may be added in minor releases; existing codes never change
 * meaning. Grouped by the layer that raises them.
 */
export const ERROR_CODES = [
  // core: input and limits
  'ERR_INVALID_ARGUMENT',
  'ERR_LIMIT_EXCEEDED',
  'ERR_ENCODING',
  'ERR_MISSING_DEPENDENCY',
  'ERR_UNSUPPORTED',
  'ERR_OVERLOADED',
  // store
  'ERR_STORE_CONFLICT',
  'ERR_STORE_NOT_FOUND',
  'ERR_STORE_CLOSED',
  'ERR_STORE_CORRUPT',
  'ERR_STORE_SCHEMA',
  'ERR_STORE_IO',
  // challenges and throttling
  'ERR_CHALLENGE_INVALID',
  'ERR_THROTTLED',
  // expressions (policy `when` clauses and credential caveats)
  'ERR_EXPRESSION_SYNTAX',
  // macaroons (low-level)
  'ERR_MACAROON_FORMAT',
  'ERR_MACAROON_SIGNATURE',
  'ERR_MACAROON_CAVEAT_UNSATISFIED',
  'ERR_MACAROON_DISCHARGE_MISSING',
  'ERR_MACAROON_DISCHARGE_UNUSED',
  'ERR_MACAROON_DISCHARGE_CYCLE',
  // credentials (high-level delegation)
  'ERR_CREDENTIAL_UNKNOWN_KEY',
  'ERR_CREDENTIAL_EXPIRED',
  'ERR_CREDENTIAL_REVOKED',
  'ERR_CREDENTIAL_USES_EXHAUSTED',
  'ERR_CREDENTIAL_CAVEAT_FAILED',
  'ERR_DISCHARGE_UNREADABLE',
  'ERR_DISCHARGE_CONDITION_FAILED',
  // passwords
  'ERR_PASSWORD_TOO_SHORT',
  'ERR_PASSWORD_TOO_LONG',
  'ERR_PASSWORD_BLOCKLISTED',
  'ERR_PASSWORD_INVALID',
  'ERR_PASSWORD_LOCKED',
  'ERR_PASSWORD_HASH_FORMAT',
  'ERR_PASSWORD_HASH_PARAMETERS',
  'ERR_PASSWORD_TOO_WEAK',
  // the gate: transactions, sessions, recovery codes
  'ERR_GATE_UNKNOWN_FACTOR',
  'ERR_GATE_NO_EVIDENCE',
  'ERR_GATE_SUBJECT_MISMATCH',
  'ERR_GATE_TRANSACTION_EXPIRED',
  'ERR_GATE_RECOVERY_REFUSED',
  'ERR_GATE_FORBIDDEN',
  'ERR_GATE_LAST_AUTHENTICATOR',
  'ERR_SESSION_INVALID',
  'ERR_SESSION_IDLE',
  'ERR_RECOVERY_CODE_INVALID',
  // hardware: CTAPHID and CTAP2. An error from a CTAP status also carries `detail.status` (the byte)
  // and `detail.statusName` (its spec name, e.g. `CTAP2_ERR_PIN_INVALID`); statuses without a code
  // of their own are `ERR_CTAP2_STATUS`. The full table is `CTAP_STATUS` in src/hardware/ctap-status.ts
  'ERR_CTAPHID_FRAMING',
  'ERR_CTAPHID_BUSY',
  'ERR_CTAP2_CBOR',
  'ERR_CTAP2_STATUS',
  'ERR_CTAP2_PIN_INVALID',
  'ERR_CTAP2_PIN_BLOCKED',
  'ERR_CTAP2_PIN_AUTH_BLOCKED',
  'ERR_CTAP2_PIN_NOT_SET',
  'ERR_CTAP2_PIN_REQUIRED',
  'ERR_CTAP2_PIN_POLICY_VIOLATION',
  'ERR_CTAP2_NO_CREDENTIALS',
  'ERR_CTAP2_CREDENTIAL_EXCLUDED',
  'ERR_CTAP2_OPERATION_DENIED',
  'ERR_CTAP2_KEEPALIVE_CANCEL',
  'ERR_CTAP2_USER_ACTION_TIMEOUT',
  'ERR_FOB_TIMEOUT',
  'ERR_FOB_REMOVED',
  'ERR_FOB_NOT_FOUND',
  // fob factor (latchkey/fob)
  'ERR_FOB_CREDENTIAL_UNKNOWN',
  'ERR_FOB_ASSERTION_INVALID',
  'ERR_FOB_COUNTER_REGRESSED',
  // webauthn factor (latchkey/webauthn) and its browser side (latchkey/browser). A failed check
  // carries `detail.reason` (`challenge`, `origin`, `top-origin`, `rp-id`, `type`, `signature`, ...)
  'ERR_WEBAUTHN_CONFIG',
  'ERR_WEBAUTHN_VERIFICATION',
  'ERR_WEBAUTHN_UV_REQUIRED',
  'ERR_WEBAUTHN_COUNTER_ROLLBACK',
  'ERR_WEBAUTHN_BACKUP_CHANGED',
  'ERR_WEBAUTHN_CREDENTIAL_UNKNOWN',
  'ERR_WEBAUTHN_CREDENTIAL_EXISTS',
  'ERR_WEBAUTHN_ATTESTATION',
  'ERR_WEBAUTHN_CANCELLED',
  'ERR_WEBAUTHN_CLIENT',
  // pkcs11: tokens through a PKCS#11 module (latchkey/pkcs11). An error from a CKR_* value also
  // carries `detail.ckr` (the number), `detail.ckrName` (its spec name) and `detail.operation` (the
  // C_* function); values without a code of their own are `ERR_PKCS11`. The full table is `CKR` in
  // src/hardware/pkcs11/ckr.ts
  'ERR_PKCS11',
  'ERR_PKCS11_MODULE_LOAD',
  'ERR_PKCS11_MODULE_CLOSED',
  'ERR_PKCS11_TOKEN_NOT_FOUND',
  'ERR_PKCS11_TOKEN_NOT_PRESENT',
  'ERR_PKCS11_DEVICE_REMOVED',
  'ERR_PKCS11_SESSION_INVALID',
  'ERR_PKCS11_PIN_INCORRECT',
  'ERR_PKCS11_PIN_LOCKED',
  'ERR_PKCS11_PIN_INVALID',
  'ERR_PKCS11_PIN_EXPIRED',
  'ERR_PKCS11_ALREADY_LOGGED_IN',
  'ERR_PKCS11_NOT_LOGGED_IN',
  'ERR_PKCS11_MECHANISM_UNSUPPORTED',
  'ERR_PKCS11_KEY_NOT_FOUND',
  'ERR_PKCS11_KEY_UNSUITABLE',
  'ERR_PKCS11_WRAPPED_KEY_INVALID',
  // pkcs11 factor (latchkey/pkcs11)
  'ERR_PKCS11_CREDENTIAL_UNKNOWN',
  'ERR_PKCS11_SIGNATURE_INVALID',
  // workspace (latchkey/workspace): encrypted workspace, key slots, unlock agent. One contiguous
  // block; tampering is reported per kind so a person knows what happened to their files
  'ERR_WORKSPACE_NOT_FOUND',
  'ERR_WORKSPACE_EXISTS',
  'ERR_WORKSPACE_FORMAT',
  'ERR_WORKSPACE_VERSION',
  'ERR_WORKSPACE_TAMPERED',
  'ERR_WORKSPACE_ENTRY_MISSING',
  'ERR_WORKSPACE_ENTRY_SWAPPED',
  'ERR_WORKSPACE_ENTRY_ROLLED_BACK',
  'ERR_WORKSPACE_ENTRY_TRUNCATED',
  'ERR_WORKSPACE_ROLLED_BACK',
  'ERR_WORKSPACE_ENTRY_NOT_FOUND',
  'ERR_WORKSPACE_LOCKED',
  'ERR_WORKSPACE_UNLOCK_DENIED',
  'ERR_WORKSPACE_SLOT_NOT_ALLOWED',
  'ERR_WORKSPACE_SLOT_UNKNOWN',
  'ERR_WORKSPACE_LAST_SLOT',
  'ERR_WORKSPACE_SECRET_INVALID',
  'ERR_WORKSPACE_FOB_NOT_ENROLLED',
  'ERR_WORKSPACE_AGENT',
  // anything latchkey did not expect; always a bug worth reporting
  'ERR_INTERNAL',
] as const;

/** A stable error code; see {@link ERROR_CODES}. */
export type LatchkeyErrorCode = (typeof ERROR_CODES)[number];

/**
 * Structured, non-secret detail that explains an error to a program: which field, which limit,
 * which package. Values are plain data so that an error can be logged as JSON.
 */
export type LatchkeyErrorDetail = Readonly<
  Record<string, string | number | boolean | null | readonly (string | number)[]>
>;

/**
 * The error latchkey throws for every failure it detects.
 *
 * @example
 * ```ts
 * import { LatchkeyError } from 'latchkey';
 * try {
 *   await store.challenges.put(record);
 * } catch (error) {
 *   if (error instanceof LatchkeyError && error.code === 'ERR_LIMIT_EXCEEDED') {
 *     console.log(error.detail.limit);
 *   }
 * }
 * ```
 */
export class LatchkeyError extends Error {
  /** The stable code; branch on this. */
  readonly code: LatchkeyErrorCode;
  /** Structured detail; never contains a secret. */
  readonly detail: LatchkeyErrorDetail;

  constructor(
    code: LatchkeyErrorCode,
    message: string,
    detail: LatchkeyErrorDetail = {},
    options?: { cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LatchkeyError';
    this.code = code;
    this.detail = Object.freeze({ ...detail });
  }

  /** A JSON form for logs: code, message and detail, never the cause's stack. */
  toJSON(): { name: string; code: LatchkeyErrorCode; message: string; detail: LatchkeyErrorDetail } {
    return { name: this.name, code: this.code, message: this.message, detail: this.detail };
  }
}

/**
 * True when `value` is a {@link LatchkeyError}, optionally with the given code.
 *
 * @example
 * ```ts
 * if (isLatchkeyError(error, 'ERR_THROTTLED')) retryLater();
 * ```
 */
export function isLatchkeyError(value: unknown, code?: LatchkeyErrorCode): value is LatchkeyError {
  return value instanceof LatchkeyError && (code === undefined || value.code === code);
}

/**
 * Wrap an unexpected exception from a dependency or the platform as a `LatchkeyError`, keeping
 * the original as `cause`. A `LatchkeyError` passes through unchanged.
 */
export function wrapError(
  error: unknown,
  code: LatchkeyErrorCode,
  message: string,
  detail: LatchkeyErrorDetail = {},
): LatchkeyError {
  if (error instanceof LatchkeyError) return error;
  return new LatchkeyError(code, message, detail, { cause: error });
}
