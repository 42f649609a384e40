/**
 * Open step: the RunPod `input` → a validated bundle, and whether the answer must be sealed.
 * Two forms (contract §2): `{encrypted_input}` (the default) and the bundle itself (only with plaintext allowed).
 */
import { openBundle, openRequest, validateBundle, type Bundle } from '../shared/bundle.js';
import { SealError } from '../shared/errors.js';
import type { Fernet } from '../shared/fernet.js';
import type { Limits } from '../shared/limits.js';
import { DEFAULT_BLOB_OPTIONS, getBlob, type BlobOptions } from './blob/transfer.js';

export interface OpenOptions {
  fernet: Fernet | null;
  allowPlaintext: boolean;
  /** Oldest accepted token age; 0 = no limit. */
  ttlSeconds: number;
  limits?: Partial<Limits>;
  /** How a request blob is fetched (§9). */
  blob?: BlobOptions;
  /** The job's signal: a request blob's fetch stops on cancel and at the deadline. */
  signal?: AbortSignal;
}

export interface OpenedJob {
  bundle: Bundle;
  /** The key the answer is sealed with; null for a plaintext job. */
  fernet: Fernet | null;
  /** The request came in the older endpoint's shape (images as an object, or `is_encrypted`): so does the result (§3). */
  olderShape: boolean;
}

export async function openJobInput(input: unknown, options: OpenOptions): Promise<OpenedJob> {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new SealError('BAD_INPUT', 'the job input must be a JSON object');
  }
  const fields = input as Record<string, unknown>;
  if ('encrypted_input' in fields) {
    if (typeof fields.encrypted_input !== 'string') throw new SealError('BAD_INPUT', 'encrypted_input must be a string (a Fernet token)');
    if (!options.fernet) throw new SealError('DECRYPT_FAILED', 'this worker has no ENCRYPTION_KEY');
    // Releasable images: the job gives them back as soon as they are staged.
    const open = { ttlSeconds: options.ttlSeconds, releasable: true, ...(options.limits ? { limits: options.limits } : {}) };
    const opened = openRequest(fields.encrypted_input, options.fernet, open);
    let bundle = opened.bundle;
    if (opened.pointer) {
      // The token stood for a larger one in the user's storage: fetched, checked, opened (its bytes given back once decrypted).
      const blob = options.blob ?? DEFAULT_BLOB_OPTIONS;
      const token = await getBlob(opened.pointer, blob, options.signal ? { signal: options.signal } : {});
      bundle = openBundle(token, options.fernet, { ...open, consumeToken: true, limits: { ...options.limits, maxBundleBytes: blob.maxBytes } });
    }
    return { bundle: bundle!, fernet: options.fernet, olderShape: Boolean(bundle!.imagesAsObject) || 'is_encrypted' in fields };
  }
  if ('workflow' in fields || 'query' in fields) {
    if (!options.allowPlaintext) {
      throw new SealError('PLAINTEXT_REFUSED', 'this worker accepts only sealed jobs ({"encrypted_input": ...}); set COMFY_SEAL_ALLOW_PLAINTEXT=1 to debug');
    }
    // Older clients add these; `debug` never turns off wiping.
    const { is_encrypted: _e, debug: _d, ...bundle } = fields;
    const validated = validateBundle(bundle, options.limits, true);
    return { bundle: validated, fernet: null, olderShape: Boolean(validated.imagesAsObject) || 'is_encrypted' in fields };
  }
  throw new SealError('BAD_INPUT', 'the job input has neither encrypted_input nor workflow');
}
