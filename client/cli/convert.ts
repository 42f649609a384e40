/**
 * `comfy-seal convert`: print the API-format workflow that a UI file, a PNG / WebP saved by ComfyUI, or an API file
 * stands for, with ComfyUI's `_meta` titles: what `run` would send.
 */
import { parseCommandArgs, type Command } from '../../shared/cli.js';
import { SealError } from '../../shared/errors.js';
import { describeSource } from '../workflow/load.js';
import { loadWorkflowFlag, WORKFLOW_HELP, WORKFLOW_OPTIONS } from './definitions.js';

const HELP = `Usage: comfy-seal convert --workflow FILE [--object-info FILE]

Prints the API-format workflow (ComfyUI's Export (API), with _meta titles) for a UI-format workflow, a PNG or
WebP saved by ComfyUI (its embedded prompt, else its workflow), or an API file (checked and printed as it is).
UI files need node definitions for nodes whose widgets the file does not name: --object-info, or the cache
'comfy-seal nodes' fills for your endpoint.

Options:
${WORKFLOW_HELP}
  -h, --help            this help
`;

const OPTIONS = WORKFLOW_OPTIONS;

export const command: Command = async (argv, io) => {
  const { values } = parseCommandArgs(argv, OPTIONS);
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const { workflow, loaded, name } = await loadWorkflowFlag(values, io.env);
  if (Object.keys(workflow).length === 0) throw new SealError('BAD_INPUT', 'workflow has no nodes');
  if (loaded.source !== 'api') io.stderr.write(`comfy-seal convert: ${name}: ${describeSource(loaded)}\n`);
  io.stdout.write(`${JSON.stringify(workflow, null, 2)}\n`);
  return 0;
};
