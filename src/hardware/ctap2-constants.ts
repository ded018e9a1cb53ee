/**
 * CTAP2 command bytes, clientPIN subcommands and pinUvAuthToken permissions, shared by the
 * client and the virtual fob.
 *
 * @module latchkey/fob
 */

/** CTAP2 command bytes (CTAP 2.1 §6). */
export const CTAP2_COMMAND = Object.freeze({
  MAKE_CREDENTIAL: 0x01,
  GET_ASSERTION: 0x02,
  GET_INFO: 0x04,
  CLIENT_PIN: 0x06,
  RESET: 0x07,
  GET_NEXT_ASSERTION: 0x08,
  SELECTION: 0x0b,
} as const);

/** clientPIN subcommands (CTAP 2.1 §6.5.5). */
export const CLIENT_PIN_SUBCOMMAND = Object.freeze({
  GET_PIN_RETRIES: 0x01,
  GET_KEY_AGREEMENT: 0x02,
  SET_PIN: 0x03,
  CHANGE_PIN: 0x04,
  GET_PIN_TOKEN: 0x05,
  GET_UV_TOKEN_WITH_PERMISSIONS: 0x06,
  GET_UV_RETRIES: 0x07,
  GET_PIN_TOKEN_WITH_PERMISSIONS: 0x09,
} as const);

/** pinUvAuthToken permissions (CTAP 2.1 §6.5.5.7). */
export const PERMISSION = Object.freeze({ MAKE_CREDENTIAL: 0x01, GET_ASSERTION: 0x02 } as const);
