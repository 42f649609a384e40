/**
 * `comfy-seal check`: a workflow (API, UI, PNG or WebP) checked against the endpoint's node definitions with ComfyUI's
 * own rules, before any GPU second is spent. `run` performs the same check (`checkBeforeRun`).
 */
import { parseCommandArgs, type Command, type CommandIo } from '../../shared/cli.js';
import { SealError } from '../../shared/errors.js';
import type { Workflow } from '../../shared/schema.js';
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

/**
 * run's check: with definitions, a workflow with problems is not sent (each printed, then a SealError); true when it
 * was checked, false when there were no definitions to check against.
 */
export function checkBeforeRun(io: CommandIo, workflow: Workflow, found: FoundDefinitions | null): boolean {
  if (!found) return false;
  const problems = checkWorkflow(workflow, found.objectInfo);
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
  const problems = checkWorkflow(workflow, found.objectInfo);
  const nodes = Object.keys(workflow).length;
  if (values.json) {
    io.stdout.write(`${JSON.stringify({ ok: problems.length === 0, nodes, source: loaded.source, problems })}\n`);
    return problems.length === 0 ? 0 : 1;
  }
  if (loaded.source !== 'api') io.stderr.write(`comfy-seal check: ${name}: ${describeSource(loaded)}\n`);
  writeProblems(io, 'check', problems);
  if (problems.length > 0) return 1;
  io.stdout.write(`ok: ${nodes} nodes pass the check (definitions: ${found.from})\n`);
  return 0;
};
