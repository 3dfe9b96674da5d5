// partitionOf is Kafka's default partitioner: the figures below are the Java client's own (kafka-clients 4.4.0,
// Utils.toPositive(Utils.murmur2(key)) % partitions), which kafkajs and librdkafka's murmur2_random reproduce. The
// adapter's own partitioner (src/io/kafka/partition.ts) is held to kafkajs's DefaultPartitioner, which it replaces.
import fc from 'fast-check';
import { Partitioners } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { defaultPartitioner, partitionOf } from '../../../src/io/kafka/partition.ts';

const metadata = (n: number, leaderless: readonly number[] = []) =>
  Array.from({ length: n }, (_, i) => ({
    partitionId: i,
    leader: leaderless.includes(i) ? -1 : 0,
    replicas: [0],
    isr: [0],
    partitionErrorCode: 0,
  }));

describe('partitionOf', () => {
  it.each([
    ['S001|TENT-10X20', 8, 0],
    ['S002|CHAIR-WHITE', 7, 2],
    ['S3|A', 2, 0],
    ['progress', 11, 2],
  ])('puts %s where the Java client does', (key, of16, of3) => {
    expect(partitionOf(key, 16)).toBe(of16);
    expect(partitionOf(key, 3)).toBe(of3);
    expect(partitionOf(Buffer.from(key), 16)).toBe(of16);
  });

  it("agrees with kafkajs's DefaultPartitioner on any key, string or bytes, of any length", () => {
    const kafkajs = Partitioners.DefaultPartitioner();
    const ours = defaultPartitioner();
    const key = fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 40 }),
      fc.string({ maxLength: 600 }), // past the scratch buffer's 1,024 bytes once UTF-8 encoded
      fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
    );
    fc.assert(
      fc.property(key, fc.integer({ min: 1, max: 64 }), (k, n) => {
        const args = { topic: 't', partitionMetadata: metadata(n), message: { key: k, value: null } };
        const expected = kafkajs(args);
        expect(ours(args)).toBe(expected);
        expect(partitionOf(k, n)).toBe(expected);
      }),
      { numRuns: 2_000 },
    );
  });

  it("keeps a message's own partition, and deals keyless messages round the partitions that have a leader", () => {
    const next = defaultPartitioner();
    const partitionMetadata = metadata(4, [2]);
    expect(next({ topic: 't', partitionMetadata, message: { key: 'k', partition: 3 } })).toBe(3);
    const dealt = Array.from({ length: 6 }, () =>
      next({ topic: 't', partitionMetadata, message: { key: null } }),
    );
    expect(new Set(dealt)).toEqual(new Set([0, 1, 3]));
    for (let i = 3; i < dealt.length; i++) expect(dealt[i]).toBe(dealt[i - 3]);
  });
});
