/**
 * What the real-client tests (tests/clients/) share: the targets a ComfyUI client is pointed at, and the workflows and
 * files its scenarios send. A target is the simulator itself (nodes run locally: proves the harness, and that the
 * simulator is what real clients expect) or the bridge (prompts sealed and run on the endpoint, every request body the
 * endpoint got recorded). Every scenario carries the canary, in the prompt text, an upload's name and the prefix.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import type { Workflow } from '../../shared/index.js';
import { encodePng, generateFrame } from '../../simulator/images.js';
import { startSimulator, type Simulator } from '../../simulator/index.js';
import { startBridgeRig } from '../bridge/helpers.js';
import { samplingWorkflow } from './workflows.js';

export const CANARY = 'canary-clients-5b1d-heron';

export const TARGETS = ['simulator', 'bridge'] as const;
export type TargetName = (typeof TARGETS)[number];

export interface ClientTarget {
  name: TargetName;
  /** http://127.0.0.1:port */
  url: string;
  /** 127.0.0.1:port, as clients that take a host want it. */
  host: string;
  /** The simulator that runs the nodes (the endpoint's, for the bridge): faults and step time are set here. */
  settings: Simulator['settings'];
  /** Every request the endpoint received (bridge only). */
  sent: string[] | null;
  close(): Promise<void>;
}

export async function startTarget(name: TargetName): Promise<ClientTarget> {
  if (name === 'bridge') {
    const rig = await startBridgeRig();
    return { name, url: rig.bridge.url, host: new URL(rig.bridge.url).host, settings: rig.stack.sim.settings, sent: rig.sent, close: () => rig.close() };
  }
  const models = mkdtempSync(path.join(os.tmpdir(), 'cs-clients-models-'));
  mkdirSync(path.join(models, 'checkpoints'));
  writeFileSync(path.join(models, 'checkpoints', 'sd15.safetensors'), 'x');
  const sim = await startSimulator({ port: 0, stepMs: 20, modelsDir: models });
  return {
    name,
    url: sim.url,
    host: new URL(sim.url).host,
    settings: sim.settings,
    sent: null,
    close: async () => {
      await sim.close();
      rmSync(models, { recursive: true, force: true });
    },
  };
}

/** A 16×16 PNG to upload, named with the canary. */
export const UPLOAD_NAME = `${CANARY}-upload.png`;
export const UPLOAD_PNG = encodePng(generateFrame(16, 16, 'clients'));

/** LoadImage of an uploaded file → ImageInvert → SaveImage under a canary prefix (output node '3'). */
export function invertWorkflow(image: string, prefix = `${CANARY}-inverted`): Workflow {
  return {
    '1': { class_type: 'LoadImage', inputs: { image } },
    '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: prefix } },
  };
}

/** SD1.5 sampling with the canary in the prompt and the prefix (output node '16'). */
export function canarySampler(steps: number, prefix = `${CANARY}-sampled`): Workflow {
  return samplingWorkflow(`a photo of ${CANARY}`, {
    steps,
    extra: { '16': { class_type: 'SaveImage', inputs: { images: ['15', 0], filename_prefix: prefix } } },
  });
}

/**
 * Sampler steps of a previews scenario (at 40 ms a step): the bridge learns of previews through its status poll (500 ms
 * at most between polls), so a run must last several polls to be sure of one even on a loaded machine.
 */
export const PREVIEW_STEPS = 60;

/** Two prompts ComfyUI refuses with a 400: an unknown node type, and KSampler steps below the minimum. */
export const UNKNOWN_NODE: Workflow = { '1': { class_type: `NoSuchNode`, inputs: { text: CANARY } } };
export function lowSteps(): Workflow {
  const prompt = canarySampler(1);
  prompt['14']!.inputs.steps = 0;
  return prompt;
}

/** Waits for a condition a client's events make true (checked every 20 ms; no fixed sleep decides anything). */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The canary part: for the bridge, nothing the endpoint received holds the prompt text, file name or prefix. */
export function expectNoCanarySent(target: ClientTarget): void {
  if (!target.sent) return;
  expect(target.sent.length).toBeGreaterThan(0);
  for (const body of target.sent) expect(body).not.toContain(CANARY);
}

/** Step time or faults set on the target's simulator for one scenario, then put back. */
export async function withSettings<T>(target: ClientTarget, change: Partial<Pick<Simulator['settings'], 'stepMs' | 'faults'>>, run: () => Promise<T>): Promise<T> {
  const before = { stepMs: target.settings.stepMs, faults: target.settings.faults };
  Object.assign(target.settings, change);
  try {
    return await run();
  } finally {
    Object.assign(target.settings, before);
  }
}
