/** `comfy-seal doctor` inside the image: what would make the worker fail, found before a user burns GPU time. */
import { execFile } from 'node:child_process';
import { mkdir, statfs, unlink } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Check } from '../shared/checks.js';
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
    const fernet = new Fernet(config.key);
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
        ? { name: 'comfyui', verdict: 'fail', detail: `no answer at ${config.comfyUrl}`, fix: 'is ComfyUI running? (start.sh starts it; see its start-up output)' }
        : { name: 'comfyui', verdict: 'ok', detail: `ComfyUI ${version} at ${config.comfyUrl}` };
    } finally {
      await http.close();
    }
  };
}

function checkDir(name: string, dir: string): Check {
  return async () => {
    await mkdir(dir, { recursive: true });
    const probe = path.join(dir, `.doctor-${process.pid}`);
    await writeDurable(probe, Buffer.from('probe'));
    await unlink(probe); // only our probe: a job may be running in this dir
    const fs = await statfs(dir);
    return fs.type === TMPFS_MAGIC
      ? { name, verdict: 'ok', detail: `${dir} is writable, on a RAM disk` }
      : { name, verdict: 'warn', detail: `${dir} is writable but not on a RAM disk: wiped files may survive on the device`, fix: 'keep the dirs under /dev/shm' };
  };
}

function checkFree(name: string, dir: string, minGb: number): Check {
  return async () => {
    const fs = await statfs(dir);
    const free = fs.bavail * fs.bsize;
    const detail = `${(free / GB).toFixed(1)} GB free at ${dir}`;
    return free < minGb * GB
      ? { name, verdict: 'warn', detail, fix: `give it at least ${minGb} GB (a bigger volume or container disk)` }
      : { name, verdict: 'ok', detail };
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
    ['input dir', checkDir('input dir', config.inputDir)],
    ['output dir', checkDir('output dir', config.outputDir)],
    ['temp dir', checkDir('temp dir', config.tempDir)],
    ['ram disk', checkFree('ram disk', path.dirname(config.inputDir), 2)],
    ['models disk', checkFree('models disk', options.modelsDir, 10)],
    ['sqlalchemy', checkSqlAlchemy(options.python)],
    ['warm-up', warmupCheck(config.warmupWorkflow, config.warmupRequired, config.inputDir)],
    ...extra,
  ] as Array<[string, Check]>;
}

