// @ts-check
// The foundation every story stands on: the embedded SQLite store. A challenge is single-use
// even when two requests race for it; "once" really means once; the audit log keeps what
// happened, with operator-only entries hidden from the subject.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomId } from 'latchkey';
import { openSqliteStore } from 'latchkey/store/sqlite';

/** @param {(line: string) => void} say */
export async function run(say) {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-demo-'));
  const store = await openSqliteStore({ filename: join(dir, 'latchkey.db') });
  try {
    const alice = await store.accounts.create({ username: 'alice', displayName: 'Alice' });
    say(`created account ${alice.username} (${alice.id}) in ${store.filename}, schema v${store.schemaVersion}`);

    const id = randomId();
    await store.challenges.put({ id, purpose: 'login', payload: randomBytes(32), subject: alice.id, ttlMs: 120_000 });
    const [first, second] = await Promise.all([store.challenges.take(id, 'login'), store.challenges.take(id, 'login')]);
    say(`two racing takes of one challenge: ${[first, second].filter(Boolean).length} succeeded (it is single-use)`);

    const uses = [];
    for (let i = 0; i < 3; i++) uses.push((await store.usage.consume('corner-store-credential', 1)).ok);
    say(`a credential good for one use, presented three times: ${uses.join(', ')}`);

    await store.audit.append({ subject: alice.id, type: 'login', detail: { factor: 'passkey' } });
    await store.audit.append({ subject: alice.id, type: 'duress', audience: 'operator' });
    const seen = await store.audit.query({ subject: alice.id });
    const operator = await store.audit.query({ subject: alice.id, audience: 'operator' });
    say(`audit log: Alice sees [${seen.map((e) => e.type)}], the operator sees [${operator.map((e) => e.type)}]`);
    say(`integrity check: ${await store.integrityCheck()}`);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
