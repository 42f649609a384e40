/**
 * `comfy-seal deploy`: the user's endpoint through RunPod's REST API v2 in one command (contract §15): the key as a
 * RunPod secret, a serverless template reading it, a QUEUE endpoint made from the template. Idempotent by name.
 */
import { EXIT_FAILED, intFlag, parseCommandArgs, UsageError, type Command, type CommandIo } from '../../shared/cli.js';
import { ComfySealError, CONFIG_SETTINGS } from '../errors.js';
import { deleteRequests, deploy, deployRequests, undeploy, type DeployReport } from '../deploy/deploy.js';
import { DEPLOY_DEFAULTS, NAME_PATTERN, printable, secretName, templateName, type DeploySpec, type RestRequest } from '../deploy/plan.js';
import { DEFAULT_REST_URL, restClient } from '../deploy/rest.js';
import { KEY_OPTIONS, keyFromFlags, keyHelp } from '../../shared/key-flags.js';
import { fernetFrom } from './key.js';

const HELP = `Usage: comfy-seal deploy --image IMAGE [options]
       comfy-seal deploy --delete NAME

Creates your endpoint on RunPod Serverless through its REST API v2, or brings it to these options when it exists
(found by name: a second run creates nothing). Your ENCRYPTION_KEY is stored only as a RunPod secret
(comfy_seal_<NAME>_key) that the template's env refers to; it appears in no other request, output or file.

Endpoint:
  --image IMAGE         the worker image (required)
  --name NAME           endpoint name (default: ${DEPLOY_DEFAULTS.name}); the template is NAME-template
  --gpu POOL,...        GPU pools in order of preference (default: ${DEPLOY_DEFAULTS.gpuPools.join(',')}): AMPERE_16, AMPERE_24,
                        ADA_24, AMPERE_48, ADA_48_PRO, AMPERE_80, ADA_80_PRO, HOPPER_141
  --workers-min N       workers kept running (default: ${DEPLOY_DEFAULTS.workersMin}; more than 0 is billed while idle)
  --workers-max N       most workers at once (default: ${DEPLOY_DEFAULTS.workersMax})
  --idle-timeout S      seconds an idle worker stays up (default: ${DEPLOY_DEFAULTS.idleTimeoutS}; 1-3600)
  --timeout-s S         per-job execution limit in seconds (default: ${DEPLOY_DEFAULTS.timeoutS})
  --disk-gb N           container disk in GB (default: ${DEPLOY_DEFAULTS.diskGb})
  --network-volume ID   a network volume, mounted at /runpod-volume (it pins the data center)
  --data-center ID,...  data centers to run in (default: any)
  --env K=V             a variable for the worker (repeatable); not ENCRYPTION_KEY, which deploy sets
  --registry-auth ID    a RunPod container registry credential, for a private image
  --flashboot on|off    FlashBoot (default: on)
  Each run sets the endpoint to exactly these options: an option left out goes back to its default.

Key and access:
${keyHelp(24, 'Fernet key(s) to store')}
  --rotate-key          replace the key the endpoint's secret holds when it is another one
  --api-key KEY         RunPod API key (default: $RUNPOD_API_KEY; ${CONFIG_SETTINGS.apiKey.hint})
                        REST API base: $RUNPOD_REST_URL (default: ${DEFAULT_REST_URL})

Output:
  --dry-run             print each request it would send (the secret's value redacted); send nothing
  --json                print one JSON object: {"endpoint_id", "template_id", "secret", "run_url"}
  --delete NAME         delete the endpoint NAME, then its template, then its secret
  -h, --help            this help

Exit codes: 0 done, 1 RunPod refused or could not be reached (reason on stderr), 2 usage or a missing setting.
`;

const OPTIONS = {
  image: { type: 'string' },
  name: { type: 'string' },
  gpu: { type: 'string' },
  'workers-min': { type: 'string' },
  'workers-max': { type: 'string' },
  'idle-timeout': { type: 'string' },
  'timeout-s': { type: 'string' },
  'disk-gb': { type: 'string' },
  'network-volume': { type: 'string' },
  'data-center': { type: 'string' },
  env: { type: 'string', multiple: true },
  'registry-auth': { type: 'string' },
  flashboot: { type: 'string' },
  ...KEY_OPTIONS,
  'rotate-key': { type: 'boolean' },
  'api-key': { type: 'string' },
  'dry-run': { type: 'boolean' },
  json: { type: 'boolean' },
  delete: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseCommandArgs<typeof OPTIONS>>['values'];

const list = (value: string | undefined) => (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);

function checkName(name: string): string {
  if (!NAME_PATTERN.test(name)) throw new UsageError('--name must be 1-63 letters, digits, _ . or -, starting with a letter or digit');
  return name;
}

/**
 * The key to store, as the user keeps it (one key or a comma-separated list), checked by the helper every command
 * reads its key with (the one place to change when keys come from elsewhere). No key: refused, never generated here
 * (a key only RunPod held could not open a single result).
 */
function readKey(values: Values, env: NodeJS.ProcessEnv): string {
  const key = (keyFromFlags(values) ?? env.ENCRYPTION_KEY ?? '').trim();
  if (key === '') {
    throw new UsageError(
      'no key: deploy stores your ENCRYPTION_KEY on RunPod, so make one and keep it first: ' +
        `umask 077; comfy-seal keygen > comfy-seal.key; export ENCRYPTION_KEY="$(cat comfy-seal.key)"`,
      'CONFIG',
    );
  }
  fernetFrom({ key }, env);
  return key;
}

function specFrom(values: Values, key: string): DeploySpec {
  if (!values.image) throw new UsageError('give the worker image: --image IMAGE', 'CONFIG');
  const gpuPools = values.gpu === undefined ? [...DEPLOY_DEFAULTS.gpuPools] : list(values.gpu);
  if (gpuPools.length === 0 || !gpuPools.every((p) => /^[A-Z][A-Z0-9_]*$/.test(p))) throw new UsageError('--gpu takes pool ids like ADA_24,AMPERE_48');
  const workersMin = intFlag('workers-min', values['workers-min'], DEPLOY_DEFAULTS.workersMin);
  const workersMax = intFlag('workers-max', values['workers-max'], DEPLOY_DEFAULTS.workersMax);
  if (workersMax < 1 || workersMax < workersMin) throw new UsageError('--workers-max must be at least 1 and at least --workers-min');
  const idleTimeoutS = intFlag('idle-timeout', values['idle-timeout'], DEPLOY_DEFAULTS.idleTimeoutS);
  if (idleTimeoutS < 1 || idleTimeoutS > 3600) throw new UsageError('--idle-timeout must be 1-3600 seconds');
  const timeoutS = intFlag('timeout-s', values['timeout-s'], DEPLOY_DEFAULTS.timeoutS);
  const diskGb = intFlag('disk-gb', values['disk-gb'], DEPLOY_DEFAULTS.diskGb);
  if (timeoutS < 1 || diskGb < 1) throw new UsageError(`--${timeoutS < 1 ? 'timeout-s' : 'disk-gb'} must be at least 1`);
  if (values.flashboot !== undefined && values.flashboot !== 'on' && values.flashboot !== 'off') throw new UsageError('--flashboot takes on or off');

  const env: Record<string, string> = {};
  const keyParts = key.split(',').map((k) => k.trim()).filter(Boolean);
  for (const pair of values.env ?? []) {
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    if (eq < 1 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new UsageError('--env takes NAME=VALUE with NAME a variable name');
    if (name === 'ENCRYPTION_KEY') throw new UsageError('--env ENCRYPTION_KEY is refused: deploy stores the key as a RunPod secret and sets ENCRYPTION_KEY itself');
    // The key in another variable would travel as plain template text: refused, and the variable is not named back.
    if (keyParts.some((k) => value.includes(k))) throw new UsageError('an --env value holds your key; the key goes only into the RunPod secret');
    if (name in env) throw new UsageError(`--env ${name} was given twice`);
    env[name] = value;
  }
  return {
    name: checkName(values.name ?? DEPLOY_DEFAULTS.name),
    image: values.image,
    gpuPools,
    workersMin,
    workersMax,
    idleTimeoutS,
    timeoutS,
    diskGb,
    networkVolume: values['network-volume'],
    dataCenters: list(values['data-center']),
    env,
    registryAuth: values['registry-auth'],
    flashboot: values.flashboot !== 'off',
  };
}

const printRequests = (requests: RestRequest[]) =>
  requests.map((r) => {
    const shown = printable(r);
    return `${shown.method} ${decodeURIComponent(shown.path)}${shown.body ? ` ${JSON.stringify(shown.body)}` : ''}\n`;
  });

function apiKeyFrom(values: Values, env: NodeJS.ProcessEnv): string {
  const apiKey = values['api-key'] ?? env.RUNPOD_API_KEY;
  if (!apiKey) throw new UsageError(`missing setting: --api-key KEY or RUNPOD_API_KEY (${CONFIG_SETTINGS.apiKey.hint})`, 'CONFIG');
  return apiKey;
}

function summary(report: DeployReport, name: string): string {
  const { result, actions, changed } = report;
  const said = (action: string, fields: string[] = []) =>
    action === 'update' ? `updated (${fields.join(', ')})` :
    action === 'rotate' ? 'key replaced (workers already running keep the old one until they restart)' :
    action === 'create' ? 'created' : action;
  const id = result.endpoint_id;
  return (
    `secret   ${result.secret}: ${said(actions.secret)}\n` +
    `template ${templateName(name)} (${result.template_id}): ${said(actions.template, changed.template)}\n` +
    `endpoint ${name} (${id}): ${said(actions.endpoint, changed.endpoint)}\n` +
    `\nendpoint id: ${id}\nrun URL:     ${result.run_url}\n` +
    `\nNext${actions.endpoint === 'create' ? " (a new endpoint's first worker pulls the image, which can take minutes)" : ''}:\n` +
    `  comfy-seal doctor --client --endpoint ${id}\n` +
    `  comfy-seal run --endpoint ${id} --workflow wf.json --prompt "a lighthouse at dawn" --out results\n`
  );
}

export const command: Command = async (argv, io) => {
  const { values } = parseCommandArgs(argv, OPTIONS);
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const deleting = values.delete !== undefined;
  if (deleting) {
    const extra = Object.keys(values).filter((k) => !['delete', 'api-key', 'dry-run', 'json'].includes(k));
    if (extra.length > 0) throw new UsageError(`--delete takes no other deploy options (got --${extra.join(', --')})`);
  }
  const key = deleting ? '' : readKey(values, io.env);
  const spec = deleting ? undefined : specFrom(values, key);
  const name = deleting ? checkName(values.delete!) : spec!.name;

  if (values['dry-run']) {
    const requests = spec ? deployRequests(spec, key) : deleteRequests(name);
    if (values.json) io.stdout.write(`${JSON.stringify({ dry_run: true, requests: requests.map((r) => printable(r)) })}\n`);
    else {
      io.stdout.write(`dry run: nothing is sent. For an account that holds none of these names${deleting ? '' : ' (what exists is PATCHed instead)'}:\n`);
      for (const line of printRequests(requests)) io.stdout.write(line);
    }
    return 0;
  }

  const rest = restClient({ apiKey: apiKeyFrom(values, io.env), baseUrl: io.env.RUNPOD_REST_URL || DEFAULT_REST_URL, redact: key ? [key, ...key.split(',').map((k) => k.trim())] : [] });
  try {
    if (spec) {
      const report = await deploy(spec, key, { rotateKey: values['rotate-key'] ?? false, rest });
      io.stdout.write(values.json ? `${JSON.stringify(report.result)}\n` : summary(report, name));
    } else {
      const gone = await undeploy(name, rest);
      if (values.json) io.stdout.write(`${JSON.stringify({ deleted: gone })}\n`);
      else if (!gone.endpoint_id && !gone.template_id && !gone.secret) io.stdout.write(`nothing named ${name} on this account (endpoint, ${templateName(name)}, ${secretName(name)})\n`);
      else {
        io.stdout.write(
          `endpoint ${name}: ${gone.endpoint_id ? `deleted (${gone.endpoint_id})` : 'none'}\n` +
            `template ${templateName(name)}: ${gone.template_id ? `deleted (${gone.template_id})` : 'none'}\n` +
            `secret   ${secretName(name)}: ${gone.secret ? 'deleted' : 'none'}\n`,
        );
      }
    }
    return 0;
  } catch (error) {
    if (!(error instanceof ComfySealError)) throw error;
    return failed(io, values.json ?? false, error);
  }
};

function failed(io: CommandIo, json: boolean, error: ComfySealError): number {
  if (json) io.stdout.write(`${JSON.stringify({ status: 'FAILED', code: error.code, message: error.message })}\n`);
  io.stderr.write(`comfy-seal deploy: ${error.code}: ${error.message}\n`);
  return EXIT_FAILED;
}
