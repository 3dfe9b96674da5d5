// The prediction cache sink node: predictions.<service> and alerts into the prediction cache (Redis) that the REST
// API reads. At-least-once, like the feature store sink: the runner commits offsets after the cache acknowledged
// the batch, and the cache's writes are idempotent (history keyed by event time, alerts by alert_id), so a
// re-delivered batch changes nothing. A record that is neither goes to dlq.<topic> with its reason.
import type { Config } from '../../config/schema.ts';
import { predictionTopic } from '../../config/topics.ts';
import { recordError } from '../errors.ts';
import { mapOperator } from '../runtime/operator.ts';
import { Flow, topology, type SinkNode, type Topology } from '../runtime/topology.ts';
import type { Alert, Prediction } from '../schemas/types.ts';
import { PREDICTION_SERVICES } from '../features/vocabulary.ts';
import { checkAlert, checkPrediction, type PredictionCache } from '../serving/prediction-cache.ts';

/** The topics the sink reads: `<predictionsPrefix><service>` for the six services, and the alerts topic. */
export function predictionSinkTopics(config: Config): string[] {
  return [...PREDICTION_SERVICES.map((s) => predictionTopic(config.topics, s)), config.topics.alerts];
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

/** A decoded record as a prediction or an alert; anything else is a record error (dead-lettered with its reason). */
export const classifyForCache = mapOperator<unknown, CacheRecord>('classify', (value, rec) => {
  const record = classify(value);
  if (record.kind === 'prediction') checkPrediction(record.prediction);
  else if (record.kind === 'alert') checkAlert(record.alert);
  else throw recordError('DECODE_SCHEMA_MISMATCH', 'neither a Prediction nor an Alert');
  return { ...rec, value: record };
});

export type CacheRecord = Exclude<SinkRecord, { kind: 'unknown' }>;

/** Writes predictions and alerts into the cache; `onWritten` gets what was new (re-deliveries not counted). */
export function predictionCacheSink(
  cache: PredictionCache,
  onWritten?: (n: { predictions: number; alerts: number }) => void,
): SinkNode<CacheRecord> {
  return {
    name: 'prediction-cache',
    async write(records) {
      const predictions: Prediction[] = [];
      const alerts: Alert[] = [];
      for (const { value } of records)
        if (value.kind === 'prediction') predictions.push(value.prediction);
        else alerts.push(value.alert);
      const stored = {
        predictions: await cache.write(predictions),
        alerts: await cache.writeAlerts(alerts),
      };
      onWritten?.(stored);
    },
  };
}

/** Consumer group `<pipeline.groupId>-predictions`: predictions.<service> and alerts into the prediction cache. */
export function predictionCacheTopology(
  config: Config,
  cache: PredictionCache,
  onWritten?: (n: { predictions: number; alerts: number }) => void,
): Topology {
  const node = predictionCacheSink(cache, onWritten);
  return topology(
    'predictions',
    predictionSinkTopics(config).map((t) => Flow.from(t).via(classifyForCache).sink(node)),
  );
}
