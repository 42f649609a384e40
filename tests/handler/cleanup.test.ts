/**
 * What the worker leaves behind, against the simulator: nothing on disk, nothing in ComfyUI's history, no stale answer
 * from ComfyUI's cache — and each of those held by a test that fails if the step doing it goes (issue #11).
 */
import * as nodeFs from 'node:fs/promises';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobOutcome } from '../../handler/job.js';
import { planStage } from '../../handler/stage.js';
import type { FileSystem } from '../../handler/storage.js';
import { openError, openResult, sealBundle, type Bundle } from '../../shared/index.js';
import { getJson } from '../helpers/http.js';
import { pngOf, startRig, type Rig } from '../helpers/pipeline.js';

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

const sealed = (r: Rig, b: Partial<Bundle> & Pick<Bundle, 'workflow'>) => ({ encrypted_input: sealBundle({ images: [], options: {}, ...b }, r.fernet) });
const run = (r: Rig, input: unknown, signal?: AbortSignal): Promise<JobOutcome> =>
  r.pipeline.run({ id: `job-${Math.random().toString(16).slice(2)}`, input }, signal ? { signal } : {});
const files = (r: Rig, o: JobOutcome) => (o.kind === 'success' ? openResult(o.output, r.fernet).files : []);
const history = async (r: Rig) => Object.keys(await getJson(`${r.sim.url}/history`));

const image = (prefix: unknown, extra: Record<string, unknown> = {}) => ({
  '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
  '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: prefix } },
  ...extra,
});

describe("ComfyUI's cache never answers with a wiped job's files", () => {
  it.each([
    ['a literal', image('lit')],
    ['a PrimitiveString', image(['3', 0], { '3': { class_type: 'PrimitiveString', inputs: { value: 'from-primitive' } } })],
    [
      'a StringConcatenate (any other node)',
      image(['3', 0], { '3': { class_type: 'StringConcatenate', inputs: { string_a: 'joined', string_b: 'name', delimiter: '-' } } }),
    ],
  ])('re-runs a prefix fed by %s and gets fresh files each time', async (_what, workflow) => {
    rig = await startRig();
    const outcomes = [await run(rig, sealed(rig, { workflow })), await run(rig, sealed(rig, { workflow })), await run(rig, sealed(rig, { workflow }))];
    expect(outcomes.map((o) => o.kind)).toEqual(['success', 'success', 'success']);
    const names = outcomes.map((o) => files(rig!, o).map((f) => `${f.subfolder}|${f.filename}`));
    expect(names[1]).toEqual(names[0]);
    expect(names[0]![0]).toMatch(/^\|(lit|from-primitive|joined-name)_00001_\.png$/);
    expect(rig.leftovers()).toEqual([]);
  });

  it('inlines a primitive source, puts StringConcatenate in front of any other link, and refuses an escaping literal', () => {
    const plan = (workflow: Bundle['workflow'], stringConcatenate: boolean) => planStage({ workflow, images: [], options: {} }, { jobTag: 'ab12', stringConcatenate }).workflow;
    const viaPrimitive = plan(image(['3', 0], { '3': { class_type: 'PrimitiveStringMultiline', inputs: { value: 'p/q' } } }), true);
    expect(viaPrimitive['2']!.inputs.filename_prefix).toBe('cs-ab12/p/q');
    const viaNode = plan(image(['3', 0], { '3': { class_type: 'Text box', inputs: { text: 'x' } } }), true);
    expect(viaNode['2']!.inputs.filename_prefix).toEqual(['cs-ab12-prefix-0', 0]);
    expect(viaNode['cs-ab12-prefix-0']).toEqual({ class_type: 'StringConcatenate', inputs: { string_a: 'cs-ab12/', string_b: ['3', 0], delimiter: '' } });
    // Without StringConcatenate the link stays; a cached answer then fails at once in collect (tests/handler/steps.test.ts).
    expect(plan(image(['3', 0], { '3': { class_type: 'Text box', inputs: {} } }), false)['2']!.inputs.filename_prefix).toEqual(['3', 0]);
    expect(() => plan(image(['3', 0], { '3': { class_type: 'PrimitiveString', inputs: { value: '../up' } } }), true)).toThrow(
      expect.objectContaining({ code: 'BAD_INPUT' }),
    );
  });
});

describe('after every job, ComfyUI holds nothing of it', () => {
  it('success, failure, timeout and cancel all leave /history empty and no file', async () => {
    rig = await startRig({ sim: { stepMs: 20 } });
    const ok = await run(rig, sealed(rig, { workflow: image('h') }));
    expect(ok.kind).toBe('success');
    expect(await history(rig)).toEqual([]);

    rig.sim.settings.faults = { errorAt: '2' };
    expect((await run(rig, sealed(rig, { workflow: image('h2') }))).kind).toBe('failure');
    expect(await history(rig)).toEqual([]);

    rig.sim.settings.faults = { hangAt: '2' };
    const timeout = await run(rig, sealed(rig, { workflow: image('h3'), options: { timeout_s: 0.3 } }));
    expect(timeout.kind === 'failure' && timeout.code).toBe('TIMEOUT');
    expect(await history(rig)).toEqual([]);

    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    expect((await run(rig, sealed(rig, { workflow: image('h4') }), controller.signal)).kind).toBe('cancelled');
    expect(await history(rig)).toEqual([]);
    expect(rig.leftovers()).toEqual([]);
  });
});

describe('clean-up waits for ComfyUI to let go of the prompt', () => {
  // EmptyImage's batch of 12 → SaveImage: a saver writes every file of its batch whatever the interrupt flag says.
  const batch = (prefix: string) => ({
    '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 12, color: 0 } },
    '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: prefix } },
  });
  const queue = async (r: Rig) => {
    const q = await getJson(`${r.sim.url}/queue`);
    return [...q.queue_running, ...q.queue_pending].length;
  };

  it('after a timeout mid-save, wipes and deletes history only once the saver is done; nothing appears later', async () => {
    rig = await startRig({ sim: { faults: { slowSave: { fileMs: 60 } } } });
    const started = Date.now();
    const outcome = await run(rig, sealed(rig, { workflow: batch('slow'), options: { timeout_s: 0.2 } }));
    expect(outcome.kind === 'failure' && outcome.code).toBe('TIMEOUT');
    expect(outcome.kind === 'failure' && outcome.unhealthy).toBe(false);
    // The saver needed about 12 × 60 ms: the job waited for it (well past its 200 ms limit) rather than wiping under it.
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    expect(await queue(rig)).toBe(0);
    expect(await history(rig)).toEqual([]);
    expect(rig.leftovers()).toEqual([]);
    await new Promise((r) => setTimeout(r, 300));
    expect(rig.leftovers()).toEqual([]);
    expect(await history(rig)).toEqual([]);
    // And the next job runs as usual.
    rig.sim.settings.faults = {};
    expect((await run(rig, sealed(rig, { workflow: image('next') }))).kind).toBe('success');
  });

  it('a cancel mid-save waits the same way', async () => {
    rig = await startRig({ sim: { faults: { slowSave: { fileMs: 50 } } } });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 150);
    expect((await run(rig, sealed(rig, { workflow: batch('c') }), controller.signal)).kind).toBe('cancelled');
    expect(await queue(rig)).toBe(0);
    expect(await history(rig)).toEqual([]);
    expect(rig.leftovers()).toEqual([]);
  });

  it('a ComfyUI that does not let go within the release timeout makes the worker unhealthy', async () => {
    rig = await startRig({ sim: { faults: { slowSave: { fileMs: 150 } } }, job: { releaseTimeoutMs: 300 } });
    const outcome = await run(rig, sealed(rig, { workflow: batch('held'), options: { timeout_s: 0.2 } }));
    if (outcome.kind !== 'failure') throw new Error('expected a failure');
    expect(outcome.code).toBe('TIMEOUT');
    expect(outcome.unhealthy).toBe(true);
    expect(rig.logs.some((l) => JSON.parse(l).message === 'comfy.not_released')).toBe(true);
    // Let the saver finish before the rig goes, so the simulator has nothing left running.
    while ((await queue(rig)) > 0) await new Promise((r) => setTimeout(r, 100));
  });
});

describe('durability and start-up', () => {
  /** Every open file's sync, and every unlink, in order, by path. */
  function recordingFs(events: string[]): FileSystem {
    return {
      ...nodeFs,
      open: (async (file: string, flags?: string, mode?: number) => {
        const handle = await nodeFs.open(file, flags, mode);
        const sync = handle.sync.bind(handle);
        handle.sync = async () => {
          events.push(`sync ${file}`);
          return sync();
        };
        return handle;
      }) as FileSystem['open'],
      unlink: (async (file: string) => {
        events.push(`unlink ${file}`);
        return nodeFs.unlink(file);
      }) as FileSystem['unlink'],
    };
  }

  it('flushes each staged file and then the input dir, and zeroes + flushes each file before unlinking it', async () => {
    const events: string[] = [];
    rig = await startRig({ fs: recordingFs(events) });
    const workflow = { '1': { class_type: 'LoadImage', inputs: { image: 'a.png' } }, '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'd' } } };
    events.length = 0;
    const outcome = await run(rig, sealed(rig, { workflow, images: [{ name: 'a.png', data: pngOf(4, 4, () => [1, 2, 3]) }] }));
    expect(outcome.kind).toBe('success');
    const input = path.join(rig.root, 'input');
    const staged = events.find((e) => e.startsWith(`sync ${input}/`))!.slice('sync '.length);
    expect(events.indexOf(`sync ${staged}`)).toBeLessThan(events.indexOf(`sync ${input}`));
    // Wipe: every unlinked file was synced (after zeroing) just before.
    const unlinks = events.filter((e) => e.startsWith('unlink '));
    expect(unlinks.length).toBeGreaterThanOrEqual(2);
    for (const u of unlinks) {
      const file = u.slice('unlink '.length);
      expect(events.lastIndexOf(`sync ${file}`)).toBeGreaterThan(-1);
      expect(events.lastIndexOf(`sync ${file}`)).toBeLessThan(events.indexOf(u));
    }
  });

  it('wipes what a crashed run left, at start-up, before any job (a second worker on the same dirs)', async () => {
    rig = await startRig();
    const left = path.join(rig.root, 'output', 'cs-old', 'leftover.png');
    mkdirSync(path.dirname(left), { recursive: true });
    writeFileSync(left, 'secret pixels');
    writeFileSync(path.join(rig.root, 'input', 'old.png'), 'secret input');
    expect(rig.leftovers()).toHaveLength(2);
    const { Pipeline } = await import('../../handler/pipeline.js');
    const { DEFAULT_JOB_CONFIG } = await import('../../handler/job.js');
    const { silentLogger } = await import('../../handler/log.js');
    const dirs = { input: path.join(rig.root, 'input'), output: path.join(rig.root, 'output'), temp: path.join(rig.root, 'temp') };
    const again = new Pipeline({ comfyUrl: rig.sim.url, key: rig.key, job: { ...DEFAULT_JOB_CONFIG, dirs }, log: silentLogger });
    await again.start(5_000);
    expect(rig.leftovers()).toEqual([]);
    await again.close();
  });
});

describe('the release timeout setting', () => {
  it('defaults to 300 s, and takes COMFY_SEAL_RELEASE_TIMEOUT_S or --release-timeout', async () => {
    const { jobConfigOf, resolveConfig } = await import('../../handler/config.js');
    const env = { ENCRYPTION_KEY: 'k' };
    expect(jobConfigOf(resolveConfig({}, env)).releaseTimeoutMs).toBe(300_000);
    expect(jobConfigOf(resolveConfig({}, { ...env, COMFY_SEAL_RELEASE_TIMEOUT_S: '45' })).releaseTimeoutMs).toBe(45_000);
    expect(jobConfigOf(resolveConfig({ 'release-timeout': '7' }, { ...env, COMFY_SEAL_RELEASE_TIMEOUT_S: '45' })).releaseTimeoutMs).toBe(7_000);
  });
});

describe('failures carry their reason sealed', () => {
  it('a prompt that failed names the node only inside the sealed error', async () => {
    rig = await startRig();
    rig.sim.settings.faults = { errorAt: 'SaveImage' };
    const outcome = await run(rig, sealed(rig, { workflow: image('e') }));
    if (outcome.kind !== 'failure') throw new Error('expected a failure');
    expect(outcome.error).not.toContain('SaveImage');
    expect(openError(outcome.error, rig.fernet).details.node_type).toBe('SaveImage');
  });
});
