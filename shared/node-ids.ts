/**
 * Node ids are strings, and may be "12:3" (subgraphs) or names. Order: colon-separated parts compared one by one,
 * numerically when both are numbers, else as text, numbers first; a shorter id that is a prefix comes first.
 * So "9" < "10" < "10:2" < "12:3" < "a" < "b".
 */
export function compareNodeIds(a: string, b: string): number {
  const pa = a.split(':');
  const pb = b.split(':');
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const nx = /^\d+$/.test(x) ? Number(x) : NaN;
    const ny = /^\d+$/.test(y) ? Number(y) : NaN;
    let c: number;
    if (!Number.isNaN(nx) && !Number.isNaN(ny)) c = nx - ny;
    else if (!Number.isNaN(nx)) c = -1;
    else if (!Number.isNaN(ny)) c = 1;
    else c = x < y ? -1 : x > y ? 1 : 0;
    if (c !== 0) return c;
  }
  return 0;
}

/** An id whose parts are all numbers: "9", "10:2" (ComfyUI's own ids, and its subgraph ids). */
export function isNumericNodeId(id: string): boolean {
  return /^\d+(:\d+)*$/.test(id);
}

/**
 * The order files fill loaders in: numeric ids ascending (compareNodeIds), then named ids in the workflow's own
 * order. A named workflow is written in the order its author thinks of it ("start_image" before "end_image"), which
 * an alphabetical sort would reverse.
 */
export function fillOrder(ids: readonly string[]): string[] {
  return [...ids.filter(isNumericNodeId).sort(compareNodeIds), ...ids.filter((id) => !isNumericNodeId(id))];
}
