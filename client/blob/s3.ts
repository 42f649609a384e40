/**
 * BlobStore on S3 and everything that speaks its API (R2, B2, MinIO, ...), through the AWS SDK v3 with its usual
 * configuration (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL_S3). The SDK is imported only
 * when a store is first used: an app that never uses blobs never loads it.
 */
import { ComfySealError } from '../errors.js';
import type { BlobStore, PresignOptions } from './store.js';

type S3Module = typeof import('@aws-sdk/client-s3');
type Presigner = typeof import('@aws-sdk/s3-request-presigner');

/** `s3://BUCKET/PREFIX` → bucket and prefix; ComfySealError CONFIG otherwise. */
export function parseBlobUrl(text: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(text.trim());
  if (!m) throw new ComfySealError('CONFIG', 'the blob URL must be s3://BUCKET or s3://BUCKET/PREFIX (a bucket name: lower-case letters, digits, dots, hyphens)');
  return { bucket: m[1]!, prefix: (m[2] ?? '').replace(/^\/+|\/+$/g, '') };
}

export class S3BlobStore implements BlobStore {
  readonly bucket: string;
  readonly prefix: string;
  readonly #env: NodeJS.ProcessEnv;
  #client: Promise<{ s3: S3Module; presigner: Presigner; client: InstanceType<S3Module['S3Client']> }> | undefined;

  /** `blobUrl`: s3://BUCKET/PREFIX. `env`: where the SDK's variables are read (default process.env). */
  constructor(blobUrl: string, env: NodeJS.ProcessEnv = process.env) {
    const { bucket, prefix } = parseBlobUrl(blobUrl);
    this.bucket = bucket;
    this.prefix = prefix;
    this.#env = env;
  }

  /** The custom endpoint (R2, MinIO, ...) when one is set: then path-style addressing, which they all serve. */
  get endpoint(): string | undefined {
    return this.#env.AWS_ENDPOINT_URL_S3 || this.#env.AWS_ENDPOINT_URL || undefined;
  }

  #sdk() {
    this.#client ??= (async () => {
      // The SDK warns on stderr, under Node < 22, about its own releases of 2027; our locked version works on 20.19,
      // and a warning in every `comfy-seal run` is not one a user can act on. Set the variable to "false" to see it.
      process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
      const [s3, presigner] = await Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/s3-request-presigner')]);
      const env = this.#env;
      const endpoint = this.endpoint;
      const client = new s3.S3Client({
        region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
        ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
        ...(env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
          ? { credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) } }
          : {}),
        // Checksums only where S3 requires them: a presigned PUT must not demand one the worker does not send.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
      return { s3, presigner, client };
    })();
    return this.#client;
  }

  async put(key: string, bytes: Buffer): Promise<void> {
    const { s3, client } = await this.#sdk();
    await client.send(new s3.PutObjectCommand({ Bucket: this.bucket, Key: key, Body: bytes, ContentLength: bytes.length, ContentType: 'application/octet-stream' }));
  }

  async presign(key: string, method: 'GET' | 'PUT', ttlS: number, options: PresignOptions = {}): Promise<string> {
    const { s3, presigner, client } = await this.#sdk();
    // If-None-Match stays a header (only x-amz-* ones are moved into the query) and is signed: S3, R2 and MinIO then
    // answer 412 instead of replacing the object.
    const command =
      method === 'GET'
        ? new s3.GetObjectCommand({ Bucket: this.bucket, Key: key })
        : new s3.PutObjectCommand({ Bucket: this.bucket, Key: key, ...(options.ifNoneMatch ? { IfNoneMatch: '*' } : {}) });
    return presigner.getSignedUrl(client, command, { expiresIn: Math.max(1, Math.min(604_800, Math.round(ttlS))) });
  }

  async delete(key: string): Promise<void> {
    const { s3, client } = await this.#sdk();
    await client.send(new s3.DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  keyOf(url: string): string | null {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return null;
    }
    const path = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
    // Path-style (custom endpoints): /BUCKET/KEY; virtual-hosted: BUCKET.host/KEY.
    if (path.startsWith(`${this.bucket}/`) && !parsed.hostname.startsWith(`${this.bucket}.`)) return path.slice(this.bucket.length + 1);
    return path || null;
  }
}
