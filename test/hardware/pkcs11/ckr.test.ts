/**
 * The CKR table against the OASIS header (pkcs11t.h as shipped inside pkcs11js, an independent
 * copy of the specification's numbers), and the mapping of every value to a LatchkeyError.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, LatchkeyError } from '../../../src/core/errors.js';
import { CKR, CKR_VENDOR_DEFINED, ckrCode, ckrError, ckrName } from '../../../src/hardware/pkcs11/ckr.js';
import * as constants from '../../../src/hardware/pkcs11/constants.js';
import { need } from '../../helpers/components.js';

function oasisHeader(): { path: string; available: boolean } {
  try {
    const root = dirname(createRequire(import.meta.url).resolve('pkcs11js/package.json'));
    const path = join(root, 'includes', 'pkcs11', 'pkcs11t.h');
    return { path, available: existsSync(path) };
  } catch {
    return { path: '', available: false };
  }
}

const header = oasisHeader();

describe('CKR values', () => {
  it.runIf(need({ name: 'pkcs11t.h (in pkcs11js)', available: header.available, reason: 'pkcs11js is not installed' }))(
    'every CKR_* in the OASIS header is in the table under its spec name, with a code',
    () => {
      const defines = [...readFileSync(header.path, 'utf8').matchAll(/#define\s+(CKR_\w+)\s+(0x[0-9A-Fa-f]+)UL/g)];
      expect(defines.length).toBeGreaterThan(80);
      for (const [, name, value] of defines) {
        const rv = Number(value);
        expect([name, CKR[rv]]).toEqual([name, name]);
        expect(ERROR_CODES).toContain(ckrCode(rv));
      }
    },
  );

  it.runIf(need({ name: 'pkcs11js', available: header.available, reason: 'pkcs11js is not installed' }))(
    'latchkey’s own CK* numbers agree with pkcs11js’s wherever pkcs11js defines them',
    () => {
      const pkcs11js = createRequire(import.meta.url)('pkcs11js') as Record<string, unknown>;
      let compared = 0;
      for (const [group, table] of Object.entries(constants)) {
        if (typeof table !== 'object' || table === null) continue;
        for (const [name, value] of Object.entries(table)) {
          const theirs = pkcs11js[group === 'PKCS11JS_PARAMS' ? `CK_PARAMS_${name}` : `${group}_${name}`];
          if (theirs === undefined) continue; // CKS_* and CKZ_* are not exported by pkcs11js
          expect([group, name, value]).toEqual([group, name, theirs]);
          compared++;
        }
      }
      expect(compared).toBeGreaterThan(70);
    },
  );

  it('uses the specification’s numbers (not p11-kit 0.24’s shifted CKR_PIN_TOO_WEAK)', () => {
    expect(CKR[0xa0]).toBe('CKR_PIN_INCORRECT');
    expect(CKR[0x1b8]).toBe('CKR_PIN_TOO_WEAK');
    expect(CKR[0x1c3]).toBeUndefined();
    expect(CKR[0x209]).toBe('CKR_PARAMETER_SET_NOT_SUPPORTED');
    expect(CKR[CKR_VENDOR_DEFINED]).toBe('CKR_VENDOR_DEFINED');
  });

  it('maps the values a user must act on to their own codes', () => {
    const expected: Record<string, string> = {
      CKR_PIN_INCORRECT: 'ERR_PKCS11_PIN_INCORRECT',
      CKR_PIN_LOCKED: 'ERR_PKCS11_PIN_LOCKED',
      CKR_PIN_LEN_RANGE: 'ERR_PKCS11_PIN_INVALID',
      CKR_PIN_EXPIRED: 'ERR_PKCS11_PIN_EXPIRED',
      CKR_TOKEN_NOT_PRESENT: 'ERR_PKCS11_TOKEN_NOT_PRESENT',
      CKR_DEVICE_REMOVED: 'ERR_PKCS11_DEVICE_REMOVED',
      CKR_SESSION_HANDLE_INVALID: 'ERR_PKCS11_SESSION_INVALID',
      CKR_SESSION_CLOSED: 'ERR_PKCS11_SESSION_INVALID',
      CKR_USER_ALREADY_LOGGED_IN: 'ERR_PKCS11_ALREADY_LOGGED_IN',
      CKR_USER_ANOTHER_ALREADY_LOGGED_IN: 'ERR_PKCS11_ALREADY_LOGGED_IN',
      CKR_USER_NOT_LOGGED_IN: 'ERR_PKCS11_NOT_LOGGED_IN',
      CKR_MECHANISM_INVALID: 'ERR_PKCS11_MECHANISM_UNSUPPORTED',
      CKR_CRYPTOKI_NOT_INITIALIZED: 'ERR_PKCS11_MODULE_CLOSED',
      CKR_DEVICE_ERROR: 'ERR_PKCS11',
    };
    const byName = new Map(Object.entries(CKR).map(([value, name]) => [name, Number(value)]));
    for (const [name, code] of Object.entries(expected)) {
      expect([name, ckrCode(byName.get(name) as number)]).toEqual([name, code]);
    }
  });

  it('every message follows the house style: lower case, no trailing period, no CKR name', () => {
    for (const value of Object.keys(CKR).map(Number)) {
      const error = ckrError(value, 'C_Login');
      expect(error.message).toMatch(/^[a-z]/);
      expect(error.message).not.toMatch(/\.$/);
      expect(error.message).not.toContain('CKR_');
      expect(error.detail).toMatchObject({ ckr: value, ckrName: ckrName(value), operation: 'C_Login' });
    }
  });

  it('names vendor and unknown values', () => {
    expect(ckrName(0x80000001)).toBe('CKR_VENDOR_DEFINED+0x1');
    expect(ckrName(0x4242)).toBe('CKR_0x4242');
    expect(ckrError(0x80000001, 'C_Sign').message).toBe('the token reported a vendor-specific error');
  });

  it('any value at all becomes a LatchkeyError with a known code', () => {
    fc.assert(
      fc.property(fc.nat({ max: 0xffffffff }), fc.constantFrom('C_Sign', 'C_Login', 'C_Decrypt'), (rv, op) => {
        const error = ckrError(rv, op);
        expect(error).toBeInstanceOf(LatchkeyError);
        expect(ERROR_CODES).toContain(error.code);
        expect(error.detail.ckr).toBe(rv);
      }),
    );
  });
});
