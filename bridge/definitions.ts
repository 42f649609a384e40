/**
 * The endpoint's node definitions for the bridge: `--object-info FILE`, else the cache `comfy-seal nodes` fills, else
 * the sealed object_info query (then cached the same way). Fetched once, on first need; a failed fetch is retried on
 * the next need.
 */
import { ComfySealClient } from '../client/client.js';
import type { ObjectInfo } from '../client/workflow/definitions.js';
import { readCachedDefinitions, writeCachedDefinitions } from '../client/workflow/definitions-cache.js';
import { readObjectInfoFile } from '../client/cli/definitions.js';

export class EndpointDefinitions {
  #info: Promise<ObjectInfo> | null = null;
  /** The endpoint's ComfyUI version, once known (the cache's, or a ping's next to a fetch): /system_stats reports it. */
  version: string | undefined;

  constructor(
    private readonly client: ComfySealClient,
    private readonly options: { objectInfoFile?: string | undefined; env: NodeJS.ProcessEnv },
  ) {}

  get(): Promise<ObjectInfo> {
    this.#info ??= this.#load().catch((error: unknown) => {
      this.#info = null;
      throw error;
    });
    return this.#info;
  }

  async #load(): Promise<ObjectInfo> {
    if (this.options.objectInfoFile) return readObjectInfoFile(this.options.objectInfoFile);
    const ref = { apiUrl: this.client.apiUrl, endpointId: this.client.endpointId };
    const cached = await readCachedDefinitions(ref, this.options.env);
    if (cached) {
      this.version = cached.comfy_version;
      return cached.object_info;
    }
    const info = await this.client.nodes();
    // As `comfy-seal nodes` does: the version comes from a ping; definitions without it are still definitions.
    this.version = await this.client.ping().then((p) => p.comfy.version, () => undefined);
    await writeCachedDefinitions(ref, info, this.options.env, { comfyVersion: this.version }).catch(() => undefined); // a cache that cannot be written costs a query next time
    return info;
  }
}
