/** NIST SP 800-63B-4 rules for new passwords, the shipped blocklist, and the strength estimate. */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { isLatchkeyError } from '../../../src/core/errors.js';
import { commonRank } from '../../../src/factors/password/blocklist.js';
import { COMMON_PASSWORDS } from '../../../src/factors/password/common-passwords.js';
import { assessPassword, checkNewPassword } from '../../../src/factors/password/rules.js';
import { estimateStrength } from '../../../src/factors/password/strength.js';
import { codeOf } from '../../helpers/errors.js';

function reasonOf(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (error) {
    if (!isLatchkeyError(error)) throw error;
    return String(error.detail.reason ?? error.code);
  }
}

describe('length', () => {
  test('15 characters alone, 8 with another factor; counted in code points after NFKC', () => {
    expect(codeOf(() => checkNewPassword('fourteen chars'))).toBe('ERR_PASSWORD_TOO_SHORT');
    expect(checkNewPassword('fifteen chars!!')).toBe(15);
    expect(checkNewPassword('eight ch', { use: 'mfa' })).toBe(8);
    expect(codeOf(() => checkNewPassword('seven c', { use: 'mfa' }))).toBe('ERR_PASSWORD_TOO_SHORT');
    // eight emoji are eight characters (16 UTF-16 units, 32 bytes)
    expect(checkNewPassword('🐈🐈🐕🐕🐈🐈🐕🐇', { use: 'mfa' })).toBe(8);
    // seven characters typed decomposed (more code units) are still seven
    expect(codeOf(() => checkNewPassword('éèêëēėę'.normalize('NFD'), { use: 'mfa' }))).toBe('ERR_PASSWORD_TOO_SHORT');
  });

  test('the minimum can be raised but never lowered below NIST’s, and the error says the minimum', () => {
    expect(codeOf(() => checkNewPassword('twenty characters!!', { minLength: 20 }))).toBe('ERR_PASSWORD_TOO_SHORT');
    expect(checkNewPassword('eight ch', { use: 'mfa', minLength: 4 })).toBe(8);
    try {
      checkNewPassword('short one', { use: 'single-factor' });
      expect.unreachable();
    } catch (error) {
      expect(isLatchkeyError(error, 'ERR_PASSWORD_TOO_SHORT')).toBe(true);
      expect((error as { detail: unknown }).detail).toEqual({ reason: 'too-short', minLength: 15, length: 9 });
    }
  });

  test('no composition rules: all lower case, no digits, spaces and any script are fine', () => {
    expect(codeOf(() => checkNewPassword('all lowercase and no digits at all'))).toBe('ok');
    expect(codeOf(() => checkNewPassword('пароль из четырёх слов тут'))).toBe('ok');
    expect(codeOf(() => checkNewPassword('    spaces count too    '))).toBe('ok');
    expect(codeOf(() => checkNewPassword(`${'y'.repeat(63)}z`))).toBe('ok');
  });
});

describe('the blocklist', () => {
  test('common and breached passwords are refused, case-insensitively, saying why', () => {
    for (const common of ['password1234', 'qwertyuiop', 'iloveyou1', 'PASSWORD1234', 'ｑｗｅｒｔｙｕｉｏｐ']) {
      expect({ common, reason: reasonOf(() => checkNewPassword(common, { use: 'mfa' })) }).toEqual({
        common,
        reason: 'common',
      });
    }
  });

  test('a listed password with digits and symbols around it is refused as a variant', () => {
    for (const variant of ['Dragon2024!', '!!sunshine!!', 'Password1234!', '1982princess#']) {
      expect({ variant, reason: reasonOf(() => checkNewPassword(variant, { use: 'mfa' })) }).toEqual({
        variant,
        reason: 'common-variant',
      });
    }
    // a common word inside a longer passphrase is fine
    expect(reasonOf(() => checkNewPassword('my dragon sleeps under the stairs'))).toBe('ok');
  });

  test('repeated patterns and plain sequences are refused', () => {
    expect(reasonOf(() => checkNewPassword('x'.repeat(64)))).toBe('repetitive');
    expect(reasonOf(() => checkNewPassword('abcabcabcabcabcabc'))).toBe('repetitive');
    expect(reasonOf(() => checkNewPassword('abcdefghijklmnop'))).toBe('sequential');
    expect(reasonOf(() => checkNewPassword('123456789012345678'))).toBe('sequential');
    expect(reasonOf(() => checkNewPassword('zyxwvutsrqponmlk'))).toBe('sequential');
  });

  test('the user’s own names and the service’s words are refused', () => {
    expect(reasonOf(() => checkNewPassword('alice-in-wonderland-2030', { userInputs: ['Alice'] }))).toBe('user-input');
    expect(reasonOf(() => checkNewPassword('my latchkey password is long', { blocklist: ['LatchKey'] }))).toBe(
      'blocklist',
    );
    // words shorter than three characters are ignored (they would refuse nearly everything)
    expect(reasonOf(() => checkNewPassword('a perfectly fine passphrase', { userInputs: ['a'] }))).toBe('ok');
  });

  test('assessPassword lists every problem without throwing', () => {
    const result = assessPassword('Dragon2024!', { userInputs: ['dragon'] });
    expect(result.ok).toBe(false);
    expect(result.problems.map((p) => p.reason)).toEqual(['too-short', 'common-variant', 'user-input']);
    expect(result.problems.every((p) => !p.message.includes('Dragon'))).toBe(true);
    expect(assessPassword('correct horse battery staple')).toMatchObject({ ok: true, length: 28, problems: [] });
  });

  test('the shipped list: 6+ characters, folded, unique, most common first, with its licence', () => {
    const entries = COMMON_PASSWORDS.split('\n');
    expect(entries.length).toBeGreaterThan(40_000);
    expect(new Set(entries).size).toBe(entries.length);
    expect(entries.every((e) => [...e].length >= 6 && e === e.normalize('NFKC').toLowerCase())).toBe(true);
    expect(commonRank('123456')).toBe(1);
    expect(commonRank('password')).toBe(2);
    expect(commonRank('correct horse battery staple')).toBeUndefined();
    const source = readFileSync(new URL('../../../src/factors/password/common-passwords.ts', import.meta.url), 'utf8');
    expect(source).toContain('@zxcvbn-ts/language-common 4.1.3');
    expect(source).toContain('Permission is hereby granted, free of charge');
  });
});

describe('the strength estimate', () => {
  test('scores common passwords and variants low, long passphrases high', () => {
    expect(estimateStrength('password').score).toBe(0);
    expect(estimateStrength('Password1234').score).toBeLessThanOrEqual(1);
    expect(estimateStrength('aaaaaaaaaaaaaaaaaaaa').score).toBeLessThanOrEqual(1);
    expect(estimateStrength('abcdefghijklmnopqrst').score).toBeLessThanOrEqual(1);
    expect(estimateStrength('correct horse battery staple').score).toBe(4);
    expect(estimateStrength('tea at the corner café, 4pm').score).toBe(4);
    const weak = estimateStrength('monkeydragon');
    expect(weak.pieces.map((p) => p.kind)).toEqual(['common', 'common']);
    expect(weak.pieces.reduce((n, p) => n + p.length, 0)).toBe(12);
    expect(estimateStrength('monkeydragon').guessesLog10).toBeLessThan(
      estimateStrength('monkeydragon!x7').guessesLog10,
    );
  });

  test('minStrength refuses weak passwords with ERR_PASSWORD_TOO_WEAK; none is asked for by default', () => {
    expect(codeOf(() => checkNewPassword('monkeydragonmonkeydragon'))).toBe('ok');
    expect(codeOf(() => checkNewPassword('monkeydragonmonkeydragon', { minStrength: 3 }))).toBe(
      'ERR_PASSWORD_TOO_WEAK',
    );
    expect(codeOf(() => checkNewPassword('correct horse battery staple', { minStrength: 4 }))).toBe('ok');
    expect(assessPassword('correct horse battery staple', { minStrength: 2 }).strength?.score).toBe(4);
  });
});
