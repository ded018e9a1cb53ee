/**
 * `latchkey/fob`: FIDO2 security keys spoken to directly over USB HID, without a browser, in
 * layers (connection → CTAPHID framing → CTAP2 client → factor), as python-fido2 does.
 *
 * - Connections: {@link openFob} and {@link listFobs} (node-hid, an optional peer dependency),
 *   {@link pipeConnection} and {@link spawnPipeFob} (the pipe-HID contract), and the in-memory
 *   virtual fob in `latchkey/testing`.
 * - Framing: {@link CtapHid}. Protocol: {@link Ctap2Client}, canonical CBOR, PIN/UV auth
 *   protocols 1 and 2, and {@link CTAP_STATUS} with every status's spec name.
 * - Factor: {@link FobFactor} enrols fobs and verifies them into `Evidence`.
 * - Presence: {@link watchFobs} reports fobs plugged in and pulled out.
 *
 * @example
 * ```ts
 * import { Ctap2Client, FobFactor, openFob } from 'latchkey/fob';
 * const client = await Ctap2Client.open(await openFob());
 * const evidence = await new FobFactor({ store, rpId: 'example.com' }).authenticate({ client, accountId, pin });
 * ```
 *
 * @module latchkey/fob
 */
export {
  type AttestedCredential,
  AUTH_DATA_FLAGS,
  type AuthenticatorData,
  parseAuthenticatorData,
} from '../../hardware/auth-data.js';
export {
  type CborInput,
  type CborKey,
  type CborLimits,
  type CborMap,
  type CborValue,
  DEFAULT_CBOR_LIMITS,
  decodeCbor,
  encodeCbor,
} from '../../hardware/cbor.js';
export { HID_REPORT_SIZE, type HidConnection } from '../../hardware/connection.js';
export { COSE_ALG, type P256PublicKey } from '../../hardware/cose.js';
export { CTAP_STATUS, ctapError, ctapStatusCode, ctapStatusName } from '../../hardware/ctap-status.js';
export {
  type Assertion,
  type AuthenticatorInfo,
  Ctap2Client,
  type Ctap2ClientOptions,
  type GetAssertionRequest,
  type MakeCredentialRequest,
  type MakeCredentialResponse,
  type PinUvAuthToken,
  parseAssertionResponse,
  parseAuthenticatorInfo,
  parseMakeCredentialResponse,
  type RequestOptions,
} from '../../hardware/ctap2.js';
export { CLIENT_PIN_SUBCOMMAND, CTAP2_COMMAND, PERMISSION } from '../../hardware/ctap2-constants.js';
export {
  BROADCAST_CID,
  CAPABILITY,
  CTAPHID,
  CtapHid,
  type CtapHidCallOptions,
  type CtapHidDeviceInfo,
  type CtapHidTimeouts,
  DEFAULT_CTAPHID_TIMEOUTS,
  KEEPALIVE_STATUS,
  MAX_MESSAGE_SIZE,
} from '../../hardware/ctaphid.js';
export {
  FIDO_USAGE,
  FIDO_USAGE_PAGE,
  type FobDeviceInfo,
  type HidDeviceHandle,
  hidConnection,
  listFobs,
  openFob,
} from '../../hardware/node-hid.js';
export { PIN_PROTOCOL_1, PIN_PROTOCOL_2, type PinUvAuthProtocol, pinProtocol } from '../../hardware/pin-protocol.js';
export { type PipeFob, pipeConnection, spawnPipeFob } from '../../hardware/pipe-connection.js';
export { type FobPresenceEvent, type FobWatcher, type FobWatcherOptions, watchFobs } from '../../hardware/presence.js';
export {
  DEFAULT_FOB_LIMITS,
  FOB_FACTOR,
  type FobChallenge,
  FobFactor,
  type FobFactorOptions,
  type FobLimits,
  type FobRecordData,
} from './factor.js';
export { type AttestationType, verifyAssertion, verifyAttestation } from './verify.js';
