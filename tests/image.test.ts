import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { validate } from 'dockerfile-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { readPngChunks } from '../client/png-text.js';
import { Fernet, openResult, sealBundle } from '../shared/index.js';
import { CLI } from './helpers/cli.js';
import { readDockerfile } from './helpers/dockerfile.js';
import { listFiles, pngOf } from './helpers/pipeline.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const START = path.join(ROOT, 'start.sh');
const CANARY = 'canary-startsh-umber-vole';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

let work: string;
afterEach(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/**
 * As root (as in the image), start.sh runs ComfyUI as its own unprivileged user: here `nobody`, which every Debian and
 * Ubuntu has, so the tests create no user. Its dirs then need a way in through the test's work dir.
 */
const IS_ROOT = process.getuid?.() === 0;
const COMFY_USER = 'nobody';
function newWork(): string {
  work = mkdtempSync(path.join(os.tmpdir(), 'cs-start-'));
  chmodSync(work, 0o711);
  return work;
}

/** A process's environment, from /proc. */
function environOf(pid: number): Map<string, string> {
  const entries = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').filter(Boolean);
  return new Map(entries.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
}

/** A field of /proc/PID/status (Uid, Gid, CapEff, NoNewPrivs...). */
function statusField(pid: number, field: string): string {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`));
  return line!.slice(field.length + 1).trim();
}

interface Started {
  child: ReturnType<typeof spawn>;
  output: () => string;
  exit: Promise<number | null>;
}

/** Runs start.sh for real, with the simulator standing in for ComfyUI (COMFY_CMD) and the built bin as comfy-seal. */
function startSh(env: Record<string, string>, opts: { etc?: string } = {}): Started {
  if (!work) newWork();
  // With `etc`: in a mount namespace of its own whose /etc is that copy, so users it creates stay in the copy.
  const [cmd, args] = opts.etc
    ? ['unshare', ['-m', 'sh', '-c', 'mount --bind "$0" /etc && exec bash "$1"', opts.etc, START]]
    : ['bash', [START]];
  const child = spawn(cmd, args, {
    env: {
      PATH: process.env.PATH,
      COMFY_CMD: `${process.execPath} ${CLI} simulator --step-ms 1`,
      COMFY_SEAL_BIN: `${process.execPath} ${CLI}`,
      COMFY_SEAL_INPUT_DIR: path.join(work, 'shm', 'input'),
      COMFY_SEAL_OUTPUT_DIR: path.join(work, 'shm', 'output'),
      COMFY_SEAL_TEMP_DIR: path.join(work, 'shm', 'temp'),
      COMFY_SEAL_COMFY_LOG: path.join(work, 'shm', 'comfyui.log'),
      COMFY_SEAL_SKIP_PREFLIGHT: '1',
      COMFY_SEAL_READY_TIMEOUT_S: '30',
      COMFY_SEAL_COMFY_USER: COMFY_USER,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (text += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (text += c));
  return { child, output: () => text, exit: new Promise((r) => child.once('exit', (code) => r(code))) };
}

async function until(pred: () => boolean, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("start.sh (run for real, the simulator in ComfyUI's place)", () => {
  it('starts ComfyUI on loopback and the worker, runs a sealed job, keeps ComfyUI output off the log, exits 0 on SIGTERM', async () => {
    newWork();
    const [comfyPort, apiPort] = [await freePort(), await freePort()];
    const key = Fernet.generateKey();
    const s = startSh({ COMFY_PORT: String(comfyPort), COMFY_SEAL_LOCAL: '1', COMFY_SEAL_LOCAL_PORT: String(apiPort), ENCRYPTION_KEY: key });
    await until(() => s.output().includes('local endpoint on'), 'the worker');
    expect(s.output()).toContain('start-up output follows');
    expect(s.output()).toContain('ComfyUI simulator on http://127.0.0.1:'); // start-up output is shown

    const fernet = new Fernet(key);
    const workflow = {
      '1': { class_type: 'LoadImage', inputs: { image: `${CANARY}.png` } },
      '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
      '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: CANARY } },
      '4': { class_type: 'SaveImage', inputs: { images: ['9', 0], filename_prefix: 'x' } },
    };
    // A job that ComfyUI refuses in part (node 4) makes ComfyUI print node names: they must not reach the log.
    const bad = sealBundle({ workflow, images: [{ name: `${CANARY}.png`, data: pngOf(4, 4, () => [9, 9, 9]) }], options: {} }, fernet);
    const res1 = await (await fetch(`http://127.0.0.1:${apiPort}/ep/runsync`, { method: 'POST', body: JSON.stringify({ input: { encrypted_input: bad } }) })).json() as { status: string };
    expect(res1.status).toBe('FAILED');
    const { '4': _broken, ...good } = workflow;
    const token = sealBundle({ workflow: good, images: [{ name: `${CANARY}.png`, data: pngOf(4, 4, () => [9, 9, 9]) }], options: {} }, fernet);
    const res = await (await fetch(`http://127.0.0.1:${apiPort}/ep/runsync`, { method: 'POST', body: JSON.stringify({ input: { encrypted_input: token } }) })).json() as { status: string; output: unknown };
    expect(res.status).toBe('COMPLETED');
    const [saved] = openResult(res.output, fernet).files;
    expect(saved!.filename).toBe(`${CANARY}_00001_.png`);
    // ComfyUI runs with --disable-metadata: no prompt or workflow rides along inside the picture.
    const chunks = readPngChunks(saved!.data)!.map((c) => c.type);
    expect(chunks).toContain('IDAT');
    expect(chunks.filter((t) => ['tEXt', 'iTXt', 'zTXt'].includes(t))).toEqual([]);
    expect(saved!.data.includes(Buffer.from(CANARY))).toBe(false);
    expect(listFiles(path.join(work, 'shm', 'input')).concat(listFiles(path.join(work, 'shm', 'output')))).toEqual([]);
    // ComfyUI's log file on the RAM disk is scrubbed after each job.
    expect(readFileSync(path.join(work, 'shm', 'comfyui.log'), 'utf8')).not.toContain(CANARY);

    s.child.kill('SIGTERM');
    expect(await s.exit).toBe(0);
    expect(s.output()).not.toContain(CANARY);
    expect(s.output()).toContain('letting the worker finish');
  });

  it('exits non-zero when ComfyUI dies, so RunPod replaces the container', async () => {
    newWork();
    const [comfyPort, apiPort] = [await freePort(), await freePort()];
    const key = Fernet.generateKey();
    const s = startSh({ COMFY_PORT: String(comfyPort), COMFY_SEAL_LOCAL: '1', COMFY_SEAL_LOCAL_PORT: String(apiPort), ENCRYPTION_KEY: key, COMFY_ARGS: '--crash-at SaveImage' });
    await until(() => s.output().includes('local endpoint on'), 'the worker');
    const token = sealBundle({ workflow: { '1': { class_type: 'EmptyImage', inputs: { width: 4, height: 4, batch_size: 1, color: 0 } }, '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'x' } } }, images: [], options: {} }, new Fernet(key));
    void fetch(`http://127.0.0.1:${apiPort}/ep/run`, { method: 'POST', body: JSON.stringify({ input: { encrypted_input: token } }) });
    expect(await s.exit).toBe(1);
    expect(s.output()).toContain('ComfyUI exited');
  });

  it('SIGTERM during ComfyUI\'s boot stops at once: ComfyUI is killed and reaped, the worker never starts, exit 0', async () => {
    newWork();
    const s = startSh({ COMFY_PORT: String(await freePort()), COMFY_SEAL_LOCAL: '1', COMFY_SEAL_LOCAL_PORT: String(await freePort()), ENCRYPTION_KEY: Fernet.generateKey(), COMFY_ARGS: '--slow-start-ms 60000' });
    await until(() => /ComfyUI starting \(pid \d+\)/.test(s.output()), 'ComfyUI to be launched');
    const comfyPid = Number(/ComfyUI starting \(pid (\d+)\)/.exec(s.output())![1]);
    await new Promise((r) => setTimeout(r, 1_500)); // inside the wait for /system_stats (its probe or its sleep)
    expect(() => process.kill(comfyPid, 0)).not.toThrow(); // still booting
    const signalled = Date.now();
    s.child.kill('SIGTERM');
    expect([await s.exit, s.output()]).toEqual([0, expect.any(String)]);
    expect(Date.now() - signalled).toBeLessThan(1_000); // not after the 1 s sleep, nor after ComfyUI's boot
    expect(s.output()).toContain('SIGTERM during start-up: stopping');
    expect(s.output()).not.toContain('local endpoint on');
    expect(() => process.kill(comfyPid, 0)).toThrow(/ESRCH/); // gone, not left running or a zombie
  });

  it('SIGTERM during the model sync stops at once: the download is aborted, its temp file removed, ComfyUI never started', async () => {
    newWork();
    let closed!: () => void;
    const dropped = new Promise<void>((r) => (closed = r));
    // Sends the headers and a first piece, then stalls: a download that would take forever.
    const stalling = createHttpServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '100000000' });
      res.write(Buffer.alloc(64 * 1024, 7));
      req.socket.once('close', closed);
    });
    await new Promise<void>((r) => stalling.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(stalling.address() as { port: number }).port}/m.safetensors`;
    const models = path.join(work, 'models');
    const s = startSh({ MODELS: `${url}>checkpoints`, COMFY_MODELS_DIR: models, COMFY_PORT: String(await freePort()), ENCRYPTION_KEY: Fernet.generateKey() });
    await until(() => s.output().includes('syncing models'), 'the model sync');
    const parts = () => {
      try {
        return readdirSync(path.join(models, 'checkpoints')).filter((name) => name.endsWith('.part'));
      } catch {
        return [];
      }
    };
    await until(() => parts().length > 0, 'the download to start');
    const signalled = Date.now();
    s.child.kill('SIGTERM');
    expect(await s.exit).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(2_000);
    await dropped; // the sync process closed its connection: it is gone
    expect(readdirSync(path.join(models, 'checkpoints'))).toEqual([]); // no .part left on a network volume
    expect(s.output()).not.toContain('ComfyUI starting');
    stalling.closeAllConnections();
    stalling.close();
  });

  it('fails start-up clearly: SQLAlchemy missing and not repairable, bad temp dir; PUBLIC_KEY without sshd only warns', async () => {
    newWork();
    const fakePython = path.join(work, 'python');
    writeFileSync(fakePython, '#!/bin/sh\nexit 1\n');
    chmodSync(fakePython, 0o755);
    const a = startSh({ COMFY_SEAL_SKIP_PREFLIGHT: '0', COMFY_PYTHON: fakePython, ENCRYPTION_KEY: Fernet.generateKey() });
    expect(await a.exit).toBe(1);
    expect(a.output()).toMatch(/SQLAlchemy >= 2 is required .* could not be installed/);
    // RunPod injects PUBLIC_KEY unless the template turned SSH off; an image without sshd goes on (to the next check).
    const b = startSh({ COMFY_SEAL_TEMP_DIR: path.join(work, 'tmpdir'), PUBLIC_KEY: 'ssh-ed25519 AAAA test' });
    expect(await b.exit).toBe(1);
    expect(b.output()).toContain('must end in /temp');
    if (spawnSync('sh', ['-c', 'command -v sshd || test -x /usr/sbin/sshd']).status !== 0) expect(b.output()).toContain('no sshd: SSH stays off');
  });

  it.runIf(IS_ROOT)("as root, creates ComfyUI's user when the image has none (an image built on another runs no command)", async () => {
    newWork();
    const etc = path.join(work, 'etc');
    spawnSync('cp', ['-a', '/etc', etc]);
    const [comfyPort, apiPort] = [await freePort(), await freePort()];
    const s = startSh({ COMFY_SEAL_COMFY_USER: 'cs-comfy', COMFY_PORT: String(comfyPort), COMFY_SEAL_LOCAL: '1', COMFY_SEAL_LOCAL_PORT: String(apiPort), ENCRYPTION_KEY: Fernet.generateKey() }, { etc });
    await until(() => s.output().includes('local endpoint on'), 'the worker');
    const entry = readFileSync(path.join(etc, 'passwd'), 'utf8').split('\n').find((l) => l.startsWith('cs-comfy:'))!;
    const [, , uid, gid, , , shell] = entry.split(':');
    expect(Number(uid)).toBeGreaterThan(0);
    expect(shell).toBe('/usr/sbin/nologin');
    const comfyPid = Number(/ComfyUI starting \(pid (\d+)\)/.exec(s.output())![1]);
    expect(statusField(comfyPid, 'Uid').split(/\s+/)[0]).toBe(uid);
    expect(statusField(comfyPid, 'Gid').split(/\s+/)[0]).toBe(gid);
    expect(readFileSync('/etc/passwd', 'utf8')).not.toContain('cs-comfy:'); // the machine's own stayed as it was
    s.child.kill('SIGTERM');
    expect(await s.exit).toBe(0);
  });

  it("keeps the worker's secrets out of ComfyUI's environment and, as root, runs ComfyUI as its own user who cannot read the worker's", async () => {
    newWork();
    const [comfyPort, apiPort] = [await freePort(), await freePort()];
    const key = Fernet.generateKey();
    const secrets = {
      ENCRYPTION_KEY: key,
      RUNPOD_AI_API_KEY: `rpa_${CANARY}`,
      HF_TOKEN: `hf_${CANARY}`,
      AWS_REGION: 'eu-west-1',
      AWS_SECRET_ACCESS_KEY: `aws-${CANARY}`,
      MY_SERVICE_KEY: CANARY,
      GH_TOKEN: CANARY,
      db_secret: CANARY, // any case
      JUPYTER_PASSWORD: CANARY,
      'odd.name_TOKEN': CANARY, // not an identifier: bash passes it on without listing it
    };
    const s = startSh({ COMFY_PORT: String(comfyPort), COMFY_SEAL_LOCAL: '1', COMFY_SEAL_LOCAL_PORT: String(apiPort), KEEP_ME: 'plain', ...secrets });
    await until(() => s.output().includes('local endpoint on'), 'the worker');
    const comfyPid = Number(/ComfyUI starting \(pid (\d+)\)/.exec(s.output())![1]);
    const children = readFileSync(`/proc/${s.child.pid}/task/${s.child.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
    const workerPid = children.find((pid) => pid !== comfyPid)!;
    expect(children).toContain(comfyPid);

    const comfyEnv = environOf(comfyPid);
    expect(readFileSync(`/proc/${comfyPid}/cmdline`, 'utf8')).toContain('simulator'); // the pid is ComfyUI's itself
    expect(Object.keys(secrets).filter((name) => comfyEnv.has(name))).toEqual([]);
    expect([...comfyEnv.values()].filter((v) => v.includes(CANARY) || v === key)).toEqual([]);
    expect(comfyEnv.get('KEEP_ME')).toBe('plain');
    expect(comfyEnv.get('PATH')).toBe(process.env.PATH);
    // The worker keeps them: it needs the key (the job below opens and seals with it).
    expect(environOf(workerPid).get('ENCRYPTION_KEY')).toBe(key);

    if (IS_ROOT) {
      const uid = spawnSync('id', ['-u', COMFY_USER], { encoding: 'utf8' }).stdout.trim();
      const gid = spawnSync('id', ['-g', COMFY_USER], { encoding: 'utf8' }).stdout.trim();
      expect(statusField(comfyPid, 'Uid').split(/\s+/)).toEqual([uid, uid, uid, uid]);
      expect(statusField(comfyPid, 'Gid').split(/\s+/)).toEqual([gid, gid, gid, gid]);
      expect(statusField(comfyPid, 'CapEff')).toMatch(/^0+$/);
      expect(statusField(comfyPid, 'NoNewPrivs')).toBe('1');
      expect(statusField(workerPid, 'Uid').split(/\s+/)[0]).toBe('0');
      expect(comfyEnv.get('HOME')).toBe(spawnSync('sh', ['-c', `getent passwd ${COMFY_USER} | cut -d: -f6`], { encoding: 'utf8' }).stdout.trim());
      // ComfyUI's uid reading the worker's environment or memory: /proc refuses it (the kernel's ptrace access check).
      for (const file of ['environ', 'mem']) {
        const asComfy = spawnSync('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', 'cat', `/proc/${workerPid}/${file}`], { encoding: 'utf8' });
        expect([file, asComfy.status, asComfy.stderr]).toEqual([file, 1, expect.stringContaining('Permission denied')]);
      }
      // The RAM-disk dirs are shared through ComfyUI's group (setgid), and nobody else's.
      for (const dir of ['input', 'output', 'temp']) {
        const st = statSync(path.join(work, 'shm', dir));
        expect([dir, st.mode & 0o7777, st.uid, st.gid]).toEqual([dir, 0o2770, 0, Number(gid)]);
      }
    } else {
      expect(statusField(comfyPid, 'Uid').split(/\s+/)[0]).toBe(String(process.getuid!()));
    }

    // A job through both: ComfyUI (its own user, as root) reads the staged input and writes the output; the worker
    // seals it and wipes both, files ComfyUI wrote included.
    const fernet = new Fernet(key);
    const token = sealBundle({
      workflow: {
        '1': { class_type: 'LoadImage', inputs: { image: 'in.png' } },
        '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
        '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'out' } },
      },
      images: [{ name: 'in.png', data: pngOf(4, 4, () => [9, 9, 9]) }],
      options: {},
    }, fernet);
    const res = await (await fetch(`http://127.0.0.1:${apiPort}/ep/runsync`, { method: 'POST', body: JSON.stringify({ input: { encrypted_input: token } }) })).json() as { status: string; output: unknown };
    expect(res.status).toBe('COMPLETED');
    expect(openResult(res.output, fernet).files.map((f) => f.filename)).toEqual(['out_00001_.png']);
    expect(listFiles(path.join(work, 'shm', 'input')).concat(listFiles(path.join(work, 'shm', 'output')))).toEqual([]);
    expect(s.output()).not.toContain(CANARY);

    s.child.kill('SIGTERM');
    expect(await s.exit).toBe(0);
  });

  it('passes --preview-method auto and turns the assets database off (or into memory) by what ComfyUI --help lists', async () => {
    newWork();
    const shared = path.join(work, 'shared'); // ComfyUI's user writes here
    mkdirSync(shared);
    chmodSync(shared, 0o777);
    /** A ComfyUI stand-in whose --help prints `help`; started for real, it records its arguments and exits. */
    const fakeComfy = (name: string, help: string | null): string => {
      const file = path.join(work, `${name}.sh`);
      const onHelp = help === null ? 'echo "ModuleNotFoundError: no module named comfy" >&2; exit 1' : `printf '%s\\n' '${help}'; exit 0`;
      writeFileSync(file, `#!/bin/sh\nif [ "$1" = "--help" ]; then ${onHelp}; fi\nprintf '%s\\n' "$@" > '${shared}/${name}.args'\nexit 1\n`);
      chmodSync(file, 0o755);
      return file;
    };
    const argsOf = async (name: string, help: string | null): Promise<{ args: string[]; out: string }> => {
      const s = startSh({ COMFY_CMD: fakeComfy(name, help), ENCRYPTION_KEY: Fernet.generateKey() });
      expect(await s.exit).toBe(1);
      let args: string[] = [];
      try {
        args = readFileSync(path.join(shared, `${name}.args`), 'utf8').trim().split('\n');
      } catch {
        // never started
      }
      return { args, out: s.output() };
    };
    const usage = (flags: string) => `usage: main.py [-h] [--listen [IP]] ${flags}\n\noptions:\n  -h, --help  show this help message and exit`;

    // A release with all three (v0.33.0's kind): assets off, and the database ComfyUI opens anyway in memory.
    const newer = await argsOf('newer', `${usage('[--preview-method [none,auto,latent2rgb,taesd]] [--database-url DATABASE_URL] [--disable-assets]')}\n  --disable-assets      Disable the assets system.`);
    expect(newer.args.join(' ')).toContain('--preview-method auto');
    expect(newer.args).toContain('--disable-assets');
    expect(newer.args.join(' ')).toContain('--database-url sqlite:///:memory:');
    expect(newer.args).toContain('--disable-metadata');
    // No --disable-assets (a look-alike does not count): the database still goes into memory.
    const older = await argsOf('older', usage('[--preview-method [none,auto]] [--disable-assets-autoscan] [--database-url DATABASE_URL]'));
    expect(older.args).not.toContain('--disable-assets');
    expect(older.args.join(' ')).toContain('--database-url sqlite:///:memory:');
    expect(older.args.join(' ')).toContain('--preview-method auto');
    // Neither: nothing added that this ComfyUI would refuse.
    const bare = await argsOf('bare', usage('[--port PORT]'));
    expect(bare.args.filter((a) => /preview|assets|database/.test(a))).toEqual([]);
    expect(bare.args).toContain('--input-directory');
    // --help fails: start-up stops and says why, before ComfyUI starts.
    const broken = await argsOf('broken', null);
    expect(broken.args).toEqual([]);
    expect(broken.out).toMatch(/--help` failed \(status 1\)/);
    expect(broken.out).toContain('ModuleNotFoundError');
  });
});

describe('image files', () => {
  const hasShellcheck = spawnSync('shellcheck', ['--version']).status === 0;
  if (!hasShellcheck) console.warn('\n*** SKIPPING shellcheck: not installed (apt-get install shellcheck; .ci/run does) ***\n');
  it.skipIf(!hasShellcheck)('start.sh and install-custom-nodes.sh are shellcheck clean', () => {
    const r = spawnSync('shellcheck', [START, path.join(ROOT, 'docker', 'install-custom-nodes.sh')], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('the Dockerfile lints clean, pins its bases, keeps secrets out of layers and ships start.sh', () => {
    const file = path.join(ROOT, 'docker', 'Dockerfile');
    const text = readFileSync(file, 'utf8');
    expect(validate(text)).toEqual([]);
    const docker = readDockerfile(file);
    const names = docker.stages.map((st) => st.name);
    docker.stages.forEach((stage, i) => {
      const earlier = names.slice(0, i);
      if (stage.from === '${BASE_IMAGE}') return;
      // A stage made above, or an image with a version (never latest).
      if (!earlier.includes(stage.from)) expect(stage.from).toMatch(/:\$\{[A-Z_]+\}|:[0-9]/);
    });
    // BASE_IMAGE defaults to the full build's own base stage, made before the stage that uses it.
    const base = docker.globalArgs.get('BASE_IMAGE')!;
    const runtime = docker.stages.at(-1)!;
    expect(runtime.from).toBe('${BASE_IMAGE}');
    expect(names.slice(0, -1)).toContain(base);
    expect(text).not.toMatch(/^(ENV|ARG)\s+[^\n]*(TOKEN|KEY|SECRET)[^\n]*=/m);
    expect(text).toContain('--mount=type=secret,id=hf_token');
    expect(text).toMatch(/SQLAlchemy>=2/);
    // ComfyUI pinned to the release the worker was checked against.
    expect(text).toMatch(/^ARG COMFYUI_VERSION=v0\.33\.0$/m);
    expect(text).toContain('--branch "${COMFYUI_VERSION}"');
    // On someone else's image nothing runs: the runtime stage only adds files, each as a layer of its own.
    expect(runtime.instructions.map((ins) => ins.keyword).filter((k) => !['ENV', 'COPY', 'CMD'].includes(k))).toEqual([]);
    for (const ins of runtime.instructions.filter((i) => i.keyword === 'COPY')) expect(ins.args).toMatch(/^--link /);
    expect(runtime.instructions.map((i) => i.args)).toEqual(expect.arrayContaining([
      '--link --chmod=755 start.sh /start.sh',
      '--link --from=app /opt/comfy-seal /opt/comfy-seal',
      '["/start.sh"]',
    ]));
    expect(runtime.instructions.find((i) => i.keyword === 'ENV')!.args).toMatch(/^PATH=\/opt\/comfy-seal\/bin:\$PATH/);
    // The package's own Node and bin are where that PATH points.
    const app = docker.stages.find((st) => st.name === 'app')!;
    expect(app.instructions.map((i) => i.args).join('\n')).toMatch(/cp \/usr\/local\/bin\/node \/opt\/comfy-seal\/bin\/node .*ln -s \.\.\/dist\/cli\.js \/opt\/comfy-seal\/bin\/comfy-seal/);
    // The full build's base makes ComfyUI's user; BASE_IMAGE mode leaves that to start.sh.
    expect(docker.stages.find((st) => st.name === base)!.instructions.map((i) => i.args).join('\n')).toContain('useradd --system --user-group --create-home --shell /usr/sbin/nologin comfyui');
    expect(readFileSync(START, 'utf8')).toMatch(/^COMFY_USER="\$\{COMFY_SEAL_COMFY_USER:-comfyui\}"$/m);
    expect(readFileSync(path.join(ROOT, '.dockerignore'), 'utf8')).toMatch(/node_modules/);
    const hub = JSON.parse(readFileSync(path.join(ROOT, '.runpod', 'hub.json'), 'utf8'));
    expect(hub.config.env.map((e: { key: string }) => e.key)).toEqual(expect.arrayContaining(['ENCRYPTION_KEY', 'MODELS', 'COMFY_SEAL_JOB_TIMEOUT_S']));
  });
});
