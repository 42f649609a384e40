/**
 * Whatever a user passes as a workflow → an API-format workflow and where it came from: API JSON as it is, UI JSON
 * converted, a PNG or WebP by what ComfyUI embedded (its `prompt`, API format, preferred over its `workflow`).
 */
import { isUiFormat } from '../../shared/bundle.js';
import { decodeUtf8 } from '../../shared/json.js';
import { SealError } from '../../shared/errors.js';
import { convertUiWorkflow, type ConvertOptions } from './convert.js';
import { readEmbedded, type EmbeddedImageFormat } from './embedded.js';

/** `api`: given in API format; `ui`: converted; `prompt` / `workflow`: the image's chunk of that name. */
export type WorkflowSource = 'api' | 'ui' | 'prompt' | 'workflow';

export interface LoadedWorkflow {
  /** API format, not yet checked against the schema (prepareWorkflow and check do that). */
  workflow: unknown;
  source: WorkflowSource;
  /** Set when the workflow came out of an image. */
  image?: EmbeddedImageFormat;
}

const FORMAT_NAMES: Record<EmbeddedImageFormat, string> = { png: 'PNG', webp: 'WebP' };

/** The UI graph inside a value: the value itself, or its `workflow` field (a request file around a UI workflow). */
function uiGraph(value: unknown): unknown {
  const inner = (value as { workflow?: unknown }).workflow;
  return inner !== null && typeof inner === 'object' && Array.isArray((inner as { nodes?: unknown }).nodes) ? inner : value;
}

/** A parsed JSON value → API format (UI format converted). */
export function toApiWorkflow(value: unknown, options: ConvertOptions = {}): LoadedWorkflow {
  if (isUiFormat(value)) return { workflow: convertUiWorkflow(uiGraph(value), options), source: 'ui' };
  return { workflow: value, source: 'api' };
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new SealError('BAD_INPUT', `${what} is not valid JSON`);
  }
}

/** A workflow file's bytes (JSON, PNG or WebP) → API format. */
export function loadWorkflow(bytes: Uint8Array, options: ConvertOptions = {}): LoadedWorkflow {
  const embedded = readEmbedded(bytes);
  if (embedded === null) return toApiWorkflow(parseJson(decodeUtf8(bytes, 'workflow file'), 'the workflow file'), options);
  const image = embedded.format;
  const name = FORMAT_NAMES[image];
  if (embedded.prompt !== undefined) {
    return { workflow: parseJson(embedded.prompt, `the ${name}'s prompt`), source: 'prompt', image };
  }
  if (embedded.workflow !== undefined) {
    const ui = parseJson(embedded.workflow, `the ${name}'s workflow`);
    return { workflow: convertUiWorkflow(uiGraph(ui), options), source: 'workflow', image };
  }
  throw new SealError('BAD_INPUT', `this ${name} carries no ComfyUI workflow (no "prompt" or "workflow" metadata); save it from ComfyUI, or pass the workflow JSON`);
}

/** One line for the user: which workflow was used. */
export function describeSource(loaded: Pick<LoadedWorkflow, 'source' | 'image'>): string {
  const image = loaded.image && FORMAT_NAMES[loaded.image];
  switch (loaded.source) {
    case 'prompt':
      return `using the ${image}'s embedded prompt (API format)`;
    case 'workflow':
      return `using the ${image}'s embedded workflow (UI format, converted)`;
    case 'ui':
      return 'converted from the UI format';
    default:
      return 'API format';
  }
}
