// withDeadline: the work's result when it is in time, the timeout's error when not (fake timers, no sleeping).
// settleAll: every piece ends before the first failure is thrown.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { settleAll, withDeadline } from '../../src/runtime/deadline.ts';

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

describe('settleAll', () => {
  it('waits for every piece, then throws the first failure', async () => {
    let slowEnded = false;
    const slow = new Promise<void>((resolve) => setTimeout(resolve, 20)).then(() => void (slowEnded = true));
    const first = new Error('first');
    await expect(
      settleAll([Promise.reject(first), slow, undefined, Promise.reject(new Error('second'))]),
    ).rejects.toBe(first);
    expect(slowEnded).toBe(true);
    await expect(settleAll([Promise.resolve(1), undefined])).resolves.toBeUndefined();
  });
});
