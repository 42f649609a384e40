/**
 * The contract's error codes (contract §4) and the one error class that carries them.
 *
 * Rule that keeps the plaintext side private: `message` is written by us and never holds anything taken from a
 * bundle (no prompt text, file names, node ids, class types, ComfyUI text). Whatever is specific to the user's
 * data goes into `details`, which only ever leaves the worker inside a Fernet token.
 */

export const ERROR_CODES = [
  'BAD_INPUT',
  'DECRYPT_FAILED',
  'TOKEN_EXPIRED',
  'PLAINTEXT_REFUSED',
  'WORKFLOW_INVALID',
  'EXECUTION_FAILED',
  'TIMEOUT',
  'COMFY_UNAVAILABLE',
  'OUTPUT_TOO_LARGE',
  'STORAGE_FAILED',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** Private specifics of a failure: sealed, never logged. */
export type ErrorDetails = Record<string, unknown>;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

export class SealError extends Error {
  override readonly name = 'SealError';
  readonly code: ErrorCode;
  /** Private to the user: goes only into `encrypted_error`. */
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.details = details;
  }

  /** Wraps anything thrown into a SealError; an unexpected error is a bug, so INTERNAL, with its text kept private. */
  static from(error: unknown, fallback: ErrorCode = 'INTERNAL'): SealError {
    if (error instanceof SealError) return error;
    const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return new SealError(fallback, fallback === 'INTERNAL' ? 'internal error' : 'operation failed', { error: text }, { cause: error });
  }
}
