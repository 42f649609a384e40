import { expect } from 'vitest';
import { SealError } from '../../shared/errors.js';

/** Runs `fn`, expecting it to throw a SealError, and returns it. */
export function sealErrorOf(fn: () => unknown): SealError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SealError);
    return error as SealError;
  }
  throw new Error('expected a SealError');
}
