/**
 * The adapter to @simplewebauthn/browser: the one file in latchkey that imports it, loaded on
 * first use (an optional peer dependency; a missing package gives `ERR_MISSING_DEPENDENCY`
 * naming it). In a browser the import resolves through the app's bundler or import map.
 * Not exported from the package's entry points (internal).
 *
 * @module latchkey/browser
 */
import type * as SimpleWebAuthnBrowser from '@simplewebauthn/browser';
import { LatchkeyError } from '../core/errors.js';

/** The parts of @simplewebauthn/browser latchkey uses. */
export type BrowserLibrary = typeof SimpleWebAuthnBrowser;

const PACKAGE = '@simplewebauthn/browser';
let loaded: BrowserLibrary | undefined;

/** Load @simplewebauthn/browser once. */
export async function loadBrowserLibrary(): Promise<BrowserLibrary> {
  if (loaded !== undefined) return loaded;
  try {
    loaded = (await import('@simplewebauthn/browser')) as BrowserLibrary;
  } catch (cause) {
    throw new LatchkeyError(
      'ERR_MISSING_DEPENDENCY',
      `latchkey/browser needs the optional peer dependency \`${PACKAGE}\`: npm install ${PACKAGE}@14`,
      { package: PACKAGE },
      { cause },
    );
  }
  return loaded;
}
