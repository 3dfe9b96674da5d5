// The partition a keyed record lands in: Kafka's default partitioner (murmur2 of the key, as the Java client, kafkajs's
// DefaultPartitioner and librdkafka's `murmur2_random` compute it). The kafkajs adapter hands `defaultPartitioner` to
// its producers, and serving uses `partitionOf` to find which class-events partition, and so which feature-store
// progress, an item's class belongs to (src/serving/sink-progress.ts): one function for both, so the two can never
// disagree.
//
// The keyed path is written here, not taken from kafkajs: kafkajs's murmur2 runs on a BigInt-backed Long (eight
// allocations per four key bytes) and its partitioner filters the partition list on every message; on a backlog they
// were 6% of everything the job allocated. Kafka's murmur2 is 32-bit integer arithmetic
// (org.apache.kafka.common.utils.Utils.murmur2), which Math.imul does exactly. test/io/kafka/partition.test.ts holds it
// to kafkajs's own partitioner on random keys.
import { Partitioners } from 'kafkajs';

/** Kafka's murmur2 hash of `data` (org.apache.kafka.common.utils.Utils.murmur2), a signed 32-bit integer. */
export function murmur2(data: Uint8Array, length = data.length): number {
  const m = 0x5bd1e995;
  let h = 0x9747b28c ^ length;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  const tail = length & 3;
  if (tail > 0) {
    if (tail === 3) h ^= data[whole + 2]! << 16;
    if (tail >= 2) h ^= data[whole + 1]! << 8;
    h ^= data[whole]!;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/** A key's UTF-8 bytes are written here when they fit (keys are short), so hashing a string allocates nothing. */
const scratch = Buffer.allocUnsafe(1024);

/** The partition of `key` in a topic of `partitions` partitions. */
export function partitionOf(key: string | Buffer, partitions: number): number {
  let hash: number;
  if (typeof key !== 'string') hash = murmur2(key);
  else if (key.length * 3 <= scratch.length) hash = murmur2(scratch, scratch.write(key, 0, 'utf8'));
  else hash = murmur2(Buffer.from(key, 'utf8'));
  return (hash & 0x7fffffff) % partitions;
}

/** What kafkajs hands a partitioner (its PartitionerArgs, the fields read here). */
interface PartitionerArgs {
  readonly topic: string;
  readonly partitionMetadata: readonly { readonly partitionId: number; readonly leader: number }[];
  readonly message: { readonly key?: Buffer | string | null; readonly partition?: number | null };
}

/**
 * kafkajs's DefaultPartitioner with the keyed path replaced: a message's own partition, else murmur2 of its key here,
 * else (no key) kafkajs's own round robin over the partitions that have a leader. kafkajs calls `createPartitioner`
 * once per producer.
 */
export function defaultPartitioner(): (args: PartitionerArgs) => number {
  const keyless = Partitioners.DefaultPartitioner();
  return (args) => {
    const { message, partitionMetadata } = args;
    if (message.partition !== null && message.partition !== undefined) return message.partition;
    if (message.key !== null && message.key !== undefined)
      return partitionOf(message.key, partitionMetadata.length);
    return keyless(args as Parameters<typeof keyless>[0]);
  };
}
