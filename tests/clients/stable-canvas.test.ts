/**
 * @stable-canvas/comfyui-client (Client, from npm) drives each target: upload (through its fetchApi: it has no upload
 * call), run, /history, /view; a refused prompt; a failing node; an interrupt; a pending prompt deleted; previews, type
 * 1 as it asks, and type 4 once feature_flags go out on its socket. For the bridge, nothing the endpoint got holds the
 * canary.
 */
import { Client } from '@stable-canvas/comfyui-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { decodePng, isPng } from '../../simulator/png.js';
import { canarySampler, CANARY, expectNoCanarySent, invertWorkflow, lowSteps, startTarget, TARGETS, UNKNOWN_NODE, until, UPLOAD_NAME, UPLOAD_PNG, withSettings, PREVIEW_STEPS, type ClientTarget } from '../helpers/comfy-clients.js';

describe.each(TARGETS)('@stable-canvas/comfyui-client against the %s', (name) => {
  let target: ClientTarget;
  let client: Client;
  const messages: Array<{ type: string; data: any }> = [];
  const ended = (id: string) => messages.some((m) => m.type === 'executing' && m.data.node === null && m.data.prompt_id === id);
  beforeAll(async () => {
    target = await startTarget(name);
    // Node has no global WebSocket before 22: the client takes `ws`, as its README says. The client id is given, so
    // prompts are queued under it before the socket's first status names one.
    client = new Client({ api_host: target.host, clientId: `stable-canvas-${name}`, WebSocket, fetch });
    client.on('message', (event) => {
      if (typeof event.data === 'string') messages.push(JSON.parse(event.data));
    });
    await client.connect();
  }, 60_000);
  afterAll(async () => {
    client?.close();
    await target?.close();
  });

  async function queue(prompt: unknown): Promise<string> {
    // A 400 throws (fetchApi's HttpError): what returns is the success.
    return ((await client.queuePrompt(0, { prompt, workflow: null })) as { prompt_id: string }).prompt_id;
  }

  it('uploads an image (fetchApi), enqueue()s LoadImage → ImageInvert → SaveImage, reads the outputs and /view', async () => {
    const form = new FormData();
    form.append('image', new Blob([UPLOAD_PNG], { type: 'image/png' }), UPLOAD_NAME);
    const up = await client.fetchApi('/upload/image', { method: 'POST', body: form });
    expect(await up.json()).toEqual({ name: UPLOAD_NAME, subfolder: '', type: 'input' });
    const progress: number[] = [];
    const out = await client.enqueue(invertWorkflow(UPLOAD_NAME), { progress: (p) => progress.push(p.value) });
    expect(out.images).toHaveLength(1);
    const view = out.images[0]!;
    expect(view.type).toBe('url');
    expect(String(view.data)).toContain(`filename=${CANARY}-inverted_00001_.png`);
    const bytes = Buffer.from(await (await fetch(String(view.data))).arrayBuffer());
    expect(isPng(bytes)).toBe(true);
    expect(decodePng(bytes)).toMatchObject({ width: 16, height: 16 });
    await until(() => ended(out.prompt_id), 'the end of the prompt');
    const outputs = await client.getPromptOutputs(out.prompt_id);
    expect(outputs['3']).toEqual({ images: [{ filename: `${CANARY}-inverted_00001_.png`, subfolder: '', type: 'output' }] });
    expect(await client.getPromptStatus(out.prompt_id)).toEqual({ running: false, pending: false, done: true });
    expectNoCanarySent(target);
  }, 120_000);

  it("rejects enqueue() with ComfyUI's 400: its HttpError holds the status and the body (error + node_errors)", async () => {
    const refusal = (prompt: unknown) => client.enqueue(prompt as Record<string, unknown>).then(() => null, (err: Error & { status?: number; json?: any }) => err);
    const unknown = await refusal(UNKNOWN_NODE);
    expect(unknown?.status).toBe(400);
    expect(unknown?.json).toMatchObject({ error: { type: 'missing_node_type' }, node_errors: {} });
    const low = await refusal(lowSteps());
    expect(low?.status).toBe(400);
    expect(low?.json).toMatchObject({
      error: { type: 'prompt_outputs_failed_validation' },
      node_errors: { '14': { errors: [{ type: 'value_smaller_than_min', extra_info: { input_name: 'steps' } }] } },
    });
    expectNoCanarySent(target);
  }, 120_000);

  it('a failing node rejects enqueue() with the execution_error', async () => {
    const err = await withSettings(target, { faults: { errorAt: 'VAEDecode' } }, () =>
      client.enqueue(canarySampler(2)).then(
        () => null,
        (e: Error & { payload?: unknown }) => e,
      ),
    );
    expect(err?.message).toBe('Execution error: simulated failure in VAEDecode (RuntimeError)');
    expect(err?.payload).toMatchObject({ node_id: '15', node_type: 'VAEDecode' });
    expectNoCanarySent(target);
  }, 120_000);

  it('client.interrupt(prompt_id) during a long sampler run: execution_interrupted, and the prompt is done', async () => {
    await withSettings(target, { stepMs: 250 }, async () => {
      const id = await queue(canarySampler(400));
      await until(() => messages.some((m) => m.type === 'progress' && m.data.prompt_id === id), 'the sampler to run');
      await client.interrupt(id);
      await until(() => ended(id), 'the end of the prompt');
      expect(messages.find((m) => m.type === 'execution_interrupted' && m.data.prompt_id === id)?.data).toMatchObject({ node_id: '14', node_type: 'KSampler' });
      expect(await client.getPromptStatus(id)).toMatchObject({ running: false, pending: false });
    });
    expectNoCanarySent(target);
  }, 120_000);

  it("client.deleteItem('queue', id) drops the pending prompt: it never runs and has no history", async () => {
    const runs = () => target.sent?.filter((b) => /^POST \S*\/run\n/.test(b)).length ?? 0;
    const before = runs();
    await withSettings(target, { stepMs: 60 }, async () => {
      const first = await queue(canarySampler(25));
      const second = await queue(canarySampler(2, `${CANARY}-deleted`));
      expect((await client.getQueue()).Pending.map((i) => i[1])).toEqual([second]);
      await client.deleteItem('queue', second);
      expect((await client.getQueue()).Pending).toEqual([]);
      await until(() => ended(first), 'the end of the first prompt');
      expect(messages.some((m) => m.data?.prompt_id === second)).toBe(false);
      expect(await (await client.fetchApi(`/history/${second}`)).json()).toEqual({});
    });
    if (target.sent) expect(runs() - before).toBe(1);
    expectNoCanarySent(target);
  }, 120_000);

  it('previews: type-1 JPEG frames as the client asks for none with metadata; type 4 when its first message is feature_flags', async () => {
    const legacy: Blob[] = [];
    const offLegacy = client.on('b_preview', (blob) => legacy.push(blob));
    // ComfyUI takes feature_flags only as a socket's first message: a second client sends them on open, raw.
    const meta = new Client({ api_host: target.host, clientId: `stable-canvas-meta-${name}`, WebSocket, fetch });
    const withMeta: Array<{ blob: Blob; nodeId: string; promptId: string }> = [];
    meta.on('connected', () => meta.socket!.send(JSON.stringify({ type: 'feature_flags', data: { supports_preview_metadata: true } })));
    meta.on('b_preview_with_metadata', (p) => withMeta.push(p));
    try {
      await meta.connect();
      await withSettings(target, { stepMs: 40 }, async () => {
        const first = await queue(canarySampler(PREVIEW_STEPS));
        await until(() => ended(first), 'the end of the first run');
        expect(legacy.length).toBeGreaterThan(0);
        expect(Buffer.from(await legacy[0]!.arrayBuffer()).subarray(0, 2).toString('hex')).toBe('ffd8');

        // One step more: another sampler run, not the cached one.
        const second = ((await meta.queuePrompt(0, { prompt: canarySampler(PREVIEW_STEPS + 1, `${CANARY}-second`), workflow: null })) as { prompt_id: string }).prompt_id;
        await until(() => withMeta.length > 0, 'a preview with metadata');
        await until(async () => (await meta.getPromptStatus(second)).done, 'the end of the second run');
        expect(withMeta[0]).toMatchObject({ nodeId: '14', promptId: second });
        expect(withMeta[0]!.blob.type).toBe('image/jpeg');
      });
    } finally {
      offLegacy();
      meta.close();
    }
    expectNoCanarySent(target);
  }, 120_000);
});
