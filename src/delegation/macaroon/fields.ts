/**
 * The plain data of a macaroon, shared by the serializers and the `Macaroon` class.
 *
 * @module latchkey
 */
import { LatchkeyError, type LatchkeyErrorDetail } from '../../core/errors.js';

/** One caveat as stored: a first-party caveat has no `verificationId` and no `location`. */
export interface CaveatFields {
  readonly identifier: Uint8Array;
  readonly verificationId?: Uint8Array;
  readonly location?: string;
}

/** One macaroon as stored. `location` is never the empty string (empty means absent). */
export interface MacaroonFields {
  readonly location?: string;
  readonly identifier: Uint8Array;
  readonly caveats: readonly CaveatFields[];
  readonly signature: Uint8Array;
}

/** A parse failure. */
export function formatError(message: string, detail: LatchkeyErrorDetail = {}, cause?: unknown): LatchkeyError {
  return new LatchkeyError('ERR_MACAROON_FORMAT', message, detail, cause === undefined ? undefined : { cause });
}

const strictDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** UTF-8 text, or undefined when the bytes are not valid UTF-8. */
export function tryUtf8(bytes: Uint8Array): string | undefined {
  try {
    return strictDecoder.decode(bytes);
  } catch {
    return undefined;
  }
}

/** Decode a location strictly: a location must be UTF-8 text. */
export function locationFrom(bytes: Uint8Array, where: string): string | undefined {
  const text = tryUtf8(bytes);
  if (text === undefined) throw formatError(`${where} location is not valid UTF-8`, { field: `${where}.location` });
  return text === '' ? undefined : text;
}

const PRINTABLE = /^[^\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cn}]*$/u;

/** The text of bytes when it is UTF-8 and safe to print on one line, else undefined. */
export function printable(bytes: Uint8Array, max = 200): string | undefined {
  const text = tryUtf8(bytes);
  if (text === undefined || !PRINTABLE.test(text)) return undefined;
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
