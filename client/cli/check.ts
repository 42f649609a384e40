/**
 * `comfy-seal check`: a workflow (API, UI, PNG or WebP) checked against the endpoint's node definitions with ComfyUI's
 * own rules, before any GPU second is spent. `run` performs the same check (`checkBeforeRun`).
 */
import { invokedAs, parseCommandArgs, type Command, type CommandIo } from '../../shared/cli.js';
import { SealError } from '../../shared/errors.js';
import type { Workflow } from '../../shared/schema.js';
import { ComfySealError } from '../errors.js';
import { checkWorkflow, formatProblem, type Problem } from '../workflow/check.js';
import { describeSource } from '../workflow/load.js';
import { loadWorkflowFlag, WORKFLOW_HELP, WORKFLOW_OPTIONS, type FoundDefinitions } from './definitions.js';

const HELP = `Usage: comfy-seal check --workflow FILE [--object-info FILE] [--json]

Checks a workflow against your endpoint's node definitions with ComfyUI's own rules: node types not installed,
required inputs missing, links to missing nodes or outputs, links of the wrong type, values outside min/max,
values not in a list (models and LoRAs not installed, with the nearest installed names). One line per problem;
exit 1 when there is any. 'comfy-seal run' does the same check before it submits (--no-check skips it).

Options:
${WORKFLOW_HELP}
  --json                print one JSON object: {"ok", "nodes", "problems": [...]}
  -h, --help            this help
`;

const OPTIONS = { ...WORKFLOW_OPTIONS, json: { type: 'boolean' } } as const;

const NO_DEFINITIONS = "no node definitions: run 'comfy-seal nodes' (caches your endpoint's) or pass --object-info FILE";

function writeProblems(io: CommandIo, command: string, problems: Problem[]): void {
  for (const p of problems) io.stderr.write(`comfy-seal ${command}: ${formatProblem(p)}\n`);
}

/** Problems that hang on what the endpoint has installed, which a cache made earlier may no longer tell right. */
const INSTALLED: ReadonlySet<Problem['type']> = new Set(['missing_node_type', 'value_not_in_list']);

const checkAgainst = (workflow: Workflow, found: FoundDefinitions) => checkWorkflow(workflow, found.objectInfo, { comfyVersion: found.comfyVersion });

/**
 * run's check: with definitions, a workflow with problems is not sent (each printed, then a SealError); true when it
 * was checked, false when there were no definitions to check against. A cache can be older than the endpoint behind
 * its URL (a restarted simulator, another image on the same port, a redeploy): when the cached definitions lack
 * what the workflow uses, `refetch` asks the endpoint for its current ones, so only the endpoint itself can refuse.
 */
export async function checkBeforeRun(io: CommandIo, workflow: Workflow, found: FoundDefinitions | null, refetch?: () => Promise<FoundDefinitions>): Promise<boolean> {
  if (!found) return false;
  let problems = checkAgainst(workflow, found);
  if (refetch && found.fetchedAt !== undefined && problems.some((p) => INSTALLED.has(p.type))) {
    io.stderr.write(`comfy-seal run: the node definitions cached ${found.fetchedAt} lack what the workflow uses; asking the endpoint for its current ones\n`);
    try {
      problems = checkAgainst(workflow, await refetch());
    } catch (error) {
      if (!(error instanceof ComfySealError || error instanceof SealError)) throw error;
      io.stderr.write(`comfy-seal run: could not get them (${error.code}: ${error.message}); checking against the cache\n`);
    }
  }
  if (problems.length === 0) return true;
  writeProblems(io, 'run', problems);
  throw new SealError('WORKFLOW_INVALID', `the workflow does not pass the check against the endpoint's node definitions (${problems.length} problem${problems.length === 1 ? '' : 's'} above); fix them, or --no-check to send it anyway`, { problems });
}

export const command: Command = async (argv, io) => {
  const { values } = parseCommandArgs(argv, OPTIONS);
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const loadedFlag = await loadWorkflowFlag(values, io.env, { required: NO_DEFINITIONS });
  const { workflow, loaded, name } = loadedFlag;
  const found = loadedFlag.found!; // `required`: refused above when there are none
  const problems = checkAgainst(workflow, found);
  const nodes = Object.keys(workflow).length;
  if (values.json) {
    io.stdout.write(`${JSON.stringify({ ok: problems.length === 0, nodes, source: loaded.source, problems })}\n`);
    return problems.length === 0 ? 0 : 1;
  }
  if (loaded.source !== 'api') io.stderr.write(`comfy-seal check: ${name}: ${describeSource(loaded)}\n`);
  writeProblems(io, 'check', problems);
  if (problems.length > 0) {
    if (found.fetchedAt !== undefined) io.stderr.write(`comfy-seal check: checked against the definitions cached ${found.fetchedAt}; if the endpoint changed since: '${invokedAs(io)} nodes --refresh'\n`);
    return 1;
  }
  io.stdout.write(`ok: ${nodes} nodes pass the check (definitions: ${found.from})\n`);
  return 0;
};
