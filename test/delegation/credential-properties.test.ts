/**
 * fast-check properties of credentials: attenuation never widens; removing, reordering or
 * changing any caveat breaks verification; a discharge bound to one credential never verifies
 * with another.
 */
import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { isLatchkeyError } from '../../src/core/errors.js';
import {
  attenuate,
  bindDischarge,
  type CredentialContext,
  CredentialIssuer,
  Discharger,
  inspectCredential,
  KeyRing,
  Macaroon,
} from '../../src/delegation/index.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { FakeClock } from '../../src/testing/clock.js';

const T0 = Date.UTC(2030, 0, 1, 9);

function setup() {
  const clock = new FakeClock(T0);
  const store = createMemoryStore({ clock });
  return { clock, issuer: new CredentialIssuer({ keys: KeyRing.generate(), store, clock }) };
}

/** Outcome of a verification: `ok` or the error code. */
async function outcome(issuer: CredentialIssuer, token: string, options: Parameters<CredentialIssuer['verify']>[1]) {
  try {
    await issuer.verify(token, options);
    return 'ok';
  } catch (error) {
    if (!isLatchkeyError(error)) throw error;
    return error.code;
  }
}

const amount = fc.integer({ min: -5, max: 30 });
const merchants = ['corner-store', 'bakery', 'cinema'];
/** Caveats over the request context: numbers, strings, lists, booleans, instants, durations. */
const caveat = fc.oneof(
  fc.tuple(fc.constantFrom('<', '<=', '>', '>=', '==', '!='), amount).map(([op, n]) => `amount ${op} ${n}`),
  fc.constantFrom(...merchants).map((m) => `merchant == "${m}"`),
  fc.subarray(merchants, { minLength: 1 }).map((ms) => `merchant in ${JSON.stringify(ms)}`),
  fc.constantFrom('gift', '!gift', 'gift || amount < 3', '!(amount > 20) && !gift'),
  fc.integer({ min: 0, max: 48 }).map((h) => `time < ${new Date(T0 + h * 1_800_000).toISOString()}`),
  fc.integer({ min: 0, max: 48 }).map((h) => `now + ${h * 30}m > 2030-01-01T12:00`),
  fc.constantFrom('sub == "alice"', '"hwk" in amr', 'sub = "alice"', 'sub = "bob"', 'amr = ["pin"]'),
  fc.constantFrom('aud = "shop"', 'aud = ["shop","cafe"]', 'aud = "cafe"'),
  fc.constantFrom('tip <= 2', 'unknown.name == 1'),
);
const context = fc.record({
  amount,
  merchant: fc.constantFrom(...merchants),
  gift: fc.boolean(),
});
const verifier = fc.record({
  now: fc.integer({ min: 0, max: 24 }).map((h) => T0 + h * 3_600_000),
  audience: fc.option(fc.constantFrom('shop', 'cafe'), { nil: undefined }),
});

describe('credential properties', () => {
  test('attenuation never widens: whatever an attenuated token accepts, its parent accepts', async () => {
    const { issuer } = setup();
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(caveat, { maxLength: 4 }),
        fc.array(fc.array(caveat, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 }),
        fc.array(fc.tuple(context, verifier), { minLength: 1, maxLength: 6 }),
        async (rootCaveats, steps, requests) => {
          const root = await issuer.issue({
            sub: 'alice',
            amr: ['hwk'],
            expiry: T0 + 20 * 3_600_000,
            caveats: rootCaveats.filter((c) => !/^(sub|amr) = /.test(c)),
          });
          const chain = [root.token];
          for (const step of steps) chain.push((await attenuate(chain.at(-1) as string, step)).token);
          for (const [ctx, { now, audience }] of requests) {
            const options = audience === undefined ? { context: ctx, now } : { context: ctx, now, audience };
            for (let i = chain.length - 1; i > 0; i--) {
              const child = await outcome(issuer, chain[i] as string, options);
              if (child === 'ok') {
                accepted++;
                expect(await outcome(issuer, chain[i - 1] as string, options)).toBe('ok');
              }
            }
          }
        },
      ),
      { numRuns: 150 },
    );
    // The property is only meaningful if some attenuated tokens were accepted.
    expect(accepted).toBeGreaterThan(10);
  });

  test('removing, reordering or changing any caveat breaks verification', async () => {
    const { issuer } = setup();
    const ctx = { amount: 1, merchant: 'corner-store', gift: false } satisfies CredentialContext;
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(
          fc.constantFrom(
            'amount <= 10',
            'amount >= 0',
            'merchant == "corner-store"',
            '!gift',
            'amount != 7',
            'amount < 5',
          ),
          { minLength: 2, maxLength: 6 },
        ),
        fc.uniqueArray(fc.constantFrom('amount <= 9', 'amount < 8', 'merchant != "cinema"'), { maxLength: 2 }),
        fc.nat(),
        fc.nat(),
        fc.constantFrom('remove', 'swap', 'change', 'append-char', 'duplicate'),
        async (rootCaveats, extra, i, j, mutation) => {
          const root = await issuer.issue({ expiry: T0 + 3_600_000, caveats: rootCaveats });
          const token = extra.length === 0 ? root.token : (await attenuate(root.token, extra)).token;
          expect(await outcome(issuer, token, { context: ctx })).toBe('ok');
          const json = JSON.parse(Macaroon.deserialize(token.slice(5)).serialize('v2j')) as {
            c: { i: string }[];
          };
          const n = json.c.length;
          const a = i % n;
          let b = j % n;
          if (json.c[a]?.i === json.c[b]?.i) b = (a + 1) % n;
          switch (mutation) {
            case 'remove':
              json.c.splice(a, 1);
              break;
            case 'swap': {
              const [x, y] = [json.c[a] as { i: string }, json.c[b] as { i: string }];
              json.c[a] = y;
              json.c[b] = x;
              break;
            }
            case 'change': {
              const c = json.c[a] as { i: string };
              const changed = c.i.replace(/\d/, (d) => String((Number(d) + 1) % 10));
              c.i = changed === c.i ? `${c.i} ` : changed;
              break;
            }
            case 'append-char':
              (json.c[a] as { i: string }).i += ' ';
              break;
            default:
              json.c.splice(a, 0, json.c[a] as { i: string });
          }
          const mutated = `lkc1_${Macaroon.deserialize(JSON.stringify(json)).serialize('v2')}`;
          expect(await outcome(issuer, mutated, { context: ctx })).toBe('ERR_MACAROON_SIGNATURE');
        },
      ),
      { numRuns: 200 },
    );
  });

  test('a discharge bound to one credential never verifies with another', async () => {
    const { issuer, clock } = setup();
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const discharger = new Discharger({ privateKey, location: 'tp', clock, check: () => true });
    const root = await issuer.issue({ expiry: T0 + 3_600_000 });
    const parent = await attenuate(root.token, {
      thirdParty: [{ location: 'tp', publicKey: discharger.publicKey, condition: 'c' }],
    });
    const identifier = (inspectCredential(parent.token).thirdParty[0] as { identifier: string }).identifier;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom('a != 1', 'a != 2', 'a != 3', 'b != 1'), { minLength: 1, maxLength: 3 }),
        fc.array(fc.constantFrom('a != 1', 'a != 2', 'a != 3', 'b != 1'), { minLength: 1, maxLength: 3 }),
        async (left, right) => {
          const x = await attenuate(parent.token, left);
          const y = await attenuate(parent.token, right);
          const bound = bindDischarge(x.token, await discharger.discharge(identifier));
          expect(await outcome(issuer, y.token, { discharges: [bound], context: { a: 0, b: 0 } })).toBe(
            'ERR_MACAROON_SIGNATURE',
          );
          expect(await outcome(issuer, parent.token, { discharges: [bound], context: { a: 0, b: 0 } })).toBe(
            'ERR_MACAROON_SIGNATURE',
          );
          expect(await outcome(issuer, x.token, { discharges: [bound], context: { a: 0, b: 0 } })).toBe('ok');
        },
      ),
      { numRuns: 50 },
    );
  });
});
