import { describe, expect, it } from 'vitest';
import { Fernet, sealError, sealProgress, sealResult, SealError } from '../shared/index.js';
import { runCli } from './helpers/cli.js';

const key = Fernet.generateKey();
const fernet = new Fernet(key);
const env = { ENCRYPTION_KEY: key };
const CANARY = 'canary-51d0-quiet-orchard';

describe('comfy-seal (bin)', () => {
  it('lists the commands with --help and exits 2 with none', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout.toString()).toMatch(/keygen[\s\S]*seal[\s\S]*open/);
    expect((await runCli([])).code).toBe(2);
    const unknown = await runCli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
  });

  it('keygen prints a usable 32-byte key', async () => {
    const { code, stdout } = await runCli(['keygen']);
    expect(code).toBe(0);
    const printed = stdout.toString().trim();
    expect(Buffer.from(printed, 'base64url')).toHaveLength(32);
    const f = new Fernet(printed);
    expect(f.decrypt(f.encrypt('x')).toString()).toBe('x');
  });

  it.each(['keygen', 'seal', 'open', 'run', 'cancel', 'worker', 'simulator', 'bridge', 'doctor'])('%s --help shows usage', async (cmd) => {
    const { code, stdout } = await runCli([cmd, '--help']);
    expect(code).toBe(0);
    expect(stdout.toString()).toContain(`Usage: comfy-seal ${cmd}`);
  });

  it('refuses unknown flags with exit 2 and a pointer to --help', async () => {
    const { code, stderr } = await runCli(['seal', '--kee', 'x'], { env });
    expect(code).toBe(2);
    expect(stderr).toMatch(/--kee.*comfy-seal seal --help/s);
  });

  it('seal | open round-trips binary stdin', async () => {
    const data = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const sealed = await runCli(['seal'], { env, stdin: data });
    expect(sealed.code).toBe(0);
    expect(fernet.decrypt(sealed.stdout.toString().trim())).toEqual(data);
    const opened = await runCli(['open'], { env, stdin: sealed.stdout });
    expect(opened.code).toBe(0);
    expect(opened.stdout).toEqual(data);
  });

  it('takes a flag value that starts with a dash (one key in 64 does), and still says when a value is missing', async () => {
    const dashed = `-${Fernet.generateKey().slice(1)}`;
    const sealed = await runCli(['seal', '--key', dashed], { stdin: 'hi' });
    expect(sealed.code).toBe(0);
    expect(new Fernet(dashed).decrypt(sealed.stdout.toString()).toString()).toBe('hi');
    const missing = await runCli(['seal', '--key', '--bundle'], { stdin: '{}' });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--key/);
  });

  it('--key wins over ENCRYPTION_KEY, and a missing key is a usage error', async () => {
    const other = Fernet.generateKey();
    const sealed = await runCli(['seal', '--key', other], { env, stdin: 'hi' });
    expect(new Fernet(other).decrypt(sealed.stdout.toString()).toString()).toBe('hi');
    const none = await runCli(['seal'], { stdin: 'hi' });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('ENCRYPTION_KEY');
  });

  it('seal --bundle checks the bundle and prints a RunPod request body', async () => {
    const bundle = { workflow: { '1': { class_type: 'EmptyImage', inputs: {} } } };
    const ok = await runCli(['seal', '--bundle'], { env, stdin: JSON.stringify(bundle) });
    expect(ok.code).toBe(0);
    const body = JSON.parse(ok.stdout.toString());
    expect(JSON.parse(fernet.decrypt(body.input.encrypted_input).toString())).toEqual(bundle);

    const bad = await runCli(['seal', '--bundle'], { env, stdin: JSON.stringify({ ...bundle, options: { tiemout_s: 1 } }) });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/BAD_INPUT: bundle does not match the contract: options has an unknown field/);
    expect(bad.stdout.length).toBe(0);
  });

  it('open reads a whole RunPod /status response: result, progress and error', async () => {
    const files = [{ nodeId: '9', filename: 'a.png', subfolder: '', kind: 'image', mime: 'image/png', data: Buffer.from('png') }];
    const completed = { id: 'abc-u1', status: 'COMPLETED', delayTime: 3, executionTime: 9, output: sealResult({ files, timingsMs: {} }, fernet) };
    const r1 = await runCli(['open'], { env, stdin: JSON.stringify(completed) });
    expect(r1.code).toBe(0);
    expect(JSON.parse(r1.stdout.toString()).outputs[0].filename).toBe('a.png');

    const inProgress = { id: 'abc-u1', status: 'IN_PROGRESS', output: sealProgress({ state: 'running', percent: 50, elapsed_ms: 10 }, fernet) };
    const r2 = await runCli(['open'], { env, stdin: JSON.stringify(inProgress) });
    expect(JSON.parse(r2.stdout.toString())).toMatchObject({ state: 'running', percent: 50 });

    const failed = { id: 'abc-u1', status: 'FAILED', error: sealError(new SealError('EXECUTION_FAILED', 'a node failed', { exception_message: CANARY }), fernet) };
    expect(JSON.stringify(failed)).not.toContain(CANARY);
    const r3 = await runCli(['open'], { env, stdin: JSON.stringify(failed) });
    expect(r3.code).toBe(0);
    expect(JSON.parse(r3.stdout.toString())).toMatchObject({ code: 'EXECUTION_FAILED', details: { exception_message: CANARY } });

    const queued = await runCli(['open'], { env, stdin: JSON.stringify({ id: 'abc-u1', status: 'IN_QUEUE' }) });
    expect(queued.code).toBe(1);
    expect(queued.stderr).toContain('the job is IN_QUEUE');
  });

  it('open says DECRYPT_FAILED for a wrong key, without echoing the token', async () => {
    const token = new Fernet(Fernet.generateKey()).encrypt(CANARY);
    const { code, stderr, stdout } = await runCli(['open'], { env, stdin: token });
    expect(code).toBe(1);
    expect(stderr).toMatch(/^comfy-seal open: DECRYPT_FAILED: /);
    expect(stderr).not.toContain(token.slice(10, 40));
    expect(stdout.length).toBe(0);
  });

  it('worker --help lists every setting with its variable and default', async () => {
    const help = (await runCli(['worker', '--help'])).stdout.toString();
    for (const v of ['ENCRYPTION_KEY', 'COMFY_URL', 'COMFY_SEAL_INPUT_DIR', 'COMFY_SEAL_OUTPUT_DIR', 'COMFY_SEAL_TEMP_DIR', 'COMFY_SEAL_ALLOW_PLAINTEXT', 'COMFY_SEAL_TOKEN_TTL_S', 'COMFY_SEAL_JOB_TIMEOUT_S', 'COMFY_SEAL_MAX_RESULT_MB', 'COMFY_SEAL_RELEASE_TIMEOUT_S']) {
      expect(help).toContain(v);
    }
    expect(help).toContain('(default: /dev/shm/comfy-seal/input)');
  });

  it('worker refuses to start without a key, and outside RunPod without --local', async () => {
    const none = await runCli(['worker', '--local']);
    expect([none.code, none.stderr]).toEqual([2, expect.stringContaining('no ENCRYPTION_KEY')]);
    const notRunpod = await runCli(['worker'], { env });
    expect([notRunpod.code, notRunpod.stderr]).toEqual([2, expect.stringContaining('use --local')]);
    const badUrl = await runCli(['worker', '--local', '--comfy-url', 'ftp://x'], { env });
    expect(badUrl.code).toBe(2);
  });

  it('doctor --client reports a missing endpoint and key as failures with fixes, exit 1, --json', async () => {
    const r = await runCli(['doctor', '--client', '--json'], { env: {} });
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout.toString());
    expect(report.ok).toBe(false);
    expect(report.checks.map((c: { name: string; verdict: string }) => `${c.name}:${c.verdict}`)).toEqual(['key:fail', 'endpoint:fail', 'sealed ping:warn']);
    const human = await runCli(['doctor', '--client'], { env: { ENCRYPTION_KEY: key } });
    expect(human.stdout.toString()).toMatch(/^ok +key +1 valid key .*\nfail +endpoint +no endpoint id\n +fix: set RUNPOD_ENDPOINT_ID/);
  });

  it('a bad key is BAD_INPUT, not a crash', async () => {
    const { code, stderr } = await runCli(['seal', '--key', 'short'], { stdin: 'x' });
    expect(code).toBe(1);
    expect(stderr).toContain('BAD_INPUT');
  });
});
