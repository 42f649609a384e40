/**
 * @saintno/comfyui-sdk (ComfyApi + CallWrapper, from npm) drives each target: upload, run, /history, /view; a refused
 * prompt; a failing node; an interrupt; a pending prompt deleted; previews (it asks for none with metadata: type 1).
 * For the bridge, nothing the endpoint got holds the canary.
 */
import { CallWrapper, ComfyApi, PromptBuilder } from '@saintno/comfyui-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Workflow } from '../../shared/index.js';
import { decodePng, isPng } from '../../simulator/png.js';
import { canarySampler, CANARY, expectNoCanarySent, invertWorkflow, lowSteps, startTarget, TARGETS, UNKNOWN_NODE, until, UPLOAD_NAME, UPLOAD_PNG, withSettings, PREVIEW_STEPS, type ClientTarget } from '../helpers/comfy-clients.js';

interface Outcome {
  result: Record<string, any> | false | undefined;
  failure?: Error;
  promptId?: string;
  previews: Blob[];
}

describe.each(TARGETS)('@saintno/comfyui-sdk against the %s', (name) => {
  let target: ClientTarget;
  let api: ComfyApi;
  const messages: Array<{ type: string; data: any }> = [];
  beforeAll(async () => {
    target = await startTarget(name);
    api = new ComfyApi(target.url, `saintno-${name}`);
    api.on('all', (e) => messages.push(e.detail));
    await api.init().waitForReady();
    await until(() => messages.some((m) => m.type === 'status'), 'the socket to open');
  }, 60_000);
  afterAll(async () => {
    api?.destroy();
    await target?.close();
  });

  /** The SDK's way to run a workflow: a PromptBuilder mapping output node `output` to "saved", run by CallWrapper. */
  function call(prompt: Workflow, output: string, hooks: { onProgress?: () => void; onPending?: (id: string) => void } = {}): Promise<Outcome> {
    const outcome: Outcome = { result: undefined, previews: [] };
    // The SDK's NodeData wants a _meta title on every node; ComfyUI does not.
    const builder = new PromptBuilder(prompt as ConstructorParameters<typeof PromptBuilder>[0], [], ['saved']).setOutputNode('saved', output);
    const wrapper = new CallWrapper(api, builder)
      .onPending((id) => {
        outcome.promptId = id;
        if (id) hooks.onPending?.(id);
      })
      .onFailed((err) => (outcome.failure ??= err))
      .onPreview((blob) => outcome.previews.push(blob))
      .onProgress(() => hooks.onProgress?.());
    return wrapper.run().then((result) => ({ ...outcome, result }));
  }

  it('uploads an image, runs LoadImage → ImageInvert → SaveImage, reads /history and the output through /view', async () => {
    const up = await api.uploadImage(UPLOAD_PNG, UPLOAD_NAME);
    expect(up && up.info).toMatchObject({ name: UPLOAD_NAME, filename: UPLOAD_NAME, subfolder: '', type: 'input' });
    const outcome = await call(invertWorkflow(UPLOAD_NAME), '3');
    expect(outcome.failure).toBeUndefined();
    const images = (outcome.result as { saved: { images: Array<{ filename: string; subfolder: string; type: string }> } }).saved.images;
    expect(images).toEqual([{ filename: `${CANARY}-inverted_00001_.png`, subfolder: '', type: 'output' }]);
    const history = await api.getHistory(outcome.promptId!);
    expect(history?.status).toMatchObject({ status_str: 'success', completed: true });
    const bytes = Buffer.from(await (await api.getImage(images[0]!)).arrayBuffer());
    expect(isPng(bytes)).toBe(true);
    expect(decodePng(bytes)).toMatchObject({ width: 16, height: 16 });
    expect(messages.some((m) => m.type === 'executed' && m.data.prompt_id === outcome.promptId)).toBe(true);
    expectNoCanarySent(target);
  }, 120_000);

  it("surfaces ComfyUI's 400 (error + node_errors) as EnqueueFailedError for an unknown node and a value out of range", async () => {
    const unknown = await call(UNKNOWN_NODE, '1');
    expect(unknown.result).toBe(false);
    expect(unknown.failure?.name).toBe('EnqueueFailedError');
    expect(unknown.failure?.cause).toMatchObject({ error: { type: 'missing_node_type' }, node_errors: {} });
    const low = await call(lowSteps(), '16');
    expect(low.failure?.name).toBe('EnqueueFailedError');
    expect(low.failure?.cause).toMatchObject({
      error: { type: 'prompt_outputs_failed_validation' },
      node_errors: { '14': { errors: [{ type: 'value_smaller_than_min', extra_info: { input_name: 'steps' } }] } },
    });
    expectNoCanarySent(target);
  }, 120_000);

  it('a failing node fails the call with the execution_error (exception type, node)', async () => {
    const outcome = await withSettings(target, { faults: { errorAt: 'VAEDecode' } }, () => call(canarySampler(2), '16'));
    expect(outcome.result).toBe(false);
    expect(outcome.failure?.message).toBe('RuntimeError');
    expect(outcome.failure?.cause).toMatchObject({ node_id: '15', node_type: 'VAEDecode', exception_message: 'simulated failure in VAEDecode' });
    expect((await api.getHistory(outcome.promptId!))?.status).toMatchObject({ status_str: 'error', completed: false });
    expectNoCanarySent(target);
  }, 120_000);

  it("api.interrupt() during a long sampler run fails the call as ExecutionInterruptedError", async () => {
    let sent = false;
    const outcome = await withSettings(target, { stepMs: 250 }, () =>
      call(canarySampler(400), '16', {
        onProgress: () => {
          if (!sent) void api.interrupt();
          sent = true;
        },
      }),
    );
    expect(outcome.result).toBe(false);
    expect(outcome.failure?.name).toBe('ExecutionInterruptedError');
    expect(outcome.failure?.cause).toMatchObject({ node_id: '14', node_type: 'KSampler', prompt_id: outcome.promptId });
    expectNoCanarySent(target);
  }, 120_000);

  it('api.manageQueue({delete}) drops the pending prompt: it never runs and has no history', async () => {
    const runs = () => target.sent?.filter((b) => /^POST \S*\/run\n/.test(b)).length ?? 0;
    const before = runs();
    const outcome = await withSettings(target, { stepMs: 60 }, async () => {
      let second = '';
      let deleted: Promise<void> = Promise.resolve();
      const first = call(canarySampler(25), '16', {
        onPending: () => {
          deleted = (async () => {
            second = (await api.appendPrompt(canarySampler(2, `${CANARY}-deleted`))).prompt_id;
            expect((await api.getQueue()).queue_pending.map((i) => i[1])).toEqual([second]);
            await api.manageQueue({ delete: [second] });
            expect((await api.getQueue()).queue_pending).toEqual([]);
          })();
        },
      });
      const done = await first;
      await deleted;
      return { ...done, second };
    });
    expect(outcome.failure).toBeUndefined();
    expect(outcome.second).not.toBe('');
    expect(messages.some((m) => m.data?.prompt_id === outcome.second)).toBe(false);
    expect(await api.getHistory(outcome.second)).toBeUndefined();
    if (target.sent) expect(runs() - before).toBe(1);
    expectNoCanarySent(target);
  }, 120_000);

  it('previews: a sampler run delivers binary type-1 JPEG frames to onPreview', async () => {
    const outcome = await withSettings(target, { stepMs: 40 }, () => call(canarySampler(PREVIEW_STEPS), '16'));
    expect(outcome.failure).toBeUndefined();
    expect(outcome.previews.length).toBeGreaterThan(0);
    const first = Buffer.from(await outcome.previews[0]!.arrayBuffer());
    expect(outcome.previews[0]!.type).toBe('image/jpeg');
    expect(first.subarray(0, 2).toString('hex')).toBe('ffd8');
    expectNoCanarySent(target);
  }, 120_000);
});
