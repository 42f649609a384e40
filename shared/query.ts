/**
 * Query answers (contract §10): `{"status": "success", "outputs": [], <query's field>: ...}`, sealed as any result.
 * The worker seals them with `sealQueryAnswer`; the client opens them with `openQueryAnswer`.
 */
import { openJson, resultTooLarge } from './envelope.js';
import { SealError } from './errors.js';
import { Fernet } from './fernet.js';
import { parseWith, queryResultSchema, type QueryResult } from './schema.js';

/** Answer → RunPod `output`: sealed with the job's key, or the answer itself for a plaintext job. */
export function sealQueryAnswer(answer: QueryResult, fernet: Fernet | null, maxBytes: number): unknown {
  const text = JSON.stringify(answer);
  const bytes = Buffer.byteLength(text);
  const size = fernet ? Fernet.tokenLength(bytes) : bytes;
  if (size > maxBytes) throw resultTooLarge(size, maxBytes);
  return fernet ? { encrypted_output: fernet.encrypt(text) } : answer;
}

/** RunPod `output` of a query job → the answer. */
export function openQueryAnswer(output: unknown, fernet: Fernet | null): QueryResult {
  let payload = output;
  const token = (output as { encrypted_output?: unknown } | null)?.encrypted_output;
  if (typeof token === 'string') {
    if (!fernet) throw new SealError('BAD_INPUT', 'the answer is sealed; a key is needed to open it');
    payload = openJson(token, fernet, 'query answer');
  }
  return parseWith(queryResultSchema, payload, 'query answer');
}
