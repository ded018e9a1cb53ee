/**
 * `latchkey/workspace`: an encrypted folder that a fob opens and that locks when the fob leaves.
 *
 * @example
 * ```ts
 * import { Workspace, WorkspaceAgent, fobUnlocker } from 'latchkey/workspace';
 * import { Ctap2Client, spawnPipeFob } from 'latchkey/fob';
 * const fob = spawnPipeFob('latchkey', ['virtual-fob', '--pipe', '--state', 'fob.json']);
 * const client = await Ctap2Client.open(fob.connection);
 * const ws = await Workspace.create('my-workspace', fobUnlocker({ client, pin: '2468' }));
 * await ws.put('notes.txt', 'hello');
 * const agent = new WorkspaceAgent(ws, { removal: [fob.connection.removed] });
 * await agent.locked; // the fob was pulled: keys wiped
 * ```
 *
 * @module latchkey/workspace
 */
export {
  type AgentLocked,
  type AgentRequest,
  type AgentResponse,
  agentRequest,
  serveAgent,
  WorkspaceAgent,
} from './agent.js';
export { tokenRemovalSignal } from './token-removal.js';
export {
  type Enrolled,
  type FobUnlockerOptions,
  fobUnlocker,
  newRecoveryCode,
  type Pkcs11UnlockerOptions,
  passwordUnlocker,
  pkcs11Unlocker,
  recoveryCodeUnlocker,
  type SlotKind,
  type SlotParams,
  type StretchCost,
  type Unlocked,
  type Unlocker,
} from './unlockers.js';
export {
  DEFAULT_UNLOCK_POLICY,
  type EntryInfo,
  type SlotInfo,
  Workspace,
  type WorkspaceOptions,
} from './workspace.js';
