/**
 * Test helpers that are safe to ship: a manual clock and the in-memory store. The virtual fob
 * joins them with the hardware layer.
 *
 * @module latchkey/testing
 */
export { createMemoryStore, type MemoryStoreOptions } from '../store/memory.js';
export { FakeClock } from './clock.js';
