/**
 * Where the client keeps blobs (contract §9): any store that can put bytes under a key, hand out presigned GET and PUT
 * URLs, and delete. The S3 implementation is ./s3.ts; an app may bring its own (GCS, Azure: anything whose presigned
 * URLs are plain HTTPS). Keys are random, so the store learns nothing from a name.
 */
import { randomBytes } from 'node:crypto';

export interface PresignOptions {
  /**
   * A PUT URL signed for `If-None-Match: *` (the uploader must send that header), where the store supports it: the
   * store then refuses to replace an object already there. The reply URL gets it, so a replayed request cannot
   * overwrite a result already delivered (contract §11). A store without conditional writes may ignore it.
   */
  ifNoneMatch?: boolean;
}

export interface BlobStore {
  put(key: string, bytes: Buffer): Promise<void>;
  /** A URL that lets anyone holding it GET or PUT that key, for `ttlS` seconds. */
  presign(key: string, method: 'GET' | 'PUT', ttlS: number, options?: PresignOptions): Promise<string>;
  delete(key: string): Promise<void>;
  /** The key a URL of this store names (so a resumed client can delete what a result pointer names); null if none. */
  keyOf?(url: string): string | null;
  /** Keys go under this prefix ('' for none). */
  readonly prefix?: string;
}

/** How long presigned URLs live by default: COMFY_SEAL_BLOB_TTL_S. */
export const DEFAULT_BLOB_TTL_S = 86_400;

/** `prefix/` as keys are written under it ('' for none). */
function keyBase(prefix: string): string {
  const trimmed = prefix.replace(/\/+$/, '');
  return trimmed ? `${trimmed}/` : '';
}

/**
 * A fresh pair of keys for one job: `<prefix>/<random hex>.in` (the request, when it goes as a blob) and `.out` (the
 * result). One random part for both, so a result pointer is enough to find the request blob again after a crash.
 */
export function newBlobKeys(prefix = ''): { request: string; result: string } {
  const base = `${keyBase(prefix)}${randomBytes(16).toString('hex')}`;
  return { request: `${base}.in`, result: `${base}.out` };
}

/**
 * The pair a result key belongs to, only when the key has exactly the shape newBlobKeys gives under `prefix`
 * (`<prefix>/<32 hex>.out`): a resumed client fetches and deletes nothing else (§11). Null otherwise.
 */
export function ownBlobKeys(resultKey: string, prefix = ''): { request: string; result: string } | null {
  const base = keyBase(prefix);
  if (!resultKey.startsWith(base) || !/^[0-9a-f]{32}\.out$/.test(resultKey.slice(base.length))) return null;
  return { request: `${resultKey.slice(0, -4)}.in`, result: resultKey };
}
