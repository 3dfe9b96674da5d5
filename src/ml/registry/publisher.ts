// Announces promotions on models.versions (Avro, Confluent wire format, key = service) so every pipeline instance
// hot-swaps the model. A promotion is two steps, the registry transaction and then the announcement: when the
// announcement fails the database change stands, and promoting the same version again (idempotent) re-announces it.
import type { Config } from '../../../config/schema.ts';
import { TagstreamError } from '../../errors.ts';
import { ensureTopicsWith, mapKafkaError, type KafkaClient } from '../../io/kafka/client.ts';
import type { AvroSerde } from '../../io/registry/registry.ts';
import { loadSchema } from '../../schemas/catalog.ts';
import type { ModelVersion } from '../../schemas/types.ts';
import type { ModelRegistry } from './registry.ts';

export interface ModelVersionPublisher {
  readonly topic: string;
  /** Sends the record (key = service) and resolves once the broker acknowledged it (acks=all). */
  publish(record: ModelVersion): Promise<void>;
  close(): Promise<void>;
}

/**
 * models.versions settings when tagstream creates it: one partition (a handful of records per day; one partition
 * keeps them in promotion order) and compaction on the service key, so the topic keeps at least the latest
 * announcement of every service however long it runs. An existing topic is left as it is.
 */
export const MODEL_VERSIONS_TOPIC_SETTINGS = {
  partitions: 1,
  config: { 'cleanup.policy': 'compact' },
} as const;

export async function ensureModelVersionsTopic(config: Config, kafka: KafkaClient): Promise<void> {
  await ensureTopicsWith(kafka, config, [config.topics.modelVersions], MODEL_VERSIONS_TOPIC_SETTINGS);
}

/** Creates the topic if missing, registers the ModelVersion schema and connects a producer (acks=all). */
export async function kafkaModelPublisher(
  config: Config,
  kafka: KafkaClient,
  serde: AvroSerde,
): Promise<ModelVersionPublisher> {
  const topic = config.topics.modelVersions;
  await ensureModelVersionsTopic(config, kafka);
  const encode = await serde.encoderFor<ModelVersion>(topic, loadSchema('modelVersion'));
  // Not idempotent on purpose: kafkajs only allows that with unbounded retries, which would hang the CLI while the
  // broker is away; bounded retries end in MODEL_PUBLISH_FAILED instead. A duplicate announcement is harmless (the
  // watcher skips a version it already serves).
  const producer = kafka.producer();
  try {
    await producer.connect();
  } catch (e) {
    throw mapKafkaError(e, config.kafka.brokers, 'connecting the models.versions producer');
  }
  return {
    topic,
    async publish(record) {
      try {
        await producer.send([{ topic, key: Buffer.from(record.service), value: encode(record) }]);
      } catch (e) {
        throw mapKafkaError(e, config.kafka.brokers, `sending to ${topic}`);
      }
    },
    async close() {
      await producer.disconnect();
    },
  };
}

/** The error for a promotion that is in the database but not announced: says how to announce it. */
export function publishFailed(record: ModelVersion, topic: string, cause: unknown): TagstreamError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new TagstreamError(
    'MODEL_PUBLISH_FAILED',
    `${record.service} ${record.version} is production in the registry, but announcing it on ${topic} failed (${why}); ` +
      `running instances keep their current model until it is announced: run ` +
      `\`npm run models -- promote ${record.service} ${record.version}\` again (idempotent) once Kafka is back`,
    { cause, retryable: true, details: { service: record.service, version: record.version, topic } },
  );
}

async function announce(publisher: ModelVersionPublisher, record: ModelVersion): Promise<ModelVersion> {
  try {
    await publisher.publish(record);
  } catch (e) {
    throw publishFailed(record, publisher.topic, e);
  }
  return record;
}

/** registry.promote, then the announcement. The promotion stands when the announcement fails. */
export async function promoteAndPublish(
  registry: ModelRegistry,
  publisher: ModelVersionPublisher,
  service: string,
  version: string,
): Promise<ModelVersion> {
  return announce(publisher, await registry.promote(service, version));
}

/** registry.rollback, then the announcement. The rollback stands when the announcement fails. */
export async function rollbackAndPublish(
  registry: ModelRegistry,
  publisher: ModelVersionPublisher,
  service: string,
): Promise<ModelVersion> {
  return announce(publisher, await registry.rollback(service));
}
