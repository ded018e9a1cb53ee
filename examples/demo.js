// @ts-check
// `npm run demo`: the four stories of DESIGN.md, in the terminal, on the embedded defaults
// (SQLite in a temporary folder, the virtual fob in-process), as far as they are built.
import { run as cornerStore } from './corner-store.js';
import { run as fobLogin } from './fob-login.js';
import { run as gateDuress } from './gate-duress.js';
import { run as passkeyLogin } from './passkey-login.js';
import { run as stepUp } from './step-up.js';
import { run as storeBasics } from './store-basics.js';
import { run as workspace } from './workspace.js';

/**
 * @typedef {{ title: string, run?: (say: (line: string) => void) => Promise<void>, pending?: string }} Story
 * @type {Story[]}
 */
const stories = [
  { title: 'Foundation: the embedded store', run: storeBasics },
  { title: 'Factor: "present your USB fob" (virtual CTAP 2.1 fob, PIN, signature check)', run: fobLogin },
  {
    title: '1 and 4. The policy: step-up to the fob above $100; a biometric alone never closes the account',
    run: stepUp,
  },
  {
    title: '1. App login with step-up on SQLite (a passkey with a fingerprint, then the fob for $250)',
    run: passkeyLogin,
  },
  { title: '2. A fob unlocks a workspace; pulling it locks', run: workspace },
  {
    title:
      '3. "Hon, take my card to the corner store" on SQLite (a narrowed credential, Bob proves himself with his fob)',
    run: cornerStore,
  },
  {
    title: '1 and 4. The gate on SQLite: a fob session, step-up by PIN, then a duress sign-in',
    run: gateDuress,
  },
];

let failed = false;
for (const story of stories) {
  console.log(`\n== ${story.title}`);
  if (story.run === undefined) {
    console.log(`   not built yet (${story.pending})`);
    continue;
  }
  try {
    await story.run((line) => console.log(`   ${line}`));
  } catch (error) {
    failed = true;
    console.error(`   FAILED: ${error instanceof Error ? error.message : String(error)}`);
  }
}
if (failed) process.exit(1);
