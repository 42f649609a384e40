import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fernet } from '../shared/index.js';
import { findPython } from './helpers/python.js';

const python = findPython();
if (!python) {
  console.warn('\n*** SKIPPING Fernet interop tests: no python3 with the `cryptography` package (apt-get install python3-cryptography) ***\n');
}

/** One python process answering JSON lines: {op, key(s), file, ttl, now} → {ok, file|error}. Payloads go through files. */
const SERVER = `
import sys, json, base64
from cryptography.fernet import Fernet, MultiFernet, InvalidToken
for line in sys.stdin:
    req = json.loads(line)
    try:
        keys = [Fernet(k) for k in req["keys"]]
        f = MultiFernet(keys) if len(keys) > 1 else keys[0]
        data = open(req["in"], "rb").read()
        if req["op"] == "encrypt":
            out = f.encrypt(data)
        elif req["op"] == "rotate":
            out = f.rotate(data)
        else:
            if req.get("ttl") is not None:
                out = keys[0].decrypt_at_time(data, req["ttl"], req["now"]) if len(keys) == 1 else f.decrypt_at_time(data, req["ttl"], req["now"])
            else:
                out = f.decrypt(data)
        open(req["out"], "wb").write(out)
        print(json.dumps({"ok": True}), flush=True)
    except InvalidToken:
        print(json.dumps({"ok": False, "error": "InvalidToken"}), flush=True)
`;

describe.skipIf(!python)('Fernet interop with Python cryptography', () => {
  let dir: string;
  let child: ReturnType<typeof spawn>;
  let pending: Array<(line: string) => void> = [];
  let n = 0;

  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'fernet-interop-'));
    child = spawn(python!, ['-c', SERVER], { stdio: ['pipe', 'pipe', 'inherit'] });
    let buffer = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk;
      let i: number;
      while ((i = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 1);
        pending.shift()?.(line);
      }
    });
  });
  afterAll(() => {
    child.stdin!.end();
    rmSync(dir, { recursive: true, force: true });
  });

  async function py(op: string, keys: string[], input: Buffer | string, extra: { ttl?: number; now?: number } = {}): Promise<Buffer | null> {
    const id = n++;
    const inFile = path.join(dir, `in-${id}`);
    const outFile = path.join(dir, `out-${id}`);
    writeFileSync(inFile, input);
    const answer = new Promise<string>((resolve) => pending.push(resolve));
    child.stdin!.write(`${JSON.stringify({ op, keys, in: inFile, out: outFile, ...extra })}\n`);
    const res = JSON.parse(await answer) as { ok: boolean };
    return res.ok ? readFileSync(outFile) : null;
  }

  const sizes: Array<[string, number]> = [
    ['empty', 0],
    ['1 byte', 1],
    ['15 bytes', 15],
    ['16 bytes', 16],
    ['17 bytes', 17],
    ['1 MB', 1024 * 1024],
    ['20 MB', 20 * 1024 * 1024],
  ];

  it.each(sizes)('%s: ours → Python and Python → ours', async (_name, size) => {
    const key = Fernet.generateKey();
    const f = new Fernet(key);
    const data = Buffer.alloc(size);
    for (let i = 0; i < size; i += 4096) data[i] = (i / 4096) % 256;
    data.fill(7, 0, Math.min(size, 100));
    const fromPython = await py('decrypt', [key], f.encrypt(data));
    expect(fromPython?.equals(data)).toBe(true);
    const pyToken = (await py('encrypt', [key], data))!.toString('ascii');
    expect(f.decrypt(pyToken).equals(data)).toBe(true);
  }, 60_000);

  it('carries every byte value both ways', async () => {
    const key = Fernet.generateKey();
    const all = Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256));
    expect((await py('decrypt', [key], new Fernet(key).encrypt(all)))!.equals(all)).toBe(true);
    expect(new Fernet(key).decrypt((await py('encrypt', [key], all))!.toString()).equals(all)).toBe(true);
  });

  it('rotates like MultiFernet, both ways', async () => {
    const oldKey = Fernet.generateKey();
    const newKey = Fernet.generateKey();
    const oldToken = new Fernet(oldKey).encrypt('rotate me');
    const pyRotated = (await py('rotate', [newKey, oldKey], oldToken))!.toString();
    expect(new Fernet(newKey).decrypt(pyRotated).toString()).toBe('rotate me');
    const ourRotated = new Fernet([newKey, oldKey]).rotate(oldToken);
    expect((await py('decrypt', [newKey], ourRotated))!.toString()).toBe('rotate me');
    // Our multi-key instance opens what Python's MultiFernet made with either key.
    const pyOld = (await py('encrypt', [oldKey], 'x'))!.toString();
    expect(new Fernet(`${newKey},${oldKey}`).decrypt(pyOld).toString()).toBe('x');
  });

  it('agrees on ttl boundaries (Python decrypt_at_time)', async () => {
    const key = Fernet.generateKey();
    const f = new Fernet(key);
    const token = f.encrypt('t', { nowSeconds: 50_000 });
    for (const [now, ok] of [
      [50_100, true],
      [50_101, false],
      [49_940, true],
      [49_939, false],
    ] as const) {
      const theirs = await py('decrypt', [key], token, { ttl: 100, now });
      let ours = true;
      try {
        f.decrypt(token, { ttlSeconds: 100, nowSeconds: now });
      } catch {
        ours = false;
      }
      expect([now, theirs !== null, ours]).toEqual([now, ok, ok]);
    }
  });
});
