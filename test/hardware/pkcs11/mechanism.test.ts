/**
 * Mechanism-parameter validation (the gate before every native call), attribute decoding and
 * signature verification, without a token: bad parameters have aborted processes inside pkcs11js,
 * so each must stop here with a LatchkeyError, and a property test throws junk at the gate.
 */
import { generateKeyPairSync, sign as nodeSign } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LatchkeyError } from '../../../src/core/errors.js';
import { signaturePlan, verifyTokenSignature } from '../../../src/hardware/pkcs11/algorithms.js';
import {
  curveOfParams,
  describeKey,
  KEY_ATTRIBUTES,
  readUlong,
  unwrapEcPoint,
} from '../../../src/hardware/pkcs11/keys.js';
import { type MechanismKey, type Pkcs11Mechanism, validateMechanism } from '../../../src/hardware/pkcs11/mechanism.js';
import { codeOf } from '../../helpers/errors.js';

const EC: MechanismKey = { keyType: 'EC', curve: 'P-256' };
const RSA: MechanismKey = { keyType: 'RSA', modulusBits: 2048 };

function p256Point(): Buffer {
  const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
  return Buffer.concat([
    Buffer.from([4]),
    Buffer.from(jwk.x as string, 'base64url'),
    Buffer.from(jwk.y as string, 'base64url'),
  ]);
}

const check = (m: unknown, key: MechanismKey = RSA): string =>
  codeOf(() => validateMechanism(m as Pkcs11Mechanism, key));

describe('validateMechanism', () => {
  it('builds exactly the shapes pkcs11js reads', () => {
    expect(validateMechanism({ mechanism: 'ECDSA' }, EC)).toEqual({ mechanism: 0x1041 });
    expect(validateMechanism({ mechanism: 'RSA_PKCS' }, RSA)).toEqual({ mechanism: 0x1 });
    expect(
      validateMechanism({ mechanism: 'RSA_PKCS_PSS', hash: 'sha256', mgf: 'sha256', saltLength: 32 }, RSA),
    ).toEqual({
      mechanism: 0xd,
      parameter: { type: 5, hashAlg: 0x250, mgf: 2, saltLen: 32 },
    });
    expect(validateMechanism({ mechanism: 'RSA_PKCS_OAEP', hash: 'sha1', mgf: 'sha1' }, RSA)).toEqual({
      mechanism: 0x9,
      parameter: { type: 4, hashAlg: 0x220, mgf: 1, source: 1 },
    });
    const point = p256Point();
    const ecdh = validateMechanism({ mechanism: 'ECDH1_DERIVE', kdf: 'null', publicData: point }, EC);
    expect(ecdh).toEqual({ mechanism: 0x1050, parameter: { type: 6, kdf: 1, publicData: point } });
    expect(Object.isFrozen(ecdh)).toBe(true);
  });

  it('copies byte parameters: changing the input afterwards changes nothing', () => {
    const point = p256Point();
    const label = new Uint8Array([1, 2, 3]);
    const ecdh = validateMechanism({ mechanism: 'ECDH1_DERIVE', kdf: 'null', publicData: point }, EC);
    const oaep = validateMechanism({ mechanism: 'RSA_PKCS_OAEP', hash: 'sha256', mgf: 'sha256', label }, RSA);
    const before = Buffer.from(point);
    point.fill(0);
    label.fill(9);
    expect((ecdh.parameter as { publicData: Buffer }).publicData).toEqual(before);
    expect((oaep.parameter as { sourceData: Buffer }).sourceData).toEqual(Buffer.from([1, 2, 3]));
  });

  it('refuses unknown mechanisms, extra fields, accessors and non-plain objects', () => {
    expect(check({ mechanism: 'CKM_DES_CBC' })).toBe('ERR_INVALID_ARGUMENT');
    expect(check({})).toBe('ERR_INVALID_ARGUMENT');
    expect(check(null)).toBe('ERR_INVALID_ARGUMENT');
    expect(check([{ mechanism: 'ECDSA' }])).toBe('ERR_INVALID_ARGUMENT');
    expect(check({ mechanism: 'RSA_PKCS', parameter: Buffer.alloc(4) })).toBe('ERR_INVALID_ARGUMENT');
    expect(check({ mechanism: 'ECDSA', type: 6 }, EC)).toBe('ERR_INVALID_ARGUMENT');
    const getter = { mechanism: 'RSA_PKCS_PSS', hash: 'sha256', mgf: 'sha256' } as Record<string, unknown>;
    let reads = 0;
    Object.defineProperty(getter, 'saltLength', { enumerable: true, get: () => (++reads === 1 ? 32 : 100_000) });
    expect(check(getter)).toBe('ERR_INVALID_ARGUMENT');
    expect(reads).toBe(0); // never called
    class Sneaky {
      mechanism = 'RSA_PKCS';
    }
    expect(check(new Sneaky())).toBe('ERR_INVALID_ARGUMENT');
    expect(check({ mechanism: 'ECDSA', [Symbol('x')]: 1 }, EC)).toBe('ERR_INVALID_ARGUMENT');
  });

  it('refuses PSS and OAEP parameters out of range', () => {
    const pss = (fields: Record<string, unknown>) =>
      check({ mechanism: 'RSA_PKCS_PSS', hash: 'sha256', mgf: 'sha256', saltLength: 32, ...fields });
    expect(pss({})).toBe('ok');
    expect(pss({ hash: 'md5' })).toBe('ERR_INVALID_ARGUMENT');
    expect(pss({ mgf: 'sha1' })).toBe('ERR_INVALID_ARGUMENT');
    expect(pss({ saltLength: -1 })).toBe('ERR_INVALID_ARGUMENT');
    expect(pss({ saltLength: 1.5 })).toBe('ERR_INVALID_ARGUMENT');
    expect(pss({ saltLength: 256 - 32 - 1 })).toBe('ERR_INVALID_ARGUMENT'); // > emLen - hLen - 2
    expect(pss({ saltLength: 256 - 32 - 2 })).toBe('ok');
    expect(pss({ saltLength: 2 ** 32 })).toBe('ERR_INVALID_ARGUMENT');
    expect(pss({ saltLength: '32' })).toBe('ERR_INVALID_ARGUMENT');
    const oaep = (fields: Record<string, unknown>) =>
      check({ mechanism: 'RSA_PKCS_OAEP', hash: 'sha256', mgf: 'sha256', ...fields });
    expect(oaep({ label: new Uint8Array(1024) })).toBe('ok');
    expect(oaep({ label: new Uint8Array(1025) })).toBe('ERR_INVALID_ARGUMENT');
    expect(oaep({ label: 'label' })).toBe('ERR_INVALID_ARGUMENT');
    expect(oaep({ source: 1 })).toBe('ERR_INVALID_ARGUMENT');
  });

  it('refuses ECDH points that are not on the key’s curve, and any KDF but null', () => {
    const ecdh = (publicData: unknown, extra: Record<string, unknown> = {}) =>
      check({ mechanism: 'ECDH1_DERIVE', kdf: 'null', publicData, ...extra }, EC);
    expect(ecdh(p256Point())).toBe('ok');
    expect(ecdh(Buffer.alloc(65, 4))).toBe('ERR_INVALID_ARGUMENT'); // off the curve
    expect(ecdh(p256Point().subarray(0, 33))).toBe('ERR_INVALID_ARGUMENT'); // compressed length
    const wrongPrefix = p256Point();
    wrongPrefix[0] = 2;
    expect(ecdh(wrongPrefix)).toBe('ERR_INVALID_ARGUMENT');
    expect(ecdh(Buffer.alloc(97, 4))).toBe('ERR_INVALID_ARGUMENT'); // a P-384 length
    expect(ecdh('04abcd')).toBe('ERR_INVALID_ARGUMENT');
    expect(ecdh(p256Point(), { kdf: 'sha256' })).toBe('ERR_INVALID_ARGUMENT');
    expect(ecdh(p256Point(), { sharedData: new Uint8Array(4) })).toBe('ERR_INVALID_ARGUMENT');
  });

  it('refuses a mechanism for a key that cannot do it', () => {
    expect(check({ mechanism: 'ECDSA' }, RSA)).toBe('ERR_PKCS11_KEY_UNSUITABLE');
    expect(check({ mechanism: 'RSA_PKCS' }, EC)).toBe('ERR_PKCS11_KEY_UNSUITABLE');
    expect(check({ mechanism: 'ECDSA' }, { keyType: 'EC' })).toBe('ERR_PKCS11_KEY_UNSUITABLE'); // unknown curve
    expect(check({ mechanism: 'RSA_PKCS' }, { keyType: 'RSA', modulusBits: 1024 })).toBe('ERR_PKCS11_KEY_UNSUITABLE');
    expect(check({ mechanism: 'RSA_PKCS' }, { keyType: 'other' })).toBe('ERR_PKCS11_KEY_UNSUITABLE');
  });

  it('junk of any shape is a LatchkeyError, never another exception', () => {
    const junk = fc.anything({ withTypedArray: true, withBigInt: true, withMap: true, withNullPrototype: true });
    const described = fc.record(
      {
        mechanism: fc.oneof(
          fc.constantFrom('ECDSA', 'RSA_PKCS', 'RSA_PKCS_PSS', 'RSA_PKCS_OAEP', 'ECDH1_DERIVE', 'EC_KEY_PAIR_GEN'),
          junk,
        ),
        hash: fc.oneof(fc.constantFrom('sha1', 'sha256', 'sha512'), junk),
        mgf: fc.oneof(fc.constantFrom('sha1', 'sha256'), junk),
        saltLength: fc.oneof(fc.integer({ min: -10, max: 300 }), junk),
        kdf: fc.oneof(fc.constant('null'), junk),
        publicData: fc.oneof(fc.uint8Array({ maxLength: 140 }), junk),
        label: fc.oneof(fc.uint8Array({ maxLength: 40 }), junk),
      },
      { requiredKeys: ['mechanism'] },
    );
    const keys = fc.constantFrom<MechanismKey>(EC, RSA, { keyType: 'EC', curve: 'P-521' }, { keyType: 'other' });
    fc.assert(
      fc.property(fc.oneof(described, junk), keys, (description, key) => {
        try {
          const out = validateMechanism(description as Pkcs11Mechanism, key);
          expect(Number.isInteger(out.mechanism)).toBe(true);
        } catch (error) {
          expect(error).toBeInstanceOf(LatchkeyError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('attribute decoding', () => {
  it('reads CK_ULONG and CK_BBOOL values of either width', () => {
    expect(readUlong(Buffer.from([3, 0, 0, 0, 0, 0, 0, 0]))).toBe(3);
    expect(readUlong(Buffer.from([3, 0, 0, 0]))).toBe(3);
    expect(readUlong(Buffer.from([3, 0]))).toBeUndefined();
    expect(readUlong(Buffer.alloc(8, 0xff))).toBeUndefined();
  });

  it('unwraps CKA_EC_POINT whether DER-wrapped (short and long form) or bare', () => {
    const point = p256Point();
    expect(unwrapEcPoint(Buffer.concat([Buffer.from([4, 65]), point]), 'P-256')).toEqual(point);
    expect(unwrapEcPoint(point, 'P-256')).toEqual(point);
    const p521 = Buffer.alloc(133, 1);
    p521[0] = 4;
    expect(unwrapEcPoint(Buffer.concat([Buffer.from([4, 0x81, 133]), p521]), 'P-521')).toEqual(p521);
    for (const bad of [
      Buffer.alloc(0),
      Buffer.from([4, 66, ...point]),
      point.subarray(1),
      Buffer.from([3, 65, ...point]),
    ]) {
      expect(codeOf(() => unwrapEcPoint(bad, 'P-256'))).toBe('ERR_ENCODING');
    }
    expect(codeOf(() => unwrapEcPoint(undefined, 'P-256'))).toBe('ERR_ENCODING');
  });

  it('knows curves by OID and describes keys from attribute values', () => {
    expect(curveOfParams(Buffer.from('06082a8648ce3d030107', 'hex'))).toBe('P-256');
    expect(curveOfParams(Buffer.from('06052b8104000a', 'hex'))).toBeUndefined(); // secp256k1
    const values = KEY_ATTRIBUTES.map(() => undefined as Buffer | undefined);
    const set = (type: number, value: Buffer) => {
      values[KEY_ATTRIBUTES.indexOf(type)] = value;
    };
    set(0x0, Buffer.from([3, 0, 0, 0, 0, 0, 0, 0])); // private key
    set(0x100, Buffer.from([0, 0, 0, 0, 0, 0, 0, 0])); // RSA
    set(0x3, Buffer.from('rsa key'));
    set(0x108, Buffer.from([1]));
    set(0x120, Buffer.concat([Buffer.from([0x80]), Buffer.alloc(255)])); // a 2048-bit modulus, no MODULUS_BITS
    expect(describeKey(values)).toMatchObject({
      class: 'private',
      keyType: 'RSA',
      modulusBits: 2048,
      label: 'rsa key',
    });
  });
});

describe('verifyTokenSignature', () => {
  const message = new TextEncoder().encode('hello');

  it('verifies JOSE-form signatures and refuses wrong algorithm, key, length or message', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const signature = nodeSign('sha256', message, { key: ec.privateKey, dsaEncoding: 'ieee-p1363' });
    expect(verifyTokenSignature(ec.publicKey, 'ES256', message, signature)).toBe(true);
    expect(verifyTokenSignature(ec.publicKey, 'ES384', message, signature)).toBe(false);
    expect(verifyTokenSignature(ec.publicKey, 'RS256', message, signature)).toBe(false);
    expect(verifyTokenSignature(ec.publicKey, 'ES256', message, signature.subarray(1))).toBe(false);
    expect(verifyTokenSignature(ec.publicKey, 'ES256', new TextEncoder().encode('hellO'), signature)).toBe(false);
    const der = nodeSign('sha256', message, ec.privateKey);
    expect(verifyTokenSignature(ec.publicKey, 'ES256', message, der)).toBe(false); // DER is not JOSE form
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(verifyTokenSignature(other.publicKey, 'ES256', message, signature)).toBe(false);
    expect(verifyTokenSignature(ec.publicKey, 'XX' as never, message, signature)).toBe(false);
  });

  it('plans each algorithm: the mechanism, the hash and the signature length', () => {
    expect(signaturePlan('ES384', { keyType: 'EC', curve: 'P-384' })).toMatchObject({ hash: 'sha384', length: 96 });
    expect(signaturePlan('ES512', { keyType: 'EC', curve: 'P-521' })).toMatchObject({ hash: 'sha512', length: 132 });
    const rs = signaturePlan('RS256', { keyType: 'RSA', modulusBits: 3072 });
    expect(rs.length).toBe(384);
    expect(rs.input(Buffer.alloc(32)).length).toBe(19 + 32); // DigestInfo prefix
    expect(codeOf(() => signaturePlan('ES256', { keyType: 'EC', curve: 'P-384' }))).toBe('ERR_PKCS11_KEY_UNSUITABLE');
  });
});
