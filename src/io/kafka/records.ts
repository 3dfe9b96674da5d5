// Record and offset shapes shared by the client implementations: kafkajs and @confluentinc/kafka-javascript's
// KafkaJS-compatible API take and give the same message objects, so both adapters convert through these.
import type { ConsumedRecord, ProducedRecord, TopicPartitionOffsets, TopicSpec } from './types.ts';

/** A message as both clients' send() take it. */
export interface ClientMessage {
  key: Buffer | string | null;
  value: Buffer | null;
  timestamp?: string;
  partition?: number;
  headers?: Record<string, Buffer | string>;
}

/** A message as both clients' eachBatch hands it over. */
export interface ClientFetchedMessage {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly timestamp: string;
  readonly offset: string;
  readonly headers?: Readonly<Record<string, unknown>>;
}

function toMessage(r: ProducedRecord): ClientMessage {
  return {
    key: r.key,
    value: r.value,
    ...(r.timestamp === undefined ? {} : { timestamp: String(r.timestamp) }),
    ...(r.partition === undefined ? {} : { partition: r.partition }),
    ...(r.headers === undefined ? {} : { headers: { ...r.headers } }),
  };
}

/** Records grouped per topic, order kept within a topic. */
export function topicMessages(
  records: readonly ProducedRecord[],
): Array<{ topic: string; messages: ClientMessage[] }> {
  const byTopic = new Map<string, ClientMessage[]>();
  for (const r of records) {
    let list = byTopic.get(r.topic);
    if (!list) byTopic.set(r.topic, (list = []));
    list.push(toMessage(r));
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
}

export function toConsumed(topic: string, partition: number, m: ClientFetchedMessage): ConsumedRecord {
  const headers: Record<string, Buffer | undefined> = {};
  for (const [k, v] of Object.entries(m.headers ?? {}))
    headers[k] = v === undefined ? undefined : Buffer.isBuffer(v) ? v : Buffer.from(String(v));
  return {
    topic,
    partition,
    offset: m.offset,
    key: m.key,
    value: m.value,
    timestamp: Number(m.timestamp),
    headers,
  };
}

/** Our offsets as the clients' nested { topic, partitions } lists. */
export const offsetsFor = (offsets: readonly TopicPartitionOffsets[]) =>
  offsets.map((t) => ({
    topic: t.topic,
    partitions: t.partitions.map((p) => ({ partition: p.partition, offset: p.offset })),
  }));

/** Our offsets as the clients' flat { topic, partition, offset } lists. */
export const flatOffsets = (offsets: readonly TopicPartitionOffsets[]) =>
  offsets.flatMap((t) =>
    t.partitions.map((p) => ({ topic: t.topic, partition: p.partition, offset: p.offset })),
  );

/** Topic -> partitions, from a flat list of topic partitions. */
export function byTopic(
  partitions: Iterable<{ readonly topic: string; readonly partition: number }>,
): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const { topic, partition } of partitions) (out[topic] ??= []).push(partition);
  return out;
}

/** Our topic specs as both clients' createTopics takes them. */
export const newTopics = (specs: readonly TopicSpec[]) =>
  specs.map((s) => ({
    topic: s.topic,
    numPartitions: s.partitions,
    replicationFactor: s.replicationFactor,
    configEntries: Object.entries(s.config ?? {}).map(([name, value]) => ({ name, value })),
  }));
