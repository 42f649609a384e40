/**
 * The worker's internals for benches and embedders: not part of the package's public exports (the worker is run as
 * `comfy-seal worker`). Built as dist/handler.js.
 */
export { Pipeline, type PipelineOptions } from './pipeline.js';
export { DEFAULT_JOB_CONFIG, type JobConfig, type JobOutcome } from './job.js';
export { createLogger, silentLogger } from './log.js';
export { getBlob, putBlob, DEFAULT_BLOB_OPTIONS, type BlobOptions } from './blob/transfer.js';
export { deliverResult } from './blob/reply.js';
export { openJobInput } from './open.js';
export { release } from '../shared/releasable.js';
