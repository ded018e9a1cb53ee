/**
 * The store contract: one suite that every Store implementation must pass (memory, SQLite,
 * and PostgreSQL when it lands). It pins down semantics the layers above rely on: single-use
 * challenges under races, atomic usage counters, compare-and-set records, an append-only
 * audit log, expiry by the injected clock, and LatchkeyError for every bad input.
 */
import { describe, expect, it } from 'vitest';
import { isLatchkeyError, type LatchkeyErrorCode } from '../../src/core/errors.js';
import { randomBytes, randomId } from '../../src/core/random.js';
import type { Store } from '../../src/store/types.js';
import { FakeClock } from '../../src/testing/clock.js';

export type OpenStore = (clock: FakeClock) => Promise<Store>;

export async function expectCode(promise: Promise<unknown> | (() => unknown), code: LatchkeyErrorCode) {
  let error: unknown;
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (caught) {
    error = caught;
  }
  expect(error, `expected a LatchkeyError ${code}`).toBeDefined();
  if (!isLatchkeyError(error, code)) {
    throw new Error(`expected LatchkeyError ${code}, got ${String(error)} (${(error as { code?: string }).code})`);
  }
}

async function withStore(open: OpenStore, body: (store: Store, clock: FakeClock) => Promise<void>) {
  const clock = new FakeClock(Date.UTC(2030, 0, 1));
  const store = await open(clock);
  try {
    await body(store, clock);
  } finally {
    await store.close();
  }
}

export function storeContract(name: string, open: OpenStore): void {
  describe(`store contract: ${name}`, () => {
    describe('accounts', () => {
      it('creates, reads and finds by username after NFC and case folding', () =>
        withStore(open, async (store) => {
          const account = await store.accounts.create({ username: 'Zoë', displayName: 'Zoë Q', metadata: { a: 1 } });
          expect(account.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
          expect(await store.accounts.get(account.id)).toEqual(account);
          // "Zoë" with a combining diaeresis, upper case: the same username
          expect((await store.accounts.findByUsername('ZOE\u0308'))?.id).toBe(account.id);
          expect(await store.accounts.findByUsername('zoe')).toBeNull();
          expect(await store.accounts.get('nobody')).toBeNull();
        }));

      it('refuses a second account with the same username or id', () =>
        withStore(open, async (store) => {
          await store.accounts.create({ id: 'alice', username: 'alice' });
          await expectCode(store.accounts.create({ username: 'ALICE' }), 'ERR_STORE_CONFLICT');
          await expectCode(store.accounts.create({ id: 'alice', username: 'alice2' }), 'ERR_STORE_CONFLICT');
        }));

      it('disables an account, and says when it does not exist', () =>
        withStore(open, async (store) => {
          const account = await store.accounts.create({ username: 'bob' });
          await store.accounts.setDisabled(account.id, true);
          expect((await store.accounts.get(account.id))?.disabled).toBe(true);
          await expectCode(store.accounts.setDisabled('ghost', true), 'ERR_STORE_NOT_FOUND');
        }));

      it('rejects bad input with ERR_INVALID_ARGUMENT', () =>
        withStore(open, async (store) => {
          await expectCode(store.accounts.create({ username: '' }), 'ERR_INVALID_ARGUMENT');
          await expectCode(store.accounts.create({ username: 'a\u0000b' }), 'ERR_INVALID_ARGUMENT');
          await expectCode(store.accounts.get(42 as unknown as string), 'ERR_INVALID_ARGUMENT');
          await expectCode(store.accounts.get('x'.repeat(10_000)), 'ERR_INVALID_ARGUMENT');
          await expectCode(
            store.accounts.create({ username: 'c', metadata: { f: (() => 1) as unknown as number } }),
            'ERR_INVALID_ARGUMENT',
          );
        }));
    });

    describe('authenticator records', () => {
      it('enrols records for an existing account only', () =>
        withStore(open, async (store) => {
          await expectCode(
            store.authenticators.add({ accountId: 'ghost', factor: 'password', data: {} }),
            'ERR_STORE_NOT_FOUND',
          );
          const account = await store.accounts.create({ username: 'carol' });
          const record = await store.authenticators.add({
            accountId: account.id,
            factor: 'webauthn',
            lookupKey: 'cred-1',
            label: 'laptop',
            data: { publicKey: 'pQECAyYgASFYIA', transports: ['internal'] },
          });
          expect(record).toMatchObject({ counter: 0, duress: false, disabled: false, version: 1, factor: 'webauthn' });
          expect(await store.authenticators.get(record.id)).toEqual(record);
          expect((await store.authenticators.findByLookupKey('webauthn', 'cred-1'))?.id).toBe(record.id);
          expect(await store.authenticators.findByLookupKey('fob', 'cred-1')).toBeNull();
        }));

      it('keeps lookup keys unique per factor', () =>
        withStore(open, async (store) => {
          const account = await store.accounts.create({ username: 'dan' });
          await store.authenticators.add({ accountId: account.id, factor: 'webauthn', lookupKey: 'k', data: {} });
          await store.authenticators.add({ accountId: account.id, factor: 'fob', lookupKey: 'k', data: {} });
          await expectCode(
            store.authenticators.add({ accountId: account.id, factor: 'webauthn', lookupKey: 'k', data: {} }),
            'ERR_STORE_CONFLICT',
          );
        }));

      it('lists an account’s records oldest first, optionally by factor', () =>
        withStore(open, async (store, clock) => {
          const account = await store.accounts.create({ username: 'erin' });
          const other = await store.accounts.create({ username: 'frank' });
          const first = await store.authenticators.add({ accountId: account.id, factor: 'password', data: {} });
          clock.advance(1000);
          const second = await store.authenticators.add({ accountId: account.id, factor: 'fob', data: {} });
          await store.authenticators.add({ accountId: other.id, factor: 'fob', data: {} });
          expect((await store.authenticators.listByAccount(account.id)).map((r) => r.id)).toEqual([
            first.id,
            second.id,
          ]);
          expect((await store.authenticators.listByAccount(account.id, 'fob')).map((r) => r.id)).toEqual([second.id]);
        }));

      it('updates by compare-and-set: a stale version is a conflict, and of racing writers exactly one wins', () =>
        withStore(open, async (store, clock) => {
          const account = await store.accounts.create({ username: 'gina' });
          const record = await store.authenticators.add({ accountId: account.id, factor: 'fob', data: { n: 0 } });
          const updated = await store.authenticators.update(record.id, 1, {
            counter: 7,
            lastUsedAt: clock.now(),
            data: { n: 1 },
          });
          expect(updated).toMatchObject({ counter: 7, version: 2, data: { n: 1 }, lastUsedAt: clock.now() });
          await expectCode(store.authenticators.update(record.id, 1, { counter: 8 }), 'ERR_STORE_CONFLICT');
          const racers = await Promise.allSettled(
            Array.from({ length: 50 }, (_, i) => store.authenticators.update(record.id, 2, { counter: 100 + i })),
          );
          expect(racers.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
          for (const r of racers) if (r.status === 'rejected') expect(r.reason.code).toBe('ERR_STORE_CONFLICT');
          expect((await store.authenticators.get(record.id))?.version).toBe(3);
          await expectCode(store.authenticators.update('ghost', 1, { counter: 1 }), 'ERR_STORE_NOT_FOUND');
        }));

      it('returns copies: mutating a returned record does not change the store', () =>
        withStore(open, async (store) => {
          const account = await store.accounts.create({ username: 'hal' });
          const record = await store.authenticators.add({
            accountId: account.id,
            factor: 'fob',
            data: { list: [1, 2] },
          });
          (record.data.list as number[]).push(3);
          expect((await store.authenticators.get(record.id))?.data).toEqual({ list: [1, 2] });
        }));

      it('removes records and frees their lookup key', () =>
        withStore(open, async (store) => {
          const account = await store.accounts.create({ username: 'ivy' });
          const record = await store.authenticators.add({
            accountId: account.id,
            factor: 'fob',
            lookupKey: 'x',
            data: {},
          });
          expect(await store.authenticators.remove(record.id)).toBe(true);
          expect(await store.authenticators.remove(record.id)).toBe(false);
          expect(await store.authenticators.findByLookupKey('fob', 'x')).toBeNull();
          await store.authenticators.add({ accountId: account.id, factor: 'fob', lookupKey: 'x', data: {} });
        }));

      it('refuses oversized or non-JSON data', () =>
        withStore(open, async (store) => {
          const account = await store.accounts.create({ username: 'jay' });
          await expectCode(
            store.authenticators.add({ accountId: account.id, factor: 'fob', data: { big: 'x'.repeat(70_000) } }),
            'ERR_LIMIT_EXCEEDED',
          );
          await expectCode(
            store.authenticators.add({ accountId: account.id, factor: 'fob', data: { n: Number.NaN } }),
            'ERR_INVALID_ARGUMENT',
          );
          await expectCode(
            store.authenticators.add({
              accountId: account.id,
              factor: 'fob',
              data: { d: new Date() as unknown as string },
            }),
            'ERR_INVALID_ARGUMENT',
          );
        }));
    });

    describe('challenges', () => {
      it('are taken once, with their payload', () =>
        withStore(open, async (store) => {
          const payload = randomBytes(32);
          await store.challenges.put({ id: 'c1', purpose: 'login', payload, subject: 'alice', ttlMs: 60_000 });
          const taken = await store.challenges.take('c1', 'login');
          expect(taken?.payload).toEqual(payload);
          expect(taken?.subject).toBe('alice');
          expect(await store.challenges.take('c1', 'login')).toBeNull();
        }));

      it('a purpose mismatch returns nothing and consumes nothing', () =>
        withStore(open, async (store) => {
          await store.challenges.put({ id: 'c2', purpose: 'login', payload: randomBytes(16), ttlMs: 60_000 });
          expect(await store.challenges.take('c2', 'register')).toBeNull();
          expect(await store.challenges.take('c2', 'login')).not.toBeNull();
        }));

      it('expired challenges are never returned (injected clock), even at the exact expiry', () =>
        withStore(open, async (store, clock) => {
          await store.challenges.put({ id: 'c3', purpose: 'p', payload: randomBytes(16), ttlMs: 1000 });
          await store.challenges.put({ id: 'c4', purpose: 'p', payload: randomBytes(16), ttlMs: 1000 });
          clock.advance(999);
          expect(await store.challenges.take('c3', 'p')).not.toBeNull();
          clock.advance(1);
          expect(await store.challenges.take('c4', 'p')).toBeNull();
        }));

      it('a live id cannot be overwritten; an expired one can', () =>
        withStore(open, async (store, clock) => {
          await store.challenges.put({ id: 'c5', purpose: 'p', payload: randomBytes(16), ttlMs: 1000 });
          await expectCode(
            store.challenges.put({ id: 'c5', purpose: 'p', payload: randomBytes(16), ttlMs: 1000 }),
            'ERR_STORE_CONFLICT',
          );
          clock.advance(1000);
          const fresh = randomBytes(16);
          await store.challenges.put({ id: 'c5', purpose: 'q', payload: fresh, ttlMs: 1000 });
          expect((await store.challenges.take('c5', 'q'))?.payload).toEqual(fresh);
        }));

      it('enforces the ttl and payload limits', () =>
        withStore(open, async (store) => {
          await expectCode(
            store.challenges.put({ id: 'c6', purpose: 'p', payload: randomBytes(16), ttlMs: 24 * 3_600_000 }),
            'ERR_INVALID_ARGUMENT',
          );
          await expectCode(
            store.challenges.put({ id: 'c7', purpose: 'p', payload: new Uint8Array(20_000), ttlMs: 1000 }),
            'ERR_INVALID_ARGUMENT',
          );
          await expectCode(
            store.challenges.put({ id: 'c8', purpose: 'p', payload: 'abc' as unknown as Uint8Array, ttlMs: 1000 }),
            'ERR_INVALID_ARGUMENT',
          );
        }));

      it('purges expired challenges', () =>
        withStore(open, async (store, clock) => {
          for (let i = 0; i < 5; i++) {
            await store.challenges.put({ id: `e${i}`, purpose: 'p', payload: randomBytes(16), ttlMs: 1000 + i * 1000 });
          }
          clock.advance(2500);
          expect(await store.challenges.purgeExpired()).toBe(2);
          expect(await store.challenges.take('e4', 'p')).not.toBeNull();
        }));

      it('race: 200 concurrent takes of one challenge, exactly one wins', () =>
        withStore(open, async (store) => {
          await store.challenges.put({ id: 'race', purpose: 'p', payload: randomBytes(16), ttlMs: 60_000 });
          const results = await Promise.all(Array.from({ length: 200 }, () => store.challenges.take('race', 'p')));
          expect(results.filter((r) => r !== null)).toHaveLength(1);
        }));
    });

    describe('usage counters', () => {
      it('race: 200 concurrent consume(id, 1), exactly one succeeds', () =>
        withStore(open, async (store) => {
          const results = await Promise.all(Array.from({ length: 200 }, () => store.usage.consume('once', 1)));
          expect(results.filter((r) => r.ok)).toHaveLength(1);
          expect(await store.usage.used('once')).toBe(1);
        }));

      it('race: 200 concurrent consume(id, 5), exactly five succeed, numbered 1 to 5', () =>
        withStore(open, async (store) => {
          const results = await Promise.all(Array.from({ length: 200 }, () => store.usage.consume('five', 5)));
          const granted = results.filter((r) => r.ok).map((r) => r.used);
          expect(granted.sort()).toEqual([1, 2, 3, 4, 5]);
          for (const r of results) if (!r.ok) expect(r.used).toBe(5);
        }));

      it('reports unused ids as zero and refuses a zero limit', () =>
        withStore(open, async (store) => {
          expect(await store.usage.used('never')).toBe(0);
          await expectCode(store.usage.consume('x', 0), 'ERR_INVALID_ARGUMENT');
        }));
    });

    describe('throttle counters', () => {
      it('count hits in a fixed window that the clock ends', () =>
        withStore(open, async (store, clock) => {
          const start = clock.now();
          expect(await store.throttle.hit('ip:1', 60_000)).toEqual({ count: 1, resetAt: start + 60_000 });
          expect(await store.throttle.hit('ip:1', 60_000)).toEqual({ count: 2, resetAt: start + 60_000 });
          expect(await store.throttle.peek('ip:1')).toEqual({ count: 2, resetAt: start + 60_000 });
          clock.advance(60_000);
          expect(await store.throttle.peek('ip:1')).toBeNull();
          expect(await store.throttle.hit('ip:1', 60_000)).toEqual({ count: 1, resetAt: clock.now() + 60_000 });
          await store.throttle.reset('ip:1');
          expect(await store.throttle.peek('ip:1')).toBeNull();
        }));

      it('race: 200 concurrent hits are all counted', () =>
        withStore(open, async (store) => {
          const results = await Promise.all(Array.from({ length: 200 }, () => store.throttle.hit('burst', 60_000)));
          expect(new Set(results.map((r) => r.count)).size).toBe(200);
          expect((await store.throttle.peek('burst'))?.count).toBe(200);
        }));
    });

    describe('revocations', () => {
      it('are idempotent and found in chain order', () =>
        withStore(open, async (store, clock) => {
          const first = await store.revocations.revoke('cid-b', {
            reason: 'lost phone',
            expiresAt: clock.now() + 5000,
          });
          clock.advance(10);
          const again = await store.revocations.revoke('cid-b', { reason: 'other' });
          expect(again).toEqual(first);
          await store.revocations.revoke('cid-c', { reason: 'x' });
          expect((await store.revocations.firstRevoked(['cid-a', 'cid-c', 'cid-b']))?.id).toBe('cid-c');
          expect(await store.revocations.firstRevoked(['cid-a'])).toBeNull();
          expect(await store.revocations.firstRevoked([])).toBeNull();
          clock.advance(5000);
          expect(await store.revocations.purgeExpired()).toBe(1);
          expect((await store.revocations.firstRevoked(['cid-b', 'cid-c']))?.id).toBe('cid-c');
        }));

      it('cap the number of ids checked at once', () =>
        withStore(open, async (store) => {
          const ids = Array.from({ length: 65 }, () => randomId());
          await expectCode(store.revocations.firstRevoked(ids), 'ERR_LIMIT_EXCEEDED');
        }));
    });

    describe('audit log', () => {
      it('appends with increasing sequence numbers and queries by subject', () =>
        withStore(open, async (store, clock) => {
          const a = await store.audit.append({ subject: 'alice', type: 'login', detail: { factor: 'fob' } });
          clock.advance(1000);
          await store.audit.append({ subject: 'bob', type: 'login' });
          const c = await store.audit.append({ subject: 'alice', type: 'logout' });
          expect(c.seq).toBeGreaterThan(a.seq);
          const entries = await store.audit.query({ subject: 'alice' });
          expect(entries.map((e) => e.type)).toEqual(['login', 'logout']);
          expect(entries[0]).toEqual(a);
          expect((await store.audit.query({ subject: 'alice', types: ['logout'] })).map((e) => e.seq)).toEqual([c.seq]);
          expect((await store.audit.query({ subject: 'alice', since: a.at + 1 })).map((e) => e.seq)).toEqual([c.seq]);
          expect((await store.audit.query({ subject: 'alice', until: a.at })).map((e) => e.seq)).toEqual([a.seq]);
        }));

      it('hides operator-only entries from the subject’s view', () =>
        withStore(open, async (store) => {
          await store.audit.append({ subject: 'alice', type: 'login' });
          await store.audit.append({ subject: 'alice', type: 'duress', audience: 'operator' });
          expect((await store.audit.query({ subject: 'alice' })).map((e) => e.type)).toEqual(['login']);
          expect((await store.audit.query({ subject: 'alice', audience: 'operator' })).map((e) => e.type)).toEqual([
            'login',
            'duress',
          ]);
        }));

      it('pages with afterSeq and caps page size', () =>
        withStore(open, async (store) => {
          for (let i = 0; i < 25; i++) await store.audit.append({ subject: 'pager', type: 't', detail: { i } });
          const page1 = await store.audit.query({ subject: 'pager', limit: 10 });
          const page2 = await store.audit.query({ subject: 'pager', limit: 10, afterSeq: page1.at(-1)?.seq ?? 0 });
          expect(page1.map((e) => e.detail.i)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
          expect(page2.map((e) => e.detail.i)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
          await expectCode(store.audit.query({ subject: 'pager', limit: 100_000 }), 'ERR_INVALID_ARGUMENT');
        }));

      it('has no way to change or delete an entry', () =>
        withStore(open, async (store) => {
          const audit = store.audit as unknown as Record<string, unknown>;
          expect(Object.keys(audit).sort()).toEqual(['append', 'query']);
          const entry = await store.audit.append({ subject: 's', type: 't', detail: { x: 1 } });
          (entry.detail as { x: number }).x = 2;
          expect((await store.audit.query({ subject: 's' }))[0]?.detail).toEqual({ x: 1 });
        }));
    });

    it('refuses every call after close with ERR_STORE_CLOSED', async () => {
      const store = await open(new FakeClock());
      await store.close();
      await expectCode(store.accounts.get('x'), 'ERR_STORE_CLOSED');
      await expectCode(store.challenges.take('x', 'p'), 'ERR_STORE_CLOSED');
      await expectCode(store.usage.consume('x', 1), 'ERR_STORE_CLOSED');
      await store.close();
    });
  });
}
