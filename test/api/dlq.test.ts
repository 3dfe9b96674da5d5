// The DLQ summary's bounded read: where each partition's read of its newest offsets starts.
import { describe, expect, it } from 'vitest';
import { newestRanges } from '../../src/api/dlq.ts';

describe('newestRanges', () => {
  it('starts budget offsets before the end, never before the low watermark', () => {
    expect(
      newestRanges(
        [
          { partition: 0, low: '0', high: '10' },
          { partition: 1, low: '95', high: '100' },
          { partition: 2, low: '7', high: '7' },
        ],
        8,
      ),
    ).toEqual([
      { partition: 0, start: 2n, end: 10n },
      { partition: 1, start: 95n, end: 100n },
      { partition: 2, start: 7n, end: 7n },
    ]);
  });
});
