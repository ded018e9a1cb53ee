/**
 * Just enough DER to mint X.509 certificates with node:crypto keys for attestation tests: a CA
 * and FIDO attestation leaves (OU `Authenticator Attestation`, the id-fido-gen-ce-aaguid
 * extension), as a vendor's attestation PKI would issue them. node:crypto can read certificates
 * but not write them; nothing else here is trusted by the code under test.
 */
import { type KeyObject, sign } from 'node:crypto';

function length(n: number): number[] {
  if (n < 0x80) return [n];
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return [0x80 | bytes.length, ...bytes];
}

function tlv(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag, ...length(body.length)]), body]);
}

const seq = (...parts: Uint8Array[]) => tlv(0x30, ...parts);
const set = (...parts: Uint8Array[]) => tlv(0x31, ...parts);
const explicit = (n: number, ...parts: Uint8Array[]) => tlv(0xa0 + n, ...parts);
const octets = (bytes: Uint8Array) => tlv(0x04, bytes);
const bits = (bytes: Uint8Array) => tlv(0x03, Buffer.from([0]), bytes);
const bool = (value: boolean) => tlv(0x01, Buffer.from([value ? 0xff : 0]));

function integer(value: number): Uint8Array {
  const bytes: number[] = [];
  for (let v = value; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  if (bytes.length === 0 || (bytes[0] as number) & 0x80) bytes.unshift(0);
  return tlv(0x02, Buffer.from(bytes));
}

function oid(text: string): Uint8Array {
  const arcs = text.split('.').map(Number);
  const out = [40 * (arcs[0] as number) + (arcs[1] as number)];
  for (const arc of arcs.slice(2)) {
    const chunk: number[] = [];
    for (let v = arc; ; v = Math.floor(v / 128)) {
      chunk.unshift((v % 128) | (chunk.length === 0 ? 0 : 0x80));
      if (v < 128) break;
    }
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

function time(date: Date): Uint8Array {
  // UTCTime (YYMMDDHHMMSSZ), as RFC 5280 §4.1.2.5 asks for dates before 2050.
  const text = date.toISOString().replace(/[-:T]/g, '').slice(2, 14);
  return tlv(0x17, Buffer.from(`${text}Z`));
}

export interface Name {
  readonly C: string;
  readonly O: string;
  readonly OU?: string;
  readonly CN: string;
}

function name(n: Name): Uint8Array {
  const rdn = (id: string, value: Uint8Array) => set(seq(oid(id), value));
  return seq(
    rdn('2.5.4.6', tlv(0x13, Buffer.from(n.C))),
    rdn('2.5.4.10', tlv(0x0c, Buffer.from(n.O))),
    ...(n.OU === undefined ? [] : [rdn('2.5.4.11', tlv(0x0c, Buffer.from(n.OU)))]),
    rdn('2.5.4.3', tlv(0x0c, Buffer.from(n.CN))),
  );
}

const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));

/** Mint a certificate for `publicKey`, signed by `issuerKey` (self-signed when subject = issuer). */
export function certificate(input: {
  readonly subject: Name;
  readonly issuer: Name;
  readonly publicKey: KeyObject;
  readonly issuerKey: KeyObject;
  readonly serial: number;
  readonly ca: boolean;
  readonly aaguid?: Uint8Array;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
}): Uint8Array {
  const extensions = [seq(oid('2.5.29.19'), bool(true), octets(input.ca ? seq(bool(true)) : seq()))];
  if (input.ca) extensions.push(seq(oid('2.5.29.15'), bool(true), octets(bits(Buffer.from([0x06])))));
  if (input.aaguid !== undefined) extensions.push(seq(oid('1.3.6.1.4.1.45724.1.1.4'), octets(octets(input.aaguid))));
  const tbs = seq(
    explicit(0, integer(2)),
    integer(input.serial),
    ECDSA_SHA256,
    name(input.issuer),
    seq(
      time(input.notBefore ?? new Date('2020-01-01T00:00:00Z')),
      time(input.notAfter ?? new Date('2045-01-01T00:00:00Z')),
    ),
    name(input.subject),
    input.publicKey.export({ type: 'spki', format: 'der' }),
    explicit(3, seq(...extensions)),
  );
  return seq(tbs, ECDSA_SHA256, bits(sign('sha256', tbs, input.issuerKey)));
}

/** PEM text of DER bytes. */
export function pem(der: Uint8Array): string {
  const body = Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n');
  return `-----BEGIN CERTIFICATE-----\n${body.trim()}\n-----END CERTIFICATE-----\n`;
}
