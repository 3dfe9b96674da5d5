// partitionOf is Kafka's default partitioner: the figures below are the Java client's own (kafka-clients 4.4.0,
// Utils.toPositive(Utils.murmur2(key)) % partitions), which kafkajs and librdkafka's murmur2_random reproduce.
import { describe, expect, it } from 'vitest';
import { partitionOf } from '../../../src/io/kafka/partition.ts';

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
});
