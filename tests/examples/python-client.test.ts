/**
 * The Python client of docs/protocol.md (examples/python/comfy_seal_client.py) against a real local endpoint: the built
 * `comfy-seal worker --local` and the simulator. It seals, submits, polls, opens and writes; it reports failures by code
 * with their sealed message opened; it refuses a status or webhook body whose sealed job id is another job's; and it
 * fetches a result the worker stored in the caller's storage only from the URL it issued.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fernet } from '../../shared/index.js';
import { getJson } from '../helpers/http.js';
import { startBlobServer } from '../helpers/blob-server.js';
import { findPython } from '../helpers/python.js';
import { startLocalStack, startService, type LocalStack } from '../helpers/services.js';

const CLIENT = fileURLToPath(new URL('../../examples/python/comfy_seal_client.py', import.meta.url));
const PHOTO = fileURLToPath(new URL('../../examples/photo.png', import.meta.url));
const CANARY = 'canary-py-osprey';
const python = findPython();
if (!python) console.warn('\n*** SKIPPING the Python client test: no python3 with the `cryptography` package (apt-get install python3-cryptography) ***\n');

interface Run {
  code: number | null;
  json: Record<string, unknown>;
  stderr: string;
}

/** Runs the client (asynchronously: the simulator lives in this process), with stdin if given. */
function client(args: string[], env: NodeJS.ProcessEnv, stdin = ''): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(python!, args[0] === '-c' ? args : [CLIENT, ...args], { env: { PATH: process.env.PATH, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, json: stdout.trim() ? JSON.parse(stdout) : {}, stderr }));
    child.stdin.end(stdin);
  });
}

describe.skipIf(!python)('the Python client (docs/protocol.md) against comfy-seal worker --local', () => {
  const key = Fernet.generateKey();
  let stack: LocalStack;
  let workflow: string;
  let image: string;
  const env = (extra: NodeJS.ProcessEnv = {}) => ({ ENCRYPTION_KEY: key, RUNPOD_API_KEY: 'local', RUNPOD_API_URL: stack.worker.url, RUNPOD_ENDPOINT_ID: 'py', ...extra });
  const run = (wf: string, out: string, extra: NodeJS.ProcessEnv = {}) => client(['run', '--workflow', wf, '--image', image, '--out', path.join(stack.work, out)], env(extra));

  beforeAll(async () => {
    stack = await startLocalStack(key, { stepMs: 1 });
    image = path.join(stack.work, `${CANARY}.png`);
    copyFileSync(PHOTO, image);
    workflow = path.join(stack.work, 'invert.json');
    writeFileSync(workflow, JSON.stringify({
      '1': { class_type: 'LoadImage', inputs: { image: `${CANARY}.png` } },
      '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
      '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'inverted' } },
    }));
  });
  afterAll(async () => {
    expect(await stack.close()).toBe(0);
  });

  it('seals the workflow and image, waits, opens the result and writes its file (0600); the worker saw no name', async () => {
    const r = await run(workflow, 'out');
    expect([r.code, r.json.status], r.stderr).toEqual([0, 'COMPLETED']);
    expect(r.stderr).toMatch(/^job \S+ submitted\n/);
    const [file] = r.json.files as string[];
    expect(path.basename(file!)).toMatch(/^inverted_\d+_\.png$/);
    expect(readFileSync(file!).subarray(1, 4).toString()).toBe('PNG');
    expect(statSync(file!).mode & 0o777).toBe(0o600);
    expect(stack.worker.output()).not.toContain(CANARY);
  });

  it('reports a failed job by its code, with the sealed message opened', async () => {
    const bad = path.join(stack.work, 'bad.json');
    writeFileSync(bad, JSON.stringify({ '1': { class_type: 'NoSuchNode', inputs: {} }, '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'x' } } }));
    const r = await run(bad, 'never');
    expect([r.code, r.json.status, r.json.code]).toEqual([1, 'FAILED', 'WORKFLOW_INVALID']);
    expect(r.json.message).toEqual(expect.stringMatching(/\S/));
    const wrongKey = await run(workflow, 'never', { ENCRYPTION_KEY: Fernet.generateKey() });
    expect([wrongKey.code, wrongKey.json.code]).toEqual([1, 'DECRYPT_FAILED']);
  });

  it('opens a webhook body (the final /status) and refuses one whose sealed job id is another job\'s', async () => {
    const first = await run(workflow, 'a');
    const second = await run(workflow, 'b');
    const status = await getJson(`${stack.worker.url}/py/status/${first.json.job_id as string}`);
    const opened = await client(['open-webhook'], env(), JSON.stringify(status));
    expect([opened.code, opened.json.job_id, opened.json.outputs]).toEqual([0, first.json.job_id, [expect.stringMatching(/^inverted_\d+_\.png$/)]]);
    // The first job's sealed result under the second job's id: a valid token, but not that job's answer.
    const swapped = await client(['open-webhook'], env(), JSON.stringify({ ...status, id: second.json.job_id }));
    expect([swapped.code, swapped.stderr]).toEqual([1, `comfy_seal_client: the result does not name job ${second.json.job_id as string}\n`]);
    const forged = await client(['open-webhook'], env({ ENCRYPTION_KEY: Fernet.generateKey() }), JSON.stringify(status));
    expect([forged.code, forged.stderr]).toEqual([1, 'comfy_seal_client: the result does not open with this key\n']);
  });

  it('takes a large result from the caller\'s storage (reply), only from the GET URL it issued', async () => {
    const blobs = await startBlobServer();
    const dirs = stack.sim.dirs;
    // A worker that may reach the loopback storage stand-in (COMFY_SEAL_BLOB_ALLOW_PRIVATE: tests only).
    const worker = await startService(
      ['worker', '--local', '--port', '0', '--comfy-url', stack.sim.url, '--input-dir', dirs.input, '--output-dir', dirs.output, '--temp-dir', dirs.temp, '--blob-allow-private', '1'],
      { ENCRYPTION_KEY: key },
    );
    // The library as a program of the user's would use it: a reply with "always", so even this small result is stored.
    const script = (issuedGet: string) => `
import json, os, sys
sys.path.insert(0, ${JSON.stringify(path.dirname(CLIENT))})
import comfy_seal_client as c
keys = c.load_keys(os.environ["ENCRYPTION_KEY"])
endpoint = c.Endpoint("py", "local", ${JSON.stringify(worker.url)})
with open(${JSON.stringify(workflow)}) as f: workflow = json.load(f)
with open(${JSON.stringify(image)}, "rb") as f: data = f.read()
reply = {"put": "${blobs.url}/ok/result", "get": "${blobs.url}/ok/result", "always": True}
job = endpoint.submit(c.seal_request(keys, workflow, [("${CANARY}.png", data)], reply=reply))
try:
    result = c.open_status(endpoint.wait(job, keys, poll_s=0.2), keys, job, reply_get=${JSON.stringify(issuedGet)})
    print(json.dumps({"job_id": job, "outputs": [o["filename"] for o in result["outputs"]]}))
except c.BadAnswer as error:
    print(json.dumps({"refused": str(error)}))
`;
    try {
      const stored = await client(['-c', script(`${blobs.url}/ok/result`)], env());
      expect(stored.json, stored.stderr).toEqual({ job_id: expect.any(String), outputs: [expect.stringMatching(/^inverted_\d+_\.png$/)] });
      // What the storage holds is one token: nothing of the job in plaintext.
      const object = blobs.objects.get('result')!;
      expect(object.subarray(0, 6).toString()).toBe('gAAAAA');
      expect(object.toString()).not.toContain('inverted');
      const elsewhere = await client(['-c', script(`${blobs.url}/ok/other`)], env());
      expect(elsewhere.json).toEqual({ refused: 'the result points to a URL this client did not issue' });
    } finally {
      await worker.stop();
      await blobs.close();
    }
  });
});
