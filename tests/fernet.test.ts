import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Fernet } from '../shared/index.js';
import { sealErrorOf } from './helpers/errors.js';

const specDir = fileURLToPath(new URL('./fixtures/fernet-spec/', import.meta.url));
const load = <T>(name: string): T[] => JSON.parse(readFileSync(`${specDir}${name}`, 'utf8')) as T[];
const seconds = (rfc3339: string) => Math.floor(Date.parse(rfc3339) / 1000);

interface Vector {
  token: string;
  now: string;
  secret: string;
  src?: string;
  iv?: number[];
  ttl_sec?: number;
  desc?: string;
}

const failure = sealErrorOf;

describe('Fernet: the official spec vectors', () => {
  it.each(load<Vector>('generate.json'))('generate: $src', (v) => {
    expect(new Fernet(v.secret).encrypt(v.src!, { iv: Uint8Array.from(v.iv!), nowSeconds: seconds(v.now) })).toBe(v.token);
  });

  it.each(load<Vector>('verify.json'))('verify: $src', (v) => {
    expect(new Fernet(v.secret).decrypt(v.token, { ttlSeconds: v.ttl_sec!, nowSeconds: seconds(v.now) }).toString()).toBe(v.src);
  });

  const invalid = load<Vector>('invalid.json');
  it('has all 8 invalid vectors', () => expect(invalid).toHaveLength(8));
  it.each(invalid)('invalid: $desc', (v) => {
    const e = failure(() => new Fernet(v.secret).decrypt(v.token, { ttlSeconds: v.ttl_sec!, nowSeconds: seconds(v.now) }));
    expect(e.code).toBe(/TTL|clock skew/.test(v.desc!) ? 'TOKEN_EXPIRED' : 'DECRYPT_FAILED');
    expect(e.message).not.toContain(v.token.slice(0, 20));
  });
});

describe('Fernet', () => {
  const key = Fernet.generateKey();
  const f = new Fernet(key);
  const CANARY = 'canary-4b1d-cobalt-marmot';

  it('generates 32-byte url-safe keys', () => {
    const k = Fernet.generateKey();
    expect(k).toMatch(/^[A-Za-z0-9_-]{43}=$/);
    expect(Buffer.from(k, 'base64url')).toHaveLength(32);
  });

  it.each([0, 1, 15, 16, 17, 1000])('round-trips %i bytes, binary-safe', (n) => {
    const data = Buffer.from(Array.from({ length: n }, (_, i) => (i * 37) % 256));
    expect(f.decrypt(f.encrypt(data))).toEqual(data);
  });

  it('round-trips all 256 byte values and strings as UTF-8', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    expect(f.decrypt(f.encrypt(all))).toEqual(all);
    expect(f.decrypt(f.encrypt('ünïcödé ✓')).toString('utf8')).toBe('ünïcödé ✓');
  });

  it('uses a random IV every time', () => {
    expect(f.encrypt('same')).not.toBe(f.encrypt('same'));
  });

  it('rotates: the first key encrypts, every key decrypts, rotate() keeps the timestamp', () => {
    const old = new Fernet(Fernet.generateKey());
    expect(old.keyCount).toBe(1);
    expect(new Fernet([key, key]).keyCount).toBe(2);
    const oldToken = old.encrypt('from before', { nowSeconds: 1_000_000 });
    const k2 = Fernet.generateKey();
    const multi = new Fernet([k2, key]);
    const fromOldKey = f.encrypt('x');
    expect(multi.decrypt(fromOldKey).toString()).toBe('x');
    expect(new Fernet(`${k2}, ${key}`).decrypt(fromOldKey).toString()).toBe('x');
    expect(new Fernet(k2).decrypt(multi.encrypt('y')).toString()).toBe('y');
    const migrating = new Fernet([k2, key]);
    const rotated = migrating.rotate(f.encrypt('z', { nowSeconds: 1_234_567 }));
    expect(new Fernet(k2).decrypt(rotated).toString()).toBe('z');
    expect(Buffer.from(rotated, 'base64url').readBigUInt64BE(1)).toBe(1_234_567n);
    expect(failure(() => migrating.decrypt(oldToken)).code).toBe('DECRYPT_FAILED');
  });

  it('checks the ttl after the signature, with 60 s of clock skew', () => {
    const t = f.encrypt('t', { nowSeconds: 10_000 });
    expect(f.decrypt(t, { ttlSeconds: 100, nowSeconds: 10_100 }).toString()).toBe('t');
    expect(failure(() => f.decrypt(t, { ttlSeconds: 100, nowSeconds: 10_101 })).code).toBe('TOKEN_EXPIRED');
    expect(f.decrypt(t, { ttlSeconds: 100, nowSeconds: 9_940 }).toString()).toBe('t');
    expect(failure(() => f.decrypt(t, { ttlSeconds: 100, nowSeconds: 9_939 })).code).toBe('TOKEN_EXPIRED');
    // An old token under a wrong key is a bad token, not an expired one.
    expect(failure(() => new Fernet(Fernet.generateKey()).decrypt(t, { ttlSeconds: 1, nowSeconds: 99_999 })).code).toBe('DECRYPT_FAILED');
  });

  it('decodes strictly: canonical url-safe base64 with padding, outer whitespace trimmed', () => {
    const token = f.encrypt(CANARY);
    expect(f.decrypt(`  ${token}\n`).toString()).toBe(CANARY);
    const cases = [
      token.replace(/=+$/, ''), // padding missing
      token.replaceAll('-', '+').replaceAll('_', '/'), // standard alphabet (skipped in the rare token without - or _)
      `${token.slice(0, 10)} ${token.slice(11)}`, // inner space
      `${token.slice(0, -2)}B=`, // non-zero trailing bits (for a 1-pad token)
      '',
      'gAAAAA',
    ];
    for (const bad of cases) {
      if (bad === token) continue;
      const e = failure(() => f.decrypt(bad));
      expect(e.code).toBe('DECRYPT_FAILED');
      expect(e.message).not.toContain(CANARY);
    }
  });

  it('refuses any character outside ASCII anywhere in a token, as a string or as bytes (no low-byte twins)', () => {
    const token = f.encrypt(CANARY);
    // Node's base64 decoder keeps only the low byte of each character of a string: U+012D would read as '-'.
    const twins = [...token].map((c, i) => token.slice(0, i) + String.fromCharCode(0x100 | c.charCodeAt(0)) + token.slice(i + 1));
    const accepted: number[] = [];
    twins.forEach((twin, i) => {
      for (const spelling of [twin, Buffer.from(twin, 'utf8')]) {
        const e = failure(() => f.decrypt(spelling));
        if (e.code !== 'DECRYPT_FAILED') accepted.push(i);
      }
      const e = failure(() => f.decrypt(Buffer.from(twin, 'utf8'), { inPlace: true }));
      if (e.code !== 'DECRYPT_FAILED') accepted.push(i);
    });
    expect(accepted).toEqual([]);
    // Unicode spaces are not trimmed as ASCII whitespace is: they are characters outside ASCII.
    for (const bad of [`\n\u00a0${token}`, `${token}\u3000\n`, `\ufeff${token}`, `\t${token}\u2028`, `${'\u00a0'.repeat(4)}${token}`]) {
      expect(failure(() => f.decrypt(bad)).code).toBe('DECRYPT_FAILED');
    }
    expect(f.decrypt(`\t\r\n ${token}\v\f`).toString()).toBe(CANARY);
    // A key is held to the same rule.
    const key = Fernet.generateKey();
    expect(failure(() => new Fernet(key.slice(0, 5) + String.fromCharCode(0x100 | key.charCodeAt(5)) + key.slice(6))).code).toBe('BAD_INPUT');
  });

  it('refuses a bad version byte and a wrong key, never echoing plaintext', () => {
    const raw = Buffer.from(f.encrypt(CANARY), 'base64url');
    raw[0] = 0x81;
    const pad = (s: string) => s + '='.repeat((4 - (s.length % 4)) % 4);
    expect(failure(() => f.decrypt(pad(raw.toString('base64url')))).code).toBe('DECRYPT_FAILED');
    const e = failure(() => new Fernet(Fernet.generateKey()).decrypt(f.encrypt(CANARY)));
    expect(`${e.message} ${JSON.stringify(e.details)}`).not.toContain(CANARY);
  });

  it('refuses bad keys with BAD_INPUT', () => {
    for (const k of ['', 'short', 'A'.repeat(43) + '=x', Buffer.alloc(31).toString('base64url')]) {
      expect(failure(() => new Fernet(k)).code).toBe('BAD_INPUT');
    }
  });
});

describe('Fernet encrypter (a message in pieces)', () => {
  const f = new Fernet(Fernet.generateKey());

  it('makes a token that opens to the pieces joined, of the length tokenLength announces', () => {
    for (const size of [0, 1, 15, 16, 17, 49_151, 49_152, 200_003]) {
      const message = randomBytes(size);
      const encrypter = f.encrypter(size);
      for (let at = 0; at < size; at += 7_001) encrypter.update(message.subarray(at, at + 7_001));
      const token = encrypter.final();
      expect(token).toHaveLength(Fernet.tokenLength(size));
      expect(f.decrypt(token).equals(message)).toBe(true);
    }
  });

  it('gives the same token as bytes or as a string, with a fixed iv and time', () => {
    const iv = randomBytes(16);
    const a = f.encrypter(5, { iv, nowSeconds: 1_000 });
    a.update(Buffer.from('hello'));
    const b = f.encrypter(5, { iv, nowSeconds: 1_000 });
    b.update(Buffer.from('hel'));
    b.update(Buffer.from('lo'));
    expect(a.finalBytes().toString('latin1')).toBe(b.final());
  });

  it('refuses pieces that do not add up to the announced length', () => {
    const over = f.encrypter(3);
    expect(failure(() => over.update(Buffer.alloc(4))).code).toBe('INTERNAL');
    const under = f.encrypter(3);
    under.update(Buffer.alloc(2));
    expect(failure(() => under.final()).code).toBe('INTERNAL');
  });
});
