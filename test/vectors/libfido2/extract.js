#!/usr/bin/env node
/**
 * Writes wiredata.json from wiredata_fido2.h: the HID reports that libfido2's fuzzers replay as
 * an authenticator's answers (libfido2 `fuzz/wiredata_fido2.h`, BSD-2-Clause, Yubico AB; see
 * README.md and LICENSE next to this file). Run from the repository root:
 *
 *   node test/vectors/libfido2/extract.js
 *
 * Only the bytes are taken: each `#define WIREDATA_CTAP_<NAME>` becomes `<NAME>` and its byte
 * list is cut into 64-byte reports, written as hex (a recording may end in a shorter report, as
 * CBOR_BIO_ENROLL does: it is kept as it is). The NFC and extended-APDU entries are not HID
 * reports and are left out (listed under `skipped`). The header is parsed, not compiled: a define
 * must be a backslash-continued list of `0x..` bytes, or this script stops.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const REPORT_SIZE = 64;
const PREFIX = 'WIREDATA_CTAP_';

/**
 * The byte lists of every `WIREDATA_CTAP_*` define in `text`, in the order they appear.
 *
 * @param {string} text the header
 * @returns {{ name: string, bytes: number[] }[]}
 */
function defines(text) {
  const lines = text.split('\n');
  /** @type {{ name: string, bytes: number[] }[]} */
  const out = [];
  for (let i = 0; i < lines.length; i++) {
    const head = /^#define\s+(WIREDATA_CTAP_\w+)\s*\\\s*$/.exec(lines[i] ?? '');
    if (head === null) continue;
    const name = head[1] ?? '';
    /** @type {number[]} */
    const bytes = [];
    for (;;) {
      i++;
      const line = lines[i];
      if (line === undefined) throw new Error(`${name}: the header ends inside the define`);
      const continued = /\\\s*$/.test(line);
      const body = line.replace(/\\\s*$/, '').trim();
      for (const token of body.split(',')) {
        const t = token.trim();
        if (t === '') continue;
        if (!/^0x[0-9a-fA-F]{2}$/.test(t)) throw new Error(`${name}: unexpected token \`${t}\` on line ${i + 1}`);
        bytes.push(Number.parseInt(t.slice(2), 16));
      }
      if (!continued) break;
    }
    out.push({ name, bytes });
  }
  return out;
}

/**
 * The HID reports of `header` (the text of wiredata_fido2.h), by name without the
 * `WIREDATA_CTAP_` prefix, each report as 128 hex digits; and the names that are not HID reports.
 *
 * @param {string} header
 * @returns {{ reports: Record<string, string[]>, skipped: string[] }}
 */
export function extractWiredata(header) {
  /** @type {Record<string, string[]>} */
  const reports = {};
  /** @type {string[]} */
  const skipped = [];
  for (const { name, bytes } of defines(header)) {
    const short = name.slice(PREFIX.length);
    if (short.startsWith('NFC_') || short.includes('APDU')) {
      skipped.push(short);
      continue;
    }
    if (bytes.length < 7) throw new Error(`${name}: ${bytes.length} bytes is not a CTAPHID packet`);
    const hex = Buffer.from(bytes).toString('hex');
    const list = [];
    for (let offset = 0; offset < hex.length; offset += REPORT_SIZE * 2)
      list.push(hex.slice(offset, offset + REPORT_SIZE * 2));
    reports[short] = list;
  }
  if (Object.keys(reports).length === 0) throw new Error('no WIREDATA_CTAP_* defines found');
  return { reports, skipped };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const here = new URL('.', import.meta.url);
  const header = readFileSync(new URL('wiredata_fido2.h', here), 'utf8');
  const { reports, skipped } = extractWiredata(header);
  const out = {
    source: {
      repository: 'https://github.com/Yubico/libfido2',
      path: 'fuzz/wiredata_fido2.h',
      commit: '8ee8e5a2eb94575c8baeda9c7bf1d4f27a3b1db4',
      licence: 'BSD-2-Clause (see LICENSE)',
      copyright: 'Copyright (c) 2020-2022 Yubico AB',
      sha256: createHash('sha256').update(header).digest('hex'),
    },
    reportSize: REPORT_SIZE,
    skipped,
    reports,
  };
  writeFileSync(new URL('wiredata.json', here), `${JSON.stringify(out, null, 2)}\n`);
  console.log(`wrote ${Object.keys(reports).length} messages (${skipped.length} non-HID entries skipped)`);
}
