/** `comfy-seal doctor` inside the image: what would make the worker fail, found before a user burns GPU time. */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, statfs, unlink } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Check, CheckResult } from '../shared/checks.js';
import { Fernet } from '../shared/fernet.js';
import { ComfyHttp } from './comfy/http.js';
import type { WorkerConfig } from './config.js';
import { writeDurable } from './storage.js';
import { warmupCheck } from './warmup.js';

const TMPFS_MAGIC = 0x01021994;
const GB = 1024 ** 3;

export interface WorkerDoctorOptions {
  config: WorkerConfig;
  python: string;
  modelsDir: string;
}

function checkKey(config: WorkerConfig): Check {
  return async () => {
    if (!config.key) {
      return config.allowPlaintext
        ? { name: 'key', verdict: 'warn', detail: 'no ENCRYPTION_KEY: only plaintext jobs will run', fix: "set ENCRYPTION_KEY (comfy-seal keygen)" }
        : { name: 'key', verdict: 'fail', detail: 'no ENCRYPTION_KEY: every sealed job will fail', fix: "set ENCRYPTION_KEY to the client's key (comfy-seal keygen)" };
    }
    let fernet: Fernet;
    try {
      fernet = new Fernet(config.key);
    } catch (error) {
      return { name: 'key', verdict: 'fail', detail: (error as Error).message, fix: "set ENCRYPTION_KEY to the client's key: url-safe base64 of 32 bytes (comfy-seal keygen)" };
    }
    fernet.decrypt(fernet.encrypt('doctor'));
    return { name: 'key', verdict: 'ok', detail: `${fernet.keyCount} valid key${fernet.keyCount > 1 ? 's' : ''}` };
  };
}

function checkComfy(config: WorkerConfig): Check {
  return async () => {
    const http = new ComfyHttp({ url: config.comfyUrl, requestTimeoutMs: 5_000 });
    try {
      const version = await http.probe();
      return version === null
        ? { name: 'comfyui', verdict: 'fail', detail: `no answer at ${config.comfyUrl}`, fix: 'is ComfyUI running there? (start.sh starts it; see its start-up output) Another address: --comfy-url or COMFY_URL' }
        : { name: 'comfyui', verdict: 'ok', detail: `ComfyUI ${version} at ${config.comfyUrl}` };
    } finally {
      await http.close();
    }
  };
}

/** ComfyUI's in-memory log (contract §12) must keep nothing, or every job's error texts stay in its memory. */
function checkComfyLog(config: WorkerConfig): Check {
  return async () => {
    const http = new ComfyHttp({ url: config.comfyUrl, requestTimeoutMs: 5_000, retries: 0 });
    const name = 'comfyui log';
    try {
      const text = await http.inMemoryLog().catch(() => undefined);
      if (text === undefined) return { name, verdict: 'fail', detail: `ComfyUI at ${config.comfyUrl} did not answer /internal/logs`, fix: 'start ComfyUI first (see the comfyui check)' };
      if (text === null) return { name, verdict: 'ok', detail: 'this ComfyUI serves no in-memory log' };
      if (text === '') return { name, verdict: 'ok', detail: "ComfyUI's in-memory log keeps nothing" };
      return {
        name,
        verdict: 'fail',
        detail: `ComfyUI's in-memory log keeps what it prints (${text.split('\n').length - 1} lines now): a job's error texts would stay in its memory`,
        fix: 'start ComfyUI through docker/comfyui-launch.py (start.sh does unless COMFY_CMD replaces it)',
      };
    } finally {
      await http.close();
    }
  };
}

/**
 * ComfyUI must read the worker's input dir: the worker stages a job's files there and ComfyUI's loaders open them by
 * name. A probe file written there is asked back through ComfyUI's /view; a mismatch would fail every img2img job.
 */
function checkComfySeesInput(config: WorkerConfig): Check {
  return async () => {
    const name = `.comfy-seal-doctor-${randomBytes(8).toString('hex')}.txt`;
    const content = randomBytes(16).toString('hex');
    const probe = path.join(config.inputDir, name);
    const fix = `start ComfyUI with --input-directory ${config.inputDir} (the simulator too), or point the worker at ComfyUI's input dir with --input-dir / COMFY_SEAL_INPUT_DIR`;
    try {
      await mkdir(config.inputDir, { recursive: true });
      await writeDurable(probe, Buffer.from(content));
    } catch (error) {
      return { name: 'input dir seen', verdict: 'fail', detail: `cannot write a probe into ${config.inputDir} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, fix: dirFix(config.inputDir) };
    }
    try {
      const url = `${config.comfyUrl.replace(/\/+$/, '')}/view?filename=${encodeURIComponent(name)}&type=input`;
      const res = await fetch(url, { signal: AbortSignal.timeout(5_000) }).catch(() => null);
      if (!res) return { name: 'input dir seen', verdict: 'fail', detail: `ComfyUI at ${config.comfyUrl} did not answer /view`, fix: 'start ComfyUI first (see the comfyui check)' };
      const body = res.ok ? await res.text() : '';
      return body === content
        ? { name: 'input dir seen', verdict: 'ok', detail: `ComfyUI reads the worker's input dir ${config.inputDir}` }
        : { name: 'input dir seen', verdict: 'fail', detail: `ComfyUI does not see files in the worker's input dir ${config.inputDir} (/view answered ${res.status}): every job with an image would fail`, fix };
    } finally {
      await unlink(probe).catch(() => undefined);
    }
  };
}

const dirFix = (dir: string) => `make ${dir} writable by the worker, or choose other dirs (--input-dir / COMFY_SEAL_INPUT_DIR and the like)`;

function checkDir(name: string, dir: string): Check {
  return async () => {
    const probe = path.join(dir, `.doctor-${process.pid}`);
    try {
      await mkdir(dir, { recursive: true });
      await writeDurable(probe, Buffer.from('probe'));
      await unlink(probe); // only our probe: a job may be running in this dir
    } catch (error) {
      return { name, verdict: 'fail', detail: `${dir} is not writable (${(error as NodeJS.ErrnoException).code ?? 'error'})`, fix: dirFix(dir) };
    }
    const fs = await statfs(dir);
    return fs.type === TMPFS_MAGIC
      ? { name, verdict: 'ok', detail: `${dir} is writable, on a RAM disk` }
      : { name, verdict: 'warn', detail: `${dir} is writable but not on a RAM disk: wiped files may survive on the device`, fix: 'keep the dirs under /dev/shm' };
  };
}

/** Free space where `dir` lives. `ramDisk`: the check is named for what the dir is on, never "ram disk" for a disk. */
function checkFree(name: string, dir: string, minGb: number, { ramDisk = false, setting = 'the setting' } = {}): Check {
  return async (): Promise<CheckResult> => {
    let fs;
    try {
      fs = await statfs(dir);
    } catch (error) {
      return { name, verdict: 'fail', detail: `cannot look at ${dir} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, fix: `create ${dir}, or point ${setting} at the right place` };
    }
    const label = ramDisk && fs.type !== TMPFS_MAGIC ? "dirs' disk" : name;
    const free = fs.bavail * fs.bsize;
    const detail = `${(free / GB).toFixed(1)} GB free at ${dir}${label !== name ? ' (not a RAM disk)' : ''}`;
    return free < minGb * GB
      ? { name: label, verdict: 'warn', detail, fix: `give it at least ${minGb} GB (a bigger volume or container disk)` }
      : { name: label, verdict: 'ok', detail };
  };
}

function checkSqlAlchemy(python: string): Check {
  return async () => {
    const code = 'import sqlalchemy; print(sqlalchemy.__version__)';
    try {
      const { stdout } = await promisify(execFile)(python, ['-c', code], { timeout: 20_000 });
      const version = stdout.trim();
      return Number(version.split('.')[0]) >= 2
        ? { name: 'sqlalchemy', verdict: 'ok', detail: `SQLAlchemy ${version}` }
        : { name: 'sqlalchemy', verdict: 'fail', detail: `SQLAlchemy ${version}: ComfyUI needs >= 2`, fix: "pip install 'SQLAlchemy>=2' alembic (a custom node downgraded it)" };
    } catch {
      return { name: 'sqlalchemy', verdict: 'fail', detail: `${python} has no SQLAlchemy`, fix: "pip install 'SQLAlchemy>=2' alembic, or set COMFY_PYTHON to ComfyUI's python" };
    }
  };
}

export function workerChecks(options: WorkerDoctorOptions, extra: Array<[string, Check]> = []): Array<[string, Check]> {
  const { config } = options;
  return [
    ['key', checkKey(config)],
    ['comfyui', checkComfy(config)],
    ['comfyui log', checkComfyLog(config)],
    ['input dir seen', checkComfySeesInput(config)],
    ['input dir', checkDir('input dir', config.inputDir)],
    ['output dir', checkDir('output dir', config.outputDir)],
    ['temp dir', checkDir('temp dir', config.tempDir)],
    ['ram disk', checkFree('ram disk', path.dirname(config.inputDir), 2, { ramDisk: true, setting: '--input-dir / COMFY_SEAL_INPUT_DIR' })],
    ['models disk', checkFree('models disk', options.modelsDir, 10, { setting: '--models-dir / COMFY_MODELS_DIR' })],
    ['sqlalchemy', checkSqlAlchemy(options.python)],
    ['warm-up', warmupCheck(config.warmupWorkflow, config.warmupRequired, config.inputDir)],
    ...extra,
  ].map(([name, check]) => [name, withFix(name as string, check as Check)] as [string, Check]);
}

/** Every fail says what to do: a check that throws, or fails without a fix, gets the general one. */
function withFix(name: string, check: Check): Check {
  const general = 'see the detail; an unclear failure is worth reporting';
  return async () => {
    const results = await check().catch((error: unknown): CheckResult => ({ name, verdict: 'fail', detail: error instanceof Error ? error.message : String(error) }));
    const list = Array.isArray(results) ? results : [results];
    return list.map((r) => (r.verdict !== 'ok' && !r.fix ? { ...r, fix: general } : r));
  };
}

