/**
 * The workspace agent: holds an unlocked workspace for as long as the fob or token that opened
 * it stays present, like ssh-agent holds keys. When a removal signal fires (the fob's connection
 * ends, the token's slot empties), the agent lets every acknowledged change finish, wipes the
 * keys, and refuses every later request.
 *
 * {@link serveAgent} puts an agent on a Unix socket (in a folder only the user can enter, the
 * socket itself mode 0600) speaking one JSON object per line; {@link agentRequest} is the client
 * the CLI uses.
 *
 * @module latchkey/workspace
 */
import { chmod, mkdir, unlink } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import { dirname } from 'node:path';
import { base64, fromBase64 } from '../core/bytes.js';
import { isLatchkeyError, LatchkeyError } from '../core/errors.js';
import type { Workspace } from './workspace.js';

/** How an agent ended. */
export interface AgentLocked {
  /** Why: `removed: …` when a fob or token left, `lock` when asked. */
  readonly reason: string;
  /** Milliseconds from the removal signal to the keys wiped. */
  readonly wipedAfterMs: number;
}

/** Holds a workspace until a removal signal or `lock()`. */
export class WorkspaceAgent {
  readonly workspace: Workspace;
  /** Resolves once the workspace is locked and its keys wiped. */
  readonly locked: Promise<AgentLocked>;
  #resolve: (value: AgentLocked) => void = () => {};
  #locking: Promise<AgentLocked> | null = null;

  constructor(workspace: Workspace, options: { readonly removal?: readonly AbortSignal[] } = {}) {
    this.workspace = workspace;
    this.locked = new Promise((resolve) => {
      this.#resolve = resolve;
    });
    for (const signal of options.removal ?? []) {
      const onAbort = () => {
        const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? 'removed');
        void this.lock(`removed: ${reason}`);
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    }
  }

  /** Lock now (idempotent): finish acknowledged changes, wipe the keys. */
  lock(reason = 'lock'): Promise<AgentLocked> {
    if (this.#locking !== null) return this.#locking;
    const started = performance.now();
    this.#locking = this.workspace.lock().then(() => {
      const result = { reason, wipedAfterMs: performance.now() - started };
      this.#resolve(result);
      return result;
    });
    return this.#locking;
  }

  /** Answer one request of the agent protocol. */
  async handle(request: AgentRequest): Promise<AgentResponse> {
    const ws = this.workspace;
    switch (request?.op) {
      case 'status':
        return {
          ok: true,
          locked: ws.locked,
          ...(ws.locked ? {} : { id: ws.id, generation: ws.generation, entries: ws.list().length, slots: ws.slots() }),
        };
      case 'ls':
        return { ok: true, entries: ws.list() };
      case 'get':
        return { ok: true, data: base64(await ws.get(String(request.name))) };
      case 'put':
        await ws.put(String(request.name), fromBase64(String(request.data ?? ''), 'data'));
        return { ok: true, generation: ws.generation };
      case 'rm':
        await ws.remove(String(request.name));
        return { ok: true };
      case 'lock':
        return { ok: true, ...(await this.lock()) };
      default:
        throw new LatchkeyError('ERR_INVALID_ARGUMENT', 'unknown agent request', { field: 'op' });
    }
  }
}

/** A request to the agent: one JSON object per line. */
export interface AgentRequest {
  readonly op: 'status' | 'ls' | 'get' | 'put' | 'rm' | 'lock';
  readonly name?: string;
  /** `put`: the content, base64. */
  readonly data?: string;
}

/** The agent's answer: `ok` with results, or the error's code and message. */
export type AgentResponse =
  | { readonly ok: true; readonly [key: string]: unknown }
  | { readonly ok: false; readonly code: string; readonly message: string };

const MAX_LINE = 64 << 20;

/**
 * Serve `agent` on a Unix socket at `path` until it locks. The socket's folder is created mode
 * 0700 and the socket set to 0600; the server closes (and the socket file is removed) when the
 * workspace locks.
 */
export async function serveAgent(agent: WorkspaceAgent, path: string): Promise<Server> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await unlink(path).catch(() => undefined);
  const server = createServer((socket) => {
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('error', () => undefined);
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      if (buffer.length > MAX_LINE) {
        socket.end(`${JSON.stringify({ ok: false, code: 'ERR_LIMIT_EXCEEDED', message: 'request too large' })}\n`);
        return;
      }
      let newline = buffer.indexOf('\n');
      while (newline >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        void answer(agent, line).then((response) => {
          if (!socket.destroyed) socket.write(`${JSON.stringify(response)}\n`);
        });
        newline = buffer.indexOf('\n');
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  await chmod(path, 0o600);
  void agent.locked.then(() => {
    server.close();
    void unlink(path).catch(() => undefined);
  });
  return server;
}

async function answer(agent: WorkspaceAgent, line: string): Promise<AgentResponse> {
  try {
    return await agent.handle(JSON.parse(line) as AgentRequest);
  } catch (error) {
    if (isLatchkeyError(error)) return { ok: false, code: error.code, message: error.message };
    if (error instanceof SyntaxError) return { ok: false, code: 'ERR_INVALID_ARGUMENT', message: 'not JSON' };
    return { ok: false, code: 'ERR_INTERNAL', message: 'the agent failed' };
  }
}

/** Send one request to the agent at `path`. Errors come back as `LatchkeyError`s. */
export async function agentRequest(path: string, request: AgentRequest): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('error', () =>
      reject(
        new LatchkeyError('ERR_WORKSPACE_LOCKED', 'no workspace agent is running there (the workspace is locked)'),
      ),
    );
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const newline = buffer.indexOf('\n');
      if (newline < 0) return;
      socket.end();
      const response = JSON.parse(buffer.slice(0, newline)) as AgentResponse;
      if (response.ok) resolve(response as Record<string, unknown>);
      else reject(new LatchkeyError(response.code as 'ERR_INTERNAL', response.message));
    });
    socket.on('connect', () => socket.write(`${JSON.stringify(request)}\n`));
  });
}
