// The patched kafkajs (patches/kafkajs+2.2.4.patch): the producer's grouping of a send's messages by partition is one
// pass that keeps every message, in send order within its partition, as the original did in quadratic time.
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultPartitioner } from '../../../src/io/kafka/partition.ts';

const require = createRequire(import.meta.url);
const groupMessagesPerPartition = require('kafkajs/src/producer/groupMessagesPerPartition.js') as (args: {
  topic: string;
  partitionMetadata: readonly { partitionId: number; leader: number }[];
  messages: readonly { key: string; value: string }[];
  partitioner: ReturnType<typeof defaultPartitioner>;
}) => Record<string, { key: string; value: string }[]>;

describe('kafkajs groupMessagesPerPartition (patched)', () => {
  it('puts every message in its partition, in send order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ maxLength: 8 }), { maxLength: 300 }),
        fc.integer({ min: 1, max: 8 }),
        (keys, n) => {
          const partitionMetadata = Array.from({ length: n }, (_, i) => ({ partitionId: i, leader: 0 }));
          const messages = keys.map((key, i) => ({ key, value: String(i) }));
          const partitioner = defaultPartitioner();
          const grouped = groupMessagesPerPartition({ topic: 't', partitionMetadata, messages, partitioner });
          const expected: Record<string, { key: string; value: string }[]> = {};
          for (const m of messages)
            (expected[partitioner({ topic: 't', partitionMetadata, message: m })] ??= []).push(m);
          expect(grouped).toEqual(expected);
        },
      ),
    );
  });

  it('gives nothing for a topic without partitions', () => {
    const grouped = groupMessagesPerPartition({
      topic: 't',
      partitionMetadata: [],
      messages: [{ key: 'k', value: 'v' }],
      partitioner: defaultPartitioner(),
    });
    expect(grouped).toEqual({});
  });
});
