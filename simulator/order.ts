/**
 * The order ComfyUI runs a prompt's nodes in (comfy_execution/graph.py: ExecutionList + ux_friendly_pick_node), so that
 * node order on the socket matches the real server's: nodes are added by a depth-first walk from each output (cached
 * inputs are not followed), and among the ready nodes an output node goes first, then a node feeding an output, then one
 * two links from an output, else the first ready one in the order they were added.
 */
import type { Prompt } from './validate.js';

const isLink = (v: unknown): v is [string, number] => Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && Number.isInteger(v[1]);

export function executionOrder(prompt: Prompt, outputs: string[], cached: (id: string) => boolean, isOutput: (id: string) => boolean): string[] {
  const pending: string[] = [];
  const blockCount = new Map<string, number>();
  const blocking = new Map<string, Set<string>>();
  const add = (start: string) => {
    const stack = [start];
    const links: Array<[string, string]> = [];
    while (stack.length > 0) {
      const id = stack.pop()!;
      if (blockCount.has(id)) continue;
      pending.push(id);
      blockCount.set(id, 0);
      blocking.set(id, new Set());
      for (const value of Object.values(prompt[id]?.inputs ?? {})) {
        if (!isLink(value) || !prompt[value[0]]) continue;
        if (!cached(value[0])) stack.push(value[0]);
        links.push([value[0], id]);
      }
    }
    for (const [from, to] of links) {
      if (cached(from) || blocking.get(from)!.has(to)) continue;
      blocking.get(from)!.add(to);
      blockCount.set(to, blockCount.get(to)! + 1);
    }
  };
  for (const out of outputs) add(out);

  const feedsOutput = (id: string, depth: number): boolean =>
    [...blocking.get(id)!].some((next) => (depth === 0 ? isOutput(next) : blocking.has(next) && feedsOutput(next, depth - 1)));
  const order: string[] = [];
  while (pending.length > 0) {
    const ready = pending.filter((id) => blockCount.get(id) === 0);
    if (ready.length === 0) break; // a cycle: validation refuses those before they get here
    const pick = ready.find(isOutput) ?? ready.find((id) => feedsOutput(id, 0)) ?? ready.find((id) => feedsOutput(id, 1)) ?? ready[0]!;
    pending.splice(pending.indexOf(pick), 1);
    for (const next of blocking.get(pick)!) blockCount.set(next, blockCount.get(next)! - 1);
    order.push(pick);
  }
  return order;
}
