/** The web UI's routes mounted in a small real HTTP server, as the bridge's core mounts them (after its own routes). */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createWebUiRoutes, type FrontEnd, type ModelSource } from '../../bridge/webui/index.js';

/** What the core answers when the web UI's handler declines: tests tell it apart by this header. */
export const UNHANDLED = 'x-test-unhandled';

export interface WebUiServer {
  url: string;
  base: string;
  userDir: string;
  dirs: { input: string; output: string; temp: string };
  close(): Promise<void>;
}

export async function startWebUi(frontEnd: FrontEnd | null, models: ModelSource): Promise<WebUiServer> {
  const base = await mkdtemp(path.join(tmpdir(), 'cs-webui-'));
  const dirs = { input: path.join(base, 'input'), output: path.join(base, 'output'), temp: path.join(base, 'temp') };
  for (const dir of Object.values(dirs)) await mkdir(dir);
  const userDir = path.join(base, 'user');
  const handle = createWebUiRoutes({ userDir, frontEnd, dirs, models });
  const server: Server = createServer((req, res) => {
    const pathname = (req.url ?? '/').split('?')[0]!;
    void handle(req, res, pathname).then((handled) => {
      if (!handled) res.writeHead(404, { [UNHANDLED]: '1', 'content-length': 0 }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    base,
    userDir,
    dirs,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(base, { recursive: true, force: true });
    },
  };
}

/** A request with its path sent exactly as written (fetch would resolve `..` before sending). */
export function rawRequest(
  url: string,
  method: string,
  rawPath: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, method, path: rawPath, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A model source standing in for the core's (its /models answers). */
export function fakeModels(folders: readonly string[], files: Record<string, string[]> = {}): ModelSource {
  return { folders, files: async (folder) => files[folder] ?? (folders.includes(folder) ? [] : undefined) };
}
