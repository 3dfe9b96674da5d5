// Writes the features topics into the feature store (MySQL offline log + Redis online cache). At-least-once by
// design: offsets are committed after the store acknowledged the batch, and both stores are idempotent (upsert
// on entity, feature, window and event time; newest-by-event-time wins online), so a replay after a crash
// rewrites the same rows and never duplicates them.
import type { Consumer, Kafka } from 'kafkajs';
import { mapKafkaError } from '../io/kafka/client.ts';
import type { AvroSerde } from '../io/registry/registry.ts';
import type { Logger } from '../log.ts';
import type { FeatureVector } from '../schemas/types.ts';
import type { FeatureStore } from '../store/types.ts';

export interface FeatureSinkOptions {
  readonly groupId: string;
  readonly topics: readonly string[];
  readonly brokers: readonly string[];
  readonly log: Logger;
  readonly onWritten?: (n: number) => void;
}

export class FeatureSink {
  private readonly consumer: Consumer;
  private written = 0;

  constructor(
    kafka: Kafka,
    private readonly serde: AvroSerde,
    private readonly store: FeatureStore,
    private readonly options: FeatureSinkOptions,
  ) {
    this.consumer = kafka.consumer({
      groupId: options.groupId,
      readUncommitted: false,
      allowAutoTopicCreation: false,
    });
  }

  get featuresWritten(): number {
    return this.written;
  }

  async start(): Promise<void> {
    try {
      await this.consumer.connect();
      await this.consumer.subscribe({ topics: [...this.options.topics], fromBeginning: true });
    } catch (e) {
      throw mapKafkaError(e, this.options.brokers, 'connecting the feature store sink');
    }
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        if (!isRunning() || isStale() || batch.messages.length === 0) return;
        const features: FeatureVector[] = [];
        for (const m of batch.messages) features.push((await this.serde.decode(m.value)) as FeatureVector);
        await this.store.write(features);
        const last = batch.messages[batch.messages.length - 1] as { offset: string };
        await this.consumer.commitOffsets([
          { topic: batch.topic, partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() },
        ]);
        resolveOffset(last.offset);
        this.written += features.length;
        this.options.onWritten?.(features.length);
        await heartbeat();
      },
    });
    this.options.log.info(
      { topics: this.options.topics, group: this.options.groupId },
      'feature store sink consuming',
    );
  }

  async stop(): Promise<void> {
    await this.consumer.stop();
    await this.consumer.disconnect();
  }
}
