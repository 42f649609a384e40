/**
 * The package root, `comfy-seal`: what an app imports. The worker and the simulator are not reachable from here
 * (the simulator is `comfy-seal/simulator`).
 */
export * from '../shared/index.js';
export { compareNodeIds } from '../shared/node-ids.js';
export {
  ComfySealClient,
  DEFAULT_API_URL,
  MAX_RUN_BYTES,
  type ComfySealClientOptions,
  type SubmitRequest,
  type JobProgress,
  type WaitOptions,
  type RetryEvent,
  type StatusBody,
} from './client.js';
export {
  CLIENT_ERROR_CODES,
  CONFIG_SETTINGS,
  ComfySealError,
  ConfigError,
  RunpodApiError,
  RunpodConnectionError,
  RequestTooLargeError,
  WaitTimeoutError,
  AbortError,
  OutputWriteError,
  JobFailedError,
  WebhookRejectedError,
  type ClientErrorCode,
  type ConfigSetting,
} from './errors.js';
export { openWebhook, type WebhookEvent } from './webhook.js';
export type { LivePreview } from './preview.js';
export {
  prepareWorkflow,
  type ImageAssignment,
  type NodeFile,
  type PrepareOptions,
  type PrepareReport,
  type Prepared,
  type SeedChange,
  type SetChange,
  type TextChange,
} from './prepare/index.js';
export { writeResultFiles, type WrittenFile } from './output.js';
export { convertUiWorkflow, type ConvertOptions } from './workflow/convert.js';
export { loadWorkflow, type LoadedWorkflow, type WorkflowSource } from './workflow/load.js';
export type { EmbeddedImageFormat } from './workflow/embedded.js';
export { checkWorkflow, formatProblem, type Problem, type ProblemType } from './workflow/check.js';
export type { InputSpec, ObjectInfo, NodeDefinition } from './workflow/definitions.js';
export { S3BlobStore, parseBlobUrl } from './blob/s3.js';
export { DEFAULT_BLOB_TTL_S, type BlobStore } from './blob/store.js';
export { fetchBlob, putBlob, type FetchBlobOptions } from './blob/transfer.js';
