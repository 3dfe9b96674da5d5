// MicroBatcher: a full batch goes at once, a partial one after maxWaitMs (fake timers), errors reach every caller.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MicroBatcher } from '../../src/runtime/micro-batcher.ts';

afterEach(() => {
  vi.useRealTimers();
});

describe('MicroBatcher', () => {
  it('runs a full batch at once and maps results back to callers', async () => {
    const calls: number[][] = [];
    const b = new MicroBatcher<number, number>(
      async (xs) => {
        calls.push([...xs]);
        return xs.map((x) => x * 10);
      },
      { maxBatch: 3, maxWaitMs: 1_000 },
    );
    const results = await Promise.all([1, 2, 3].map((x) => b.submit(x)));
    expect(results).toEqual([10, 20, 30]);
    expect(calls).toEqual([[1, 2, 3]]);
  });

  it('runs a partial batch after maxWaitMs', async () => {
    vi.useFakeTimers();
    const calls: number[][] = [];
    const b = new MicroBatcher<number, number>(
      async (xs) => {
        calls.push([...xs]);
        return xs;
      },
      { maxBatch: 10, maxWaitMs: 5 },
    );
    const p = Promise.all([b.submit(1), b.submit(2)]);
    expect(calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(5);
    expect(await p).toEqual([1, 2]);
    expect(calls).toEqual([[1, 2]]);
    expect(b.lastBatchSize).toBe(2);
  });

  it('splits more than maxBatch items into several batches', async () => {
    vi.useFakeTimers();
    const sizes: number[] = [];
    const b = new MicroBatcher<number, number>(
      async (xs) => {
        sizes.push(xs.length);
        return xs;
      },
      { maxBatch: 4, maxWaitMs: 5 },
    );
    const all = Promise.all(Array.from({ length: 10 }, (_, i) => b.submit(i)));
    await vi.advanceTimersByTimeAsync(20);
    expect(await all).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(sizes).toEqual([4, 4, 2]);
  });

  it('rejects every caller of a failed batch', async () => {
    const b = new MicroBatcher<number, number>(
      async () => {
        throw new Error('model gone');
      },
      { maxBatch: 2, maxWaitMs: 1_000 },
    );
    const r = await Promise.allSettled([b.submit(1), b.submit(2)]);
    expect(r.map((x) => x.status)).toEqual(['rejected', 'rejected']);
  });
});
