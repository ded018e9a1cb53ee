/** Helpers that catch the `LatchkeyError` a call raises, so a test can assert on its code. */
import { isLatchkeyError, type LatchkeyError } from '../../src/core/errors.js';

/** The `LatchkeyError` `promise` rejects with; any other outcome fails the test. */
export async function rejection(promise: Promise<unknown>): Promise<LatchkeyError> {
  try {
    await promise;
  } catch (error) {
    if (isLatchkeyError(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

/** The code of the `LatchkeyError` `fn` throws, or `'ok'` when it returns. */
export function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (error) {
    if (!isLatchkeyError(error)) throw error;
    return error.code;
  }
}
