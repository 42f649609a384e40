/**
 * The worker's internals for benches and embedders: not part of the package's public exports (the worker is run as
 * `comfy-seal worker`). Built as dist/handler.js.
 */
export { Pipeline, type PipelineOptions } from './pipeline.js';
export { DEFAULT_JOB_CONFIG, type JobConfig, type JobOutcome } from './job.js';
export { createLogger, silentLogger } from './log.js';
