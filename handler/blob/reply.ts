/**
 * The result path of §9: a sealed result that would be too large inline (or any, with `always`) is PUT to the reply's
 * presigned URL, and the job's output becomes a sealed pointer to the reply's GET URL.
 */
import { createHash } from 'node:crypto';
import { sealBlobPointer, type SealedOutput } from '../../shared/envelope.js';
import type { Fernet } from '../../shared/fernet.js';
import type { BlobReply } from '../../shared/schema.js';
import { putBlob, type BlobOptions } from './transfer.js';

/**
 * The output for a sealed result: the result itself when it fits (and `always` is off), else the pointer to the blob
 * it was stored as. The sealed bytes are released once stored.
 */
export async function deliverResult(
  sealed: SealedOutput,
  fernet: Fernet,
  reply: BlobReply,
  maxInlineBytes: number,
  options: BlobOptions,
): Promise<SealedOutput | { encrypted_output: string }> {
  if (!reply.always && sealed.bytes.length <= maxInlineBytes) return sealed;
  try {
    const sha256 = createHash('sha256').update(sealed.bytes).digest('hex');
    const size = sealed.bytes.length;
    await putBlob(reply.put, sealed.bytes, options, 'result blob');
    return sealBlobPointer({ url: reply.get, sha256, size }, fernet);
  } finally {
    sealed.release();
  }
}
