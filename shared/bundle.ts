/**
 * Bundles (contract §2): build one on the client, open and validate one on the worker.
 * Parsing is defensive end to end: any malformed input becomes a SealError with a code, never an uncaught exception.
 */
import { isBlobPointer, parseBlobPointer, type BlobPointer } from './blob.js';
import { SealError } from './errors.js';
import { base64DecodedLength } from './base64url.js';
import { JsonDataText, JsonWithData, readJsonWithData } from './json-data.js';
import { checkDepth, decodeUtf8, parseJson } from './json.js';
import type { Fernet } from './fernet.js';
import { resolveLimits, type Limits } from './limits.js';
import { allocReleasable, release } from './releasable.js';
import { BUNDLE_QUERIES, bundleSchema, parseWith, queryBundleSchema, type BlobReply, type BundleOptions, type BundleQuery, type Workflow } from './schema.js';

export interface BundleImage {
  name: string;
  data: Uint8Array;
}

/** A bundle with its images decoded: what the worker stages and the client builds from. */
export interface Bundle {
  workflow: Workflow;
  images: BundleImage[];
  options: BundleOptions;
  /** A question instead of a workflow (contract §10); such a bundle has an empty workflow and no images. */
  query?: BundleQuery;
  /** The images came as the older endpoint's `{name: base64}` object (its result shape is then the older one, §3). */
  imagesAsObject?: boolean;
  /** Where a result too large to travel inline goes (§9). */
  reply?: BlobReply;
}

const DATA_URI = /^data:[^,;\0-\x1f]*(?:;[^,;\0-\x1f]*)*;base64,/;

/**
 * Decodes a bundle image: plain base64 (either alphabet, line breaks allowed) or a `data:...;base64,` URI. `releasable`
 * (the worker, which gives inputs back as soon as they are staged): into a buffer from shared/releasable.ts. A data
 * text (read from bytes) decodes over itself, into a view of the buffer it was read from.
 */
export function decodeImageData(text: string | JsonDataText, releasable = false): Buffer {
  if (text instanceof JsonDataText) return decodeDataText(text);
  let body = text;
  const uri = DATA_URI.exec(body.slice(0, 256));
  if (uri) body = body.slice(uri[0].length);
  else if (body.startsWith('data:')) throw notBase64Uri();
  if (body.includes('\n') || body.includes('\r')) body = body.replace(/\r?\n/g, '');
  if (body.length === 0) throw new SealError('BAD_INPUT', 'image is empty');
  // Node's decoder skips what is not base64; a decoded length short of what the text promises reveals it, without a
  // regex pass over megabytes.
  const expected = base64DecodedLength(body.length, body.slice(-2), body.indexOf('='));
  if (expected < 0) throw notBase64();
  const data = releasable ? allocReleasable(expected) : Buffer.allocUnsafe(expected);
  if (data.write(body, 'base64') !== expected) {
    release(data);
    throw notBase64();
  }
  return data;
}

/** decodeImageData for a data text. It holds no line break: a JSON string carries those escaped, never as data text. */
function decodeDataText(text: JsonDataText): Buffer {
  const uri = DATA_URI.exec(text.slice(0, 256));
  if (!uri && text.slice(0, 5) === 'data:') throw notBase64Uri();
  const data = text.decodeBase64(uri ? uri[0].length : 0);
  if (!data) throw notBase64();
  return data;
}

function notBase64Uri(): SealError {
  return new SealError('BAD_INPUT', 'image is a data URI but not a base64 one (";base64,")');
}

function notBase64(): SealError {
  return new SealError('BAD_INPUT', 'image is not base64');
}

export const UI_FORMAT_MESSAGE =
  'workflow is in ComfyUI UI format (nodes/links); export it with Workflow > Export (API) (older versions: "Save (API Format)" with dev mode on)';

/** Bytes (the caller's, left as they are) → validated Bundle with images decoded. BAD_INPUT names no user data. */
export function parseBundle(bytes: Uint8Array, limitsIn: Partial<Limits> = {}): Bundle {
  const limits = resolveLimits(limitsIn);
  checkBundleSize(bytes.length, limits);
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  checkDepth(buf, limits.maxJsonDepth, 'bundle'); // on the bytes: before they are decoded or parsed
  return validateBundle(parseJson(decodeUtf8(buf, 'bundle'), 'bundle'), limits, false);
}

function checkBundleSize(bytes: number, limits: Limits): void {
  if (bytes > limits.maxBundleBytes) throw new SealError('BAD_INPUT', `bundle is ${bytes} bytes, over the ${limits.maxBundleBytes}-byte limit`);
}

/**
 * A parsed JSON value → validated Bundle (also used for plaintext jobs, whose bundle arrives already parsed).
 * `releasable`: images decoded into buffers from shared/releasable.ts, for a caller that releases them.
 */
export function validateBundle(value: unknown, limitsIn: Partial<Limits> = {}, releasable = false): Bundle {
  const limits = resolveLimits(limitsIn);
  if (value !== null && typeof value === 'object' && 'query' in value) return validateQueryBundle(value as Record<string, unknown>);
  if (isUiFormat(value)) {
    throw new SealError('BAD_INPUT', UI_FORMAT_MESSAGE);
  }
  const wire = parseWith(bundleSchema, value, 'bundle');
  const nodeCount = Object.keys(wire.workflow).length;
  if (nodeCount === 0) throw new SealError('BAD_INPUT', 'workflow has no nodes');
  if (nodeCount > limits.maxWorkflowNodes) {
    throw new SealError('BAD_INPUT', `workflow has ${nodeCount} nodes, over the ${limits.maxWorkflowNodes}-node limit`);
  }
  const entries = Array.isArray(wire.images)
    ? wire.images.map((i) => [i.name, i.image] as const)
    : Object.entries(wire.images ?? {});
  if (entries.length > limits.maxImages) {
    throw new SealError('BAD_INPUT', `bundle has ${entries.length} images, over the ${limits.maxImages}-image limit`);
  }
  const seen = new Set<string>();
  const images = entries.map(([name, text], index) => {
    if (seen.has(name)) throw new SealError('BAD_INPUT', `image ${index + 1} repeats an earlier image's name`, { name });
    seen.add(name);
    try {
      return { name, data: decodeImageData(text, releasable) };
    } catch (error) {
      // decodeImageData's messages are ours ("image is not base64"); the name stays in details.
      throw new SealError('BAD_INPUT', `images[${index}].${(error as Error).message}`, { name });
    }
  });
  const older = wire.images !== undefined && !Array.isArray(wire.images);
  return { workflow: wire.workflow, images, options: wire.options ?? {}, ...(older ? { imagesAsObject: true } : {}), ...(wire.reply ? { reply: wire.reply } : {}) };
}

function validateQueryBundle(value: Record<string, unknown>): Bundle {
  if ('workflow' in value || 'images' in value) throw new SealError('BAD_INPUT', 'a bundle holds a workflow or a query, never both (and a query takes no images)');
  if (typeof value.query !== 'string' || !(BUNDLE_QUERIES as readonly string[]).includes(value.query)) {
    throw new SealError('BAD_INPUT', `unknown query; this worker answers ${BUNDLE_QUERIES.join(', ')}`);
  }
  const wire = parseWith(queryBundleSchema, value, 'bundle');
  return { workflow: {}, images: [], options: wire.options ?? {}, query: wire.query };
}

/** ComfyUI's UI format (top-level nodes[] and links[]), which the API cannot run. */
export function isUiFormat(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  const wf = (v.workflow ?? v) as Record<string, unknown> | null;
  return wf !== null && typeof wf === 'object' && Array.isArray(wf.nodes) && Array.isArray(wf.links);
}

/** Bundle → wire JSON text (images as base64). */
export function serializeBundle(bundle: Bundle): string {
  if (bundle.query) return JSON.stringify({ query: bundle.query, options: bundle.options });
  const wire = {
    workflow: bundle.workflow,
    images: bundle.images.map((i) => ({ name: i.name, image: Buffer.from(i.data.buffer, i.data.byteOffset, i.data.byteLength).toString('base64') })),
    options: bundle.options,
    ...(bundle.reply ? { reply: bundle.reply } : {}),
  };
  return JSON.stringify(wire);
}

/**
 * The bundle's wire JSON (the same text as serializeBundle), streamed: images go into it as base64 piece by piece, so
 * sealing a bundle of hundreds of MB never holds its JSON or an image's base64 whole.
 */
export function bundleJson(bundle: Bundle): JsonWithData {
  const head = { workflow: bundle.workflow };
  const parts: Array<string | Uint8Array> = [`${JSON.stringify(head).slice(0, -1)},"images":[`];
  bundle.images.forEach((image, i) => parts.push(`${i > 0 ? ',' : ''}{"name":${JSON.stringify(image.name)},"image":"`, image.data, '"}'));
  parts.push(`],"options":${JSON.stringify(bundle.options)}${bundle.reply ? `,"reply":${JSON.stringify(bundle.reply)}` : ''}}`);
  return new JsonWithData(parts);
}

/** The client side: bundle → one Fernet token. */
export function sealBundle(bundle: Bundle, fernet: Fernet): string {
  return fernet.encrypt(serializeBundle(bundle));
}

export interface OpenBundleOptions {
  /** Oldest accepted token age in seconds; undefined or 0 = no limit. */
  ttlSeconds?: number;
  limits?: Partial<Limits>;
  /**
   * The images live in a buffer from shared/releasable.ts, for a caller that gives them back (the worker): they are
   * views of one buffer (the decrypted plaintext), so releasing one releases all.
   */
  releasable?: boolean;
  /**
   * The token is a buffer the caller gives up (a fetched blob): it is decrypted over itself and the images are views
   * of it; it is released at once when the bundle fails or holds no image.
   */
  consumeToken?: boolean;
}

/** Where a bundle's images are: the list's `image` fields, or the older object form's values. */
const BUNDLE_DATA_PATHS = [['images', '*', 'image'], ['images', '*']];

/** The worker side: token (text, or a blob's ASCII bytes) → validated Bundle. DECRYPT_FAILED / TOKEN_EXPIRED / BAD_INPUT. */
export function openBundle(token: string | Buffer, fernet: Fernet, options: OpenBundleOptions = {}): Bundle {
  return readBundle(token, fernet, options, false).bundle!;
}

/** A request token's plaintext: the bundle, or a pointer to the blob that holds it (§9). */
export type OpenedRequest = { bundle: Bundle; pointer?: undefined } | { pointer: BlobPointer; bundle?: undefined };

/** `encrypted_input` → its bundle, or the blob pointer it holds instead. */
export function openRequest(token: string, fernet: Fernet, options: OpenBundleOptions = {}): OpenedRequest {
  return readBundle(token, fernet, options, true);
}

/**
 * Decrypts a request token and reads its JSON with the images left as bytes, which `validate` decodes over
 * themselves: so a bundle costs its plaintext and nothing more (or, for a consumed blob, the blob and nothing more).
 * The plaintext is given back at once unless images hold it.
 */
function readBundle(token: string | Buffer, fernet: Fernet, options: OpenBundleOptions, pointerAllowed: boolean): OpenedRequest {
  const limits = resolveLimits(options.limits);
  const ttl = options.ttlSeconds ? { ttlSeconds: options.ttlSeconds } : {};
  const consume = options.consumeToken === true && typeof token !== 'string';
  let bytes: Buffer;
  try {
    bytes = consume ? fernet.decrypt(token, { inPlace: true, ...ttl }) : fernet.decrypt(token, { releasable: options.releasable ?? false, ...ttl });
  } catch (error) {
    if (consume) release(token);
    throw error;
  }
  try {
    checkBundleSize(bytes.length, limits);
    const value = readJsonWithData(bytes, { what: 'bundle', maxDepth: limits.maxJsonDepth, dataPaths: BUNDLE_DATA_PATHS });
    if (pointerAllowed && isBlobPointer(value)) {
      release(bytes);
      return { pointer: parseBlobPointer(value, 'blob pointer') };
    }
    const bundle = validateBundle(value, limits, options.releasable ?? false);
    // Images short enough to be strings were decoded into buffers of their own: then nothing holds the plaintext.
    if (!bundle.images.some((image) => image.data.buffer === bytes.buffer)) release(bytes);
    return { bundle };
  } catch (error) {
    release(bytes);
    throw error;
  }
}
