/** The code both sides use: Fernet, the contract's shapes, errors and limits. */
export { Fernet, decodeBase64Url, type DecryptOptions, type EncryptInternals, type Encrypter } from './fernet.js';
export { SealError, ERROR_CODES, isErrorCode, type ErrorCode, type ErrorDetails } from './errors.js';
export { fileNameProblem, isSafeFileName, assertSafeFileName } from './names.js';
export { DEFAULT_LIMITS, resolveLimits, type Limits } from './limits.js';
export {
  parseBundle,
  validateBundle,
  serializeBundle,
  sealBundle,
  openBundle,
  decodeImageData,
  bundleJson,
  type Bundle,
  type BundleImage,
  type OpenBundleOptions,
} from './bundle.js';
export { blobPointerSchema, blobReplySchema, bufferBody, inlineImageMb, type BlobBody, type BlobPointer, type BlobReply } from './blob.js';
export { SealingBody } from './sealing-body.js';
export {
  buildResultPayload,
  resultBytes,
  ResultJson,
  SealedOutput,
  sealResult,
  sealResultBytes,
  openResult,
  openOutput,
  openResultBlob,
  sealBlobPointer,
  sealError,
  openError,
  openFailure,
  sealProgress,
  openProgress,
  type Result,
  type ResultFile,
  type OpenedFailure,
} from './envelope.js';
export { JsonDataText, JsonWithData } from './json-data.js';
export {
  OUTPUT_KINDS,
  type OutputKind,
  type Workflow,
  type WorkflowNode,
  type BundleOptions,
  type Progress,
  type WireBundle,
  type WireResult,
} from './schema.js';
export { BUNDLE_QUERIES, type BundleQuery, type QueryResult } from './schema.js';
export { sealQueryAnswer, openQueryAnswer } from './query.js';
