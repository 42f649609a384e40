/** The local endpoint's unhealthy mode against a real pipeline and simulator; the re-check's three conditions. */
import { randomUUID } from 'node:crypto';
import * as nodeFs from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { checkHealth } from '../../handler/health.js';
import { startLocalApi, type LocalApi } from '../../handler/local/server.js';
import type { FileSystem } from '../../handler/storage.js';
import { openResult, sealBundle } from '../../shared/index.js';
import { startRig, type Rig } from '../helpers/pipeline.js';

let rig: Rig | undefined;
let api: LocalApi | undefined;
afterEach(async () => {
  await api?.close();
  await rig?.close();
  api = rig = undefined;
});

const workflow = {
  '1': { class_type: 'EmptyImage', inputs: { width: 4, height: 4, batch_size: 1, color: 0 } },
  '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'u' } },
};

/** A file system whose unlink fails (EACCES) while `broken` is set (a wipe that cannot finish), recording fsyncs and unlinks. */
function breakableFs() {
  const state = { broken: false, events: [] as string[] };
  const fs: FileSystem = {
    ...nodeFs,
    open: async (file, flags, mode) => {
      const handle = await nodeFs.open(file, flags, mode);
      const sync = handle.sync.bind(handle);
      handle.sync = async () => {
        state.events.push(`fsync ${String(file)}`);
        return sync();
      };
      return handle;
    },
    unlink: async (file) => {
      if (state.broken) throw Object.assign(new Error('refused'), { code: 'EACCES' });
      state.events.push(`unlink ${String(file)}`);
      return nodeFs.unlink(file);
    },
  };
  return { fs, state };
}

async function post(route: string, body: unknown): Promise<any> {
  const res = await fetch(`${api!.url}/ep/${route}`, { method: 'POST', body: JSON.stringify(body) });
  return res.json();
}

describe('local endpoint: unhealthy means no job runs until a re-check passes', () => {
  it('after a wipe fails, answers run and runsync FAILED COMFY_UNAVAILABLE without running them, and resumes once the wipe works', async () => {
    const { fs, state } = breakableFs();
    rig = await startRig({ fs });
    api = await startLocalApi({ runner: rig.pipeline, port: 0 });
    const input = () => ({ encrypted_input: sealBundle({ workflow, images: [], options: {} }, rig!.fernet) });

    state.broken = true;
    const first = await post('runsync', { input: input() });
    expect(first.status).toBe('FAILED'); // its files could not be wiped: this job's own failure
    expect(JSON.parse(first.error).code).toBe('INTERNAL');
    const prompts = rig.sim.calls.filter((c) => c.path === '/prompt').length;

    const second = await post('runsync', { input: input() });
    expect(second.status).toBe('FAILED');
    const error = JSON.parse(second.error);
    expect(error).toEqual({ code: 'COMFY_UNAVAILABLE', message: expect.stringContaining('the worker is unhealthy (WIPE_FAILED: EACCES)') });
    expect(error.message).not.toContain(rig.root); // code terms, never a path
    const queued = await post('run', { input: input() });
    const status = await api.jobs.waitFor(api.jobs.get(queued.id)!, 5_000);
    expect(status.status).toBe('FAILED');
    expect(JSON.parse(status.error!).code).toBe('COMFY_UNAVAILABLE');
    expect(rig.sim.calls.filter((c) => c.path === '/prompt').length).toBe(prompts); // neither reached ComfyUI
    expect(((await (await fetch(`${api.url}/ep/health`)).json()) as any).workers).toMatchObject({ idle: 0, unhealthy: 1 });

    const left = rig.leftovers();
    expect(left).toHaveLength(1); // the first job's output, which no wipe could remove
    state.broken = false;
    state.events.length = 0;
    const third = await post('runsync', { input: input() });
    // The re-check's wipe zeroed it and flushed the zeros to the device before unlinking it.
    expect(state.events.indexOf(`fsync ${left[0]}`)).toBeGreaterThanOrEqual(0);
    expect(state.events.indexOf(`fsync ${left[0]}`)).toBeLessThan(state.events.indexOf(`unlink ${left[0]}`));
    expect(third.status).toBe('COMPLETED');
    expect(openResult(third.output, rig.fernet).files).toHaveLength(1);
    expect(rig.leftovers()).toEqual([]); // the re-check's wipe took the first job's files too
    expect(((await (await fetch(`${api.url}/ep/health`)).json()) as any).workers).toMatchObject({ idle: 1, unhealthy: 0 });
  });

  it('after ComfyUI died, every new job fails COMFY_UNAVAILABLE naming that, never ran', async () => {
    rig = await startRig({ sim: { faults: { crashAt: 'SaveImage' } } });
    api = await startLocalApi({ runner: rig.pipeline, port: 0 });
    const input = { encrypted_input: sealBundle({ workflow, images: [], options: {} }, rig.fernet) };
    expect(JSON.parse((await post('runsync', { input })).error).code).toBe('COMFY_UNAVAILABLE');
    const next = await post('runsync', { input });
    expect(JSON.parse(next.error).message).toContain('the worker is unhealthy (COMFY_UNAVAILABLE)');
  });
});

describe('checkHealth', () => {
  it('is healthy with only other clients\' prompts in ComfyUI, and COMFY_BUSY while it holds one of ours', async () => {
    rig = await startRig({ sim: { faults: { hangAt: 'EmptyImage' } } });
    const clientId = rig.pipeline.socket.clientId;
    const deps = { http: rig.pipeline.http, clientId, dirs: rig.sim.dirs, fs: nodeFs, clearCache: true };
    rig.sim.submitForeign(); // hangs, running
    expect(await checkHealth(deps)).toBeNull();
    await rig.pipeline.http.postPrompt({ prompt: workflow, client_id: clientId, prompt_id: randomUUID() });
    expect(await checkHealth(deps)).toEqual({ problem: 'COMFY_BUSY', reason: '1_prompts' });
  });
});
