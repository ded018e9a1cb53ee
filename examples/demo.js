// @ts-check
// `npm run demo`: the four stories of DESIGN.md, in the terminal, on the embedded defaults
// (SQLite in a temporary folder, the virtual fob in-process), as far as they are built.
import { run as fobLogin } from './fob-login.js';
import { run as storeBasics } from './store-basics.js';

/**
 * @typedef {{ title: string, run?: (say: (line: string) => void) => Promise<void>, pending?: string }} Story
 * @type {Story[]}
 */
const stories = [
  { title: 'Foundation: the embedded store', run: storeBasics },
  { title: 'Factor: "present your USB fob" (virtual CTAP 2.1 fob, PIN, signature check)', run: fobLogin },
  {
    title: '1. App login with step-up (passkey, then the USB fob for more than $100)',
    pending: 'issues #4, #6, #9',
  },
  { title: '2. A fob unlocks a workspace; pulling it locks', pending: 'issue #10' },
  { title: '3. "Hon, take my card to the corner store"', pending: 'issue #3' },
  { title: '4. "Your thumb or your life": duress and coercion-safe rules', pending: 'issues #4, #9' },
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
