import { afterEach, describe, expect, it } from 'vitest';
import { buildResultPayload, openFailure, openProgress, openResult, ResultJson, resultBytes, sealBundle, sealError, SealError } from '../../shared/index.js';
import { pngOf, startRig, type Rig } from '../helpers/pipeline.js';

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

const workflow = {
  '1': { class_type: 'LoadImage', inputs: { image: 'a.png' } },
  '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'out' } },
};

describe('job_id in the sealed result, error and progress (contract §3)', () => {
  it('the worker stamps the RunPod job id on every sealed answer of a job', async () => {
    rig = await startRig();
    const progress: unknown[] = [];
    const input = { encrypted_input: sealBundle({ workflow, images: [{ name: 'a.png', data: pngOf(2, 2, () => [1, 2, 3]) }], options: {} }, rig.fernet) };
    const ok = await rig.pipeline.run({ id: 'job-ok-u1', input }, { onProgress: (p) => progress.push(p) });
    expect(ok.kind).toBe('success');
    if (ok.kind !== 'success') return;
    expect(openResult(ok.output, rig.fernet).jobId).toBe('job-ok-u1');
    expect(progress.length).toBeGreaterThan(0);
    for (const p of progress) expect(openProgress(p, rig.fernet)?.job_id).toBe('job-ok-u1');

    rig.sim.settings.faults = { errorAt: '2' };
    const failed = await rig.pipeline.run({ id: 'job-bad-u1', input });
    expect(failed.kind).toBe('failure');
    if (failed.kind !== 'failure') return;
    expect(openFailure(failed.error, rig.fernet)).toMatchObject({ sealed: true, jobId: 'job-bad-u1', error: { code: 'EXECUTION_FAILED' } });
  });

  it('streamed and built result JSON agree with the job id, and a result without one stays as before', () => {
    const files = [{ nodeId: '9', filename: 'a.png', subfolder: '', kind: 'image', mime: 'image/png', data: Buffer.from('png') }];
    const withId = resultBytes({ files, timingsMs: { total: 1 }, jobId: 'j-1' }).toString('utf8');
    expect(withId).toBe(JSON.stringify(buildResultPayload(files, { total: 1 }, { jobId: 'j-1' })));
    expect(JSON.parse(withId).job_id).toBe('j-1');
    expect(new ResultJson({ files, timingsMs: {}, jobId: 'j-1' }).byteLength).toBe(Buffer.byteLength(JSON.stringify(buildResultPayload(files, {}, { jobId: 'j-1' }))));
    expect(JSON.parse(resultBytes({ files, timingsMs: {} }).toString('utf8'))).not.toHaveProperty('job_id');
    // A plaintext failure carries no job id and is not sealed.
    expect(openFailure(sealError(new SealError('DECRYPT_FAILED', 'bad token'), null, 'j-1'), null)).toMatchObject({ sealed: false });
  });
});
