/**
 * `comfy-seal run`: prepare a workflow, check locally what can be checked, seal it, submit it, follow it, open the
 * result, write the files. `--resume-id` re-attaches to a job submitted earlier. Ctrl-C stops waiting (the job goes on)
 * and prints how to resume or cancel. With `--json`, stdout gets exactly one JSON object, whatever happens.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseCommandArgs, UsageError, type Command, type CommandIo } from '../../shared/cli.js';
import { serializeBundle } from '../../shared/bundle.js';
import { SealError } from '../../shared/errors.js';
import { webhookUrlProblem } from '../../shared/webhook.js';
import type { Result } from '../../shared/envelope.js';
import type { JobProgress, RetryEvent } from '../client.js';
import { S3BlobStore } from '../blob/s3.js';
import { embedWorkflow } from '../embed-workflow.js';
import { AbortError, ComfySealError, JobFailedError, RunpodApiError } from '../errors.js';
import { outDirProblem, writeResultFiles, type WrittenFile } from '../output.js';
import { prepareWorkflow } from '../prepare/index.js';
import { describeSource } from '../workflow/load.js';
import { checkBeforeRun } from './check.js';
import { findDefinitions } from './definitions.js';
import { cancelCommand, clientFor, ENDPOINT_HELP, ENDPOINT_OPTIONS, endpointArgs } from './endpoint.js';
import { checkImageFile, checkLoadersFilled, loaderLines, preflightWarnings } from './preflight.js';
import { progressLine } from './progress.js';

const HELP = `Usage: comfy-seal run --workflow wf.json [options]
       comfy-seal run --resume-id JOB_ID [--out DIR]

Prepares a ComfyUI workflow, seals it with your key, runs it on your RunPod endpoint, and writes
the opened results into --out. Only sealed tokens leave this machine.

Workflow:
  --workflow FILE       the workflow: API or UI format JSON, or a PNG / WebP saved by ComfyUI
  --img FILE...         images for the LoadImage nodes, numeric ids ascending, then named ids
                        in the workflow's order (repeatable)
  --file NODE=FILE      a file for one loader node: LoadAudio, LoadVideo, VHS_LoadVideo, or an image loader
                        that --img should leave alone (repeatable)
  --prompt TEXT         positive prompt, put where the samplers' positive conditioning comes from (once)
  --negative TEXT       negative prompt, likewise
  --prompt-node ID      the node that gets --prompt, when the graph is ambiguous
  --negative-node ID    the node that gets --negative, likewise
  --seed N              set every sampler's seed; --random-seed for a fresh random one each
  --set NODE.inputs.FIELD=VALUE   set any input (repeatable; VALUE is JSON when it parses, else text)
  --timeout S           job time limit in seconds, > 0 (may only lower the endpoint's own)
  --webhook URL         RunPod also POSTs the final (sealed) status there; open it with the SDK's openWebhook
  --object-info FILE    node definitions (a saved /object_info) for UI workflows and the check; default: the
                        endpoint's cache ('comfy-seal nodes')
  --no-check            send without checking against the node definitions

${ENDPOINT_HELP}

Output:
  --out DIR             where result files go (default: .); existing files are never overwritten
  --embed-workflow      write the workflow into PNG results (as ComfyUI does: drag one into ComfyUI to load it);
                        done here after opening, so it never travelled in plaintext
  --json                print one JSON object on stdout, done or not: status, job_id, files or code and message
  --dry-run             prepare and print what would be sent; send nothing. With --json: the bundle itself,
                        which 'comfy-seal seal --bundle' accepts as is
  --resume-id JOB_ID    re-attach to a submitted job and fetch its result
  --blob-url s3://BUCKET/PREFIX   your bucket for requests and results too large for RunPod
                        (default: $COMFY_SEAL_BLOB_URL; AWS_* variables configure access, see README)
  --keep-blobs          keep the job's sealed blobs in the bucket (deleted once the files are written otherwise)
  --debug               send the job in PLAINTEXT (the endpoint must allow it); for debugging only
  -h, --help            this help

Exit codes: 0 done, 1 the job or a request failed (reason on stderr), 2 usage or a missing setting,
130 interrupted (job still running).
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
  webhook: { type: 'string' },
  'object-info': { type: 'string' },
  'no-check': { type: 'boolean' },
  'embed-workflow': { type: 'boolean' },
  ...ENDPOINT_OPTIONS,
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

function numberFlag(name: string, value: string | undefined, { positive = false } = {}): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || (positive && n === 0)) {
    throw new UsageError(`--${name} must be a ${positive ? 'positive' : 'non-negative'} number${positive ? ' of seconds' : ''}`);
  }
  return n;
}

type Values = ReturnType<typeof parseCommandArgs<typeof OPTIONS>>['values'];

/** What a failure prints: one line on stderr (and hint lines), or with --json one object on stdout. */
interface Failure {
  status: 'FAILED' | 'STOPPED';
  code: string;
  message: string;
  job_id?: string;
  details?: Record<string, unknown>;
  hint?: string;
  resume?: string;
  cancel?: string;
  /** The stderr line (not in the JSON object). */
  line: string;
}

function writeJson(io: CommandIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value)}\n`);
}

export const command: Command = async (argv, io) => {
  const json = argv.includes('--json');
  try {
    return await run(argv, io);
  } catch (error) {
    // Usage errors, missing settings and local checks (SealError) print as every command's do (cli/main.ts); with
    // --json the same goes to stdout as the one object.
    if (json) {
      const code = error instanceof UsageError || error instanceof SealError ? error.code : 'INTERNAL';
      const message = error instanceof UsageError || error instanceof SealError ? error.message : 'unexpected error; please report this';
      writeJson(io, { status: 'FAILED', code, message });
    }
    throw error;
  }
};

async function run(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parseCommandArgs(expandMultiValueFlags(argv), OPTIONS);
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const resumeId = values['resume-id'];
  if (!resumeId && !values.workflow) throw new UsageError('--workflow FILE is required (or --resume-id JOB_ID)');
  if (resumeId && (values.workflow || values['dry-run'])) throw new UsageError(`--resume-id fetches a job sent earlier; give it without ${values.workflow ? '--workflow' : '--dry-run'}`);
  if (values['embed-workflow'] && resumeId) throw new UsageError('--embed-workflow needs the workflow: use it with --workflow, not --resume-id');
  const webhookProblem = values.webhook !== undefined ? webhookUrlProblem(values.webhook) : null;
  if (webhookProblem !== null) throw new UsageError(`--webhook: ${webhookProblem}`);
  const outDir = values.out ?? '.';
  const timeoutS = numberFlag('timeout', values.timeout, { positive: true });
  const tty = Boolean(io.stderr.isTTY) && !values.json;

  // Local checks first: a dry run needs no endpoint, key or network, and nothing is sent that would fail anyway.
  const blobUrl = values['blob-url'] ?? (io.env.COMFY_SEAL_BLOB_URL || undefined);
  const client = values['dry-run']
    ? undefined
    : clientFor(values, io, { plaintext: Boolean(values.debug), onRetry: tty ? retryLine(io) : undefined, ...(blobUrl ? { blobStore: new S3BlobStore(blobUrl, io.env) } : {}) });
  const releaseBlobs = async (id: string) => {
    if (!values['keep-blobs'] && client) await client.releaseBlobs(id);
  };
  let request;
  if (!resumeId) {
    const prepared = await prepare(values, io);
    request = { workflow: prepared.workflow, images: prepared.images, options: timeoutS !== undefined ? { timeout_s: timeoutS } : {} };
    if (values['dry-run']) {
      if (values.json) {
        // The bundle as it would travel (seal --bundle takes it as is); `report`, `source` and `webhook` (a /run field) are
        // extra, which bundle readers ignore.
        io.stdout.write(`${serializeBundle(request).slice(0, -1)},"report":${JSON.stringify(prepared.report)},"source":${JSON.stringify(prepared.source)}${values.webhook !== undefined ? `,"webhook":${JSON.stringify(values.webhook)}` : ''}}\n`);
      } else {
        const shown = { ...request, images: request.images.map((i) => ({ name: i.name, bytes: i.data.length })), report: prepared.report, source: prepared.source, ...(values.webhook !== undefined ? { webhook: values.webhook } : {}) };
        io.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
      }
      return 0;
    }
    if (tty) for (const line of loaderLines(prepared.report)) io.stderr.write(`${line}\n`);
    for (const warning of preflightWarnings(prepared.workflow)) io.stderr.write(`comfy-seal run: warning: ${warning}\n`);
  }
  const outProblem = await outDirProblem(outDir);
  if (outProblem) throw new UsageError(`--out ${outDir}: ${outProblem}`);

  if (values.debug) io.stderr.write('comfy-seal run: --debug: the job is sent in PLAINTEXT; RunPod can read it\n');
  const line = progressLine(io.stderr);
  const onProgress = (event: JobProgress) => line.update(event);
  let jobId = resumeId;
  try {
    if (!jobId) {
      jobId = await client!.submit({ ...request!, ...(values.webhook !== undefined ? { webhook: values.webhook } : {}) });
      if (!values.json) io.stderr.write(`submitted job ${jobId}\n`);
    }
    const result: Result = await client!.wait(jobId, { onProgress, signal: io.signal });
    line.done();
    let files = result.files;
    if (values['embed-workflow'] && request) {
      const embedded = embedWorkflow(files, { prompt: request.workflow });
      if (embedded.skipped > 0) io.stderr.write(`comfy-seal run: ${embedded.skipped} PNG result(s) were not well formed; written without the workflow\n`);
      files = embedded.files;
    }
    const written = await writeResultFiles(files, outDir);
    await releaseBlobs(jobId);
    report(io, Boolean(values.json), jobId, written, result.timingsMs);
    return 0;
  } catch (error) {
    line.done();
    if (error instanceof JobFailedError && jobId) await releaseBlobs(jobId).catch(() => undefined); // the job is over: its request blob serves nothing
    const failure = failureOf(error, io.signal.aborted, jobId, values);
    if (!failure) throw error;
    const { line: text, ...shown } = failure;
    if (values.json) writeJson(io, shown);
    io.stderr.write(`comfy-seal run: ${text}\n`);
    if (failure.details && Object.keys(failure.details).length > 0) io.stderr.write(`details: ${JSON.stringify(failure.details)}\n`);
    if (failure.hint) io.stderr.write(`${failure.hint}\n`);
    if (failure.resume) io.stderr.write(`resume with:\n  ${failure.resume}\n`);
    if (failure.cancel) io.stderr.write(`cancel with:\n  ${failure.cancel}\n`);
    return failure.status === 'STOPPED' ? 130 : 1;
  }
}

async function prepare(values: Values, io: CommandIo): Promise<ReturnType<typeof prepareWorkflow>> {
  const { data: workflow } = await readInput(values.workflow!, 'workflow');
  const images = await Promise.all(
    (values.img ?? []).map(async (file) => {
      const image = await readInput(file, 'image');
      checkImageFile(file, image.data);
      return image;
    }),
  );
  const files = await Promise.all(
    (values.file ?? []).map(async (spec) => {
      const at = spec.indexOf('=');
      if (at <= 0 || at === spec.length - 1) throw new UsageError(`--file wants NODE=FILE (a node id, then the file), not "${spec}"`);
      return { nodeId: spec.slice(0, at), file: await readInput(spec.slice(at + 1), 'file') };
    }),
  );
  const seed = numberFlag('seed', values.seed);
  const definitions = await findDefinitions(values, io.env);
  const prepared = prepareWorkflow(workflow, {
    ...(definitions ? { objectInfo: definitions.objectInfo } : {}),
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
  if (prepared.source !== 'api') io.stderr.write(`comfy-seal run: ${path.basename(values.workflow!)}: ${describeSource(prepared)}\n`);
  checkLoadersFilled(prepared.workflow, prepared.images);
  if (!values['no-check']) checkBeforeRun(io, prepared.workflow, definitions);
  return prepared;
}

/** Retries of a call that could not reach the endpoint, shown on a terminal (where the wait would look frozen). */
function retryLine(io: CommandIo): (event: RetryEvent) => void {
  return ({ error, attempt, retriesLeft }) => io.stderr.write(`comfy-seal run: ${error.message}; retrying (${attempt} of ${attempt + retriesLeft - 1})\n`);
}

/** A failure of the endpoint part (submit, wait, write) in words and commands; null for a bug. */
function failureOf(error: unknown, aborted: boolean, jobId: string | undefined, values: Values): Failure | null {
  const blob = values['blob-url'] ? ` --blob-url ${values['blob-url']}` : '';
  const resume = jobId && `comfy-seal run --resume-id ${jobId} --out ${JSON.stringify(values.out ?? '.')}${endpointArgs(values)}${blob}`;
  const cancel = jobId && cancelCommand(jobId, values);
  const job = jobId ? { job_id: jobId } : {};
  if (aborted && jobId && error instanceof AbortError && error.resultReady) {
    // Stopped while the result blob was being fetched: nothing to cancel, the result waits (30 min on RunPod).
    const message = `stopped fetching the result; job ${jobId} is done, and its result can be fetched again`;
    return { status: 'STOPPED', code: 'ABORTED', message, ...job, resume: resume!, line: message };
  }
  if (aborted && jobId) {
    const message = `stopped waiting; job ${jobId} is still running`;
    return { status: 'STOPPED', code: 'ABORTED', message, ...job, resume: resume!, cancel: cancel!, line: message };
  }
  if (error instanceof JobFailedError) {
    const hint =
      error.jobCode === 'DECRYPT_FAILED'
        ? "the endpoint could not open the job: its ENCRYPTION_KEY likely differs from yours (set the same key on both; 'comfy-seal doctor --client' checks it)"
        : undefined;
    return { status: 'FAILED', code: error.jobCode, message: error.message, ...job, details: error.details, ...(hint ? { hint } : {}), line: error.message };
  }
  if (error instanceof RunpodApiError && error.code === 'RUNPOD_NOT_FOUND' && jobId) {
    // Resuming the same id would meet the same 404.
    const message = `job ${jobId} is not known to the endpoint: check the id and --endpoint (RunPod keeps a result 30 min after the job ends)`;
    return { status: 'FAILED', code: error.code, message, ...job, line: `${error.code}: ${message}` };
  }
  if (error instanceof ComfySealError || error instanceof SealError) {
    // A SealError here is the result or failure failing to open, BAD_ANSWER an answer refused (§11), CONFIG a setting
    // the resume needs as well: resuming would fail the same way.
    const again = jobId && !(error instanceof SealError) && error.code !== 'BAD_ANSWER' && error.code !== 'CONFIG';
    const hint = error.code === 'OUTPUT_FAILED' ? 'the result is still on the endpoint (for 30 min after the job ended); fix the folder, then fetch it again' : undefined;
    const failure = { status: 'FAILED' as const, code: error.code, message: error.message, ...job, line: `${error.code}: ${error.message}` };
    return { ...failure, ...(hint ? { hint } : {}), ...(again ? { resume: resume! } : {}) };
  }
  return null;
}

function report(io: CommandIo, json: boolean, jobId: string, written: readonly WrittenFile[], timings: Record<string, number>): void {
  if (json) {
    io.stdout.write(`${JSON.stringify({ job_id: jobId, status: 'COMPLETED', files: written.map((w) => ({ path: w.path, bytes: w.bytes, kind: w.kind, mime: w.mime, node_id: w.nodeId })), timings_ms: timings })}\n`);
    return;
  }
  io.stdout.write(`job ${jobId} done: ${written.length} file${written.length === 1 ? '' : 's'}\n`);
  for (const w of written) io.stdout.write(`  ${w.path}  (${w.kind}, ${w.bytes} bytes)\n`);
}
