/**
 * `comfy-seal run`: prepare a workflow, seal it, submit it, follow it, open the result, write the files.
 * `--resume-id` re-attaches to a job submitted earlier. Ctrl-C stops waiting (the job goes on) and prints how to resume.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseCommandArgs, UsageError, type Command, type CommandIo } from '../../shared/cli.js';
import { SealError } from '../../shared/errors.js';
import type { Result } from '../../shared/envelope.js';
import { ComfySealClient, type JobProgress } from '../client.js';
import { ComfySealError, JobFailedError } from '../errors.js';
import { S3BlobStore } from '../blob/s3.js';
import { writeResultFiles } from '../output.js';
import { prepareWorkflow } from '../prepare/index.js';
import { progressLine } from './progress.js';

const HELP = `Usage: comfy-seal run --workflow wf.json [options]
       comfy-seal run --resume-id JOB_ID [--out DIR]

Prepares an API-format ComfyUI workflow, seals it with your key, runs it on your RunPod endpoint, and writes
the opened results into --out. Only sealed tokens leave this machine.

Workflow:
  --workflow FILE       API-format workflow JSON (ComfyUI: Workflow > Export (API))
  --img FILE...         images for the LoadImage nodes, in ascending node-id order (repeatable)
  --file NODE=FILE      a file for one loader node: LoadAudio, LoadVideo, VHS_LoadVideo, or an image loader
                        that --img should leave alone (repeatable)
  --prompt TEXT         positive prompt, put where the samplers' positive conditioning comes from
  --negative TEXT       negative prompt, likewise
  --prompt-node ID      the node that gets --prompt, when the graph is ambiguous
  --negative-node ID    the node that gets --negative, likewise
  --seed N              set every sampler's seed; --random-seed for a fresh random one each
  --set NODE.inputs.FIELD=VALUE   set any input (repeatable; VALUE is JSON when it parses, else text)
  --timeout S           job time limit in seconds (may only lower the endpoint's own)

Endpoint:
  --endpoint ID         endpoint id (default: $RUNPOD_ENDPOINT_ID); API key from $RUNPOD_API_KEY
  --api-url URL         API base (default: $RUNPOD_API_URL or https://api.runpod.ai/v2;
                        http://127.0.0.1:8000 for 'comfy-seal worker --local')
  --key KEY             Fernet key(s) (default: $ENCRYPTION_KEY)

Output:
  --out DIR             where result files go (default: .); existing files are never overwritten
  --json                print one JSON object with the job id and the files written (for scripts)
  --dry-run             prepare and print what would be sent (image data as byte counts); send nothing
  --resume-id JOB_ID    re-attach to a submitted job and fetch its result
  --blob-url s3://BUCKET/PREFIX   your bucket for requests and results too large for RunPod
                        (default: $COMFY_SEAL_BLOB_URL; AWS_* variables configure access, see README)
  --keep-blobs          keep the job's sealed blobs in the bucket (deleted once the files are written otherwise)
  --debug               send the job in PLAINTEXT (the endpoint must allow it); for debugging only
  -h, --help            this help

Exit codes: 0 done, 1 the job or a request failed (reason on stderr), 2 usage, 130 interrupted (job still running).
`;

const OPTIONS = {
  workflow: { type: 'string' },
  img: { type: 'string', multiple: true },
  file: { type: 'string', multiple: true },
  prompt: { type: 'string' },
  negative: { type: 'string' },
  'prompt-node': { type: 'string' },
  'negative-node': { type: 'string' },
  seed: { type: 'string' },
  'random-seed': { type: 'boolean' },
  set: { type: 'string', multiple: true },
  timeout: { type: 'string' },
  endpoint: { type: 'string' },
  'api-url': { type: 'string' },
  key: { type: 'string' },
  out: { type: 'string' },
  json: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  'resume-id': { type: 'string' },
  'blob-url': { type: 'string' },
  'keep-blobs': { type: 'boolean' },
  debug: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

async function readInput(file: string, what: string): Promise<{ name: string; data: Buffer }> {
  try {
    return { name: path.basename(file), data: await readFile(file) };
  } catch (error) {
    throw new UsageError(`cannot read ${what} ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** `--img a.png b.png` (the documented form) → `--img a.png --img b.png` for the strict parser. */
export function expandMultiValueFlags(argv: string[], flags: readonly string[] = ['--img']): string[] {
  const out: string[] = [];
  let current: string | null = null;
  for (const arg of argv) {
    if (arg.startsWith('-')) {
      current = flags.includes(arg) ? arg : null;
      if (current === null) out.push(arg);
      continue;
    }
    if (current !== null) out.push(current, arg);
    else out.push(arg);
  }
  return out;
}

async function readJsonFile(file: string, what: string): Promise<unknown> {
  const { data } = await readInput(file, what);
  try {
    return JSON.parse(data.toString('utf8'));
  } catch {
    throw new UsageError(`${what} ${file} is not valid JSON`);
  }
}

function numberFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`--${name} must be a non-negative number`);
  return n;
}

export const command: Command = async (argv, io) => {
  const { values } = parseCommandArgs(expandMultiValueFlags(argv), OPTIONS);
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const resumeId = values['resume-id'];
  if (!resumeId && !values.workflow) throw new UsageError('--workflow FILE is required (or --resume-id JOB_ID)');
  const outDir = values.out ?? '.';

  // Preparation first: a dry run needs no endpoint, key or network.
  let prepared: ReturnType<typeof prepareWorkflow> | undefined;
  if (!resumeId) {
    const workflow = await readJsonFile(values.workflow!, 'workflow');
    const images = await Promise.all((values.img ?? []).map((file) => readInput(file, 'image')));
    const files = await Promise.all(
      (values.file ?? []).map(async (spec) => {
        const at = spec.indexOf('=');
        if (at <= 0 || at === spec.length - 1) throw new UsageError(`--file wants NODE=FILE (a node id, then the file), not "${spec}"`);
        return { nodeId: spec.slice(0, at), file: await readInput(spec.slice(at + 1), 'file') };
      }),
    );
    const seed = numberFlag('seed', values.seed);
    prepared = prepareWorkflow(workflow, {
      ...(values.prompt !== undefined ? { prompt: values.prompt } : {}),
      ...(values.negative !== undefined ? { negative: values.negative } : {}),
      ...(values['prompt-node'] ? { promptNode: values['prompt-node'] } : {}),
      ...(values['negative-node'] ? { negativeNode: values['negative-node'] } : {}),
      ...(seed !== undefined ? { seed } : {}),
      ...(values['random-seed'] ? { randomSeed: true } : {}),
      ...(values.set ? { set: values.set } : {}),
      images,
      files,
    });
  }
  const timeoutS = numberFlag('timeout', values.timeout);
  const request = prepared && {
    workflow: prepared.workflow,
    images: prepared.images,
    options: timeoutS !== undefined ? { timeout_s: timeoutS } : {},
  };

  if (values['dry-run'] && request) {
    const shown = { ...request, images: request.images.map((i) => ({ name: i.name, bytes: i.data.length })), report: prepared!.report };
    io.stdout.write(`${JSON.stringify(shown, null, values.json ? 0 : 2)}\n`);
    return 0;
  }

  if (values.debug) io.stderr.write('comfy-seal run: --debug: the job is sent in PLAINTEXT; RunPod can read it\n');
  const line = progressLine(io.stderr);
  const onProgress = (event: JobProgress) => line.update(event);
  let jobId = resumeId;
  const blobUrl = values['blob-url'] ?? (io.env.COMFY_SEAL_BLOB_URL || undefined);
  const resumeHint = (id: string) =>
    `comfy-seal run --resume-id ${id} --out ${JSON.stringify(outDir)}${values['api-url'] ? ` --api-url ${values['api-url']}` : ''}${values.endpoint ? ` --endpoint ${values.endpoint}` : ''}${values['blob-url'] ? ` --blob-url ${values['blob-url']}` : ''}`;
  let client: ComfySealClient | undefined;
  const releaseBlobs = async (id: string) => {
    if (!values['keep-blobs'] && client) await client.releaseBlobs(id);
  };
  try {
    client = new ComfySealClient({
      ...(blobUrl ? { blobStore: new S3BlobStore(blobUrl, io.env) } : {}),
      ...(values.endpoint ? { endpointId: values.endpoint } : {}),
      ...(values['api-url'] ? { apiUrl: values['api-url'] } : {}),
      ...(values.key ? { key: values.key } : {}),
      plaintext: Boolean(values.debug),
      env: io.env,
    });
    if (!jobId) {
      jobId = await client.submit(request!);
      if (!values.json) io.stderr.write(`submitted job ${jobId}\n`);
    }
    const result: Result = await client.wait(jobId, { onProgress, signal: io.signal });
    line.done();
    const written = await writeResultFiles(result.files, outDir);
    await releaseBlobs(jobId);
    report(io, Boolean(values.json), jobId, written, result.timingsMs);
    return 0;
  } catch (error) {
    line.done();
    if (io.signal.aborted && jobId) {
      io.stderr.write(`stopped waiting; job ${jobId} is still running. Resume with:\n  ${resumeHint(jobId)}\n`);
      return 130;
    }
    if (error instanceof JobFailedError) {
      await releaseBlobs(jobId!).catch(() => undefined); // the job is over: its request blob serves nothing
      io.stderr.write(`comfy-seal run: ${error.message}\n`);
      if (Object.keys(error.details).length > 0) io.stderr.write(`details: ${JSON.stringify(error.details)}\n`);
      if (values.json) io.stdout.write(`${JSON.stringify({ job_id: jobId, status: 'FAILED', code: error.jobCode, message: error.message, details: error.details })}\n`);
      return 1;
    }
    if (error instanceof ComfySealError || error instanceof SealError) {
      io.stderr.write(`comfy-seal run: ${error.code}: ${error.message}\n`);
      if (jobId && !(error instanceof SealError)) io.stderr.write(`the job may still be running; resume with:\n  ${resumeHint(jobId)}\n`);
      return 1;
    }
    throw error;
  }
};

function report(io: CommandIo, json: boolean, jobId: string, written: Awaited<ReturnType<typeof writeResultFiles>>, timings: Record<string, number>): void {
  if (json) {
    io.stdout.write(`${JSON.stringify({ job_id: jobId, status: 'COMPLETED', files: written.map((w) => ({ path: w.path, bytes: w.bytes, kind: w.kind, mime: w.mime, node_id: w.nodeId })), timings_ms: timings })}\n`);
    return;
  }
  io.stdout.write(`job ${jobId} done: ${written.length} file${written.length === 1 ? '' : 's'}\n`);
  for (const w of written) io.stdout.write(`  ${w.path}  (${w.kind}, ${w.bytes} bytes)\n`);
}
