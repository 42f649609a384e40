/**
 * Seeds: untouched unless asked. `seed: N` sets every `seed` / `noise_seed` input (KSampler, KSamplerAdvanced,
 * SamplerCustom, RandomNoise, custom samplers alike); `randomSeed` gives each its own value from `random`.
 * A seed that arrives by link is set at its PrimitiveInt source.
 */
import { SealError } from '../../shared/errors.js';
import { compareNodeIds } from '../../shared/node-ids.js';
import type { Workflow } from '../../shared/schema.js';
import { NUMBER_SOURCES, SEED_FIELDS } from './encoders.js';
import { isLink } from './graph.js';

export interface SeedChange {
  node_id: string;
  field: string;
  value: number;
  /** Set for a seed input fed by link: where the value was written. */
  source?: { node_id: string; input: string };
}

/** 2^53: random seeds are 0..2^53-1, every one exact in a JSON number. */
const RANDOM_SEED_RANGE = 2 ** 53;

export interface SeedOptions {
  seed?: number;
  randomSeed?: boolean;
  /** Returns [0, 1). */
  random: () => number;
}

export function applySeeds(workflow: Workflow, options: SeedOptions): SeedChange[] {
  if (options.seed === undefined && !options.randomSeed) return [];
  if (options.seed !== undefined && options.randomSeed) throw new SealError('BAD_INPUT', 'give a seed or ask for random seeds, not both');
  if (options.seed !== undefined && !(Number.isSafeInteger(options.seed) && options.seed >= 0)) {
    throw new SealError('BAD_INPUT', 'a seed must be a whole number from 0 to 2^53-1');
  }
  const next = (): number => {
    if (options.seed !== undefined) return options.seed;
    const r = options.random();
    if (!(r >= 0 && r < 1)) throw new SealError('INTERNAL', 'the random source returned a number outside [0, 1)');
    return Math.floor(r * RANDOM_SEED_RANGE);
  };

  const changes: SeedChange[] = [];
  const sourcesDone = new Map<string, number>();
  for (const id of Object.keys(workflow).sort(compareNodeIds)) {
    const inputs = workflow[id]!.inputs;
    for (const field of SEED_FIELDS) {
      const current = inputs[field];
      if (typeof current === 'number') {
        const value = next();
        inputs[field] = value;
        changes.push({ node_id: id, field, value });
      } else if (isLink(current)) {
        const [sourceId] = current;
        const source = workflow[sourceId];
        // A custom seed node with its own `seed` input is set by this same loop.
        if (source && SEED_FIELDS.some((f) => typeof source.inputs[f] === 'number')) continue;
        const input = source ? NUMBER_SOURCES[source.class_type] : undefined;
        if (!source || !input) {
          throw new SealError(
            'BAD_INPUT',
            `the ${field} of node ${id} comes by link from node ${sourceId} (${source?.class_type ?? 'missing'}), which this tool cannot set; use --set ${sourceId}.inputs.FIELD=N`,
            { node_id: id, source: sourceId },
          );
        }
        // One source may feed several samplers: they keep sharing one value.
        let value = sourcesDone.get(sourceId);
        if (value === undefined) {
          value = next();
          sourcesDone.set(sourceId, value);
          source.inputs[input] = value;
        }
        changes.push({ node_id: id, field, value, source: { node_id: sourceId, input } });
      }
    }
  }
  return changes;
}
