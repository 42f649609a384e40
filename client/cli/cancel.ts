/** `comfy-seal cancel JOB_ID`: RunPod's cancel (and the local endpoint's), for a job sent with `comfy-seal run`. */
import { parseCommandArgs, UsageError, type Command } from '../../shared/cli.js';
import { ComfySealError } from '../errors.js';
import { clientFor, ENDPOINT_HELP, ENDPOINT_OPTIONS } from './endpoint.js';

const HELP = `Usage: comfy-seal cancel JOB_ID [options]

Cancels a job on your endpoint: a queued job never runs; a running one is stopped (the worker interrupts ComfyUI
and wipes the job's files). No key is needed: nothing is sealed or opened.

${ENDPOINT_HELP.replace(/\n {2}--key KEY.*$/s, '')}
  --json                print one JSON object: {"job_id", "status"} or {"code", "message"}
  -h, --help            this help

Exit codes: 0 cancelled (or already ended), 1 the request failed, 2 usage.
`;

export const command: Command = async (argv, io) => {
  const { values, positionals } = parseCommandArgs(
    argv,
    { endpoint: ENDPOINT_OPTIONS.endpoint, 'api-url': ENDPOINT_OPTIONS['api-url'], 'api-key': ENDPOINT_OPTIONS['api-key'], json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    true,
  );
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'give the job id: comfy-seal cancel JOB_ID' : 'give one job id');
  const jobId = positionals[0]!;
  // Cancelling seals nothing, so no key is asked for.
  const client = clientFor(values, io, { plaintext: true });
  try {
    const answer = await client.cancel(jobId);
    const status = typeof answer?.status === 'string' ? answer.status : 'UNKNOWN';
    io.stdout.write(values.json ? `${JSON.stringify({ job_id: jobId, status })}\n` : `job ${jobId}: ${status}\n`);
    return 0;
  } catch (error) {
    if (!(error instanceof ComfySealError)) throw error;
    if (values.json) io.stdout.write(`${JSON.stringify({ status: 'FAILED', code: error.code, message: error.message, job_id: jobId })}\n`);
    io.stderr.write(`comfy-seal cancel: ${error.code}: ${error.message}\n`);
    return 1;
  }
};
