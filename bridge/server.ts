/**
 * `startBridge`: ComfyUI's API surface (simulator/surface.ts) on the user's machine with the bridge's executor behind
 * it, over the bridge's folders (`input/`, `output/`, `temp/`, `user/` under the base directory, each 0700 when made
 * here). The web UI's routes (bridge/webui) are mounted through the surface's `extraRoutes`, tried after the core's
 * and before the 404: settings and workflows in `user/`, and ComfyUI's built web UI when one was found.
 */
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { ComfySealClient } from '../client/client.js';
import { isLoopbackHost } from '../shared/loopback.js';
import { ComfySurface } from '../simulator/surface.js';
import { EndpointDefinitions } from './definitions.js';
import { BridgeExecutor } from './executor.js';
import { createWebUiRoutes, type FrontEnd } from './webui/index.js';

export interface BridgeFolders {
  input: string;
  output: string;
  /** ComfyUI's temp folder itself (previews). */
  temp: string;
  user: string;
}

export interface BridgeOptions {
  client: ComfySealClient;
  folders: BridgeFolders;
  /** @default 127.0.0.1 */
  host?: string;
  /** 0 picks a free port. @default 8188 */
  port?: number;
  /** @default 1 */
  maxJobs?: number;
  objectInfoFile?: string;
  env?: NodeJS.ProcessEnv;
  /** Body limit of POST routes (uploads). @default 100 MB, as ComfyUI */
  maxUploadBytes?: number;
  report?: (promptId: string, state: string) => void;
  /** The web UI to serve (findFrontEnd); null serves the API only, with a page at `/` saying how to get it. @default null */
  frontEnd?: FrontEnd | null;
}

export interface Bridge {
  url: string;
  port: number;
  folders: BridgeFolders;
  close(): Promise<void>;
}

/** The folders under a base directory, as ComfyUI's --base-directory lays them out. */
export function foldersUnder(base: string): BridgeFolders {
  return { input: path.join(base, 'input'), output: path.join(base, 'output'), temp: path.join(base, 'temp'), user: path.join(base, 'user') };
}

export async function startBridge(options: BridgeOptions): Promise<Bridge> {
  const { folders } = options;
  // As ComfyUI at start: the previews of an earlier session go (temp/ holds nothing else).
  rmSync(folders.temp, { recursive: true, force: true });
  for (const dir of Object.values(folders)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const dirs = { input: folders.input, output: folders.output, temp: folders.temp };
  const executor = new BridgeExecutor({
    client: options.client,
    definitions: new EndpointDefinitions(options.client, { objectInfoFile: options.objectInfoFile, env: options.env ?? process.env }),
    dirs,
    maxJobs: options.maxJobs ?? 1,
    report: options.report ?? (() => undefined),
  });
  const host = options.host ?? '127.0.0.1';
  const surface = new ComfySurface(
    {
      host,
      port: options.port ?? 8188,
      dirs,
      historyDelayMs: 0,
      slowStartMs: 0,
      dropAfterMessages: undefined,
      maxUploadBytes: options.maxUploadBytes ?? 100 * 1024 * 1024,
      // ComfyUI's log would hold prompt texts and file names: the bridge keeps none.
      logCapacity: 0,
      title: 'comfy-seal bridge',
      recordCalls: false,
      // On loopback the bridge is the user's alone: a page that rebinds its own name to 127.0.0.1 is refused.
      loopbackHostOnly: isLoopbackHost(host.includes(':') ? `[${host}]` : host),
    },
    executor,
    {
      extraRoutes: createWebUiRoutes({
        userDir: folders.user,
        frontEnd: options.frontEnd ?? null,
        dirs,
        models: { folders: executor.modelFolders(), files: async (folder) => (await executor.models(folder)) ?? undefined },
        ...(options.maxUploadBytes !== undefined ? { maxBodyBytes: options.maxUploadBytes } : {}),
      }),
    },
  );
  await surface.listen();
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${surface.port}`,
    port: surface.port,
    folders,
    close: () => surface.close(),
  };
}
