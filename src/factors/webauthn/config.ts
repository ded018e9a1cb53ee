/**
 * The relying party, checked once at start-up: its id (a domain name, never an IP address), the
 * origins allowed to use it, and the top-level origins allowed to embed it. A mistake here would
 * otherwise surface as every sign-in failing in the browser, or worse, as an origin accepted that
 * should not be; so a bad value throws `ERR_WEBAUTHN_CONFIG` with a message that says what to do.
 *
 * @module latchkey/webauthn
 */
import { isIP } from 'node:net';
import { LatchkeyError } from '../../core/errors.js';

/** The relying party as the app describes it. */
export interface RelyingPartyOptions {
  /**
   * The RP ID (WebAuthn §5.1.4.1): a domain name, lower case, such as `example.com`, or
   * `localhost` in development. Passkeys are scoped to it. An IP address is refused.
   */
  readonly id: string;
  /** The name authenticators show; defaults to the id. */
  readonly name?: string;
  /**
   * Every origin the ceremonies may run on, exactly as `location.origin` spells it, such as
   * `https://example.com` or `https://login.example.com`. Each must be on the RP ID (the id or a
   * subdomain of it) and use https, except `http://localhost[:port]`. Android apps are given as
   * `android:apk-key-hash:…`.
   */
  readonly origins: readonly string[];
  /**
   * Top-level origins allowed to embed the ceremony in a cross-origin iframe (WebAuthn
   * `topOrigin`; SimpleWebAuthn's `expectedTopOrigin`). Empty (the default) refuses every
   * cross-origin (embedded) response.
   */
  readonly topOrigins?: readonly string[];
}

/** A checked relying party. */
export interface RelyingParty {
  readonly id: string;
  readonly name: string;
  readonly origins: readonly string[];
  readonly topOrigins: readonly string[];
}

const MAX_ORIGINS = 64;
const LABEL = /^(?:xn--)?[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const ANDROID_ORIGIN = /^android:apk-key-hash:[A-Za-z0-9_-]{43}$/;

function configError(message: string, detail: Record<string, string> = {}): LatchkeyError {
  return new LatchkeyError('ERR_WEBAUTHN_CONFIG', message, detail);
}

function show(value: unknown): string {
  return typeof value === 'string' ? value.slice(0, 80) : typeof value;
}

/**
 * Check an RP ID: a lower-case domain name of valid labels. IP addresses (in any of the forms a
 * URL parser accepts) are refused: browsers do not allow them as RP IDs, so a deployment that
 * configured one could never register a passkey.
 */
export function checkRpId(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 253) {
    throw configError(`the rpID must be a domain name of 1 to 253 characters, got \`${show(value)}\``, {
      field: 'rp.id',
    });
  }
  const bare = value.startsWith('[') && value.endsWith(']') ? value.slice(1, -1) : value;
  let canonical: string | undefined;
  try {
    canonical = new URL(`https://${value}/`).hostname;
  } catch {
    canonical = undefined;
  }
  if (isIP(bare) !== 0 || (canonical !== undefined && isIP(canonical.replace(/^\[|\]$/g, '')) !== 0)) {
    throw configError(
      `the rpID \`${show(value)}\` is an IP address: WebAuthn needs a domain name (browsers refuse IP-address RP IDs); use \`localhost\` in development or the site's domain name`,
      { field: 'rp.id', reason: 'ip-address' },
    );
  }
  if (canonical !== value) {
    throw configError(
      `the rpID \`${show(value)}\` is not a domain name in canonical form (lower case, no scheme, port, path or trailing dot)`,
      { field: 'rp.id', reason: 'not-canonical' },
    );
  }
  const labels = value.split('.');
  if (!labels.every((label) => LABEL.test(label)) || /^[0-9]+$/.test(labels[labels.length - 1] as string)) {
    throw configError(`the rpID \`${show(value)}\` is not a valid domain name`, {
      field: 'rp.id',
      reason: 'not-a-domain',
    });
  }
  return value;
}

function parseWebOrigin(value: unknown, field: string): URL {
  if (typeof value !== 'string' || value.length === 0 || value.length > 2048) {
    throw configError(`${field} must be an origin such as \`https://example.com\`, got \`${show(value)}\``, {
      field,
    });
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw configError(`${field} \`${show(value)}\` is not a URL origin`, { field });
  }
  if (url.origin !== value) {
    throw configError(
      `${field} \`${show(value)}\` must be exactly an origin (scheme, host and port, no path or trailing slash): \`${url.origin}\``,
      { field, reason: 'not-an-origin' },
    );
  }
  const local = url.hostname === 'localhost' || url.hostname.endsWith('.localhost');
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && local)) {
    throw configError(`${field} \`${show(value)}\` must use https (http is allowed only for localhost)`, {
      field,
      reason: 'insecure',
    });
  }
  return url;
}

function checkList(value: unknown, field: string, allowEmpty: boolean): readonly unknown[] {
  if (!Array.isArray(value) || (!allowEmpty && value.length === 0) || value.length > MAX_ORIGINS) {
    throw configError(`${field} must be a list of ${allowEmpty ? 0 : 1} to ${MAX_ORIGINS} origins`, { field });
  }
  return value;
}

/**
 * Check the relying party at start-up.
 *
 * @throws `ERR_WEBAUTHN_CONFIG` for an IP-address or malformed RP ID, an origin that is not an
 * exact https origin on the RP ID, or a malformed top origin.
 */
export function resolveRelyingParty(options: RelyingPartyOptions): RelyingParty {
  if (options === null || typeof options !== 'object') {
    throw configError('the relying party must be given as `{ id, origins }`', { field: 'rp' });
  }
  const id = checkRpId(options.id);
  const name = options.name ?? id;
  if (typeof name !== 'string' || name.length === 0 || name.length > 128) {
    throw configError('rp.name must be 1 to 128 characters', { field: 'rp.name' });
  }
  const origins = checkList(options.origins, 'rp.origins', false).map((origin) => {
    if (typeof origin === 'string' && origin.startsWith('android:')) {
      if (!ANDROID_ORIGIN.test(origin)) {
        throw configError(`rp.origins \`${show(origin)}\` is not an \`android:apk-key-hash:\` origin`, {
          field: 'rp.origins',
        });
      }
      return origin;
    }
    const url = parseWebOrigin(origin, 'rp.origins');
    if (url.hostname !== id && !url.hostname.endsWith(`.${id}`)) {
      throw configError(
        `the origin \`${url.origin}\` is not on the rpID \`${id}\`: its host must be \`${id}\` or a subdomain of it`,
        { field: 'rp.origins', reason: 'not-on-rp-id' },
      );
    }
    return url.origin;
  });
  const topOrigins = checkList(options.topOrigins ?? [], 'rp.topOrigins', true).map(
    (origin) => parseWebOrigin(origin, 'rp.topOrigins').origin,
  );
  return Object.freeze({
    id,
    name,
    origins: Object.freeze([...new Set(origins)]),
    topOrigins: Object.freeze([...new Set(topOrigins)]),
  });
}
