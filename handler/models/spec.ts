/**
 * The MODELS variable: comma-separated entries, each either
 *   repo:file:target_dir[:local_name]            a Hugging Face file (the older endpoint's format), e.g.
 *                                                 city96/FLUX.1-dev-gguf:flux1-dev-Q4_K_S.gguf:unet:flux-q4.gguf
 *   URL[|MIRROR...]>target_dir[:local_name]       a direct https download with mirrors tried in order, e.g.
 *                                                 https://a.example/x.safetensors|https://b.example/x.safetensors>loras
 * `>` separates the URLs from the target because URLs contain ':' but never a raw '>'.
 */
import path from 'node:path';
import { fileNameProblem } from '../../shared/names.js';

export type ModelEntry =
  | { kind: 'hf'; repo: string; file: string; targetDir: string; name: string }
  | { kind: 'url'; urls: string[]; targetDir: string; name: string };

export class ModelSpecError extends Error {
  override readonly name = 'ModelSpecError';
}

function checkTarget(index: number, targetDir: string, name: string): void {
  const parts = targetDir.split('/');
  if (!targetDir || targetDir.startsWith('/') || parts.includes('..') || parts.some((p) => p === '')) {
    throw new ModelSpecError(`MODELS entry ${index + 1}: target dir must be a relative folder under the models dir, without '..'`);
  }
  const problem = fileNameProblem(name);
  if (problem) throw new ModelSpecError(`MODELS entry ${index + 1}: local name: ${problem}`);
}

export function parseModels(text: string | undefined): ModelEntry[] {
  if (!text || text.trim() === '') return [];
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((raw, index): ModelEntry => {
      if (/^https?:\/\//.test(raw)) {
        const at = raw.lastIndexOf('>');
        if (at < 0) throw new ModelSpecError(`MODELS entry ${index + 1}: a URL entry is URL[|MIRROR...]>target_dir[:local_name]`);
        const urls = raw.slice(0, at).split('|').map((u) => u.trim());
        for (const u of urls) {
          let url: URL;
          try {
            url = new URL(u);
          } catch {
            throw new ModelSpecError(`MODELS entry ${index + 1}: not a URL: ${u}`);
          }
          if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ModelSpecError(`MODELS entry ${index + 1}: only http(s) URLs`);
        }
        const [targetDir = '', local] = raw.slice(at + 1).split(':');
        const name = local ?? decodeURIComponent(path.posix.basename(new URL(urls[0]!).pathname));
        checkTarget(index, targetDir, name);
        return { kind: 'url', urls, targetDir, name };
      }
      const parts = raw.split(':');
      if (parts.length < 3 || parts.length > 4) {
        throw new ModelSpecError(`MODELS entry ${index + 1}: expected repo:file:target_dir[:local_name] or URL>target_dir`);
      }
      const [repo, file, targetDir, local] = parts as [string, string, string, string | undefined];
      if (!/^[\w.-]+\/[\w.-]+$/.test(repo)) throw new ModelSpecError(`MODELS entry ${index + 1}: repo must be org/name`);
      if (!file || file.startsWith('/') || file.split('/').includes('..')) throw new ModelSpecError(`MODELS entry ${index + 1}: bad file path in the repo`);
      const name = local ?? path.posix.basename(file);
      checkTarget(index, targetDir, name);
      return { kind: 'hf', repo, file, targetDir, name };
    });
}
