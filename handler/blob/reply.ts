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
 */
export async function deliverResult(
  result: Result,
  fernet: Fernet,
  reply: BlobReply,
  maxInlineBytes: number,
  options: BlobOptions,
): Promise<SealedOutput | { encrypted_output: string }> {
  const json = new ResultJson(result);
  const length = Fernet.tokenLength(json.byteLength);
  if (!reply.always && length <= maxInlineBytes) return new SealedOutput(json.sealBytes(fernet));
  if (length > options.maxBytes) throw resultTooLarge(length, options.maxBytes);
  const body = new SealingBody(json, fernet);
  try {
    await putBlob(reply.put, body, options, 'result blob');
    return sealBlobPointer({ url: reply.get, sha256: body.sha256, size: body.length }, fernet, result.jobId);
  } finally {
    body.release();
  }
}
