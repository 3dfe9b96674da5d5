// withDeadline: the work's result when it is in time, the timeout's error when not (fake timers, no sleeping).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { withDeadline } from '../../src/runtime/deadline.ts';

afterEach(() => {
  vi.useRealTimers();
});

describe('withDeadline', () => {
  it('returns the work when it finishes first', async () => {
    await expect(withDeadline(Promise.resolve(7), 1_000, () => new Error('late'))).resolves.toBe(7);
  });

  it('rejects with the timeout error when the work takes longer', async () => {
    vi.useFakeTimers();
    const never = new Promise<number>(() => undefined);
    const result = withDeadline(never, 1_000, () => new Error('took too long'));
    vi.advanceTimersByTime(1_000);
    await expect(result).rejects.toThrow('took too long');
  });
});
