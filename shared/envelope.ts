/**
 * What goes back to RunPod (contract §3–4): the sealed result, the failure string, the sealed progress — and their
 * openers, used by the client, by `comfy-seal open` and by tests.
 */
import { SealError, isErrorCode, type ErrorCode, type ErrorDetails } from './errors.js';
import { decodeUtf8, parseJsonLimited } from './bundle.js';
import type { Fernet } from './fernet.js';
import { DEFAULT_LIMITS } from './limits.js';
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
  data: Buffer;
}

export interface Result {
  files: ResultFile[];
  timingsMs: Record<string, number>;
}

function openJson(token: string, fernet: Fernet, what: string): unknown {
  return parseJsonLimited(decodeUtf8(fernet.decrypt(token), what), DEFAULT_LIMITS.maxJsonDepth, what);
}

/** The plaintext result object (§3), with the older endpoint's `images` map derived from the image outputs. */
export function buildResultPayload(files: readonly ResultFile[], timingsMs: Record<string, number>): WireResult {
  const outputs: WireResultOutput[] = [];
  const images: Record<string, string> = {};
  for (const f of files) {
    const data = f.data.toString('base64');
    outputs.push({ node_id: f.nodeId, filename: f.filename, subfolder: f.subfolder, kind: f.kind, mime: f.mime, data });
    if (f.kind === 'image') images[f.filename] = data;
  }
  return { status: 'success', outputs, images, timings_ms: timingsMs };
}

/**
 * The result's JSON (§3) as bytes, written straight into one buffer: each file's base64 is made once and written into
 * both `outputs` and `images`, with no intermediate JSON string of tens of MB. Same JSON as buildResultPayload.
 */
export function resultBytes(result: Result): Buffer {
  const encoded = result.files.map((f) => f.data.toString('base64'));
  const parts: Array<string | number> = ['{"status":"success","outputs":['];
  result.files.forEach((f, i) => {
    const meta = JSON.stringify({ node_id: f.nodeId, filename: f.filename, subfolder: f.subfolder, kind: f.kind, mime: f.mime });
    parts.push(`${i > 0 ? ',' : ''}${meta.slice(0, -1)},"data":"`, i, '"}');
  });
  parts.push('],"images":{');
  // As an object would: first position, last value for a repeated name.
  const images = new Map<string, number>();
  result.files.forEach((f, i) => f.kind === 'image' && images.set(f.filename, i));
  [...images].forEach(([name, i], n) => parts.push(`${n > 0 ? ',' : ''}${JSON.stringify(name)}:"`, i, '"'));
  parts.push(`},"timings_ms":${JSON.stringify(result.timingsMs)}}`);
  const size = parts.reduce<number>((n, p) => n + (typeof p === 'number' ? encoded[p]!.length : Buffer.byteLength(p)), 0);
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const p of parts) at += typeof p === 'number' ? out.write(encoded[p]!, at, 'latin1') : out.write(p, at, 'utf8');
  return out;
}

/** Result → RunPod `output` for an encrypted job. */
export function sealResult(result: Result, fernet: Fernet): { encrypted_output: string } {
  return { encrypted_output: fernet.encrypt(resultBytes(result)) };
}

/** RunPod `output` (sealed, or plaintext for a plaintext job) → Result. */
export function openResult(output: unknown, fernet: Fernet | null): Result {
  let payload: unknown = output;
  if (isObject(output) && typeof output.encrypted_output === 'string') {
    if (!fernet) throw new SealError('BAD_INPUT', 'the result is sealed; a key is needed to open it');
    payload = openJson(output.encrypted_output, fernet, 'result');
  }
  const wire = parseWith(resultSchema, payload, 'result');
  return {
    files: wire.outputs.map((o) => ({
      nodeId: o.node_id,
      filename: o.filename,
      subfolder: o.subfolder,
      kind: o.kind,
      mime: o.mime,
      data: Buffer.from(o.data, 'base64'),
    })),
    timingsMs: wire.timings_ms ?? {},
  };
}

/**
 * A failure → RunPod's `error` string. With a key, the details travel sealed and only the code is plaintext.
 * Without one (plaintext job, or a token that could not be opened), only the code and our own message go out.
 */
export function sealError(error: SealError, fernet: Fernet | null): string {
  if (!fernet) return JSON.stringify({ code: error.code, message: error.message });
  const inner = JSON.stringify({ code: error.code, message: error.message, details: error.details });
  return JSON.stringify({ code: error.code, encrypted_error: fernet.encrypt(inner) });
}

/**
 * RunPod's `error` (the string, or already parsed) → SealError with its details opened when a key fits.
 * A string that is not ours (RunPod's own errors, e.g. a timeout) comes back as INTERNAL with the text as message.
 */
export function openError(error: unknown, fernet: Fernet | null): SealError {
  let value: unknown = error;
  if (typeof error === 'string') {
    try {
      value = JSON.parse(error);
    } catch {
      return new SealError('INTERNAL', error);
    }
  }
  const failure = failureSchema.safeParse(value);
  if (!failure.success) return new SealError('INTERNAL', typeof error === 'string' ? error : JSON.stringify(error));
  const code: ErrorCode = isErrorCode(failure.data.code) ? failure.data.code : 'INTERNAL';
  if (typeof failure.data.message === 'string') return new SealError(code, failure.data.message);
  if (!fernet) return new SealError(code, 'the error details are sealed; a key is needed to read them');
  const inner = parseWith(errorPayloadSchema, openJson(String(failure.data.encrypted_error), fernet, 'error'), 'error');
  return new SealError(code, inner.message, (inner.details ?? {}) as ErrorDetails);
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
