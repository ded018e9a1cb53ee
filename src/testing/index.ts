/**
 * Test helpers that are safe to ship: a manual clock, the in-memory store, the virtual fob (a
 * real CTAP 2.1 authenticator in process memory) with its in-memory HID connection, and a
 * software WebAuthn authenticator for passkey flows without a browser.
 *
 * @module latchkey/testing
 */

export * from '../hardware/testing.js';
export { createMemoryStore, type MemoryStoreOptions } from '../store/memory.js';
export { FakeClock } from './clock.js';
export { type Ceremony, type SoftAttestation, SoftAuthenticator, type SoftCredential } from './soft-authenticator.js';
