/** A world for WebAuthn factor tests: a fake clock, a store, the factor and a software authenticator. */
import { WebAuthnFactor, type WebAuthnFactorOptions } from '../../../src/factors/webauthn/factor.js';
import { createMemoryStore } from '../../../src/store/memory.js';
import type { Store } from '../../../src/store/types.js';
import { FakeClock } from '../../../src/testing/clock.js';
import { SoftAuthenticator } from '../../../src/testing/soft-authenticator.js';

export const RP_ID = 'example.com';
export const ORIGIN = 'https://example.com';
export const START = Date.UTC(2030, 0, 1);

export async function world(
  options: Partial<Omit<WebAuthnFactorOptions, 'store' | 'clock'>> & { store?: Store } = {},
  authenticator = new SoftAuthenticator(),
) {
  const clock = new FakeClock(START);
  const store = options.store ?? createMemoryStore({ clock });
  const factor = new WebAuthnFactor({
    rp: { id: RP_ID, name: 'Example', origins: [ORIGIN] },
    ...options,
    store,
    clock,
  });
  const alice = await store.accounts.create({ username: 'alice', displayName: 'Alice' });
  const bob = await store.accounts.create({ username: 'bob' });
  return { clock, store, factor, authenticator, alice, bob };
}

/** Register a passkey for `accountId` with `authenticator`. */
export async function register(
  factor: WebAuthnFactor,
  authenticator: SoftAuthenticator,
  accountId: string,
  ceremony: { origin?: string; uv?: boolean; label?: string } = {},
) {
  const creation = await factor.startRegistration({
    accountId,
    ...(ceremony.label === undefined ? {} : { label: ceremony.label }),
  });
  const response = authenticator.create(creation.options, {
    origin: ceremony.origin ?? ORIGIN,
    uv: ceremony.uv ?? true,
  });
  return factor.finishRegistration({ challengeId: creation.challengeId, response });
}
