/**
 * PKCS#11 parts: a random 32-byte data key wrapped to a token's public key as JWE
 * (`ECDH-ES+A256KW` for an EC key, `RSA-OAEP-256` / `RSA-OAEP` for RSA), which only the token can
 * unwrap (`CKM_ECDH1_DERIVE` / `CKM_RSA_PKCS_OAEP` on the token, after a PIN login). The data key
 * is the part's secret. Enrolment unwraps it once to prove the token holds the private key.
 *
 * Lock on removal: watch the module with `watchTokens` (latchkey/pkcs11) and abort the agent's
 * removal signal on the token's detach; {@link tokenRemovalSignal} does that.
 *
 * @module latchkey/workspace
 */
import { equalBytes, hex, wipe } from '../core/bytes.js';
import { LatchkeyError } from '../core/errors.js';
import { randomBytes } from '../core/random.js';
import type { Evidence } from '../core/types.js';
import { unwrapDataKey, wrapDataKey } from '../hardware/pkcs11/data-key.js';
import { isHardwareBound, type Pkcs11Key, type Pkcs11KeyQuery } from '../hardware/pkcs11/keys.js';
import type { Pkcs11Pin } from '../hardware/pkcs11/library.js';
import type { Pkcs11Module, Pkcs11TokenSelector } from '../hardware/pkcs11/module.js';
import { watchTokens } from '../hardware/pkcs11/presence.js';
import type { Pkcs11Session } from '../hardware/pkcs11/session.js';
import type { Pkcs11Part } from './format.js';
import type { PartContext, PartEnroller, PartOpener } from './slots.js';

function evidence(context: PartContext, part: Pkcs11Part, key: Pkcs11Key): Evidence {
  const hardwareBound = isHardwareBound(key);
  return Object.freeze({
    factor: 'pkcs11',
    subject: context.workspaceId,
    authenticatorId: `pkcs11:${part.tokenSerial}:${part.keyId}`,
    amr: Object.freeze(['sc', 'pin'] as const),
    kinds: Object.freeze(['possession', 'knowledge'] as const),
    phishingResistant: false,
    hardwareBound,
    userVerified: true,
    userPresent: false,
    replayResistant: true,
    at: context.clock.now(),
  });
}

async function loggedIn<T>(
  module: Pkcs11Module,
  token: Pkcs11TokenSelector,
  pin: Pkcs11Pin,
  run: (session: Pkcs11Session) => Promise<T>,
): Promise<T> {
  const session = await module.openSession(token);
  try {
    await session.login(pin);
    return await run(session);
  } finally {
    await session.close().catch(() => undefined);
  }
}

/**
 * Enrol a token's key pair as a slot part.
 *
 * @example
 * ```ts
 * import { openPkcs11Module } from 'latchkey/pkcs11';
 * import { pkcs11Enroller } from 'latchkey/workspace';
 * const module = await openPkcs11Module('/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so');
 * await workspace.addSlot([pkcs11Enroller({ module, token: { label: 'PIV' }, key: { id: '03' }, pin })]);
 * ```
 */
export function pkcs11Enroller(options: {
  readonly module: Pkcs11Module;
  readonly token: Pkcs11TokenSelector;
  readonly key: Pkcs11KeyQuery;
  readonly pin: Pkcs11Pin;
  readonly algorithm?: 'ECDH-ES+A256KW' | 'RSA-OAEP' | 'RSA-OAEP-256';
}): PartEnroller {
  return {
    kind: 'pkcs11',
    async enrol(context) {
      const info = await options.module.token(options.token);
      return loggedIn(options.module, options.token, options.pin, async (session) => {
        const key: Pkcs11Key = await session.findKey({ ...options.key, class: 'private' });
        const dataKey = randomBytes(32);
        const jwe = wrapDataKey(await session.publicKey(key), dataKey, {
          ...(options.algorithm === undefined ? {} : { algorithm: options.algorithm }),
        });
        const proof = await unwrapDataKey(session, key, jwe);
        const proven = equalBytes(proof, dataKey);
        wipe(proof);
        if (!proven) {
          wipe(dataKey);
          throw new LatchkeyError('ERR_PKCS11_KEY_UNSUITABLE', 'the token could not unwrap a key wrapped to it', {});
        }
        const part: Pkcs11Part = {
          kind: 'pkcs11',
          tokenLabel: info.label,
          tokenSerial: info.serial,
          keyId: hex(key.id),
          jwe,
        };
        return { part, secret: dataKey, evidence: evidence(context, part, key) };
      });
    },
  };
}

/** Open the parts of the tokens present in `module` that are enrolled (PIN login, then unwrap). */
export function pkcs11Opener(options: { readonly module: Pkcs11Module; readonly pin: Pkcs11Pin }): PartOpener {
  return {
    kind: 'pkcs11',
    async open(candidates, context) {
      const present = await options.module.tokens();
      for (const candidate of candidates) {
        const part = candidate.part as Pkcs11Part;
        const token = present.find((t) => t.serial === part.tokenSerial && t.label === part.tokenLabel);
        if (token === undefined) continue;
        const { secret, key } = await loggedIn(
          options.module,
          { serial: token.serial },
          options.pin,
          async (session) => {
            const found = await session.findKey({ id: part.keyId, class: 'private' });
            return { secret: await unwrapDataKey(session, found, part.jwe), key: found };
          },
        );
        return [{ slotId: candidate.slotId, index: candidate.index, secret, evidence: evidence(context, part, key) }];
      }
      // No enrolled token is present: open nothing, so that another opener given with this one
      // (a recovery code) can still unlock; alone, the unlock says which slots there are.
      return [];
    },
  };
}

/**
 * An AbortSignal that aborts when the token with `serial` leaves `module` (polled every
 * `intervalMs`, default 100 ms), for {@link WorkspaceAgent}'s `removed`. Call `stop()` when done.
 */
export function tokenRemovalSignal(
  module: Pkcs11Module,
  serial: string,
  options: { readonly intervalMs?: number } = {},
): { readonly signal: AbortSignal; stop(): void } {
  const controller = new AbortController();
  const watcher = watchTokens(module, {
    intervalMs: options.intervalMs ?? 100,
    onEvent: (event) => {
      if (event.type === 'detach' && event.token.serial === serial) {
        controller.abort(new LatchkeyError('ERR_PKCS11_DEVICE_REMOVED', 'the token was removed', { serial }));
        watcher.stop();
      }
    },
  });
  // The watcher reports a detach only for a token it saw: one pulled before its first listing
  // would never be reported, so that listing must find it, or it is already gone.
  void watcher.poll().then(() => {
    if (!controller.signal.aborted && !watcher.present().some((token) => token.serial === serial)) {
      controller.abort(new LatchkeyError('ERR_PKCS11_DEVICE_REMOVED', 'the token was removed', { serial }));
      watcher.stop();
    }
  });
  return { signal: controller.signal, stop: () => watcher.stop() };
}
