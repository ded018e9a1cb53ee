// Writes schema/policy.schema.json from the built POLICY_JSON_SCHEMA (run `npm run build` first).
// `node scripts/write-policy-schema.js --check` exits 1 when the file is out of date.
import { readFileSync, writeFileSync } from 'node:fs';
import { POLICY_JSON_SCHEMA } from '../dist/policy/schema.js';

const target = new URL('../schema/policy.schema.json', import.meta.url);
const text = `${JSON.stringify(POLICY_JSON_SCHEMA, null, 2)}\n`;
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {
    // missing: out of date
  }
  let same = false;
  try {
    same = JSON.stringify(JSON.parse(current)) === JSON.stringify(POLICY_JSON_SCHEMA);
  } catch {}
  if (!same) {
    console.error('schema/policy.schema.json is out of date: run `node scripts/write-policy-schema.js`');
    process.exit(1);
  }
} else {
  writeFileSync(target, text);
  console.log('wrote schema/policy.schema.json');
}
