/**
 * A Python client doing what ComfyUI's script_examples/websockets_api_example.py does (comfy_ws_client.py, with
 * websocket-client) drives each target: upload, run, /history, /view; a refused prompt; a failing node; an interrupt;
 * a pending prompt deleted; previews with metadata. For the bridge, nothing the endpoint got holds the canary.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePng, isPng } from '../../simulator/png.js';
import { canarySampler, CANARY, expectNoCanarySent, invertWorkflow, lowSteps, startTarget, TARGETS, UNKNOWN_NODE, UPLOAD_NAME, UPLOAD_PNG, withSettings, PREVIEW_STEPS, type ClientTarget } from '../helpers/comfy-clients.js';
import { findPython } from '../helpers/python.js';

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'comfy_ws_client.py');
const python = findPython('websocket');
if (!python) {
  console.warn('\n*** SKIPPING the Python ComfyUI client tests: no python3 with `websocket-client` (apt-get install python3-websocket) ***\n');
}

interface Report {
  uploaded?: { name: string; subfolder: string; type: string };
  queued: { status: number; body: any };
  messages: Array<{ type?: string; data?: any; binary?: number; format?: number; jpeg?: boolean; metadata?: any }>;
  history?: any;
  files?: Array<{ node: string; image: { filename: string; subfolder: string; type: string }; path: string }>;
  deleted_id?: string;
  queue_before?: { queue_running: unknown[][]; queue_pending: unknown[][] };
  queue_after?: { queue_running: unknown[][]; queue_pending: unknown[][] };
  deleted_history?: Record<string, unknown>;
}

describe.skipIf(!python).each(TARGETS)('a Python websocket-client script (ComfyUI script_examples) against the %s', (name) => {
  let target: ClientTarget;
  let work: string;
  beforeAll(async () => {
    target = await startTarget(name);
    work = mkdtempSync(path.join(os.tmpdir(), 'cs-pyclient-'));
  }, 60_000);
  afterAll(async () => {
    await target?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  let runs = 0;
  /** Runs the script with a prompt (and a second one to delete, or the file to upload) and returns its report. */
  function client(prompt: unknown, options: { upload?: boolean; featureFlags?: boolean; interrupt?: boolean; deleteSecond?: unknown } = {}): Promise<Report> {
    const run = ++runs;
    const promptFile = path.join(work, `prompt-${run}.json`);
    writeFileSync(promptFile, JSON.stringify(prompt));
    const args = [SCRIPT, '--server', target.host, '--prompt', promptFile, '--out', work];
    if (options.upload) {
      const file = path.join(work, 'to-upload.png');
      writeFileSync(file, UPLOAD_PNG);
      args.push('--upload', file, UPLOAD_NAME);
    }
    if (options.featureFlags) args.push('--feature-flags');
    if (options.interrupt) args.push('--interrupt');
    if (options.deleteSecond) {
      const second = path.join(work, `second-${run}.json`);
      writeFileSync(second, JSON.stringify(options.deleteSecond));
      args.push('--queue-and-delete', second);
    }
    return new Promise((resolve, reject) => {
      const child = spawn(python!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
      child.once('error', reject);
      child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as Report) : reject(new Error(`python client exited ${code}:\n${err}`))));
    });
  }

  const ofPrompt = (report: Report) => report.messages.filter((m) => m.data?.prompt_id === report.queued.body.prompt_id);

  it('uploads an image, runs LoadImage → ImageInvert → SaveImage, follows /ws to the end, reads /history and /view', async () => {
    const report = await client(invertWorkflow(UPLOAD_NAME), { upload: true });
    expect(report.uploaded).toEqual({ name: UPLOAD_NAME, subfolder: '', type: 'input' });
    expect(report.queued.status).toBe(200);
    const kinds = ofPrompt(report).map((m) => m.type);
    expect(kinds[0]).toBe('execution_start');
    expect(kinds.slice(-2)).toEqual(['execution_success', 'executing']);
    expect(kinds).toContain('executed');
    expect(report.history.status).toMatchObject({ status_str: 'success', completed: true });
    expect(report.files).toHaveLength(1);
    const file = report.files![0]!;
    expect(file.image).toEqual({ filename: `${CANARY}-inverted_00001_.png`, subfolder: '', type: 'output' });
    const bytes = readFileSync(file.path);
    expect(isPng(bytes)).toBe(true);
    expect(decodePng(bytes)).toMatchObject({ width: 16, height: 16 });
    expectNoCanarySent(target);
  }, 120_000);

  it("surfaces ComfyUI's 400 with node_errors for an unknown node type and a value out of range", async () => {
    const unknown = await client(UNKNOWN_NODE);
    expect(unknown.queued.status).toBe(400);
    expect(unknown.queued.body).toMatchObject({ error: { type: 'missing_node_type' }, node_errors: {} });
    const low = await client(lowSteps());
    expect(low.queued.status).toBe(400);
    expect(low.queued.body.error.type).toBe('prompt_outputs_failed_validation');
    expect(low.queued.body.node_errors['14'].errors[0]).toMatchObject({ type: 'value_smaller_than_min', extra_info: { input_name: 'steps' } });
    expectNoCanarySent(target);
  }, 120_000);

  it('a failing node reaches the client as execution_error, and the history says error', async () => {
    const report = await withSettings(target, { faults: { errorAt: 'VAEDecode' } }, () => client(canarySampler(2)));
    const error = report.messages.find((m) => m.type === 'execution_error');
    expect(error?.data).toMatchObject({ node_id: '15', node_type: 'VAEDecode', exception_type: 'RuntimeError', exception_message: 'simulated failure in VAEDecode' });
    expect(report.history.status).toMatchObject({ status_str: 'error', completed: false });
    expectNoCanarySent(target);
  }, 120_000);

  it('POST /interrupt during a long sampler run ends it with execution_interrupted', async () => {
    const report = await withSettings(target, { stepMs: 250 }, () => client(canarySampler(400), { interrupt: true }));
    const kinds = ofPrompt(report).map((m) => m.type);
    expect(kinds.slice(-2)).toEqual(['execution_interrupted', 'executing']);
    expect(report.messages.find((m) => m.type === 'execution_interrupted')?.data).toMatchObject({ node_id: '14', node_type: 'KSampler' });
    expect(report.history.status).toMatchObject({ status_str: 'error', completed: false });
    expectNoCanarySent(target);
  }, 120_000);

  it('POST /queue {"delete"} drops the pending prompt: it never runs and has no history', async () => {
    const before = target.sent?.filter((b) => /^POST \S*\/run\n/.test(b)).length ?? 0;
    const report = await withSettings(target, { stepMs: 60 }, () => client(canarySampler(25), { deleteSecond: canarySampler(2, `${CANARY}-deleted`) }));
    const deleted = report.deleted_id!;
    expect(report.queue_before!.queue_pending.map((i) => i[1])).toEqual([deleted]);
    expect(report.queue_after!.queue_pending).toEqual([]);
    expect(report.history.status.status_str).toBe('success');
    expect(report.messages.some((m) => m.data?.prompt_id === deleted)).toBe(false);
    expect(report.deleted_history).toEqual({});
    if (target.sent) expect(target.sent.filter((b) => /^POST \S*\/run\n/.test(b)).length - before).toBe(1);
    expectNoCanarySent(target);
  }, 120_000);

  it('previews: after feature_flags, a sampler run sends binary type-4 frames naming the prompt and the sampler', async () => {
    const report = await withSettings(target, { stepMs: 40 }, () => client(canarySampler(PREVIEW_STEPS), { featureFlags: true }));
    const frames = report.messages.filter((m) => m.binary !== undefined);
    expect(frames.length).toBeGreaterThan(0);
    expect(frames.every((f) => f.binary === 4)).toBe(true);
    expect(frames[0]!.metadata).toMatchObject({ node_id: '14', prompt_id: report.queued.body.prompt_id, image_type: 'image/jpeg' });
    expectNoCanarySent(target);
  }, 120_000);
});
