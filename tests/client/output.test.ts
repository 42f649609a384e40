/**
 * The files the client writes (contract §11): results: readable by the user only, and never written through a symbolic
 * link that leads out of the output folder (the subfolders come from the worker's answer).
 */
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeResultFiles } from '../../client/index.js';
import { cacheFile, writeCachedDefinitions } from '../../client/workflow/definitions-cache.js';
import type { ResultFile } from '../../shared/envelope.js';

let work: string;
beforeEach(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'cs-output-'));
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

const file = (filename: string, subfolder = '', data = 'result bytes'): ResultFile => ({ nodeId: '9', filename, subfolder, kind: 'image', mime: 'image/png', data: Buffer.from(data) });
const mode = (p: string) => lstatSync(p).mode & 0o777;

/** Every path under `dir`, links not followed. */
function tree(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? [p, ...tree(p)] : [p];
  });
}

describe('result files', () => {
  it('are written 0600, and the folders made for them 0700, whatever the umask lets through', async () => {
    const before = process.umask(0o002);
    try {
      const out = path.join(work, 'new', 'out');
      const written = await writeResultFiles([file('a.png'), file('b.png', 'sub/deeper')], out);
      expect(written.map((w) => w.path)).toEqual([path.join(out, 'a.png'), path.join(out, 'sub', 'deeper', 'b.png')]);
      for (const w of written) expect(mode(w.path).toString(8)).toBe('600');
      for (const d of [path.join(work, 'new'), out, path.join(out, 'sub'), path.join(out, 'sub', 'deeper')]) expect(mode(d).toString(8)).toBe('700');
    } finally {
      process.umask(before);
    }
  });

  it('refuse a result subfolder that is a link out of the output folder: clear error, nothing written anywhere', async () => {
    const out = path.join(work, 'out');
    const elsewhere = path.join(work, 'home', '.ssh');
    mkdirSync(out);
    mkdirSync(elsewhere, { recursive: true });
    symlinkSync(elsewhere, path.join(out, 'linked'));
    const files = [file('first.png'), file('authorized_keys', 'linked', 'ssh-ed25519 AAAA attacker')];
    await expect(writeResultFiles(files, out)).rejects.toMatchObject({
      code: 'OUTPUT_FAILED',
      message: expect.stringMatching(new RegExp(`${path.join(out, 'linked')} is a symbolic link to .*outside the output folder.*nothing was written`)),
    });
    expect(readdirSync(elsewhere)).toEqual([]);
    expect(tree(out)).toEqual([path.join(out, 'linked')]); // not even the first file
    // Deeper too: a real folder holding a link out.
    mkdirSync(path.join(out, 'a'));
    symlinkSync(elsewhere, path.join(out, 'a', 'b'));
    await expect(writeResultFiles([file('x.png', 'a/b')], out)).rejects.toMatchObject({ code: 'OUTPUT_FAILED' });
    expect(readdirSync(elsewhere)).toEqual([]);
  });

  it('follow a link that stays inside the output folder, and never write through a link at the file name', async () => {
    const out = path.join(work, 'out');
    mkdirSync(path.join(out, 'real'), { recursive: true });
    symlinkSync(path.join(out, 'real'), path.join(out, 'alias'));
    const outside = path.join(work, 'victim.txt');
    writeFileSync(outside, 'keep me');
    symlinkSync(outside, path.join(out, 'c.png'));
    const written = await writeResultFiles([file('a.png', 'alias'), file('c.png')], out);
    expect(written.map((w) => w.path)).toEqual([path.join(out, 'alias', 'a.png'), path.join(out, 'c-2.png')]);
    expect(readFileSync(path.join(out, 'real', 'a.png'), 'utf8')).toBe('result bytes');
    expect(readFileSync(outside, 'utf8')).toBe('keep me');
    expect(statSync(path.join(out, 'c-2.png')).mode & 0o777).toBe(0o600);
  });
});

describe('the node definitions cache', () => {
  it('is 0600 in a 0700 folder, and replaces a link at its name instead of writing through it', async () => {
    const env = { XDG_CACHE_HOME: path.join(work, 'cache') };
    const ref = { apiUrl: 'http://127.0.0.1:8000', endpointId: 'ep' };
    const victim = path.join(work, 'victim.json');
    writeFileSync(victim, 'keep me');
    mkdirSync(path.join(work, 'cache', 'comfy-seal'), { recursive: true });
    symlinkSync(victim, cacheFile(ref, env));
    const written = await writeCachedDefinitions(ref, { KSampler: {} } as never, env);
    expect(mode(written).toString(8)).toBe('600');
    expect(mode(path.dirname(written)).toString(8)).toBe('700');
    expect(readFileSync(victim, 'utf8')).toBe('keep me');
  });
});
