/** The real ComfyUI v0.27.1 server's recordings, copied under tests/fixtures (source named there), so they work on a bare clone. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ObjectInfo } from '../../client/workflow/definitions.js';

/** Its `GET /object_info`, as a file (for the CLI's `--object-info`). */
export const OBJECT_INFO_FILE = fileURLToPath(new URL('../fixtures/comfyui-v0.27.1/object_info.json', import.meta.url));

/** Its `GET /object_info`, parsed afresh (callers may change their copy). */
export function realObjectInfo(): ObjectInfo {
  return JSON.parse(readFileSync(OBJECT_INFO_FILE, 'utf8')) as ObjectInfo;
}
