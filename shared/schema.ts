/**
 * The wire shapes of contract §2–4 as zod schemas. The worker writes exactly these shapes; readers accept additions
 * (new fields, new output kinds, new codes) so an older client keeps working against a newer worker.
 */
import { z } from 'zod';
import { SealError } from './errors.js';
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

export const bundleImageSchema = z.strictObject({ name: fileName, image: z.string() });

/** Both image forms of the contract: the list, and the older endpoint's `{ name: base64 }` object. */
export const bundleImagesSchema = z.union([z.array(bundleImageSchema), z.record(fileName, z.string())]);

export const bundleOptionsSchema = z.strictObject({
  /** Seconds; may only lower the worker's own job timeout. */
  timeout_s: z.number().positive().finite().optional(),
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
  data: z.string(),
});

export const resultSchema = z.looseObject({
  status: z.literal('success'),
  outputs: z.array(resultOutputSchema),
  images: z.record(z.string(), z.string()).optional(),
  timings_ms: z.record(z.string(), z.number()).optional(),
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
  /** Prompts ahead of ours in ComfyUI's queue. */
  queue_remaining: z.number().optional(),
  elapsed_ms: z.number(),
});
export type Progress = z.infer<typeof progressSchema>;
/** A progress update before the worker stamps its elapsed time. */
export interface ProgressUpdate {
  state: string;
  percent?: number;
  step?: { value: number; max: number };
  node_id?: string;
  node_type?: string;
  queue_remaining?: number;
}

/** The JSON inside RunPod's `error` string (§4). */
export const failureSchema = z.union([
  z.looseObject({ code: z.string(), encrypted_error: z.string() }),
  z.looseObject({ code: z.string(), message: z.string() }),
]);

/** The plaintext of `encrypted_error`. */
export const errorPayloadSchema = z.looseObject({
  code: z.string(),
  message: z.string(),
  details: z.record(z.string(), z.unknown()).optional(),
});

/** Schema keys that may appear in a plaintext message; anything else in a path (node ids, image names) is the user's. */
const SAFE_PATH_KEYS = new Set(['workflow', 'class_type', 'inputs', '_meta', 'images', 'name', 'image', 'options', 'timeout_s', 'reply', 'put', 'get', 'always', 'blob', 'url', 'sha256', 'size']);

function safePath(path: readonly PropertyKey[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : SAFE_PATH_KEYS.has(String(p)) ? String(p) : '*')).join('.') || '(root)';
}

/**
 * Parses with a schema, or throws BAD_INPUT whose plaintext message names only the schema's own keys and zod's issue
 * code. zod's own messages (which can name user keys) go into the sealed details.
 */
export function parseWith<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const first = result.error.issues[0];
  const where = first ? `${safePath(first.path)} (${first.code})` : 'unknown';
  throw new SealError('BAD_INPUT', `${what} does not match the contract at ${where}`, {
    issues: result.error.issues.map((i) => ({ path: i.path.map(String), message: i.message })),
  });
}
