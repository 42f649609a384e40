/** Size limits, in one place, each with the reason for its number. */

export interface Limits {
  /** Largest bundle plaintext. RunPod takes 10 MB on /run and 20 MB on /runsync of base64 token; local runs allow more. */
  maxBundleBytes: number;
  /** Nodes in one workflow: real graphs have tens to a few hundred; this only stops pathological input. */
  maxWorkflowNodes: number;
  /** JSON nesting depth of the bundle: API-format graphs are ~5 deep; deep nesting is an attack on recursive code. */
  maxJsonDepth: number;
  /** Images in one bundle. */
  maxImages: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxBundleBytes: 64 * 1024 * 1024,
  maxWorkflowNodes: 5_000,
  maxJsonDepth: 64,
  maxImages: 256,
});

export function resolveLimits(limits: Partial<Limits> = {}): Limits {
  return { ...DEFAULT_LIMITS, ...limits };
}

export const MB = 1024 * 1024;
