/**
 * The worker's settings, resolved once: flag > environment variable > default (contract §8). Everything else in the
 * worker receives the typed `WorkerConfig` and never reads the environment itself.
 */
import { UsageError } from '../shared/cli.js';
import { KEY_OPTIONS, keyFromFlags } from '../shared/key-flags.js';
import { DEFAULT_JOB_CONFIG, type JobConfig } from './job.js';

type Kind = 'string' | 'seconds' | 'int' | 'bool' | 'mb';

interface Setting {
  flag: string;
  env?: string;
  kind: Kind;
  default: string | number | boolean | undefined;
  help: string;
}

/** Every setting, in the order `--help` lists them. */
export const SETTINGS = {
  key: { flag: 'key', env: 'ENCRYPTION_KEY', kind: 'string', default: undefined, help: "Fernet key(s), comma-separated; the first seals. A --key shows in 'ps': prefer the variable or --key-file" },
  comfyUrl: { flag: 'comfy-url', env: 'COMFY_URL', kind: 'string', default: 'http://127.0.0.1:8188', help: "ComfyUI's address" },
  inputDir: { flag: 'input-dir', env: 'COMFY_SEAL_INPUT_DIR', kind: 'string', default: '/dev/shm/comfy-seal/input', help: "ComfyUI's --input-directory" },
  outputDir: { flag: 'output-dir', env: 'COMFY_SEAL_OUTPUT_DIR', kind: 'string', default: '/dev/shm/comfy-seal/output', help: "ComfyUI's --output-directory" },
  tempDir: { flag: 'temp-dir', env: 'COMFY_SEAL_TEMP_DIR', kind: 'string', default: '/dev/shm/comfy-seal/temp', help: "ComfyUI's temp dir (its --temp-directory is this dir's parent)" },
  allowPlaintext: { flag: 'allow-plaintext', env: 'COMFY_SEAL_ALLOW_PLAINTEXT', kind: 'bool', default: false, help: 'accept plaintext jobs (debugging only)' },
  tokenTtlS: { flag: 'token-ttl', env: 'COMFY_SEAL_TOKEN_TTL_S', kind: 'seconds', default: 86_400, help: 'oldest accepted token, seconds; 0 = no limit' },
  jobTimeoutS: { flag: 'job-timeout', env: 'COMFY_SEAL_JOB_TIMEOUT_S', kind: 'seconds', default: 600, help: "per-job limit, seconds; a bundle's options.timeout_s may lower it" },
  maxResultMb: { flag: 'max-result-mb', env: 'COMFY_SEAL_MAX_RESULT_MB', kind: 'mb', default: 18, help: 'larger results fail with OUTPUT_TOO_LARGE (RunPod refuses ~20 MB), or go to the reply blob of a job that has one' },
  releaseTimeoutS: { flag: 'release-timeout', env: 'COMFY_SEAL_RELEASE_TIMEOUT_S', kind: 'seconds', default: 300, help: 'after an interrupt, how long ComfyUI may take to let go of a prompt before the worker is unhealthy' },
  maxBlobMb: { flag: 'max-blob-mb', env: 'COMFY_SEAL_MAX_BLOB_MB', kind: 'mb', default: 2048, help: 'largest request or result blob (§9)' },
  blobAllowPrivate: { flag: 'blob-allow-private', env: 'COMFY_SEAL_BLOB_ALLOW_PRIVATE', kind: 'bool', default: false, help: 'let blob URLs reach loopback/private addresses (development and tests only)' },
  comfyLog: { flag: 'comfy-log', env: 'COMFY_SEAL_COMFY_LOG', kind: 'string', default: undefined, help: "ComfyUI's output file, zeroed and truncated after every job" },
  readyTimeoutS: { flag: 'ready-timeout', env: 'COMFY_SEAL_READY_TIMEOUT_S', kind: 'seconds', default: 600, help: 'how long to wait for ComfyUI to answer at start' },
  warmupWorkflow: { flag: 'warmup-workflow', env: 'COMFY_SEAL_WARMUP_WORKFLOW', kind: 'string', default: undefined, help: 'API-format workflow run once at start, before the first job (loads the models)' },
  warmupRequired: { flag: 'warmup-required', env: 'COMFY_SEAL_WARMUP_REQUIRED', kind: 'bool', default: false, help: 'a failed warm-up stops the worker (exit 1) instead of being logged' },
  keepCache: { flag: 'keep-cache', env: 'COMFY_SEAL_KEEP_CACHE', kind: 'bool', default: false, help: "keep ComfyUI's node cache between jobs (faster repeats; the last job's tensors stay in memory until the next)" },
} as const satisfies Record<string, Setting>;

export type SettingName = keyof typeof SETTINGS;

export interface WorkerConfig {
  key: string | undefined;
  comfyUrl: string;
  inputDir: string;
  outputDir: string;
  tempDir: string;
  allowPlaintext: boolean;
  tokenTtlS: number;
  jobTimeoutS: number;
  maxResultMb: number;
  releaseTimeoutS: number;
  maxBlobMb: number;
  blobAllowPrivate: boolean;
  comfyLog: string | undefined;
  readyTimeoutS: number;
  warmupWorkflow: string | undefined;
  warmupRequired: boolean;
  keepCache: boolean;
}

/** node:util parseArgs options for every setting (all strings, booleans included, so `--allow-plaintext=0` works). */
export function settingArgs(): Record<string, { type: 'string' }> {
  return { ...Object.fromEntries(Object.values(SETTINGS).map((s) => [s.flag, { type: 'string' as const }])), 'key-file': KEY_OPTIONS['key-file'] };
}

function parseValue(setting: Setting, raw: string, source: string): string | number | boolean {
  switch (setting.kind) {
    case 'string':
      return raw;
    case 'bool':
      if (/^(1|true|yes|on)$/i.test(raw)) return true;
      if (/^(0|false|no|off|)$/i.test(raw)) return false;
      throw new UsageError(`${source} must be 1 or 0`);
    default: {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n) || n < 0 || (setting.kind === 'int' && !Number.isInteger(n))) {
        throw new UsageError(`${source} must be a non-negative number`);
      }
      return n;
    }
  }
}

/** Flags (strings from parseArgs) > env > defaults. `requireKey: false` lets `doctor` report a missing key itself. */
export function resolveConfig(flags: Record<string, string | undefined>, env: NodeJS.ProcessEnv, { requireKey = true } = {}): WorkerConfig {
  const out: Record<string, unknown> = {};
  // --key-file is --key read from a file (shared/key-flags.ts): a flag, so it wins over ENCRYPTION_KEY.
  const given: Record<string, string | undefined> = { ...flags, key: keyFromFlags(flags) };
  for (const [name, setting] of Object.entries(SETTINGS) as Array<[SettingName, Setting]>) {
    const flag = given[setting.flag];
    const fromEnv = setting.env ? env[setting.env] : undefined;
    if (flag !== undefined) out[name] = parseValue(setting, flag, `--${setting.flag}`);
    else if (fromEnv !== undefined && fromEnv !== '') out[name] = parseValue(setting, fromEnv, setting.env!);
    else out[name] = setting.default;
  }
  const config = out as unknown as WorkerConfig;
  if (requireKey && !config.key && !config.allowPlaintext) {
    throw new UsageError('no ENCRYPTION_KEY (or --key-file / --key): a worker without a key can only take plaintext jobs, which are off');
  }
  try {
    const url = new URL(config.comfyUrl);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('protocol');
  } catch {
    throw new UsageError('--comfy-url must be an http:// URL');
  }
  return config;
}

export function jobConfigOf(config: WorkerConfig): JobConfig {
  return {
    ...DEFAULT_JOB_CONFIG,
    dirs: { input: config.inputDir, output: config.outputDir, temp: config.tempDir },
    allowPlaintext: config.allowPlaintext,
    tokenTtlS: config.tokenTtlS,
    jobTimeoutS: config.jobTimeoutS,
    maxResultBytes: Math.floor(config.maxResultMb * 1_000_000),
    releaseTimeoutMs: config.releaseTimeoutS * 1000,
    scrubFiles: config.comfyLog ? [config.comfyLog] : [],
    clearCache: !config.keepCache,
    blob: { ...DEFAULT_JOB_CONFIG.blob, maxBytes: Math.floor(config.maxBlobMb * 1_000_000), allowPrivate: config.blobAllowPrivate },
  };
}

/** The Options section of `comfy-seal worker --help`: flag, variable, default, meaning. */
export function settingsHelp(): string {
  return Object.values(SETTINGS as Record<string, Setting>)
    .map((s) => {
      const def = s.default === undefined ? '' : ` (default: ${s.kind === 'bool' ? (s.default ? '1' : '0') : s.default})`;
      const row = `  --${s.flag.padEnd(16)} ${s.env ?? ''}\n      ${s.help}${def}`;
      return s.flag === 'key' ? `${row}\n  --key-file FILE\n      the key read from FILE (one trailing newline ignored), instead of --key` : row;
    })
    .join('\n');
}
