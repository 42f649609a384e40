/**
 * The worker's logger. By construction it can print only what is safe: an event name from a fixed list and fields
 * that are job ids, error codes, counts, sizes and durations. There is no way to pass it free text.
 */
import type { ErrorCode } from '../shared/errors.js';

export type LogEvent =
  | 'worker.start'
  | 'worker.stop'
  | 'worker.idle'
  | 'worker.unhealthy'
  | 'comfy.ready'
  | 'comfy.unavailable'
  | 'comfy.socket_down'
  | 'comfy.socket_up'
  | 'job.start'
  | 'job.done'
  | 'job.failed'
  | 'job.cancelled'
  | 'job.posted'
  | 'job.post_retry'
  | 'wipe.done'
  | 'wipe.incomplete'
  | 'comfy.not_released'
  | 'comfy.cache_kept'
  | 'comfy.log_kept'
  | 'take.backoff'
  | 'take.error'
  | 'ping.error'
  | 'models.file'
  | 'models.done'
  | 'warmup.done'
  | 'warmup.failed';

export interface LogFields {
  job_id?: string;
  code?: ErrorCode;
  /** errno or HTTP status: a short code, never a message. */
  reason?: string | number;
  ms?: number;
  bytes?: number;
  files?: number;
  count?: number;
  attempt?: number;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  log(level: LogLevel, event: LogEvent, fields?: LogFields): void;
}

const SAFE_REASON = /^[A-Za-z0-9_.-]{1,40}$/;
/** RunPod job ids look like `<uuid>-u1` or `sync-<uuid>-e1`. */
const JOB_ID = /^[A-Za-z0-9_.-]{1,100}$/;

/** Keeps only the allowed fields, and only values of the allowed shapes. */
function clean(fields: LogFields): LogFields {
  const out: LogFields = {};
  if (typeof fields.job_id === 'string' && JOB_ID.test(fields.job_id)) out.job_id = fields.job_id;
  if (typeof fields.code === 'string' && /^[A-Z_]{1,40}$/.test(fields.code)) out.code = fields.code;
  if (typeof fields.reason === 'number' || (typeof fields.reason === 'string' && SAFE_REASON.test(fields.reason))) out.reason = fields.reason;
  for (const key of ['ms', 'bytes', 'files', 'count', 'attempt'] as const) {
    const value = fields[key];
    if (typeof value === 'number' && Number.isFinite(value)) out[key] = Math.round(value * 10) / 10;
  }
  return out;
}

export interface LoggerOptions {
  /** JSON lines (as RunPod expects when RUNPOD_ENDPOINT_ID is set) or human lines. */
  json: boolean;
  write?: (line: string) => void;
  level?: LogLevel;
}

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function createLogger(options: LoggerOptions): Logger {
  const write = options.write ?? ((line: string) => process.stdout.write(line));
  const min = LEVELS[options.level ?? 'info'];
  return {
    log(level, event, fields = {}) {
      if (LEVELS[level] < min) return;
      const safe = clean(fields);
      if (options.json) {
        write(`${JSON.stringify({ requestId: safe.job_id ?? null, message: event, level: level.toUpperCase(), ...safe })}\n`);
      } else {
        const rest = Object.entries(safe).map(([k, v]) => `${k}=${v}`).join(' ');
        write(`${new Date().toISOString()} ${level.padEnd(5)} ${event}${rest ? ` ${rest}` : ''}\n`);
      }
    },
  };
}

export const silentLogger: Logger = { log() {} };
