/**
 * A removal signal for a PKCS#11 token, for {@link WorkspaceAgent}: it aborts when the token with
 * `serial` leaves (the module's slot events or listing, every `intervalMs`), or when a tracked
 * session loses it. A session on its own notices a pulled token only at its next call, so an
 * agent holding a workspace opened by a token needs this watcher to lock while idle.
 *
 * @module latchkey/workspace
 */
import { LatchkeyError } from '../core/errors.js';
import type { Pkcs11Module } from '../hardware/pkcs11/module.js';
import { watchTokens } from '../hardware/pkcs11/presence.js';
import type { Pkcs11Session } from '../hardware/pkcs11/session.js';

export async function tokenRemovalSignal(
  module: Pkcs11Module,
  serial: string,
  options: { readonly session?: Pkcs11Session; readonly intervalMs?: number } = {},
): Promise<{ readonly signal: AbortSignal; stop(): void }> {
  const controller = new AbortController();
  const watcher = watchTokens(module, {
    intervalMs: options.intervalMs ?? 100,
    onEvent: (event) => {
      if (event.type === 'detach' && event.token.serial === serial) {
        controller.abort(new LatchkeyError('ERR_PKCS11_DEVICE_REMOVED', `token ${serial} was removed`));
        watcher.stop();
      }
    },
    onError: (error) => {
      // the module itself is gone: nothing it held is present any more
      if (error.code === 'ERR_PKCS11_MODULE_CLOSED') {
        controller.abort(error);
        watcher.stop();
      }
    },
  });
  if (options.session !== undefined) watcher.track(options.session);
  // the first listing must see the token, or it is already gone
  await watcher.poll();
  if (!watcher.present().some((token) => token.serial === serial)) {
    watcher.stop();
    controller.abort(new LatchkeyError('ERR_PKCS11_TOKEN_NOT_PRESENT', `token ${serial} is not present`));
  }
  return { signal: controller.signal, stop: () => watcher.stop() };
}
