import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { randomBytes } from '../../src/core/random.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { FakeClock } from '../../src/testing/clock.js';
import { builtPackage, command, need } from '../helpers/components.js';
import { expectCode, storeContract } from './contract.js';

const dir = mkdtempSync(join(tmpdir(), 'latchkey-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let counter = 0;
const freshFile = () => join(dir, `store-${counter++}.db`);
const worker = new URL('../fixtures/sqlite-worker.mjs', import.meta.url).pathname;

storeContract('sqlite (file)', (clock) => openSqliteStore({ filename: freshFile(), clock }));
storeContract('sqlite (:memory:)', (clock) => openSqliteStore({ filename: ':memory:', clock }));

interface Child {
  ready: Promise<void>;
  go(): void;
  result: Promise<string>;
}

function startWorker(args: readonly string[]): Child {
  const child = spawn(process.execPath, [worker, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  const result = new Promise<string>((resolve, reject) => {
    let last = '';
    lines.on('line', (line) => {
      if (line === 'ready') markReady();
      else last = line;
    });
    child.on('exit', (code) => (code === 0 ? resolve(last) : reject(new Error(`worker exited with ${code}`))));
  });
  return { ready, go: () => child.stdin.end('go\n'), result };
}

describe.runIf(need(builtPackage()))('sqlite across processes', () => {
  it('race: 200 takes of one challenge from two processes, exactly one wins', async () => {
    const file = freshFile();
    const store = await openSqliteStore({ filename: file });
    await store.challenges.put({ id: 'shared', purpose: 'race', payload: randomBytes(16), ttlMs: 120_000 });
    const workers = [
      startWorker([file, 'race-take', 'shared', '100']),
      startWorker([file, 'race-take', 'shared', '100']),
    ];
    await Promise.all(workers.map((w) => w.ready));
    for (const w of workers) w.go();
    const wins = (await Promise.all(workers.map((w) => w.result))).map((line) => JSON.parse(line).wins as number);
    expect(wins.reduce((a, b) => a + b, 0)).toBe(1);
    await store.close();
  });

  it('race: 200 consume(id, 1) from two processes, exactly one succeeds', async () => {
    const file = freshFile();
    const store = await openSqliteStore({ filename: file });
    const workers = [
      startWorker([file, 'race-consume', 'once', '1', '100']),
      startWorker([file, 'race-consume', 'once', '1', '100']),
    ];
    await Promise.all(workers.map((w) => w.ready));
    for (const w of workers) w.go();
    const wins = (await Promise.all(workers.map((w) => w.result))).map((line) => JSON.parse(line).wins as number);
    expect(wins.reduce((a, b) => a + b, 0)).toBe(1);
    expect(await store.usage.used('once')).toBe(1);
    await store.close();
  });

  it('race: 400 consume(id, 150) from two processes, exactly 150 succeed', async () => {
    const file = freshFile();
    const store = await openSqliteStore({ filename: file });
    const workers = [
      startWorker([file, 'race-consume', 'many', '150', '200']),
      startWorker([file, 'race-consume', 'many', '150', '200']),
    ];
    await Promise.all(workers.map((w) => w.ready));
    for (const w of workers) w.go();
    const wins = (await Promise.all(workers.map((w) => w.result))).map((line) => JSON.parse(line).wins as number);
    expect(wins.reduce((a, b) => a + b, 0)).toBe(150);
    await store.close();
  });

  it('crash: a writer killed with SIGKILL loses no acknowledged write and leaves the file intact', async () => {
    const file = freshFile();
    const child = spawn(process.execPath, [worker, file, 'write-loop'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let acked = -1;
    await new Promise<void>((resolve) => {
      const lines = createInterface({ input: child.stdout });
      lines.on('line', (line) => {
        const match = /^ack (\d+)$/.exec(line);
        if (match) acked = Number(match[1]);
        if (acked >= 300) {
          child.kill('SIGKILL');
          lines.close();
          resolve();
        }
      });
    });
    await new Promise((resolve) => child.on('exit', resolve));
    expect(child.signalCode).toBe('SIGKILL');

    const store = await openSqliteStore({ filename: file });
    expect(await store.integrityCheck()).toBe('ok');
    const entries = await store.audit.query({ subject: 'crash', limit: 1000 });
    const seen = new Set(entries.map((e) => e.detail.i));
    for (let i = 0; i <= acked; i++) {
      expect(seen.has(i), `audit entry ${i} was acknowledged`).toBe(true);
      expect(await store.usage.used(`u${i}`)).toBe(1);
      expect((await store.authenticators.get(`r${i}`))?.data).toEqual({ i });
    }
    await store.close();
  });
});

describe.runIf(need(command('sqlite3', ['-version'])))('sqlite file checked by Debian’s sqlite3', () => {
  it('an independent sqlite3 finds the file intact and the audit log append-only', async () => {
    const file = freshFile();
    const store = await openSqliteStore({ filename: file });
    await store.audit.append({ subject: 'alice', type: 'login' });
    await store.close();
    const check = spawnSync('sqlite3', [file, 'PRAGMA integrity_check;'], { encoding: 'utf8' });
    expect(check.stdout.trim()).toBe('ok');
    const tamper = spawnSync('sqlite3', [file, "UPDATE audit SET type = 'nothing';"], { encoding: 'utf8' });
    expect(tamper.status).not.toBe(0);
    expect(tamper.stderr).toContain('append-only');
    const erase = spawnSync('sqlite3', [file, 'DELETE FROM audit;'], { encoding: 'utf8' });
    expect(erase.stderr).toContain('append-only');
  });
});

describe('sqlite schema and files', () => {
  it('migrates a new file to the current schema and reopens it', async () => {
    const file = freshFile();
    const store = await openSqliteStore({ filename: file });
    expect(store.schemaVersion).toBe(1);
    await store.accounts.create({ id: 'a', username: 'a' });
    await store.close();
    const again = await openSqliteStore({ filename: file });
    expect((await again.accounts.get('a'))?.username).toBe('a');
    await again.close();
    const raw = new Database(file, { readonly: true });
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();
  });

  it('refuses a SQLite database that latchkey did not create, without touching it', async () => {
    const file = freshFile();
    const raw = new Database(file);
    raw.exec('CREATE TABLE precious (x)');
    raw.close();
    await expectCode(openSqliteStore({ filename: file }), 'ERR_STORE_SCHEMA');
    const check = new Database(file);
    expect(check.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").all()).toEqual([{ name: 'precious' }]);
    check.close();
  });

  it('refuses a database from a newer latchkey', async () => {
    const file = freshFile();
    (await openSqliteStore({ filename: file })).close();
    const raw = new Database(file);
    raw.pragma('user_version = 99');
    raw.close();
    await expectCode(openSqliteStore({ filename: file }), 'ERR_STORE_SCHEMA');
  });

  it('reports a file that is not a database as ERR_STORE_CORRUPT', async () => {
    const file = freshFile();
    writeFileSync(file, Buffer.alloc(8192, 0x41));
    await expectCode(openSqliteStore({ filename: file }), 'ERR_STORE_CORRUPT');
  });

  it('refuses bad options', async () => {
    await expectCode(openSqliteStore({ filename: '' }), 'ERR_INVALID_ARGUMENT');
    await expectCode(
      openSqliteStore({ filename: freshFile(), synchronous: 'off' as unknown as 'full' }),
      'ERR_INVALID_ARGUMENT',
    );
    await expectCode(openSqliteStore({ filename: freshFile(), limits: { maxIdLength: 1 } }), 'ERR_INVALID_ARGUMENT');
  });

  it('the audit log refuses UPDATE and DELETE at the database', async () => {
    const file = freshFile();
    const store = await openSqliteStore({ filename: file, clock: new FakeClock() });
    await store.audit.append({ subject: 's', type: 't' });
    await store.close();
    const raw = new Database(file);
    expect(() => raw.exec("UPDATE audit SET type = 'x'")).toThrow(/append-only/);
    expect(() => raw.exec('DELETE FROM audit')).toThrow(/append-only/);
    raw.close();
  });
});
