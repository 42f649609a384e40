/**
 * The simulator: ComfyUI's API surface (surface.ts) with its nodes run here (executor.ts), one prompt at a time, plus
 * its fault knobs (foreign prompts, crashes, a failing /free).
 */
import { randomUUID } from 'node:crypto';
import { Executor, type Emit, type Faults, type Outcome } from './executor.js';
import { isModelFolder, listModels, MODEL_FOLDERS, type ModelFolder } from './models.js';
import { objectInfo, type ComboLists, type NodeDef } from './nodes/registry.js';
import { ComfySurface, type PromptExecutor, type QueuedPrompt, type RecordedCall, type SurfaceSettings } from './surface.js';
import { validatePrompt, type ValidationResult } from './validate.js';
import { inputImages } from './view-upload.js';

export type { RecordedCall } from './surface.js';

export interface SimulatorSettings extends SurfaceSettings {
  stepMs: number;
  /** Prompts from another client queued ahead of each submitted prompt. */
  foreignPrompts: number;
  faults: Faults;
  /** ComfyUI's --disable-metadata: savers embed neither prompt nor workflow. */
  disableMetadata: boolean;
  /** ComfyUI's models dir (checkpoints/, loras/...), listed by the loaders' combos; none lists no models. */
  modelsDir: string | undefined;
  /** Called when a crash fault fires (the CLI exits, as ComfyUI's process would). */
  onCrash?: () => void;
}


/** The simulator's nodes behind the surface. */
class NodeExecutor implements PromptExecutor {
  readonly concurrency = 1;
  readonly #nodes: Executor;

  constructor(
    private readonly settings: SimulatorSettings,
    private readonly registry: Map<string, NodeDef>,
    onCrash: () => void,
  ) {
    this.#nodes = new Executor(registry, settings.dirs, {
      stepMs: () => this.settings.stepMs,
      faults: () => this.settings.faults,
      onCrash,
    });
  }

  validate(prompt: unknown, partialTargets: string[] | undefined): ValidationResult {
    return validatePrompt(prompt, this.registry, this.settings.dirs, partialTargets);
  }

  run(item: QueuedPrompt, emit: Emit): Promise<Outcome> {
    const [, promptId, prompt, extra, outputs] = item;
    const pnginfo = extra.extra_pnginfo;
    return this.#nodes.run(promptId, prompt, outputs, emit, {
      previews: extra.preview_method !== 'none',
      metadata: this.settings.disableMetadata ? null : { prompt, ...(pnginfo && typeof pnginfo === 'object' ? { extraPnginfo: pnginfo as Record<string, unknown> } : {}) },
    });
  }

  /** One prompt runs at a time, so an interrupt for a running prompt is for this one. */
  interrupt(): void {
    this.#nodes.interrupt();
  }

  runningNode(): string | null {
    return this.#nodes.runningNode;
  }

  objectInfo(): Record<string, unknown> {
    const lists = this.#comboLists();
    return Object.fromEntries([...this.registry.values()].map((d) => [d.name, objectInfo(d, lists)]));
  }

  objectInfoOf(classType: string): Record<string, unknown> | undefined {
    const def = this.registry.get(classType);
    return def ? objectInfo(def, this.#comboLists()) : undefined;
  }

  systemStats(address: { host: string; port: number }): Record<string, unknown> {
    return {
      system: {
        os: process.platform,
        ram_total: 24 * 1024 ** 3,
        ram_free: 20 * 1024 ** 3,
        comfyui_version: '0.27.1-simulator',
        required_frontend_version: '1.45.20',
        installed_templates_version: null,
        required_templates_version: '0.11.6',
        comfy_package_versions: [],
        python_version: '3.12.0 (simulated)',
        pytorch_version: '2.8.0+simulated',
        embedded_python: false,
        deploy_environment: 'simulator',
        argv: ['main.py', '--listen', address.host, '--port', String(address.port)],
      },
      devices: [{ name: 'cuda:0 Simulated GPU', type: 'cuda', index: 0, vram_total: 24 * 1024 ** 3, vram_free: 23 * 1024 ** 3, torch_vram_total: 0, torch_vram_free: 0 }],
    };
  }

  models(folder: string): string[] | null {
    return isModelFolder(folder) ? listModels(this.settings.modelsDir, folder) : null;
  }

  modelFolders(): string[] {
    return Object.keys(MODEL_FOLDERS);
  }

  /** free_memory resets the cache; models would be unloaded too, but the simulator has none loaded. */
  free(flags: { free_memory?: unknown }): void {
    if (flags.free_memory) this.#nodes.clearCache();
  }

  freeFails(): boolean {
    return this.settings.faults.freeFails === true;
  }

  /** The dynamic combos' lists, read now (ComfyUI lists its folders afresh on each /object_info); each folder once. */
  #comboLists(): ComboLists {
    const read = new Map<ModelFolder, string[]>();
    const models = (folder: ModelFolder) => read.get(folder) ?? read.set(folder, listModels(this.settings.modelsDir, folder)).get(folder)!;
    return { inputImages: inputImages(this.settings.dirs), models };
  }
}


export class SimulatorServer {
  readonly settings: SimulatorSettings;
  readonly registry: Map<string, NodeDef>;
  readonly #surface: ComfySurface;
  /** Prompt ids whose prompt came from a foreign client (fault knob), so tests can tell them apart. */
  readonly foreignIds: string[] = [];

  constructor(settings: SimulatorSettings, registry: Map<string, NodeDef>) {
    this.settings = settings;
    this.registry = registry;
    const executor = new NodeExecutor(settings, registry, () => this.crash());
    this.#surface = new ComfySurface(settings, executor, {
      beforePrompt: () => {
        for (let n = 0; n < this.settings.foreignPrompts; n++) this.submitForeign();
      },
    });
  }

  get calls(): RecordedCall[] {
    return this.#surface.calls;
  }

  get port(): number {
    return this.#surface.port;
  }

  listen(): Promise<void> {
    return this.#surface.listen();
  }

  /** The process "dies": every socket cut, the port closed, nothing more runs. */
  crash(): void {
    this.#surface.crash();
    this.settings.onCrash?.();
  }

  close(): Promise<void> {
    return this.#surface.close();
  }

  /** Queues a prompt of another client (fault knob: other users' work interleaved with ours). */
  submitForeign(): string {
    const prompt = {
      '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
      '2': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } },
    };
    const id = randomUUID();
    // The simulator validates synchronously: the prompt is queued when this returns.
    this.#surface.submit({ prompt, client_id: `foreign-${randomUUID()}`, prompt_id: id });
    this.foreignIds.push(id);
    return id;
  }
}
