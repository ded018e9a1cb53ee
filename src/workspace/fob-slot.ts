/**
 * Fob parts: a FIDO2 fob through the CTAP2 hmac-secret extension, as systemd-cryptenroll and
 * age-plugin-fido2-hmac do. Enrolment creates a credential with hmac-secret (with the PIN when the
 * fob has one) and asks for the output for a random 32-byte salt; the output is the part's secret.
 * The slot stores credential id, rpId, salt and whether UV was used (the fob computes a different
 * secret with and without UV).
 *
 * At unlock the present fob is identified without a touch (getAssertion with `up: false` over the
 * enrolled credential ids: a fob that does not hold one answers "no credentials"), then the user
 * is asked for the PIN (when the slot used UV) and a touch.
 *
 * @module latchkey/workspace
 */
import { base64url, fromBase64url, utf8 } from '../core/bytes.js';
import { isLatchkeyError, LatchkeyError } from '../core/errors.js';
import { astring } from '../core/guards.js';
import { randomBytes } from '../core/random.js';
import type { Amr, Evidence, FactorKind } from '../core/types.js';
import type { Ctap2Client, PinUvAuthToken } from '../hardware/ctap2.js';
import type { FobPart } from './format.js';
import type { OpenedPart, PartContext, PartEnroller, PartOpener } from './slots.js';

/** The relying-party id workspace credentials are made for, unless another is given. */
export const WORKSPACE_RP_ID = 'latchkey-workspace';

/** Options of {@link fobEnroller} and {@link fobOpener}. */
export interface FobSlotOptions {
  readonly client: Ctap2Client;
  /**
   * The fob's PIN, or a function asked for it only when it is needed (after the fob was
   * identified, so a person is not asked for the PIN of a fob that cannot open the workspace).
   * Required when the fob has one at enrolment, and for slots enrolled with it.
   */
  readonly pin?: string | (() => Promise<string | undefined>);
  /** Called just before the fob waits for a touch (show "touch your key"). */
  readonly onTouch?: () => void;
  /** Called with each CTAPHID keepalive status while waiting. */
  readonly onKeepalive?: (status: number) => void;
}

function evidence(context: PartContext, credentialId: string, userVerified: boolean, userPresent: boolean): Evidence {
  const amr: Amr[] = ['hwk'];
  const kinds: FactorKind[] = ['possession'];
  if (userVerified) {
    amr.push('pin');
    kinds.push('knowledge');
  }
  return Object.freeze({
    factor: 'fob',
    subject: context.workspaceId,
    authenticatorId: `fob:${credentialId}`,
    amr: Object.freeze(amr),
    kinds: Object.freeze(kinds),
    phishingResistant: true,
    hardwareBound: true,
    userVerified,
    userPresent,
    replayResistant: true,
    at: context.clock.now(),
  });
}

async function token(client: Ctap2Client, pin: string | undefined, rpId: string): Promise<PinUvAuthToken | undefined> {
  return pin === undefined ? undefined : client.getPinUvAuthToken(pin, { rpId });
}

async function resolvePin(options: FobSlotOptions): Promise<string | undefined> {
  return typeof options.pin === 'function' ? options.pin() : options.pin;
}

async function hmacSecret(
  options: FobSlotOptions,
  pin: string | undefined,
  rpId: string,
  credentialId: Uint8Array,
  salt: Uint8Array,
  uv: boolean,
  signal: AbortSignal | undefined,
): Promise<{ secret: Uint8Array; userVerified: boolean; userPresent: boolean }> {
  const pinToken = await token(options.client, uv ? pin : undefined, rpId);
  try {
    options.onTouch?.();
    const assertion = await options.client.getAssertion({
      rpId,
      clientDataHash: randomBytes(32),
      allowList: [credentialId],
      hmacSecret: { salt1: salt },
      ...(pinToken === undefined ? {} : { pinUvAuthToken: pinToken }),
      ...(signal === undefined ? {} : { signal }),
      ...(options.onKeepalive === undefined ? {} : { onKeepalive: options.onKeepalive }),
    });
    const secret = assertion.hmacSecret?.output1;
    if (secret === undefined) {
      throw new LatchkeyError('ERR_CTAP2_CBOR', 'the fob returned no hmac-secret output', {});
    }
    if (uv && !assertion.authData.userVerified) {
      throw new LatchkeyError('ERR_FOB_ASSERTION_INVALID', 'the fob did not verify the PIN', {});
    }
    return { secret, userVerified: assertion.authData.userVerified, userPresent: assertion.authData.userPresent };
  } finally {
    pinToken?.wipe();
  }
}

/**
 * Enrol the fob behind `options.client` as a slot part (two touches: create the credential,
 * then derive the secret).
 *
 * @example
 * ```ts
 * import { fobEnroller } from 'latchkey/workspace';
 * await workspace.addSlot([fobEnroller({ client, pin, onTouch: () => console.log('touch your key') })], { label: 'backup fob' });
 * ```
 */
export function fobEnroller(options: FobSlotOptions & { readonly rpId?: string }): PartEnroller {
  const rpId = astring(options.rpId ?? WORKSPACE_RP_ID, 'rpId', 1, 253);
  return {
    kind: 'fob',
    async enrol(context) {
      const { client } = options;
      const pinSet = client.info.options.clientPin === true;
      const pin = pinSet ? await resolvePin(options) : undefined;
      if (pinSet && pin === undefined) {
        throw new LatchkeyError('ERR_CTAP2_PIN_REQUIRED', 'the fob has a PIN: enter it to enrol the fob', {
          statusName: 'CTAP2_ERR_PUAT_REQUIRED',
        });
      }
      if (!client.info.extensions.includes('hmac-secret')) {
        throw new LatchkeyError('ERR_UNSUPPORTED', 'this fob does not support hmac-secret', {
          extension: 'hmac-secret',
        });
      }
      const uv = pinSet;
      const pinToken = await token(client, uv ? pin : undefined, rpId);
      let credentialId: Uint8Array;
      try {
        options.onTouch?.();
        const response = await client.makeCredential({
          clientDataHash: randomBytes(32),
          rp: { id: rpId, name: 'latchkey workspace' },
          user: { id: utf8(context.workspaceId), name: `workspace ${context.workspaceId}` },
          excludeList: (context.enrolled ?? [])
            .filter((p): p is FobPart => p.kind === 'fob' && p.rpId === rpId)
            .map((p) => fromBase64url(p.credentialId, 'credentialId')),
          hmacSecret: true,
          ...(pinToken === undefined ? {} : { pinUvAuthToken: pinToken }),
          ...(context.signal === undefined ? {} : { signal: context.signal }),
          ...(options.onKeepalive === undefined ? {} : { onKeepalive: options.onKeepalive }),
        });
        if (!response.hmacSecret) {
          throw new LatchkeyError('ERR_UNSUPPORTED', 'the fob did not turn hmac-secret on', {
            extension: 'hmac-secret',
          });
        }
        credentialId = response.authData.attestedCredential.credentialId;
      } catch (error) {
        if (isLatchkeyError(error, 'ERR_CTAP2_CREDENTIAL_EXCLUDED')) {
          throw new LatchkeyError(
            'ERR_INVALID_ARGUMENT',
            'this fob is already enrolled in this workspace',
            { reason: 'fob already enrolled' },
            { cause: error },
          );
        }
        throw error;
      } finally {
        pinToken?.wipe();
      }
      const salt = randomBytes(32);
      const result = await hmacSecret(options, pin, rpId, credentialId, salt, uv, context.signal);
      const part: FobPart = { kind: 'fob', rpId, credentialId: base64url(credentialId), salt: base64url(salt), uv };
      return {
        part,
        secret: result.secret,
        evidence: evidence(context, part.credentialId, result.userVerified, result.userPresent),
      };
    },
  };
}

/**
 * Which enrolled fob part the fob behind `client` holds, found without a touch; `undefined`
 * when it holds none.
 */
async function identify(
  client: Ctap2Client,
  parts: readonly { readonly part: FobPart }[],
  signal: AbortSignal | undefined,
): Promise<number | undefined> {
  const byRp = new Map<string, number[]>();
  parts.forEach(({ part }, index) => {
    byRp.set(part.rpId, [...(byRp.get(part.rpId) ?? []), index]);
  });
  for (const [rpId, indexes] of byRp) {
    const ids = indexes.map((i) => fromBase64url((parts[i] as { part: FobPart }).part.credentialId, 'credentialId'));
    try {
      const probe = await client.getAssertion({
        rpId,
        clientDataHash: randomBytes(32),
        allowList: ids,
        userPresence: false,
        ...(signal === undefined ? {} : { signal }),
      });
      const found = base64url(probe.credentialId);
      const match = indexes.find((i) => (parts[i] as { part: FobPart }).part.credentialId === found);
      if (match !== undefined) return match;
    } catch (error) {
      if (!isLatchkeyError(error, 'ERR_CTAP2_NO_CREDENTIALS')) throw error;
    }
  }
  return undefined;
}

/**
 * Open the fob part of the fob behind `options.client`: identify it without a touch, then ask
 * for the PIN (if enrolled with it) and a touch. A fob that was never enrolled is
 * `ERR_WORKSPACE_FOB_NOT_ENROLLED`; a wrong PIN `ERR_CTAP2_PIN_INVALID`; a blocked one
 * `ERR_CTAP2_PIN_BLOCKED`; a fob pulled meanwhile `ERR_FOB_REMOVED`.
 */
export function fobOpener(options: FobSlotOptions): PartOpener {
  return {
    kind: 'fob',
    async open(candidates, context): Promise<OpenedPart[]> {
      const fobs = candidates.filter((c): c is typeof c & { part: FobPart } => c.part.kind === 'fob');
      const index = await identify(options.client, fobs, context.signal);
      if (index === undefined) {
        throw new LatchkeyError(
          'ERR_WORKSPACE_FOB_NOT_ENROLLED',
          'this fob is not enrolled in this workspace: use an enrolled fob or a recovery code',
          {},
        );
      }
      const candidate = fobs[index] as (typeof fobs)[number];
      const { part } = candidate;
      const pin = part.uv ? await resolvePin(options) : undefined;
      if (part.uv && pin === undefined) {
        throw new LatchkeyError('ERR_CTAP2_PIN_REQUIRED', 'this fob was enrolled with its PIN: enter it', {
          statusName: 'CTAP2_ERR_PUAT_REQUIRED',
        });
      }
      const result = await hmacSecret(
        options,
        pin,
        part.rpId,
        fromBase64url(part.credentialId, 'credentialId'),
        fromBase64url(part.salt, 'salt'),
        part.uv,
        context.signal,
      );
      return [
        {
          slotId: candidate.slotId,
          index: candidate.index,
          secret: result.secret,
          evidence: evidence(context, part.credentialId, result.userVerified, result.userPresent),
        },
      ];
    },
  };
}
