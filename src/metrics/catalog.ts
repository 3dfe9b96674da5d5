// Every tagstream metric in one place: name, type, labels, help and buckets. The prom-client implementations in
// prometheus.ts declare their metrics from here, and tests hold docs/metrics.md and the Grafana dashboard to it.
// Names follow the Prometheus conventions: base units (seconds, bytes), `_total` on counters and only there,
// `_info` for an info gauge; labels have few values (pipeline, topic, partition, stage, service, reason, ...),
// never an entity id.

export type MetricType = 'counter' | 'gauge' | 'histogram';

export interface MetricSpec {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  readonly labels: readonly string[];
  /** Histograms only: upper bounds of the buckets. */
  readonly buckets?: readonly number[];
}

/** Where a metric is reported from (the metric table of docs/metrics.md is grouped the same way). */
export type MetricGroup = 'pipeline' | 'featureStore' | 'serving' | 'alerts';

/** Latency buckets from 0.5 ms to 10 s: feature reads and writes, inference. */
const FAST_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * From 10 ms to a day: a prediction is stamped against the event that triggered it, and replayed or late history
 * is hours or days old, which a 10 s top bucket would only show as +Inf.
 */
const EVENT_AGE_SECONDS = [
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  300,
  900,
  3600,
  4 * 3600,
  12 * 3600,
  86_400,
];

const spec = <const S extends MetricSpec>(s: S): S => s;

export const METRICS = {
  // --- the runtime (src/runtime, through PipelineMetrics) ---
  recordsIn: spec({
    name: 'tagstream_records_in_total',
    type: 'counter',
    help: 'Records consumed from a source topic',
    labels: ['pipeline', 'topic'],
  }),
  recordsOut: spec({
    name: 'tagstream_records_out_total',
    type: 'counter',
    help: 'Records produced to an output topic (dead letters excluded)',
    labels: ['pipeline', 'topic'],
  }),
  dlq: spec({
    name: 'tagstream_dlq_records_total',
    type: 'counter',
    help: 'Records sent to a dead-letter topic, by source topic, failing stage and reason code',
    labels: ['pipeline', 'source', 'stage', 'reason'],
  }),
  stageFailures: spec({
    name: 'tagstream_stage_failures_total',
    type: 'counter',
    help: "Stage failures that were not the record's fault (a dependency failed); the batch is retried",
    labels: ['pipeline', 'stage', 'reason'],
  }),
  commitDuration: spec({
    name: 'tagstream_commit_duration_seconds',
    type: 'histogram',
    help: 'Time to process a chunk of a batch, produce its outputs and commit its offsets',
    labels: ['pipeline'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  }),
  committed: spec({
    name: 'tagstream_records_committed_total',
    type: 'counter',
    help: 'Input records whose outputs and offsets are committed',
    labels: ['pipeline'],
  }),
  inFlight: spec({
    name: 'tagstream_in_flight_records',
    type: 'gauge',
    help: 'Records produced and not yet acknowledged',
    labels: ['pipeline'],
  }),
  paused: spec({
    name: 'tagstream_paused_partitions',
    type: 'gauge',
    help: 'Partitions paused by backpressure',
    labels: ['pipeline'],
  }),
  consumerLag: spec({
    name: 'tagstream_consumer_lag_records',
    type: 'gauge',
    help: 'Records between the consumer group position and the end of a source partition, after each committed chunk',
    labels: ['pipeline', 'topic', 'partition'],
  }),
  stateEntries: spec({
    name: 'tagstream_state_entries',
    type: 'gauge',
    help: 'Entries held in a state store on this instance (all its partitions)',
    labels: ['pipeline', 'store'],
  }),
  watermarkDelay: spec({
    name: 'tagstream_watermark_delay_seconds',
    type: 'gauge',
    help: "Wall clock at scrape time minus a window stage's event-time watermark on a partition",
    labels: ['pipeline', 'stage', 'partition'],
  }),
  lateRecords: spec({
    name: 'tagstream_late_records_total',
    type: 'counter',
    help: 'Records that arrived after their window closed (sent to late.<topic>), by source topic and missed window',
    labels: ['pipeline', 'topic', 'window'],
  }),
  // --- the feature store (src/store/feature-store.ts, through FeatureStoreMetrics) ---
  featureStoreRead: spec({
    name: 'tagstream_feature_store_read_seconds',
    type: 'histogram',
    help: 'Feature store reads: get_features and get_feature_matrix (Redis), get_training_frame (MySQL as-of join)',
    labels: ['operation'],
    buckets: [...FAST_SECONDS, 30, 60],
  }),
  featureStoreWrite: spec({
    name: 'tagstream_feature_store_write_seconds',
    type: 'histogram',
    help: 'Feature store writes of one batch, by store: offline (MySQL) or online (Redis)',
    labels: ['store'],
    buckets: FAST_SECONDS,
  }),
  // --- serving (src/serving, through ServingMetrics) ---
  inferenceDuration: spec({
    name: 'tagstream_inference_duration_seconds',
    type: 'histogram',
    help: 'Duration of one inference call (a micro-batch of events)',
    labels: ['service'],
    buckets: FAST_SECONDS,
  }),
  inferenceBatchSize: spec({
    name: 'tagstream_inference_batch_size',
    type: 'histogram',
    help: 'Events scored together in one inference call',
    labels: ['service'],
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048],
  }),
  eventToPrediction: spec({
    name: 'tagstream_event_to_prediction_seconds',
    type: 'histogram',
    help: 'Seconds from the event time of the triggering input to the prediction being published',
    labels: ['service'],
    buckets: EVENT_AGE_SECONDS,
  }),
  predictions: spec({
    name: 'tagstream_predictions_total',
    type: 'counter',
    help: 'Predictions published to predictions.<service>',
    labels: ['service'],
  }),
  predictionsSkipped: spec({
    name: 'tagstream_predictions_skipped_total',
    type: 'counter',
    help: 'Events that got no prediction, by reason (e.g. no_model)',
    labels: ['service', 'reason'],
  }),
  modelVersion: spec({
    name: 'tagstream_model_version_info',
    type: 'gauge',
    help: 'The model version a service serves: one series per service, value 1',
    labels: ['service', 'version', 'algorithm'],
  }),
  modelMetric: spec({
    name: 'tagstream_model_metric',
    type: 'gauge',
    help: 'Validation metrics (mae, rmse, auc, ...) of the model version a service serves, as recorded at training',
    labels: ['service', 'metric'],
  }),
  servingFeatureRead: spec({
    name: 'tagstream_serving_feature_read_seconds',
    type: 'histogram',
    help: 'Online feature reads of the serving flows (one per micro-batch)',
    labels: [],
    buckets: FAST_SECONDS,
  }),
  servingFeatureEntities: spec({
    name: 'tagstream_serving_feature_read_entities_total',
    type: 'counter',
    help: 'Entities whose features the serving flows read',
    labels: [],
  }),
  servingFeaturesAhead: spec({
    name: 'tagstream_serving_features_ahead_total',
    type: 'counter',
    help: 'Feature values scoring read newer than the event it scored (no versions kept, or none reaching back that far)',
    labels: ['kind'],
  }),
  servingSinkWait: spec({
    name: 'tagstream_serving_sink_wait_seconds',
    type: 'histogram',
    help: 'Scoring waiting for a sink (history, feature-store) to store what the scored events follow (one per micro-batch that waited)',
    labels: ['sink'],
    buckets: FAST_SECONDS,
  }),
  servingSinkStale: spec({
    name: 'tagstream_serving_sink_stale_total',
    type: 'counter',
    help: 'Partitions scoring stopped waiting on because their sink (history, feature-store) made no progress for serving.sinkWaitMs',
    labels: ['sink'],
  }),
  driftPsi: spec({
    name: 'tagstream_drift_psi',
    type: 'gauge',
    help:
      "PSI of a service's live window against its model's training reference, per input column and for the " +
      'predictions (feature="prediction")',
    labels: ['service', 'feature'],
  }),
  driftWindowRows: spec({
    name: 'tagstream_drift_window_rows',
    type: 'gauge',
    help: "Rows in a service's drift window (PSI is computed once it holds serving.alerts.drift.window)",
    labels: ['service'],
  }),
  // --- alert rules ---
  alerts: spec({
    name: 'tagstream_alerts_total',
    type: 'counter',
    help: 'Alerts raised to the alerts topic, by rule and severity',
    labels: ['rule', 'severity'],
  }),
} as const satisfies Readonly<Record<string, MetricSpec>>;

export type MetricKey = keyof typeof METRICS;

export const METRIC_GROUPS: Readonly<Record<MetricGroup, readonly MetricKey[]>> = {
  pipeline: [
    'recordsIn',
    'recordsOut',
    'dlq',
    'stageFailures',
    'commitDuration',
    'committed',
    'inFlight',
    'paused',
    'consumerLag',
    'stateEntries',
    'watermarkDelay',
    'lateRecords',
  ],
  featureStore: ['featureStoreRead', 'featureStoreWrite'],
  serving: [
    'inferenceDuration',
    'inferenceBatchSize',
    'eventToPrediction',
    'predictions',
    'predictionsSkipped',
    'modelVersion',
    'modelMetric',
    'servingFeatureRead',
    'servingFeatureEntities',
    'servingFeaturesAhead',
    'servingSinkWait',
    'servingSinkStale',
    'driftPsi',
    'driftWindowRows',
  ],
  alerts: ['alerts'],
};

/** Prefix of the Node process metrics (prom-client's default metrics) in the registry. */
export const PROCESS_METRICS_PREFIX = 'tagstream_';
