/**
 * The bridge's executor behind ComfyUI's surface (simulator/surface.ts): a queued prompt's files are taken from the
 * bridge's folders, the workflow is sealed and submitted through the SDK (asking for `ui`, `temp_outputs` and
 * `previews`), its sealed progress becomes ComfyUI's events, its result files are written under ComfyUI's names and
 * reported in `executed`. Interrupt and queue delete cancel the job on the endpoint. Nothing of a prompt is logged:
 * `report` gets the prompt id and states only.
 */
import os from 'node:os';
import type { ComfySealClient, JobProgress } from '../client/client.js';
import { JobFailedError } from '../client/errors.js';
import type { Workflow } from '../shared/schema.js';
import type { Dirs } from '../simulator/context.js';
import type { Emit, Outcome } from '../simulator/executor.js';
import { MODEL_FOLDERS } from '../simulator/models.js';
import type { PromptExecutor, QueuedPrompt } from '../simulator/surface.js';
import type { ValidationResult } from '../simulator/validate.js';
import { inputImages } from '../simulator/view-upload.js';
import { withInputImages, withLocalInputs } from './local-inputs.js';
import type { EndpointDefinitions } from './definitions.js';
import { PromptEvents } from './events.js';
import { gatherInputs } from './inputs.js';
import { endpointModels } from './models.js';
import { renameUi, uiOfFiles, writeOutputs } from './outputs.js';
import { validateForEndpoint } from './validate.js';

/** What the bridge asks of the worker for every prompt (§13, §14). */
export const BRIDGE_BUNDLE_OPTIONS = { ui: true, temp_outputs: true, previews: true } as const;

export interface BridgeExecutorOptions {
  client: ComfySealClient;
  definitions: EndpointDefinitions;
  dirs: Dirs;
  /** Prompts running on the endpoint at once. */
  maxJobs: number;
  /** One line per change of a prompt's state (never anything of the prompt itself). */
  report: (promptId: string, state: string) => void;
}

interface RunningJob {
  abort: AbortController;
  jobId: string | null;
  interrupted: boolean;
  events: PromptEvents;
}

export class BridgeExecutor implements PromptExecutor {
  readonly concurrency: number;
  readonly #jobs = new Map<string, RunningJob>();

  constructor(private readonly options: BridgeExecutorOptions) {
    this.concurrency = options.maxJobs;
  }

  async validate(prompt: unknown): Promise<ValidationResult> {
    let info;
    try {
      info = await this.options.definitions.get();
    } catch (error) {
      // Not the prompt's fault, but a client shows a 400's message: say what is wrong and what to do.
      const message = `comfy-seal bridge could not get the endpoint's node definitions (${(error as Error).message}); check the endpoint and key, or pass --object-info FILE`;
      return { ok: false, error: { type: 'endpoint_unavailable', message, details: '', extra_info: {} }, nodeErrors: {} };
    }
    return validateForEndpoint(prompt, info, this.options.dirs);
  }

  queued(item: QueuedPrompt): void {
    this.options.report(item[1], 'queued');
  }

  async run(item: QueuedPrompt, emit: Emit): Promise<Outcome> {
    const [, promptId, prompt, extra, outputs] = item;
    const workflow = prompt as Workflow;
    const { client, dirs, report } = this.options;
    const job: RunningJob = { abort: new AbortController(), jobId: null, interrupted: false, events: new PromptEvents(promptId, workflow, emit) };
    const events = job.events;
    this.#jobs.set(promptId, job);
    events.start();
    try {
      const request = await gatherInputs(neededBy(workflow, outputs), dirs);
      if (job.interrupted) throw new Error('interrupted');
      // A client that turned previews off for the prompt (extra_data.preview_method "none") gets none, as from ComfyUI.
      const options = extra.preview_method === 'none' ? { ui: true, temp_outputs: true } : BRIDGE_BUNDLE_OPTIONS;
      const jobId = await client.submit({ ...request, options });
      job.jobId = jobId;
      if (job.interrupted) void client.cancel(jobId).catch(() => undefined);
      report(promptId, 'submitted to the endpoint');
      let lastState = '';
      const result = await client.wait(jobId, {
        signal: job.abort.signal,
        onProgress: (event: JobProgress) => {
          events.progress(event);
          const state = describe(event);
          if (state !== lastState) report(promptId, (lastState = state));
        },
      });
      await client.releaseBlobs(jobId).catch(() => undefined);
      const placed = writeOutputs(result.files, dirs);
      const ui = renameUi(result.ui ?? uiOfFiles(result.files), placed);
      events.success(ui);
      report(promptId, `done with ${result.files.length} file${result.files.length === 1 ? '' : 's'}`);
      return { status: 'success', outputs: ui, messages: events.messages };
    } catch (error) {
      if (job.interrupted) {
        events.interrupted();
        report(promptId, 'interrupted');
        return { status: 'interrupted', outputs: {}, messages: events.messages };
      }
      const older = isOlderImage(error);
      events.error(older ? { exception_type: 'comfy_seal.WORKER_TOO_OLD', exception_message: `${OLDER_IMAGE}. The endpoint said: ${(error as Error).message}` } : errorDetails(error));
      report(promptId, `failed (${error instanceof JobFailedError ? error.jobCode : ((error as { code?: string }).code ?? 'ERROR')})${older ? `: ${OLDER_IMAGE}` : ''}`);
      return { status: 'error', outputs: {}, messages: events.messages };
    } finally {
      this.#jobs.delete(promptId);
    }
  }

  interrupt(promptId?: string): void {
    for (const [id, job] of this.#jobs) {
      if (promptId !== undefined && id !== promptId) continue;
      job.interrupted = true;
      job.abort.abort();
      if (job.jobId) void this.options.client.cancel(job.jobId).catch(() => undefined);
    }
  }

  cancelRunning(promptId: string): void {
    this.interrupt(promptId);
  }

  runningNode(promptId: string): string | null {
    return this.#jobs.get(promptId)?.events.currentNode ?? null;
  }

  async objectInfo(): Promise<Record<string, unknown>> {
    return withLocalInputs(await this.options.definitions.get(), this.options.dirs);
  }

  async objectInfoOf(classType: string): Promise<Record<string, unknown> | undefined> {
    const info = await this.options.definitions.get();
    if (!Object.hasOwn(info, classType)) return undefined;
    return withInputImages(info[classType]!, inputImages(this.options.dirs)) as unknown as Record<string, unknown>;
  }

  systemStats(address: { host: string; port: number }): Record<string, unknown> {
    return {
      system: {
        os: process.platform,
        ram_total: os.totalmem(),
        ram_free: os.freemem(),
        // The endpoint's ComfyUI once known; until then the release whose API the bridge speaks.
        comfyui_version: this.options.definitions.version ?? '0.27.1',
        required_frontend_version: '1.45.20',
        installed_templates_version: null,
        required_templates_version: '0.11.6',
        comfy_package_versions: [],
        python_version: '',
        pytorch_version: '',
        embedded_python: false,
        deploy_environment: 'comfy-seal-bridge',
        argv: ['comfy-seal', 'bridge', '--listen', address.host, '--port', String(address.port)],
      },
      devices: [{ name: 'RunPod Serverless (comfy-seal)', type: 'cuda', index: 0, vram_total: 0, vram_free: 0, torch_vram_total: 0, torch_vram_free: 0 }],
    };
  }

  async models(folder: string): Promise<string[] | null> {
    return endpointModels(await this.options.definitions.get(), folder);
  }

  modelFolders(): string[] {
    return Object.keys(MODEL_FOLDERS);
  }
}

/** The nodes the outputs to run need: ComfyUI runs only those, and the worker refuses a graph it would run in part. */
function neededBy(workflow: Workflow, outputs: string[]): Workflow {
  const keep = new Set<string>();
  const visit = (id: string) => {
    if (keep.has(id) || !Object.hasOwn(workflow, id)) return;
    keep.add(id);
    for (const v of Object.values(workflow[id]!.inputs)) if (Array.isArray(v) && typeof v[0] === 'string') visit(v[0]);
  };
  outputs.forEach(visit);
  return Object.fromEntries(Object.entries(workflow).filter(([id]) => keep.has(id)));
}

/** A status line's state: RunPod's queue, or the step running. */
function describe(event: JobProgress): string {
  if (event.status === 'IN_QUEUE') return 'in the endpoint queue';
  const step = event.progress?.step;
  return step ? `running on RunPod, step ${step.value}/${step.max}` : 'running on RunPod';
}

/** What to do when the endpoint's worker does not know the options the bridge sends (every prompt would fail). */
const OLDER_IMAGE =
  "the endpoint's worker image is older than this comfy-seal bridge (it refuses the bridge's options): update the endpoint to the current comfy-seal image (comfy-seal deploy --image IMAGE with the endpoint's --name, or the new tag in its template)";

/** The worker's BAD_INPUT for bundle options it does not know (shared/schema.ts words it): an image older than the bridge. */
function isOlderImage(error: unknown): boolean {
  return error instanceof JobFailedError && error.jobCode === 'BAD_INPUT' && /\boptions has (an unknown field|\d+ unknown fields)/.test(error.message);
}

/** execution_error's fields: the worker's sealed details (opened by the SDK), else our own error's code and text. */
function errorDetails(error: unknown): Record<string, unknown> {
  if (error instanceof JobFailedError) {
    const d = error.details as Record<string, unknown>;
    if (typeof d.exception_message === 'string') return d;
    const extra = d.node_errors ? ` ${JSON.stringify({ error: d.error, node_errors: d.node_errors })}` : '';
    return { ...d, exception_type: `comfy_seal.${error.jobCode}`, exception_message: `${error.message}${extra}` };
  }
  const e = error as { name?: string; message?: string; code?: string };
  return { exception_type: `comfy_seal.${e.code ?? e.name ?? 'Error'}`, exception_message: e.message ?? String(error) };
}
