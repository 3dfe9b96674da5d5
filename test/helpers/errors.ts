// Catching our coded errors in tests: the thrown value must be a TagstreamError, and throwing must happen.
import { expect } from 'vitest';
import { TagstreamError } from '../../src/errors.ts';

export function thrownBy(fn: () => unknown): TagstreamError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TagstreamError);
    return e as TagstreamError;
  }
  throw new Error('expected a TagstreamError to be thrown');
}

export async function rejectionOf(p: Promise<unknown>): Promise<TagstreamError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(TagstreamError);
    return e as TagstreamError;
  }
  throw new Error('expected a rejection with a TagstreamError');
}
