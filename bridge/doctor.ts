/**
 * `comfy-seal doctor --bridge [the bridge's flags]`: whether `comfy-seal bridge` with the same flags would work. The
 * client doctor's checks (key, endpoint, the sealed ping that proves the key), then the bridge's own: node definitions
 * for the endpoint, the web UI, the base directory, the port.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { access, constants, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { clientFor } from '../client/cli/endpoint.js';
import { clientChecks } from '../client/doctor.js';
import { readCachedDefinitions } from '../client/workflow/definitions-cache.js';
import type { Check, CheckResult } from '../shared/checks.js';
import { invokedAs, parseCommandArgs, type CommandIo } from '../shared/cli.js';
import { keyFromFlags } from '../shared/key-flags.js';
import { BRIDGE_OPTIONS, bridgeSettings } from './cli.js';
import { EndpointDefinitions } from './definitions.js';
import { findFrontEnd, frontEndLine, GET_THE_WEB_UI } from './webui/index.js';

export const BRIDGE_DOCTOR_HELP = `Usage: comfy-seal doctor --bridge [--json] [the bridge's flags]

Checks what 'comfy-seal bridge' with the same flags needs: key and endpoint (a sealed ping proves the endpoint holds
your key), the endpoint's node definitions (cached or fetchable), the web UI (or API only, and how to get it), the
base directory writable, the port free. Exit code 1 when any check fails. The flags: 'comfy-seal bridge --help'.
`;

/** The checks for the flags, or null when help was asked for (and printed). */
export async function bridgeDoctor(argv: string[], io: CommandIo): Promise<{ checks: Array<[string, Check]>; json: boolean } | null> {
  const { values } = parseCommandArgs(argv, { ...BRIDGE_OPTIONS, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
  if (values.help) {
    io.stdout.write(BRIDGE_DOCTOR_HELP);
    return null;
  }
  const cli = invokedAs(io);
  const { port, host, base } = bridgeSettings(values);
  const key = keyFromFlags(values);
  const blobUrl = values['blob-url'] ?? (io.env.COMFY_SEAL_BLOB_URL || undefined);
  const client = clientChecks({
    env: io.env,
    command: cli,
    ...(values.endpoint ? { endpointId: values.endpoint } : {}),
    ...(values['api-url'] ? { apiUrl: values['api-url'] } : {}),
    ...(values['api-key'] ? { apiKey: values['api-key'] } : {}),
    ...(key ? { key } : {}),
    ...(blobUrl ? { blobUrl } : {}),
  });
  const definitions = async (): Promise<CheckResult> => {
    const name = 'node definitions';
    const file = values['object-info'];
    try {
      const sealed = clientFor(values, io, { maxRetries: 1 });
      const cached = !file && (await readCachedDefinitions({ apiUrl: sealed.apiUrl, endpointId: sealed.endpointId }, io.env));
      const info = await new EndpointDefinitions(sealed, { objectInfoFile: file, env: io.env }).get();
      const from = file ? `from ${file}` : cached ? 'cached for this endpoint' : 'fetched from the endpoint (sealed) and cached';
      return { name, verdict: 'ok', detail: `${Object.keys(info).length} node types, ${from}` };
    } catch (error) {
      const fix = file
        ? `give --object-info a file saved from ComfyUI's /object_info ('${cli} nodes --json > FILE'), or leave it out to use the endpoint's`
        : `fix the endpoint and key checks above, or run '${cli} nodes' once, or pass --object-info FILE`;
      return { name, verdict: 'fail', detail: `no node definitions: ${(error as Error).message}`, fix };
    }
  };
  const webUi = async (): Promise<CheckResult> => {
    try {
      const frontEnd = await findFrontEnd({ frontEndRoot: values['front-end-root'], env: io.env });
      return frontEnd
        ? { name: 'web UI', verdict: 'ok', detail: frontEndLine(frontEnd).replace(/^web UI: /, '') }
        : { name: 'web UI', verdict: 'warn', detail: "none found: the bridge serves ComfyUI's API only (clients and scripts work)", fix: `for ComfyUI's web UI in the browser: ${GET_THE_WEB_UI}` };
    } catch (error) {
      return { name: 'web UI', verdict: 'fail', detail: (error as Error).message, fix: `${cli} bridge --front-end-root DIR, DIR holding index.html; or leave the flag out` };
    }
  };
  return { checks: [...client, ['node definitions', definitions], ['web UI', webUi], ['base directory', () => baseCheck(base, cli)], ['port', () => portCheck(host, port, cli)]], json: Boolean(values.json) };
}

/** The base directory (or, before the first start, the folder it will be made in) takes a file. */
async function baseCheck(base: string, cli: string): Promise<CheckResult> {
  const name = 'base directory';
  let dir = base;
  while (!existsSync(dir) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  const made = dir === base ? '' : ` (made at start, in ${dir})`;
  try {
    await access(dir, constants.W_OK);
    const probe = path.join(dir, `.comfy-seal-doctor-${randomUUID()}`);
    await writeFile(probe, '');
    await rm(probe);
    return { name, verdict: 'ok', detail: `${base} is writable${made}` };
  } catch (error) {
    return { name, verdict: 'fail', detail: `${dir} is not writable (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, fix: `${cli} bridge --base-directory DIR, DIR a folder you can write` };
  }
}

/** The port can be listened on at the address (nothing else, a ComfyUI say, holds it). */
async function portCheck(host: string, port: number, cli: string): Promise<CheckResult> {
  const name = 'port';
  const server = createServer();
  const code = await new Promise<string | null>((resolve) => {
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'ERROR'));
    server.listen(port, host, () => server.close(() => resolve(null)));
  });
  if (code === null) return { name, verdict: 'ok', detail: `${host}:${port} is free` };
  if (code === 'EADDRINUSE') return { name, verdict: 'fail', detail: `${host}:${port} is in use (a ComfyUI or a bridge running?)`, fix: `${cli} bridge --port ${port === 65535 ? port - 1 : port + 1} (or stop what holds ${port})` };
  return { name, verdict: 'fail', detail: `cannot listen on ${host}:${port} (${code})`, fix: `${cli} bridge --listen 127.0.0.1, or an address of this machine` };
}
