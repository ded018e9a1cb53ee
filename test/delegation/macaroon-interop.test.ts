/**
 * Live interop with the real peers, in both directions: pymacaroons (Debian python3-pymacaroons,
 * run under /usr/bin/python3) and libmacaroons (Debian libmacaroons 0.3.0, through a C harness
 * compiled in `beforeAll`). Tokens minted by each peer verify in latchkey, latchkey's tokens
 * verify in each peer, and each negative fails on both sides. Under CI a missing peer fails.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { isLatchkeyError } from '../../src/core/errors.js';
import { Macaroon, type MacaroonFormat, verifyMacaroon } from '../../src/delegation/macaroon/index.js';
import {
  buildLibmacaroonsPeer,
  type CPeer,
  describeWithPeer,
  hexOf,
  libmacaroonsStatus,
  type PyCaveat,
  type PyOp,
  pymacaroonsStatus,
  pyToken,
  runPymacaroons,
} from '../helpers/peers.js';

/** The value, or a failed test when it is missing. */
function must<T>(value: T | undefined | null): T {
  if (value === undefined || value === null) throw new Error('expected a value');
  return value;
}

type Bytes = { utf8: string } | { hex: string };
interface ScenarioCaveat {
  fp?: string;
  tp?: { location: string; key: Bytes; id: Bytes };
  discharge?: { location?: string; caveats: ScenarioCaveat[] };
}
interface Scenario {
  name: string;
  location: string;
  rootKey: Bytes;
  identifier: Bytes;
  utf8Only?: boolean;
  caveats: ScenarioCaveat[];
}

const scenarios = (
  JSON.parse(readFileSync(new URL('../vectors/macaroons/scenarios.json', import.meta.url), 'utf8')) as {
    scenarios: Scenario[];
  }
).scenarios;

const raw = (b: Bytes): Uint8Array => ('utf8' in b ? new TextEncoder().encode(b.utf8) : Buffer.from(b.hex, 'hex'));
const rawHex = (b: Bytes): string => Buffer.from(raw(b)).toString('hex');

function predicates(caveats: readonly ScenarioCaveat[]): string[] {
  return caveats.flatMap((c) => (c.fp !== undefined ? [c.fp] : predicates(c.discharge?.caveats ?? [])));
}

/** The discharge definitions of a scenario, depth first: [tp, discharge] pairs. */
function dischargeDefs(
  caveats: readonly ScenarioCaveat[],
): { key: Bytes; id: Bytes; location: string; caveats: ScenarioCaveat[] }[] {
  return caveats.flatMap((c) =>
    c.tp === undefined || c.discharge === undefined
      ? []
      : [
          { key: c.tp.key, id: c.tp.id, location: c.discharge.location ?? '', caveats: c.discharge.caveats },
          ...dischargeDefs(c.discharge.caveats),
        ],
  );
}

interface Minted {
  token: string;
  bound: string[];
  unbound: string[];
}

function latchkeyMint(location: string, key: Uint8Array, id: Uint8Array, caveats: readonly ScenarioCaveat[]): Macaroon {
  let m = Macaroon.mint({ rootKey: key, identifier: id, location });
  for (const c of caveats) {
    m =
      c.fp !== undefined
        ? m.addFirstPartyCaveat(c.fp)
        : m.addThirdPartyCaveat({
            key: raw(must(c.tp).key),
            identifier: raw(must(c.tp).id),
            location: must(c.tp).location,
          });
  }
  return m;
}

function latchkeyScenario(s: Scenario, format: MacaroonFormat): Minted {
  const root = latchkeyMint(s.location, raw(s.rootKey), raw(s.identifier), s.caveats);
  const discharges = dischargeDefs(s.caveats).map((d) => latchkeyMint(d.location, raw(d.key), raw(d.id), d.caveats));
  return {
    token: root.serialize(format),
    bound: discharges.map((d) => root.bindDischarge(d).serialize(format)),
    unbound: discharges.map((d) => d.serialize(format)),
  };
}

/** Rewrite a token through its v2 JSON form (latchkey's encoders are faithful), then re-encode. */
function edit(token: string, format: MacaroonFormat, change: (json: { c: Record<string, string>[] }) => void): string {
  const json = JSON.parse(Macaroon.deserialize(token).serialize('v2j')) as { c: Record<string, string>[] };
  change(json);
  return Macaroon.deserialize(JSON.stringify(json)).serialize(format);
}
const removeLast = (json: { c: Record<string, string>[] }) => void json.c.pop();
const alterFirstPredicate = (json: { c: Record<string, string>[] }) => {
  const fp = json.c.find((c) => c.v64 === undefined && c.i !== undefined);
  if (fp !== undefined) fp.i = `${fp.i}!`;
};

/** Verify in latchkey; the outcome is `ok` or the error code. */
function latchkeyOutcome(
  key: Uint8Array,
  token: string,
  discharges: readonly string[],
  satisfy: readonly string[],
): string {
  const allowed = new Set(satisfy);
  try {
    verifyMacaroon(Macaroon.deserialize(token), {
      rootKey: key,
      discharges: discharges.map((d) => Macaroon.deserialize(d)),
      satisfies: (p) => allowed.has(Buffer.from(p).toString('utf8')),
    });
    return 'ok';
  } catch (error) {
    if (!isLatchkeyError(error)) throw error;
    return error.code;
  }
}

interface Case {
  label: string;
  key: Uint8Array;
  token: string;
  discharges: string[];
  satisfy: string[];
  latchkey: string;
}

/** The positive case and the negatives for one minted scenario. `format` re-encodes edits. */
function casesFor(s: Scenario, m: Minted, format: MacaroonFormat, editable: boolean): Case[] {
  const key = raw(s.rootKey);
  const satisfy = predicates(s.caveats);
  const cases: Case[] = [
    { label: 'valid', key, token: m.token, discharges: m.bound, satisfy, latchkey: 'ok' },
    {
      label: 'wrong key',
      key: new TextEncoder().encode('not the root key'),
      token: m.token,
      discharges: m.bound,
      satisfy,
      latchkey: 'ERR_MACAROON_SIGNATURE',
    },
    {
      label: 'unsatisfied caveat',
      key,
      token: m.token,
      discharges: m.bound,
      satisfy: satisfy.slice(0, -1),
      latchkey: 'ERR_MACAROON_CAVEAT_UNSATISFIED',
    },
  ];
  if (m.bound.length > 0) {
    cases.push(
      {
        label: 'unbound discharge',
        key,
        token: m.token,
        discharges: [...m.unbound.slice(0, 1), ...m.bound.slice(1)],
        satisfy,
        latchkey: 'ERR_MACAROON_SIGNATURE',
      },
      {
        label: 'missing discharge',
        key,
        token: m.token,
        discharges: m.bound.slice(0, -1),
        satisfy,
        latchkey: 'ERR_MACAROON_DISCHARGE_MISSING',
      },
    );
  }
  if (editable) {
    cases.push(
      {
        label: 'removed caveat',
        key,
        token: edit(m.token, format, removeLast),
        discharges: m.bound,
        satisfy,
        latchkey: 'ERR_MACAROON_SIGNATURE',
      },
      {
        label: 'altered caveat',
        key,
        token: edit(m.token, format, alterFirstPredicate),
        discharges: m.bound,
        satisfy: [...satisfy, ...satisfy.map((p) => `${p}!`)],
        latchkey: 'ERR_MACAROON_SIGNATURE',
      },
    );
  }
  return cases;
}

// ---- pymacaroons ---------------------------------------------------------------------------

const PY_FORMATS = [
  { name: 'v1', version: 1, json: false, reencode: 'v1' },
  { name: 'v1 json', version: 1, json: true, reencode: 'v2j' },
  { name: 'v2', version: 2, json: false, reencode: 'v2' },
  { name: 'v2 json', version: 2, json: true, reencode: 'v2j' },
] as const;

function pyCaveats(caveats: readonly ScenarioCaveat[]): PyCaveat[] {
  return caveats.map((c) =>
    c.fp !== undefined
      ? { fp: hexOf(c.fp) }
      : { tp: { location: must(c.tp).location, key: rawHex(must(c.tp).key), id: rawHex(must(c.tp).id) } },
  );
}

describeWithPeer('macaroon interop with pymacaroons', pymacaroonsStatus(), () => {
  const minted = new Map<string, Minted>();
  const combos = scenarios.flatMap((s) =>
    PY_FORMATS.filter((f) => f.version === 2 || s.utf8Only !== false).map((f) => ({ s, f })),
  );

  beforeAll(() => {
    const mints: PyOp[] = [];
    for (const { s, f } of combos) {
      mints.push({
        op: 'mint',
        version: f.version,
        json: f.json,
        location: s.location,
        key: rawHex(s.rootKey),
        id: rawHex(s.identifier),
        caveats: pyCaveats(s.caveats),
      });
      for (const d of dischargeDefs(s.caveats)) {
        mints.push({
          op: 'mint',
          version: f.version,
          json: f.json,
          location: d.location,
          key: rawHex(d.key),
          id: rawHex(d.id),
          caveats: pyCaveats(d.caveats),
        });
      }
    }
    const tokens = runPymacaroons(mints).map(pyToken);
    const binds: PyOp[] = [];
    let i = 0;
    const layout: { key: string; root: string; unbound: string[] }[] = [];
    for (const { s, f } of combos) {
      const root = tokens[i++] as string;
      const unbound = dischargeDefs(s.caveats).map(() => tokens[i++] as string);
      for (const d of unbound) binds.push({ op: 'bind', root, discharge: d });
      layout.push({ key: `${s.name}/${f.name}`, root, unbound });
    }
    const bound = runPymacaroons(binds).map(pyToken);
    let j = 0;
    for (const l of layout)
      minted.set(l.key, { token: l.root, unbound: l.unbound, bound: l.unbound.map(() => bound[j++] as string) });
  });

  for (const { s, f } of combos) {
    test(`pymacaroons ${f.name} → latchkey: ${s.name} and its negatives`, () => {
      const m = must(minted.get(`${s.name}/${f.name}`));
      const cases = casesFor(s, m, f.reencode, true);
      expect(cases.length).toBeGreaterThanOrEqual(5);
      for (const c of cases) {
        expect({ label: c.label, outcome: latchkeyOutcome(c.key, c.token, c.discharges, c.satisfy) }).toEqual({
          label: c.label,
          outcome: c.latchkey,
        });
      }
    });
  }

  for (const s of scenarios) {
    for (const format of ['v1', 'v2', 'v2j'] as const) {
      test(`latchkey ${format} → pymacaroons: ${s.name} and its negatives`, () => {
        const cases = casesFor(s, latchkeyScenario(s, format), format, true);
        const results = runPymacaroons(
          cases.map((c) => ({
            op: 'verify',
            key: hexOf(c.key),
            token: c.token,
            discharges: c.discharges,
            exact: c.satisfy,
          })),
        );
        cases.forEach((c, k) => {
          const r = results[k];
          expect({ label: c.label, ok: r?.ok, error: c.latchkey === 'ok' ? r?.error : undefined }).toEqual({
            label: c.label,
            ok: c.latchkey === 'ok',
            error: undefined,
          });
          // and latchkey agrees on its own tokens
          expect(latchkeyOutcome(c.key, c.token, c.discharges, c.satisfy)).toBe(c.latchkey);
        });
      });
    }
  }
});

// ---- libmacaroons --------------------------------------------------------------------------

describeWithPeer('macaroon interop with libmacaroons', libmacaroonsStatus(), () => {
  let peer: CPeer;
  beforeAll(() => {
    peer = buildLibmacaroonsPeer();
  });
  afterAll(() => peer?.dispose());

  function cMint(location: string, key: Uint8Array, id: Uint8Array, caveats: readonly ScenarioCaveat[]): string {
    const args = ['mint', hexOf(location), hexOf(key), hexOf(id)];
    for (const c of caveats) {
      if (c.fp !== undefined) args.push('fp', hexOf(c.fp));
      else args.push('tp', hexOf(must(c.tp).location), rawHex(must(c.tp).key), rawHex(must(c.tp).id));
    }
    const r = peer.run(args);
    if (!r.ok) throw new Error(`libmacaroons mint failed: ${r.out}`);
    return r.out;
  }

  function cScenario(s: Scenario): Minted {
    const token = cMint(s.location, raw(s.rootKey), raw(s.identifier), s.caveats);
    const unbound = dischargeDefs(s.caveats).map((d) => cMint(d.location, raw(d.key), raw(d.id), d.caveats));
    const bound = unbound.map((d) => {
      const r = peer.run(['bind', token, d]);
      if (!r.ok) throw new Error(`libmacaroons bind failed: ${r.out}`);
      return r.out;
    });
    return { token, bound, unbound };
  }

  test('the harness is libmacaroons writing v1 (no JSON support in 0.3.0)', () => {
    const token = cMint('loc', new Uint8Array([1, 2]), new Uint8Array([3]), []);
    expect(Buffer.from(token, 'base64url').subarray(0, 12).toString('latin1')).toBe('0011location');
  });

  for (const s of scenarios) {
    test(`libmacaroons v1 → latchkey: ${s.name} and its negatives`, () => {
      for (const c of casesFor(s, cScenario(s), 'v1', true)) {
        expect({ label: c.label, outcome: latchkeyOutcome(c.key, c.token, c.discharges, c.satisfy) }).toEqual({
          label: c.label,
          outcome: c.latchkey,
        });
      }
    });

    test(`latchkey v1 → libmacaroons: ${s.name} and its negatives`, () => {
      for (const c of casesFor(s, latchkeyScenario(s, 'v1'), 'v1', true)) {
        const args = ['verify', hexOf(c.key), c.token];
        for (const p of c.satisfy) args.push('exact', hexOf(p));
        for (const d of c.discharges) args.push('discharge', d);
        const r = peer.run(args);
        expect({ label: c.label, ok: r.ok, out: c.latchkey === 'ok' ? r.out : 'n/a' }).toEqual({
          label: c.label,
          ok: c.latchkey === 'ok',
          out: c.latchkey === 'ok' ? 'ok' : 'n/a',
        });
      }
    });
  }
});
