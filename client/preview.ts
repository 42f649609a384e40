/**
 * Live previews (contract §13) as an app gets them: the frame's bytes, its type and its node. The worker repeats the
 * latest preview on every update after it (a poll sees only the newest update), so each is handed to the app once.
 */
import type { Progress } from '../shared/schema.js';

export interface LivePreview {
  mime: string;
  /** The image's bytes (JPEG or PNG, as `mime` says). */
  data: Buffer;
  /** The node whose step it shows (a sampler), when the worker knew it. */
  nodeId?: string;
}

/** Hands out each new preview of one job once. */
export class PreviewTracker {
  #last: string | null = null;

  /** The progress's preview if it is one not handed out yet. */
  next(progress: Progress | null): LivePreview | undefined {
    const preview = progress?.preview;
    if (!preview || preview.data === this.#last) return undefined;
    this.#last = preview.data;
    return { mime: preview.mime, data: Buffer.from(preview.data, 'base64'), ...(preview.node_id !== undefined ? { nodeId: preview.node_id } : {}) };
  }
}
