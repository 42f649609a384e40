/**
 * The package root, `comfy-seal`: what an app imports. The worker and the simulator are not reachable from here
 * (the simulator is `comfy-seal/simulator`).
 */
export * from '../shared/index.js';
