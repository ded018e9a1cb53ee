/**
 * What `latchkey/testing` re-exports from the hardware layer: the virtual fob (a real CTAP 2.1
 * authenticator in process memory) and the in-memory HID connection it plugs into.
 *
 * @module latchkey/testing
 */
export { createMemoryConnection, type HidDeviceHandler } from './memory-connection.js';
export {
  MAX_PIN_RETRIES,
  newVirtualFobState,
  PIN_ATTEMPTS_PER_POWER_CYCLE,
  parseVirtualFobState,
  type ResidentCredentialState,
  type UserPresence,
  VirtualAuthenticator,
  type VirtualAuthenticatorOptions,
  type VirtualFobState,
} from './virtual-authenticator.js';
export { VirtualFob, type VirtualFobOptions } from './virtual-fob.js';
