/**
 * latchkey: authentication and credential delegation.
 *
 * The root entry point holds everything that is pure TypeScript: the core (errors, bytes,
 * clock, limits, random, shared types) and the store interfaces; the policy engine, the
 * delegation core and the gate join it as they land. Importing it loads no native addon and no
 * optional peer dependency: factors and stores that need one live behind their own subpaths
 * (`latchkey/store/sqlite`, ...).
 *
 * @example
 * ```ts
 * import { LatchkeyError, randomId } from 'latchkey';
 * ```
 *
 * @module latchkey
 */
export * from './core/index.js';
export * from './delegation/index.js';
export * from './gate/index.js';
export * from './policy/index.js';
export * from './store/index.js';
