/** A real S3-compatible server (s3rver) on loopback with one bucket, files in a temp dir, and a way to list what it holds. */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
// @ts-expect-error s3rver ships no types
import S3rver from 's3rver';

export interface S3 {
  /** For AWS_ENDPOINT_URL_S3. */
  endpoint: string;
  bucket: string;
  /** The environment a client needs to reach it. */
  env: Record<string, string>;
  /** Every object: key → bytes. */
  objects(): Map<string, Buffer>;
  close(): Promise<void>;
}

export async function startS3(bucket = 'seal-test'): Promise<S3> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-s3-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir, configureBuckets: [{ name: bucket }] });
  const { port } = (await server.run()) as { port: number };
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    bucket,
    env: { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL_S3: endpoint },
    objects: () => {
      // s3rver keeps each object as KEY._S3rver_object beside its metadata.
      const root = path.join(dir, bucket);
      const out = new Map<string, Buffer>();
      for (const e of readdirSync(root, { recursive: true, withFileTypes: true })) {
        if (!e.isFile() || !e.name.endsWith('._S3rver_object')) continue;
        const file = path.join(e.parentPath, e.name);
        out.set(path.relative(root, file).slice(0, -'._S3rver_object'.length), readFileSync(file));
      }
      return out;
    },
    close: async () => {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
