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
} from './client.js';
export {
  ComfySealError,
  RunpodApiError,
  RunpodConnectionError,
  RequestTooLargeError,
  WaitTimeoutError,
  JobFailedError,
} from './errors.js';
export { prepareWorkflow, type NodeFile, type PrepareOptions, type PrepareReport, type Prepared, type TextChange } from './prepare/index.js';
export { writeResultFiles, type WrittenFile } from './output.js';
export { S3BlobStore, parseBlobUrl } from './blob/s3.js';
export { DEFAULT_BLOB_TTL_S, type BlobStore } from './blob/store.js';
export { fetchBlob, type FetchBlobOptions } from './blob/fetch.js';
