/**
 * The wire shapes of contract §2–4 as zod schemas. The worker writes exactly these shapes; readers accept additions
 * (new fields, new output kinds, new codes) so an older client keeps working against a newer worker.
 */
import { z } from 'zod';
import { SealError } from './errors.js';
import { JsonDataText } from './json-data.js';
import { fileNameProblem } from './names.js';

const fileName = z.string().superRefine((name, ctx) => {
  const problem = fileNameProblem(name);
  if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
});

/** A node input: a literal or a link `[source node id, output slot]`. */
export const workflowNodeSchema = z.looseObject({
  class_type: z.string().min(1),
  inputs: z.record(z.string(), z.unknown()),
  _meta: z.looseObject({ title: z.string().optional() }).optional(),
});

export const workflowSchema = z.record(z.string(), workflowNodeSchema);

/** A file's base64: a string, or (read from bytes by readJsonWithData) the bytes it was in. */
const dataText = z.union([z.string(), z.instanceof(JsonDataText)]);

export const bundleImageSchema = z.strictObject({ name: fileName, image: dataText });

/** Both image forms of the contract: the list, and the older endpoint's `{ name: base64 }` object. */
export const bundleImagesSchema = z.union([z.array(bundleImageSchema), z.record(fileName, dataText)]);

/** §13: live previews in sealed progress; `true` takes the defaults (PREVIEW_DEFAULTS). */
export const previewOptionsSchema = z.union([
  z.literal(true),
  z.strictObject({
    /** At most one preview per this many ms. */
    every_ms: z.number().int().min(1).max(3_600_000).optional(),
    /** Longest side of a preview, px; larger frames are scaled down. */
    max_px: z.number().int().min(8).max(4096).optional(),
  }),
]);
export const PREVIEW_DEFAULTS = { every_ms: 1000, max_px: 512 } as const;

export const bundleOptionsSchema = z.strictObject({
  /** Seconds; may only lower the worker's own job timeout. */
  timeout_s: z.number().positive().finite().optional(),
  previews: previewOptionsSchema.optional(),
  /** §14: temp savers' files (PreviewImage...) join `outputs`, each with `type: "temp"`. */
  temp_outputs: z.boolean().optional(),
  /** §14: the result carries each output node's history entry (`ui`), file entries named as in `outputs`. */
  ui: z.boolean().optional(),
});

/** The URLs a blob lives at: absolute http(s), as presigned URLs are. Which hosts a worker may reach is its own check. */
export const blobUrlSchema = z.string().max(8192).refine((text) => {
  try {
    const url = new URL(text);
    return url.protocol === 'https:' || url.protocol === 'http:';
  } catch {
    return false;
  }
}, 'an http(s) URL');

/** A bundle's `reply`: where the worker puts a result too large to travel inline, and where the client gets it (§9). */
export const blobReplySchema = z.strictObject({
  put: blobUrlSchema,
  get: blobUrlSchema,
  always: z.boolean().optional(),
});
export type BlobReply = z.infer<typeof blobReplySchema>;

export const bundleSchema = z.object({
  workflow: workflowSchema,
  images: bundleImagesSchema.optional(),
  options: bundleOptionsSchema.optional(),
  /** Where a result too large to travel inline goes (§9): presigned PUT and GET URLs. */
  reply: blobReplySchema.optional(),
});

/** Questions a bundle may ask instead of running a workflow (contract §10): node definitions, and a health ping. */
export const BUNDLE_QUERIES = ['object_info', 'ping'] as const;
export type BundleQuery = (typeof BUNDLE_QUERIES)[number];

export const queryBundleSchema = z.object({
  query: z.enum(BUNDLE_QUERIES),
  options: bundleOptionsSchema.optional(),
});

/** A query's answer: a result with no outputs, plus the answer's own field. */
export const queryResultSchema = z.looseObject({
  status: z.literal('success'),
  outputs: z.array(z.unknown()),
  object_info: z.record(z.string(), z.unknown()).optional(),
  ping: z.looseObject({ comfy: z.looseObject({ ok: z.boolean(), version: z.string().optional() }) }).optional(),
});
export type QueryResult = z.infer<typeof queryResultSchema>;

export type WorkflowNode = z.infer<typeof workflowNodeSchema>;
export type Workflow = z.infer<typeof workflowSchema>;
export type BundleOptions = z.infer<typeof bundleOptionsSchema>;
/** A bundle as it travels (images as base64 text). */
export type WireBundle = z.infer<typeof bundleSchema>;

/** Output kinds the worker reports; readers accept any string so a new kind never breaks an old client. */
export const OUTPUT_KINDS = ['image', 'animated', 'video', 'audio', 'file'] as const;
export type OutputKind = (typeof OUTPUT_KINDS)[number];

export const resultOutputSchema = z.looseObject({
  node_id: z.string(),
  filename: fileName,
  subfolder: z.string(),
  kind: z.string(),
  mime: z.string(),
  data: dataText,
  /** `temp` for a temp saver's file (only with `temp_outputs`); missing means `output`. */
  type: z.string().optional(),
});

export const resultSchema = z.looseObject({
  status: z.literal('success'),
  job_id: z.string().optional(),
  outputs: z.array(resultOutputSchema),
  images: z.record(z.string(), dataText).optional(),
  timings_ms: z.record(z.string(), z.number()).optional(),
  /** §14, with the `ui` option: each output node's entry in ComfyUI's history outputs. */
  ui: z.record(z.string(), z.record(z.string(), z.unknown())).optional(),
});

export type WireResultOutput = z.infer<typeof resultOutputSchema>;
export type WireResult = z.infer<typeof resultSchema>;

/** What a sealed progress update holds (contract §4 seals it; its content is ours). */
export const progressSchema = z.looseObject({
  /** Where the job is: queued in ComfyUI, running a node, collecting outputs. */
  state: z.string(),
  /** Whole-job estimate, 0–100, when known. */
  percent: z.number().min(0).max(100).optional(),
  /** The running sampler's step, when one is running. */
  step: z.object({ value: z.number(), max: z.number() }).optional(),
  node_id: z.string().optional(),
  node_type: z.string().optional(),
  /** The sampler the step belongs to, so that two samplers of one workflow can be told apart. */
  sampler: z.looseObject({ node_id: z.string(), node_type: z.string().optional() }).optional(),
  /** Prompts ahead of ours in ComfyUI's queue. */
  queue_remaining: z.number().optional(),
  elapsed_ms: z.number(),
  /** The RunPod job id (§3). */
  job_id: z.string().optional(),
  /** §13: the latest live preview frame, with the `previews` option. */
  preview: z.looseObject({ mime: z.string(), data: z.string(), node_id: z.string().optional() }).optional(),
});
export type Progress = z.infer<typeof progressSchema>;
/** A live preview as it travels in progress (§13): the frame's base64. */
export type WirePreview = {
  mime: 'image/jpeg' | 'image/png';
  data: string;
  node_id?: string;
};
/** A progress update before the worker stamps its elapsed time. */
export interface ProgressUpdate {
  state: string;
  percent?: number;
  step?: { value: number; max: number };
  node_id?: string;
  node_type?: string;
  sampler?: { node_id: string; node_type?: string | undefined };
  queue_remaining?: number;
  preview?: WirePreview;
}

/** The JSON inside RunPod's `error` string (§4). */
export const failureSchema = z.union([
  z.looseObject({ code: z.string(), encrypted_error: z.string() }),
  z.looseObject({ code: z.string(), message: z.string() }),
]);

/** The plaintext of `encrypted_error`. */
export const errorPayloadSchema = z.looseObject({
  code: z.string(),
  job_id: z.string().optional(),
  message: z.string(),
  details: z.record(z.string(), z.unknown()).optional(),
});

/** Schema keys that may appear in a plaintext message; anything else in a path (node ids, image names) is the user's. */
const SAFE_PATH_KEYS = new Set(['workflow', 'class_type', 'inputs', '_meta', 'images', 'name', 'image', 'options', 'timeout_s', 'previews', 'every_ms', 'max_px', 'temp_outputs', 'ui', 'query', 'reply', 'put', 'get', 'always', 'blob', 'url', 'sha256', 'size']);

function safePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += `${out ? '.' : ''}${SAFE_PATH_KEYS.has(String(p)) ? String(p) : '*'}`;
  }
  return out || 'the document';
}

type Issue = z.core.$ZodIssue;

/** The branch of a union that got furthest (its first issue has the longest path): what the author most likely meant. */
function unionBranch(issue: Issue & { errors: Issue[][] }): Issue | undefined {
  let best: Issue | undefined;
  for (const branch of issue.errors) {
    const first = branch[0];
    if (first && (!best || first.path.length > best.path.length)) best = first;
  }
  return best && { ...best, path: [...issue.path, ...best.path] };
}

const A: Record<string, string> = { record: 'an object', object: 'an object', array: 'a list', string: 'text', number: 'a number', boolean: 'true or false' };

function kindOfValue(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : typeof value === 'string' ? 'text' : `a ${typeof value}`;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const p of path) v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[p] : undefined;
  return v;
}

/** One issue in words, naming only schema keys and positions ("images[0].image should be text, not a number"). */
function describeIssue(issue: Issue, value: unknown): string {
  if (issue.code === 'invalid_union') {
    const branch = unionBranch(issue as Issue & { errors: Issue[][] });
    if (branch && branch.path.length > issue.path.length) return describeIssue(branch, value);
    // Text, or text read as bytes (a data text): a value that is neither is "not text", as for a plain string.
    const first = (issue as Issue & { errors: Issue[][] }).errors[0]?.[0];
    if (first?.code === 'invalid_type' && first.expected === 'string' && first.path.length === 0) return describeIssue({ ...first, path: issue.path }, value);
    return `${safePath(issue.path)} should be ${issue.path.at(-1) === 'images' ? 'a list of {name, image}' : 'another shape'}, not ${kindOfValue(valueAt(value, issue.path))}`;
  }
  const where = safePath(issue.path);
  switch (issue.code) {
    case 'invalid_type': {
      const found = kindOfValue(valueAt(value, issue.path));
      return found === 'missing' ? `${where} is missing` : `${where} should be ${A[issue.expected] ?? issue.expected}, not ${found}`;
    }
    case 'unrecognized_keys':
      return `${where} has ${issue.keys.length === 1 ? 'an unknown field' : `${issue.keys.length} unknown fields`}${where === 'options' ? ' (known: timeout_s, previews, temp_outputs, ui)' : ''}`;
    case 'too_small':
      return issue.origin === 'string' ? `${where} is empty` : `${where} should be ${issue.inclusive ? 'at least' : 'more than'} ${String(issue.minimum)}`;
    case 'too_big':
      return `${where} should be ${issue.inclusive ? 'at most' : 'less than'} ${String(issue.maximum)}`;
    case 'custom':
      return `${where}: ${issue.message}`; // our own text (names.ts)
    default:
      return `${where} is not valid`;
  }
}

/**
 * Parses with a schema, or throws BAD_INPUT whose plaintext message says in words what is wrong where, naming only
 * the schema's own keys. zod's own messages (which can name user keys) go into the sealed details.
 */
export function parseWith<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const first = result.error.issues[0];
  throw new SealError('BAD_INPUT', `${what} does not match the contract: ${first ? describeIssue(first, value) : 'unknown problem'}`, {
    issues: result.error.issues.map((i) => ({ path: i.path.map(String), message: i.message })),
  });
}
