/**
 * The gate: authentication transactions, sessions as credentials, step-up, delegation with
 * discharges checked by the delegate's own factor, recovery codes, duress.
 *
 * @module latchkey
 */
export {
  type Authorization,
  type AuthorizeRequest,
  createGate,
  Gate,
  type GateFactor,
  type GateHooks,
  type GateOptions,
  type GateSession,
  type GateTransaction,
} from './gate.js';
export { type RecoveryCodeOptions, type RecoveryCodeSet, RecoveryCodes } from './recovery-codes.js';
