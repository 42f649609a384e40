/**
 * The result path of §9: a sealed result that would be too large inline (or any, with `always`) is PUT to the reply's
 * presigned URL, sealed as it is sent, and the job's output becomes a sealed pointer to the reply's GET URL.
 */
import { ResultJson, resultTooLarge, sealBlobPointer, SealedOutput, type Result } from '../../shared/envelope.js';
import { Fernet } from '../../shared/fernet.js';
import type { BlobReply } from '../../shared/schema.js';
import { SealingBody } from '../../shared/sealing-body.js';
import { putBlob, type BlobOptions } from './transfer.js';

/**
 * The output for a result with a reply: the sealed result itself when it fits `maxInlineBytes` (and `always` is off),
 * else the pointer to the blob it was stored as. OUTPUT_TOO_LARGE, before any work, past the blob limit too.
 * When the PUT fails for good (storage down, URL expired, or an object there already: 412), a result that fits inline
 * goes inline instead, sealed as it would have been without a reply: nothing is lost, and the failed URL is in no
 * output. Only a result that fits nowhere fails (STORAGE_FAILED). A PUT the job's signal stopped (cancel, deadline)
 * ends the job as everything else the job does.
 */
export async function deliverResult(
  result: Result,
  fernet: Fernet,
  reply: BlobReply,
  maxInlineBytes: number,
  options: BlobOptions,
  signal?: AbortSignal,
): Promise<SealedOutput | { encrypted_output: string }> {
  const json = new ResultJson(result);
  const length = Fernet.tokenLength(json.byteLength);
  const fitsInline = length <= maxInlineBytes;
  if (!reply.always && fitsInline) return new SealedOutput(json.sealBytes(fernet));
  if (length > options.maxBytes) throw resultTooLarge(length, options.maxBytes);
  const body = new SealingBody(json, fernet);
  try {
    // If-None-Match: a replayed request (same reply URL) must not replace the result its first run delivered.
    await putBlob(reply.put, body, options, { what: 'result blob', ifNoneMatch: true, ...(signal ? { signal } : {}) });
    return sealBlobPointer({ url: reply.get, sha256: body.sha256, size: body.length }, fernet, result.jobId);
  } catch (error) {
    if (!fitsInline || signal?.aborted) throw error;
  } finally {
    body.release();
  }
  // The PUT failed for good and the result fits inline: it goes inline, the only other way it can reach the client.
  return new SealedOutput(json.sealBytes(fernet));
}
