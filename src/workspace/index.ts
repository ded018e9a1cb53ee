/**
 * `latchkey/workspace`: a folder of files and settings encrypted at rest (AES-256-GCM under keys
 * derived from one workspace key), opened by key slots (fobs through hmac-secret, PKCS#11
 * tokens, recovery codes, passwords where the policy allows), with the unlock decided by the
 * same policy engine as sign-in, and an agent that locks the moment the fob leaves.
 *
 * @example
 * ```ts
 * import { createWorkspace, generateRecoveryCode, kdfEnroller, kdfOpener, unlockWorkspace } from 'latchkey/workspace';
 * const code = generateRecoveryCode();
 * const ws = await createWorkspace(folder, { slot: [kdfEnroller('recovery-code', code)] });
 * await ws.put('notes.txt', new TextEncoder().encode('hello'));
 * ws.lock();
 * const { workspace } = await unlockWorkspace(folder, { openers: [kdfOpener('recovery-code', code)] });
 * ```
 *
 * @module latchkey/workspace
 */
export { type Flusher, type LockEvent, WorkspaceAgent, type WorkspaceAgentOptions } from './agent.js';
export { type FobSlotOptions, fobEnroller, fobOpener, WORKSPACE_RP_ID } from './fob-slot.js';
export {
  DEFAULT_FORMAT_LIMITS,
  type FobPart,
  type KdfPart,
  type PartKind,
  type Pkcs11Part,
  type SlotPart,
  WORKSPACE_VERSION,
  type WorkspaceFormatLimits,
} from './format.js';
export { pkcs11Enroller, pkcs11Opener, tokenRemovalSignal } from './pkcs11-slot.js';
export { defaultViewParent, PlaintextView } from './plaintext-view.js';
export {
  DEFAULT_KDF_COST,
  type EnrolledPart,
  generateRecoveryCode,
  type KdfCost,
  kdfEnroller,
  kdfOpener,
  type OpenedPart,
  type PartCandidate,
  type PartContext,
  type PartEnroller,
  type PartOpener,
} from './slots.js';
export {
  type Changes,
  createWorkspace,
  DEFAULT_UNLOCK_POLICY,
  DEFAULT_WORKSPACE_LIMITS,
  type EntryInfo,
  type EntryKind,
  inspectWorkspace,
  type Progress,
  type SlotInfo,
  UNLOCK_ACTION,
  type Unlocked,
  UnlockedWorkspace,
  unlockWorkspace,
  type WorkspaceInfo,
  type WorkspaceLimits,
  type WorkspaceOptions,
} from './workspace.js';
