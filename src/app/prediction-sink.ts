// Writes predictions.<service> and alerts into the prediction cache (Redis) that the REST API reads. At-least-once,
// like the feature store sink: offsets are committed after the cache acknowledged the batch, and the cache's writes
// are idempotent (history keyed by event time, alerts by alert_id), so a re-delivered batch changes nothing.
import type { Consumer, Kafka } from 'kafkajs';
import type { Config } from '../../config/schema.ts';
import { isTagstreamError } from '../errors.ts';
import { mapKafkaError } from '../io/kafka/client.ts';
import type { AvroSerde } from '../io/registry/registry.ts';
import type { Logger } from '../log.ts';
import type { Alert, Prediction } from '../schemas/types.ts';
import {
  PREDICTION_SERVICES,
  checkAlert,
  checkPrediction,
  type PredictionCache,
} from '../serving/prediction-cache.ts';

export interface PredictionSinkOptions {
  readonly groupId: string;
  /** The predictions.<service> topics and the alerts topic; a record's kind is told by its fields. */
  readonly topics: readonly string[];
  readonly brokers: readonly string[];
  readonly log: Logger;
  readonly onWritten?: (n: { predictions: number; alerts: number }) => void;
}

/** The topics the sink reads: `<predictionsPrefix><service>` for the six services, and the alerts topic. */
export function predictionSinkTopics(config: Config): string[] {
  return [...PREDICTION_SERVICES.map((s) => `${config.topics.predictionsPrefix}${s}`), config.topics.alerts];
}

/** The sink's options from config: group `<pipeline.groupId>-predictions`. */
export function predictionSinkOptions(config: Config, log: Logger): PredictionSinkOptions {
  return {
    groupId: `${config.pipeline.groupId}-predictions`,
    topics: predictionSinkTopics(config),
    brokers: config.kafka.brokers,
    log,
  };
}

export type SinkRecord =
  | { readonly kind: 'prediction'; readonly prediction: Prediction }
  | { readonly kind: 'alert'; readonly alert: Alert }
  | { readonly kind: 'unknown' };

/** Tells a decoded value's schema by its fields: alert_id and rule make an Alert, service and prediction a Prediction. */
export function classify(value: unknown): SinkRecord {
  if (typeof value !== 'object' || value === null) return { kind: 'unknown' };
  const v = value as Record<string, unknown>;
  if (typeof v['alert_id'] === 'string' && typeof v['rule'] === 'string')
    return { kind: 'alert', alert: value as Alert };
  if (typeof v['service'] === 'string' && typeof v['prediction'] === 'number')
    return { kind: 'prediction', prediction: value as Prediction };
  return { kind: 'unknown' };
}

export class PredictionSink {
  private readonly consumer: Consumer;
  private consumed = 0;
  private predictions = 0;
  private alerts = 0;
  private skippedRecords = 0;

  constructor(
    kafka: Kafka,
    private readonly serde: AvroSerde,
    private readonly cache: PredictionCache,
    private readonly options: PredictionSinkOptions,
  ) {
    this.consumer = kafka.consumer({
      groupId: options.groupId,
      readUncommitted: false,
      allowAutoTopicCreation: false,
    });
  }

  /** Records consumed and committed, new predictions and alerts stored (re-deliveries not counted), records skipped. */
  get stats(): { consumed: number; predictions: number; alerts: number; skipped: number } {
    return {
      consumed: this.consumed,
      predictions: this.predictions,
      alerts: this.alerts,
      skipped: this.skippedRecords,
    };
  }

  async start(): Promise<void> {
    try {
      await this.consumer.connect();
      await this.consumer.subscribe({ topics: [...this.options.topics], fromBeginning: true });
    } catch (e) {
      throw mapKafkaError(e, this.options.brokers, 'connecting the prediction sink');
    }
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        if (!isRunning() || isStale() || batch.messages.length === 0) return;
        const predictions: Prediction[] = [];
        const alerts: Alert[] = [];
        for (const m of batch.messages) {
          const record = await this.decode(batch.topic, batch.partition, m.offset, m.value);
          if (record?.kind === 'prediction') predictions.push(record.prediction);
          else if (record?.kind === 'alert') alerts.push(record.alert);
        }
        const stored = {
          predictions: await this.cache.write(predictions),
          alerts: await this.cache.writeAlerts(alerts),
        };
        const last = batch.messages[batch.messages.length - 1] as { offset: string };
        await this.consumer.commitOffsets([
          { topic: batch.topic, partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() },
        ]);
        resolveOffset(last.offset);
        this.consumed += batch.messages.length;
        this.predictions += stored.predictions;
        this.alerts += stored.alerts;
        this.options.onWritten?.(stored);
        await heartbeat();
      },
    });
    this.options.log.info(
      { topics: this.options.topics, group: this.options.groupId },
      'prediction sink consuming',
    );
  }

  /**
   * Decodes and checks one record. A record that can never be cached (bad bytes, another schema, no entity) is
   * logged and skipped rather than blocking the partition; a registry outage throws, and the batch is retried.
   */
  private async decode(
    topic: string,
    partition: number,
    offset: string,
    value: Buffer | null,
  ): Promise<SinkRecord | undefined> {
    try {
      const record = classify(await this.serde.decode(value));
      if (record.kind === 'prediction') checkPrediction(record.prediction);
      else if (record.kind === 'alert') checkAlert(record.alert);
      else throw new Error('neither a Prediction nor an Alert');
      return record;
    } catch (e) {
      if (isTagstreamError(e) && !e.isRecordError) throw e;
      this.skippedRecords++;
      this.options.log.warn(
        { topic, partition, offset, err: e },
        'prediction sink: skipping a record the cache cannot hold',
      );
      return undefined;
    }
  }

  async stop(): Promise<void> {
    await this.consumer.stop();
    await this.consumer.disconnect();
  }
}
