// The partition a keyed record lands in: Kafka's default partitioner (murmur2 of the key, as the Java client, kafkajs's
// DefaultPartitioner and librdkafka's `murmur2_random` compute it). Serving uses it to find which class-events
// partition, and so which feature-store progress, an item's class belongs to (src/serving/sink-progress.ts); the
// kafkajs partitioner itself is called, so the two can never disagree.
import { Partitioners } from 'kafkajs';

const partitioner = Partitioners.DefaultPartitioner();
const metadata = new Map<
  number,
  { partitionId: number; leader: number; replicas: number[]; isr: number[]; partitionErrorCode: number }[]
>();

/** The partition of `key` in a topic of `partitions` partitions. */
export function partitionOf(key: string | Buffer, partitions: number): number {
  let m = metadata.get(partitions);
  if (!m) {
    m = Array.from({ length: partitions }, (_, i) => ({
      partitionId: i,
      leader: 0,
      replicas: [0],
      isr: [0],
      partitionErrorCode: 0,
    }));
    metadata.set(partitions, m);
  }
  return partitioner({ topic: '', partitionMetadata: m, message: { key, value: null } });
}
