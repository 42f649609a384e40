import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));

/** Every module the built file reaches: static imports, and dynamic ones too when `dynamic`. */
function reach(entry: string, dynamic: boolean): { files: Set<string>; packages: Set<string>; dynamicPackages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const dynamicPackages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const text = readFileSync(path.join(DIST, file), 'utf8');
    for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*)"([^"]+)"/g)) step(m[1]!, false);
    for (const m of text.matchAll(/\bimport\("([^"]+)"\)/g)) step(m[1]!, true);
  };
  const step = (spec: string, isDynamic: boolean) => {
    if (spec.startsWith('./')) {
      if (!isDynamic || dynamic) visit(spec.slice(2));
    } else (isDynamic ? dynamicPackages : packages).add(spec);
  };
  visit(entry);
  return { files, packages, dynamicPackages };
}

describe('the cloud SDK is loaded lazily, by the client only (built bundles)', () => {
  it('the worker never reaches it, not even through a dynamic import', () => {
    const worker = reach('handler.js', true);
    expect([...worker.packages, ...worker.dynamicPackages].filter((p) => p.startsWith('@aws-sdk'))).toEqual([]);
    // The walk does find it where it is: the bin reaches `run`, which may load it.
    expect([...reach('cli.js', true).dynamicPackages]).toContain('@aws-sdk/client-s3');
  });

  it('the SDK package imports it only dynamically, so an app that never uses blobs never loads it', () => {
    const app = reach('index.js', false);
    expect([...app.packages].filter((p) => p.startsWith('@aws-sdk'))).toEqual([]);
    expect([...app.dynamicPackages]).toEqual(expect.arrayContaining(['@aws-sdk/client-s3', '@aws-sdk/s3-request-presigner']));
  });
});
