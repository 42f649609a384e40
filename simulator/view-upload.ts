/**
 * ComfyUI's file routes over its three folders: GET /view (type or a `[type]` annotation, subfolder kept inside its
 * folder) and POST /upload/image|mask (multipart, "name (1).ext" rather than overwrite unless asked).
 */
import { createReadStream, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import type { Dirs } from './context.js';
import { readBody, sendJson } from './http.js';

const MIME: Record<string, string> = { '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.webp': 'image/webp', '.gif': 'image/gif', '.mp4': 'video/mp4', '.webm': 'video/webm', '.flac': 'audio/flac' };

export function dirFor(dirs: Dirs, type: string | null): string | null {
  if (type === null || type === 'output') return dirs.output;
  if (type === 'input') return dirs.input;
  if (type === 'temp') return dirs.temp;
  return null;
}

export function view(dirs: Dirs, url: URL, res: ServerResponse): void {
  let filename = url.searchParams.get('filename');
  if (!filename) return void res.writeHead(404).end();
  let type = url.searchParams.get('type');
  const annotated = / \[(input|output|temp)\]$/.exec(filename);
  if (annotated) {
    type = annotated[1]!;
    filename = filename.slice(0, annotated.index);
  }
  if (filename.startsWith('/') || filename.includes('..')) return void res.writeHead(400).end();
  const root = dirFor(dirs, type);
  if (!root) return void res.writeHead(400).end();
  const subfolder = url.searchParams.get('subfolder') ?? '';
  const dir = path.resolve(root, subfolder);
  if (path.relative(path.resolve(root), dir).startsWith('..')) return void res.writeHead(403).end();
  const file = path.join(dir, path.basename(filename));
  if (!existsSync(file) || !statSync(file).isFile()) return void res.writeHead(404).end();
  res.writeHead(200, { 'content-type': MIME[path.extname(file).toLowerCase()] ?? 'application/octet-stream', 'content-disposition': `filename="${path.basename(file)}"` });
  createReadStream(file).pipe(res);
}

export async function upload(dirs: Dirs, maxBytes: number, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readBody(req, maxBytes);
  const form = await new Request('http://x', { method: 'POST', headers: { 'content-type': req.headers['content-type'] ?? '' }, body }).formData().catch(() => null);
  const image = form?.get('image');
  if (!form || !image || typeof image === 'string') return void res.writeHead(400).end();
  const root = dirFor(dirs, (form.get('type') as string | null) ?? 'input');
  if (!root) return void res.writeHead(400).end();
  const subfolder = String(form.get('subfolder') ?? '');
  const dir = path.resolve(root, subfolder);
  if (path.relative(path.resolve(root), dir).startsWith('..')) return void res.writeHead(400).end();
  let name = path.basename(image.name);
  if (!name || name.startsWith('.')) return void res.writeHead(400).end();
  mkdirSync(dir, { recursive: true });
  const overwrite = ['true', '1'].includes(String(form.get('overwrite') ?? '').toLowerCase());
  if (!overwrite) {
    // ComfyUI renames "name (1).ext", "name (2).ext"... rather than replace an existing file.
    const ext = path.extname(name);
    const stem = name.slice(0, name.length - ext.length);
    for (let n = 1; existsSync(path.join(dir, name)); n++) name = `${stem} (${n})${ext}`;
  }
  writeFileSync(path.join(dir, name), Buffer.from(await image.arrayBuffer()));
  sendJson(res, 200, { name, subfolder, type: (form.get('type') as string | null) ?? 'input' });
}

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp', '.gif', '.bmp', '.tif', '.tiff']);

/** What LoadImage offers: the input dir's image files (top level), sorted, as ComfyUI lists them. */
export function inputImages(dirs: Dirs): string[] {
  return readdirSync(dirs.input, { withFileTypes: true })
    .filter((e) => e.isFile() && IMAGE_EXTENSIONS.has(path.extname(e.name).toLowerCase()))
    .map((e) => e.name)
    .sort();
}
