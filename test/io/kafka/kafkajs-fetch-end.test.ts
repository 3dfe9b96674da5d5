// What the kafkajs adapter reports when a fetch ends without records (FetchEnd): the runner commits past
// `lastOffset`, so it must be an offset the fetch covered. Batches are kafkajs's own Batch class, and the event is
// built the way its runner builds END_BATCH_PROCESS (src/consumer/runner.js).
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { fetchEndOf } from '../../../src/io/kafka/kafkajs.ts';

const require = createRequire(import.meta.url);
interface KafkajsBatch {
  messages: unknown[];
  firstOffset(): string | null;
  lastOffset(): string;
  offsetLag(): string;
  isEmptyDueToFiltering(): boolean;
}
const Batch = require('kafkajs/src/consumer/batch.js') as new (
  topic: string,
  fetchedOffset: string,
  partitionData: { partition: number; highWatermark: string; messages: unknown[]; abortedTransactions: [] },
) => KafkajsBatch;

const message = (offset: number, isControlRecord = false) => ({
  offset: String(offset),
  key: Buffer.from('k'),
  value: Buffer.from('v'),
  isControlRecord,
  batchContext: { producerId: '1', inTransaction: true },
});

/** kafkajs emits END_BATCH_PROCESS for a fetch without records only when isEmptyDueToFiltering(). */
function endOf(fetchedOffset: number, highWatermark: number, messages: unknown[]) {
  const batch = new Batch('t', String(fetchedOffset), {
    partition: 0,
    highWatermark: String(highWatermark),
    messages,
    abortedTransactions: [],
  });
  expect(batch.isEmptyDueToFiltering()).toBe(true);
  return fetchEndOf({
    topic: 't',
    partition: 0,
    batchSize: batch.messages.length,
    firstOffset: batch.firstOffset(),
    lastOffset: batch.lastOffset(),
    offsetLag: batch.offsetLag(),
  });
}

describe('fetchEndOf (kafkajs END_BATCH_PROCESS without records)', () => {
  it('a fetch of transaction markers only: covered up to its last marker', () => {
    const end = endOf(10, 12, [message(10, true), message(11, true)]);
    expect(end).toEqual({
      topic: 't',
      partition: 0,
      records: 0,
      firstOffset: '10',
      lastOffset: '11',
      offsetLag: '0',
    });
  });

  it('a fetch whose records all lie below the fetch offset covers nothing at the fetch offset', () => {
    // A compacted batch that ends before the fetch offset: kafkajs says lastOffset 12, the offset it asked for.
    const end = endOf(12, 20, [message(8), message(9)]);
    expect(end.firstOffset).toBeNull();
    // The runner commits past lastOffset: 12, the position already, not 13 (which would skip the record at 12).
    expect(BigInt(end.lastOffset) + 1n).toBe(12n);
    expect(end.offsetLag).toBe('8');
  });
});
