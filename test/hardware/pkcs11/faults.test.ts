/**
 * What SoftHSM cannot do, done for real anyway: a fault-injecting PKCS#11 module (fault-module.c,
 * compiled in `beforeAll`) forwards every call to SoftHSM and, as its control file says, reports
 * the token pulled out, re-plugged, its PIN counting down and locking, a mechanism missing, or any
 * CKR_* value from any function. latchkey talks to it through pkcs11js exactly as to a real card;
 * nothing here mocks pkcs11js.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPkcs11Module, type Pkcs11Module } from '../../../src/hardware/pkcs11/module.js';
import { type Pkcs11PresenceEvent, watchTokens } from '../../../src/hardware/pkcs11/presence.js';
import type { Pkcs11Session } from '../../../src/hardware/pkcs11/session.js';
import { need } from '../../helpers/components.js';
import { rejection } from '../../helpers/errors.js';
import { buildFaultModule, createSoftHsm, type FaultControl, pkcs11Components, type SoftHsm } from './softhsm.js';

const PIN = '1234';
const SO_PIN = '5678';
const MESSAGE = new TextEncoder().encode('the challenge');

describe.runIf(need(...pkcs11Components()))('PKCS#11 faults through a fault-injecting module over SoftHSM', () => {
  let hsm: SoftHsm;
  let control: FaultControl;
  let module: Pkcs11Module;
  let card: string;
  let spare: string;

  beforeAll(async () => {
    hsm = createSoftHsm();
    card = hsm.initToken('card', { pin: PIN, soPin: SO_PIN });
    spare = hsm.initToken('spare', { pin: PIN, soPin: SO_PIN });
    hsm.tool([
      '--token-label',
      'card',
      '--login',
      '--pin',
      PIN,
      '--keypairgen',
      '--key-type',
      'EC:prime256v1',
      '--id',
      '01',
    ]);
    const fault = buildFaultModule(hsm.dir);
    control = fault.control;
    module = await openPkcs11Module(fault.path);
  });

  afterAll(async () => {
    await module?.close();
    hsm?.dispose();
  });

  /** A fresh logged-in session on `card` and its key, after resetting every fault. */
  async function loggedIn(): Promise<{ session: Pkcs11Session; key: Awaited<ReturnType<Pkcs11Session['findKey']>> }> {
    control.reset();
    const session = await module.openSession({ label: 'card' });
    if ((await session.state()) === 'public') await session.login(PIN);
    return { session, key: await session.findKey({ id: '01' }) };
  }

  it('forwards to SoftHSM untouched when told nothing', async () => {
    const { session, key } = await loggedIn();
    expect(session.token.serial).toBe(card);
    expect((await session.sign(key, MESSAGE)).length).toBe(64);
    await session.logout();
    await session.close();
  });

  describe('the PIN', () => {
    it('PIN incorrect: count-low after a wrong try, final-try with one left, then the token locks', async () => {
      control.reset().rules('pin-tries 3');
      const session = await module.openSession({ label: 'card' });
      const first = await rejection(session.login('0000'));
      expect(first.code).toBe('ERR_PKCS11_PIN_INCORRECT');
      expect(first.detail).toMatchObject({ countLow: true, finalTry: false, locked: false });
      const second = await rejection(session.login('0001'));
      expect(second.code).toBe('ERR_PKCS11_PIN_INCORRECT');
      expect(second.detail).toMatchObject({ countLow: true, finalTry: true, locked: false });
      expect(second.message).toBe('the PIN is incorrect: one try is left before the token locks');
      expect((await module.token({ label: 'card' })).pin).toMatchObject({ finalTry: true, locked: false });
      const third = await rejection(session.login('0002'));
      expect(third.code).toBe('ERR_PKCS11_PIN_LOCKED');
      expect(third.detail).toMatchObject({ ckrName: 'CKR_PIN_INCORRECT', locked: true });
      expect(third.message).toContain('now locked');
      await session.close();
    });

    it('PIN locked: even the right PIN is refused, until the security officer sets a new one', async () => {
      // Continues from the lock above (the module keeps its count while the rule stays).
      const session = await module.openSession({ label: 'card' });
      const locked = await rejection(session.login(PIN));
      expect(locked.code).toBe('ERR_PKCS11_PIN_LOCKED');
      expect(locked.detail).toMatchObject({ ckrName: 'CKR_PIN_LOCKED', locked: true });
      expect((await module.token({ label: 'card' })).pin.locked).toBe(true);
      // A security officer login needs every read-only session closed.
      const busy = await rejection(module.unblockUserPin({ label: 'card' }, { soPin: SO_PIN, newPin: PIN }));
      expect(busy.detail.ckrName).toBe('CKR_SESSION_READ_ONLY_EXISTS');
      await session.close();
      expect((await rejection(module.unblockUserPin({ label: 'card' }, { soPin: '0000', newPin: PIN }))).code).toBe(
        'ERR_PKCS11_PIN_INCORRECT',
      );
      await module.unblockUserPin({ label: 'card' }, { soPin: SO_PIN, newPin: PIN });
      expect((await module.token({ label: 'card' })).pin).toMatchObject({ locked: false, countLow: false });
      const again = await module.openSession({ label: 'card' });
      await again.login(PIN);
      await again.logout();
      await again.close();
    });

    it('a PIN of a length the token refuses costs no try', async () => {
      control.reset().rules('pin-tries 3');
      const session = await module.openSession({ label: 'card' });
      expect((await rejection(session.login('1'))).code).toBe('ERR_PKCS11_PIN_INVALID');
      expect((await rejection(session.login('x'.repeat(256)))).code).toBe('ERR_PKCS11_PIN_INVALID');
      expect((await module.token({ label: 'card' })).pin.countLow).toBe(false);
      await session.login(PIN);
      await session.logout();
      await session.close();
    });

    it('a correct PIN resets the count', async () => {
      control.reset().rules('pin-tries 3');
      const session = await module.openSession({ label: 'card' });
      await rejection(session.login('0000'));
      expect((await module.token({ label: 'card' })).pin.countLow).toBe(true);
      await session.login(PIN);
      expect((await module.token({ label: 'card' })).pin.countLow).toBe(false);
      await session.logout();
      await session.close();
    });
  });

  describe('removal', () => {
    it('token removed mid-session: the next call is ERR_PKCS11_DEVICE_REMOVED and the session is over', async () => {
      const { session, key } = await loggedIn();
      const reasons: unknown[] = [];
      session.removed.addEventListener('abort', () => reasons.push(session.removed.reason));
      control.unplug(card);
      const error = await rejection(session.sign(key, MESSAGE));
      expect(error.code).toBe('ERR_PKCS11_DEVICE_REMOVED');
      expect(error.detail).toMatchObject({ ckrName: 'CKR_DEVICE_REMOVED' });
      expect(session.closed).toBe(true);
      expect(reasons).toEqual([error]);
      expect((await rejection(session.sign(key, MESSAGE))).code).toBe('ERR_PKCS11_SESSION_INVALID');
      // The slot stays (a reader without a card); the token is gone from every listing.
      expect((await module.slots()).some((slot) => !slot.tokenPresent)).toBe(true);
      expect((await module.tokens()).map((t) => t.label)).not.toContain('card');
      expect((await rejection(module.openSession({ label: 'card' }))).code).toBe('ERR_PKCS11_TOKEN_NOT_FOUND');
      control.plug(card);
    });

    it('session invalid after re-plug: old sessions fail, the login is gone, a new session works', async () => {
      const { session, key } = await loggedIn();
      control.replug(card);
      const error = await rejection(session.sign(key, MESSAGE));
      expect(error.code).toBe('ERR_PKCS11_SESSION_INVALID');
      expect(error.detail.ckrName).toBe('CKR_SESSION_HANDLE_INVALID');
      expect(error.message).toContain('re-plugged');
      expect(session.removed.aborted).toBe(true);
      const fresh = await module.openSession({ label: 'card' });
      expect(await fresh.state()).toBe('public'); // the card forgot the login with its power
      await fresh.login(PIN);
      const freshKey = await fresh.findKey({ id: '01' });
      expect((await fresh.sign(freshKey, MESSAGE)).length).toBe(64);
      await fresh.logout();
      await fresh.close();
    });

    it('opening a session on a token pulled out since it was listed is ERR_PKCS11_TOKEN_NOT_FOUND', async () => {
      control.reset();
      const info = await module.token({ label: 'card' });
      control.unplug(card);
      expect((await rejection(module.openSession(info))).code).toBe('ERR_PKCS11_TOKEN_NOT_FOUND');
      control.plug(card);
      const session = await module.openSession(info);
      await session.close();
    });
  });

  describe('mechanisms and other CKR values', () => {
    it('mechanism not supported: a token without CKM_ECDSA is refused before C_SignInit', async () => {
      control.reset().rules('hide-mechanism 1041', 'fail C_SignInit 5');
      const session = await module.openSession({ label: 'card' });
      await session.login(PIN);
      const key = await session.findKey({ id: '01' });
      const error = await rejection(session.sign(key, MESSAGE));
      // Not CKR_GENERAL_ERROR from C_SignInit: latchkey asked the mechanism list first.
      expect(error.code).toBe('ERR_PKCS11_MECHANISM_UNSUPPORTED');
      expect(error.detail).toMatchObject({ mechanism: 0x1041 });
      expect(error.detail.ckr).toBeUndefined();
      await session.logout();
      await session.close();
    });

    it('mechanism not supported: a token that lists CKM_ECDSA but refuses it in C_SignInit', async () => {
      const { session, key } = await loggedIn();
      control.rules('fail C_SignInit 70');
      const error = await rejection(session.sign(key, MESSAGE));
      expect(error.code).toBe('ERR_PKCS11_MECHANISM_UNSUPPORTED');
      expect(error.detail).toMatchObject({ ckrName: 'CKR_MECHANISM_INVALID', operation: 'C_SignInit' });
      control.reset();
      expect((await session.sign(key, MESSAGE)).length).toBe(64); // the session survives
      await session.logout();
      await session.close();
    });

    it('every CKR a token returns from C_Sign becomes its LatchkeyError code', async () => {
      const cases: [number, string, string][] = [
        [0x30, 'ERR_PKCS11', 'CKR_DEVICE_ERROR'],
        [0x31, 'ERR_PKCS11', 'CKR_DEVICE_MEMORY'],
        [0x101, 'ERR_PKCS11_NOT_LOGGED_IN', 'CKR_USER_NOT_LOGGED_IN'],
        [0x68, 'ERR_PKCS11_KEY_UNSUITABLE', 'CKR_KEY_FUNCTION_NOT_PERMITTED'],
        [0x60, 'ERR_PKCS11_KEY_NOT_FOUND', 'CKR_KEY_HANDLE_INVALID'],
        [0x200, 'ERR_PKCS11', 'CKR_FUNCTION_REJECTED'],
        [0x80000123, 'ERR_PKCS11', 'CKR_VENDOR_DEFINED+0x123'],
        [0x1234, 'ERR_PKCS11', 'CKR_0x1234'],
        [0xe0, 'ERR_PKCS11_TOKEN_NOT_PRESENT', 'CKR_TOKEN_NOT_PRESENT'],
        [0xb0, 'ERR_PKCS11_SESSION_INVALID', 'CKR_SESSION_CLOSED'],
      ];
      for (const [rv, code, name] of cases) {
        const { session, key } = await loggedIn();
        control.rules(`fail C_Sign ${rv.toString(16)}`);
        const error = await rejection(session.sign(key, MESSAGE));
        expect([rv, error.code, error.detail.ckrName, error.detail.operation]).toEqual([rv, code, name, 'C_Sign']);
        // A token-gone answer ends the session; any other leaves it usable.
        expect(session.closed).toBe(code === 'ERR_PKCS11_TOKEN_NOT_PRESENT' || code === 'ERR_PKCS11_SESSION_INVALID');
        control.reset();
        if (!session.closed) {
          // C_Sign failed after C_SignInit: the operation ended with the error (PKCS#11 §5.12).
          expect((await session.sign(key, MESSAGE)).length).toBe(64);
          await session.close();
        }
      }
    });

    it('a token posing as another reports the other’s serial', async () => {
      control.reset().rules(`serial ${spare} ${card}`);
      const serials = (await module.tokens()).filter((t) => t.initialized).map((t) => t.serial);
      expect(serials).toEqual([card, card]);
      expect((await rejection(module.token({ serial: card }))).detail.count).toBe(2);
      control.reset();
    });
  });

  describe('presence', () => {
    it('reports detach and attach from the module’s slot events', async () => {
      control.reset();
      const events: Pkcs11PresenceEvent[] = [];
      const watcher = watchTokens(module, { onEvent: (e) => events.push(e), intervalMs: 60_000 });
      await watcher.poll();
      expect(watcher.slotEvents).toBe(true);
      expect(events.map((e) => `${e.type}:${e.token.label}`).sort()).toEqual(['attach:card', 'attach:spare']);
      events.length = 0;
      control.unplug(card);
      await watcher.poll();
      expect(events.map((e) => [e.type, e.token.label, e.cause])).toEqual([['detach', 'card', 'event']]);
      expect(watcher.present().map((t) => t.label)).toEqual(['spare']);
      control.plug(card);
      await watcher.poll();
      expect(events.slice(1).map((e) => [e.type, e.token.label, e.cause])).toEqual([['attach', 'card', 'event']]);
      watcher.stop();
    });

    it('polls when the module has no slot events, and a tracked session reports its removal at once', async () => {
      control.reset().rules('events off');
      expect(await module.pollSlotEvent()).toBeUndefined();
      const events: string[] = [];
      const watcher = watchTokens(module, {
        onEvent: (e) => events.push(`${e.type}:${e.token.label}:${e.cause}`),
        intervalMs: 60_000,
      });
      await watcher.poll();
      expect(watcher.slotEvents).toBe(false);
      events.length = 0;
      control.unplug(spare);
      await watcher.poll();
      expect(events).toEqual(['detach:spare:poll']);
      control.plug(spare);
      await watcher.poll();

      const session = await module.openSession({ label: 'card' });
      watcher.track(session);
      events.length = 0;
      control.rules('events off').unplug(card);
      await rejection(session.state());
      expect(events).toEqual(['detach:card:removed']); // before any tick
      control.plug(card);
      await watcher.poll();
      expect(events).toEqual(['detach:card:removed', 'attach:card:poll']);
      watcher.stop();
    });

    it('debounces a token that flaps', async () => {
      control.reset();
      let now = 0;
      const events: string[] = [];
      const watcher = watchTokens(module, {
        onEvent: (e) => events.push(`${e.type}:${e.token.label}`),
        intervalMs: 60_000,
        debounceMs: 500,
        clock: { now: () => now },
      });
      await watcher.poll(); // seen, not yet reported
      expect(events).toEqual([]);
      now = 600;
      await watcher.poll();
      expect(events.sort()).toEqual(['attach:card', 'attach:spare']);
      events.length = 0;
      control.unplug(spare);
      now = 700;
      await watcher.poll();
      control.plug(spare);
      now = 800;
      await watcher.poll(); // back before the debounce ran out: nothing happened
      now = 2000;
      await watcher.poll();
      expect(events).toEqual([]);
      watcher.stop();
    });
  });
});
