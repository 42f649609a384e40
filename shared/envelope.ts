/**
 * What goes back to RunPod (contract §3–4): the sealed result, the failure string, the sealed progress — and their
 * openers, used by the client, by `comfy-seal open` and by tests.
 */
import { blobPointerJson, inlineAdvice, isBlobPointer, parseBlobPointer, type BlobPointer } from './blob.js';
import { SealError, isErrorCode, type ErrorCode, type ErrorDetails } from './errors.js';
import { decodeUtf8, parseJsonLimited } from './json.js';
import { Fernet } from './fernet.js';
import { JsonDataText, JsonWithData, readJsonWithData } from './json-data.js';
import { DEFAULT_LIMITS } from './limits.js';
import { release } from './releasable.js';
import {
  errorPayloadSchema,
  failureSchema,
  parseWith,
  progressSchema,
  resultSchema,
  type Progress,
  type WireResult,
  type WireResultOutput,
} from './schema.js';

/** An output file as the client sees it. */
export interface ResultFile {
  nodeId: string;
  filename: string;
  subfolder: string;
  kind: string;
  mime: string;
  /** The file's bytes. Opened from a token, the files of a result are views of the one buffer it was opened into. */
  data: Buffer;
  /** `temp` for a temp saver's file, `output` otherwise; set on every file when the job asked for `temp_outputs` (§14). */
  type?: string;
}

export interface Result {
  files: ResultFile[];
  timingsMs: Record<string, number>;
  /** The RunPod job id the result belongs to (§3): lets a webhook receiver refuse a swapped body. Older workers omit it. */
  jobId?: string;
  /** Repeat the image outputs in the older endpoint's `images` map: only for a request in the older shape (§3). */
  olderImages?: boolean;
  /** With the `ui` option (§14): each output node's entry in ComfyUI's history outputs, files named as in `files`. */
  ui?: Record<string, Record<string, unknown>>;
}

/** A sealed JSON payload (error, progress, query answer: small ones) → its value. */
export function openJson(token: string, fernet: Fernet, what: string): unknown {
  const bytes = fernet.decrypt(token, { releasable: true });
  let text: string;
  try {
    text = decodeUtf8(bytes, what);
  } finally {
    release(bytes);
  }
  return parseJsonLimited(text, DEFAULT_LIMITS.maxJsonDepth, what);
}

/** Where a result's files are: each output's `data`, and the older endpoint's `images` map. */
const RESULT_DATA_PATHS = [['outputs', '*', 'data'], ['images', '*']];

/**
 * A sealed result (the `encrypted_output` text, or a fetched blob's bytes, which are decrypted over themselves) → its
 * value, the files' base64 left as bytes for resultOf to decode over themselves: so a result costs its plaintext (or
 * its blob) and nothing more, and the files are views of that one buffer.
 */
function openResultJson(token: string | Buffer, fernet: Fernet): unknown {
  const bytes = typeof token === 'string' ? fernet.decrypt(token) : fernet.decrypt(token, { inPlace: true });
  return readJsonWithData(bytes, { what: 'result', maxDepth: DEFAULT_LIMITS.maxJsonDepth, dataPaths: RESULT_DATA_PATHS });
}

/** The plaintext result object (§3); `olderImages` adds the older endpoint's `images` map derived from the image outputs. */
export function buildResultPayload(
  files: readonly ResultFile[],
  timingsMs: Record<string, number>,
  options: { jobId?: string | undefined; olderImages?: boolean | undefined; ui?: Result['ui'] } = {},
): WireResult {
  const outputs: WireResultOutput[] = [];
  const images: Record<string, string> = {};
  for (const f of files) {
    const data = f.data.toString('base64');
    outputs.push({ ...outputMeta(f), data });
    if (f.kind === 'image') images[f.filename] = data;
  }
  return {
    status: 'success',
    ...(options.jobId !== undefined ? { job_id: options.jobId } : {}),
    outputs,
    ...(options.olderImages ? { images } : {}),
    ...(options.ui ? { ui: options.ui } : {}),
    timings_ms: timingsMs,
  };
}

/** An output's fields but its data, in the wire's order; `type` only where the job asked for it. */
function outputMeta(f: ResultFile): { node_id: string; filename: string; subfolder: string; kind: string; mime: string; type?: string } {
  return { node_id: f.nodeId, filename: f.filename, subfolder: f.subfolder, kind: f.kind, mime: f.mime, ...(f.type !== undefined ? { type: f.type } : {}) };
}

/**
 * The result's JSON (§3), streamed: its exact byte length up front, then its bytes in pieces, so that sealing a result
 * of tens of MB never builds the JSON, or even one file's base64, whole. Each file's base64 goes into `outputs` (and,
 * for an older-shape request, images into `images` too). The same JSON as JSON.stringify(buildResultPayload(...)).
 */
export class ResultJson extends JsonWithData {
  constructor(result: Result) {
    const jobId = result.jobId !== undefined ? `"job_id":${JSON.stringify(result.jobId)},` : '';
    const parts: Array<string | Uint8Array> = [`{"status":"success",${jobId}"outputs":[`];
    result.files.forEach((f, i) => {
      const meta = JSON.stringify(outputMeta(f));
      parts.push(`${i > 0 ? ',' : ''}${meta.slice(0, -1)},"data":"`, f.data, '"}');
    });
    parts.push(']');
    if (result.olderImages) {
      parts.push(',"images":{');
      // As an object would: first position, last value for a repeated name.
      const images = new Map<string, Uint8Array>();
      for (const f of result.files) if (f.kind === 'image') images.set(f.filename, f.data);
      [...images].forEach(([name, data], n) => parts.push(`${n > 0 ? ',' : ''}${JSON.stringify(name)}:"`, data, '"'));
      parts.push('}');
    }
    if (result.ui) parts.push(`,"ui":${JSON.stringify(result.ui)}`);
    parts.push(`,"timings_ms":${JSON.stringify(result.timingsMs)}}`);
    super(parts);
  }
}

/** The result's JSON as one buffer. */
export function resultBytes(result: Result): Buffer {
  const json = new ResultJson(result);
  const out = Buffer.allocUnsafe(json.byteLength);
  let at = 0;
  json.writeTo((piece) => (at += piece.copy(out, at)));
  return out;
}

/**
 * A sealed result, `{ encrypted_output }`, holding its token as bytes: the worker sends those bytes as they are and
 * releases them once posted. Reading `encrypted_output`, or JSON, gives the usual string.
 */
export class SealedOutput {
  readonly #token: Buffer;

  constructor(token: Buffer) {
    this.#token = token;
  }

  /** The token's ASCII bytes. */
  get bytes(): Buffer {
    return this.#token;
  }

  get encrypted_output(): string {
    return this.#token.toString('latin1');
  }

  toJSON(): { encrypted_output: string } {
    return { encrypted_output: this.encrypted_output };
  }

  /** Gives the token's memory back; the output reads as empty afterwards. */
  release(): void {
    release(this.#token);
  }
}

/**
 * Result → RunPod `output` for an encrypted job, the JSON streamed through the cipher, the token kept as bytes (the
 * worker posts them as they are). OUTPUT_TOO_LARGE, before any work, when the token would be longer than `maxTokenChars`.
 */
export function sealResultBytes(result: Result, fernet: Fernet, maxTokenChars = Infinity): SealedOutput {
  const json = new ResultJson(result);
  const length = Fernet.tokenLength(json.byteLength);
  if (length > maxTokenChars) throw resultTooLarge(length, maxTokenChars);
  return new SealedOutput(json.sealBytes(fernet));
}

/** Result → RunPod `output` for an encrypted job, as a plain object. */
export function sealResult(result: Result, fernet: Fernet, maxTokenChars = Infinity): { encrypted_output: string } {
  const sealed = sealResultBytes(result, fernet, maxTokenChars);
  const output = { encrypted_output: sealed.encrypted_output };
  sealed.release();
  return output;
}

/** OUTPUT_TOO_LARGE for a result of `bytes` (sealed or plaintext) over `limit`. */
export function resultTooLarge(bytes: number, limit: number): SealError {
  return new SealError('OUTPUT_TOO_LARGE', `the result is over ${Math.floor(limit / 1e6)} MB once sealed: ${inlineAdvice(limit)}`, { bytes, limit_bytes: limit });
}

/** RunPod `output` (sealed, or plaintext for a plaintext job) → the result, or the pointer to the blob holding it (§9). */
export function openOutput(output: unknown, fernet: Fernet | null): { result: Result; pointer?: undefined } | { pointer: BlobPointer; result?: undefined } {
  let payload: unknown = output;
  if (isObject(output) && typeof output.encrypted_output === 'string') {
    if (!fernet) throw new SealError('BAD_INPUT', 'the result is sealed; a key is needed to open it');
    payload = openResultJson(output.encrypted_output, fernet);
    if (isBlobPointer(payload)) return { pointer: parseBlobPointer(payload, 'result pointer') };
  }
  return { result: resultOf(payload) };
}

/** RunPod `output` → Result; a result that went to a blob needs the client, which fetches it (openResultBlob). */
export function openResult(output: unknown, fernet: Fernet | null): Result {
  const opened = openOutput(output, fernet);
  if (opened.pointer) throw new SealError('BAD_INPUT', 'the result is in a blob; ComfySealClient (or comfy-seal run --resume-id) fetches and opens it');
  return opened.result;
}

/**
 * A result blob (the sealed token's ASCII bytes, already checked against its pointer) → Result. The token is
 * consumed: decrypted over itself, and the files are views of it.
 */
export function openResultBlob(token: Buffer, fernet: Fernet): Result {
  return resultOf(openResultJson(token, fernet));
}

/** The sealed `{blob}` pointer that stands for a result stored at `pointer.url`. */
export function sealBlobPointer(pointer: BlobPointer, fernet: Fernet): { encrypted_output: string } {
  return { encrypted_output: fernet.encrypt(blobPointerJson(pointer)) };
}

function resultOf(payload: unknown): Result {
  const wire = parseWith(resultSchema, payload, 'result');
  return {
    files: wire.outputs.map((o, index) => ({
      nodeId: o.node_id,
      filename: o.filename,
      subfolder: o.subfolder,
      kind: o.kind,
      mime: o.mime,
      data: fileData(o.data, index),
      ...(o.type !== undefined ? { type: o.type } : {}),
    })),
    timingsMs: wire.timings_ms ?? {},
    ...(wire.job_id !== undefined ? { jobId: wire.job_id } : {}),
    ...(wire.ui !== undefined ? { ui: wire.ui } : {}),
  };
}

/** An output's base64 → its bytes; a data text decodes over itself. */
function fileData(data: string | JsonDataText, index: number): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'base64');
  const bytes = data.decodeBase64();
  if (!bytes) throw new SealError('BAD_INPUT', `result outputs[${index}].data is not base64`);
  return bytes;
}

/**
 * A failure → RunPod's `error` string. With a key, the details travel sealed and only the code is plaintext.
 * Without one (plaintext job, or a token that could not be opened), only the code and our own message go out.
 */
export function sealError(error: SealError, fernet: Fernet | null, jobId?: string): string {
  if (!fernet) return JSON.stringify({ code: error.code, message: error.message });
  const inner = JSON.stringify({ code: error.code, ...(jobId !== undefined ? { job_id: jobId } : {}), message: error.message, details: error.details });
  return JSON.stringify({ code: error.code, encrypted_error: fernet.encrypt(inner) });
}

/** An opened failure; `sealed` says whether it came out of a token (and so is authentic), `jobId` what the token named. */
export interface OpenedFailure {
  error: SealError;
  sealed: boolean;
  jobId?: string;
}

/**
 * RunPod's `error` (the string, or already parsed) → SealError with its details opened when a key fits.
 * A string that is not ours (RunPod's own errors, e.g. a timeout) comes back as INTERNAL with the text as message.
 */
export function openFailure(error: unknown, fernet: Fernet | null): OpenedFailure {
  let value: unknown = error;
  if (typeof error === 'string') {
    try {
      value = JSON.parse(error);
    } catch {
      return { error: new SealError('INTERNAL', error), sealed: false };
    }
  }
  const failure = failureSchema.safeParse(value);
  if (!failure.success) return { error: new SealError('INTERNAL', typeof error === 'string' ? error : JSON.stringify(error)), sealed: false };
  const code: ErrorCode = isErrorCode(failure.data.code) ? failure.data.code : 'INTERNAL';
  if (typeof failure.data.message === 'string') return { error: new SealError(code, failure.data.message), sealed: false };
  if (!fernet) return { error: new SealError(code, 'the error details are sealed; a key is needed to read them'), sealed: false };
  const inner = parseWith(errorPayloadSchema, openJson(String(failure.data.encrypted_error), fernet, 'error'), 'error');
  return {
    error: new SealError(code, inner.message, (inner.details ?? {}) as ErrorDetails),
    sealed: true,
    ...(inner.job_id !== undefined ? { jobId: inner.job_id } : {}),
  };
}

/** openFailure's error alone. */
export function openError(error: unknown, fernet: Fernet | null): SealError {
  return openFailure(error, fernet).error;
}

export function sealProgress(progress: Progress, fernet: Fernet): { encrypted_progress: string } {
  return { encrypted_progress: fernet.encrypt(JSON.stringify(progress)) };
}

/** The IN_PROGRESS `output` → Progress, or null when it is not a progress update we can read. */
export function openProgress(output: unknown, fernet: Fernet | null): Progress | null {
  if (!isObject(output)) return null;
  let payload: unknown = output;
  if (typeof output.encrypted_progress === 'string') {
    if (!fernet) return null;
    payload = openJson(output.encrypted_progress, fernet, 'progress');
  }
  const parsed = progressSchema.safeParse(payload);
  return parsed.success ? parsed.data : null;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
