// JSON Schemas of the API's requests and responses. Fastify validates requests and serialises responses with them,
// and openapi.ts publishes the same objects: a component used by identity becomes a $ref in /openapi.json.
import { ALERT_SEVERITIES } from '../schemas/catalog.ts';

export type JsonSchema = Readonly<Record<string, unknown>>;

const ms = (description: string): JsonSchema => ({ type: 'integer', format: 'int64', description });
const nullable = (type: string, description: string): JsonSchema => ({ type: [type, 'null'], description });

export const ErrorBody: JsonSchema = {
  type: 'object',
  description: 'Every error: a stable code from src/errors.ts and a message for people.',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', description: 'e.g. API_BAD_REQUEST, UNKNOWN_SERVICE, PREDICTION_NOT_FOUND' },
        message: { type: 'string' },
      },
    },
  },
};

export const Prediction: JsonSchema = {
  type: 'object',
  description: 'A prediction as published on predictions.<service> (schemas/avro/prediction.avsc).',
  required: [
    'service',
    'entity_id',
    'entity_type',
    'prediction',
    'lower',
    'upper',
    'horizon',
    'model_versions',
    'feature_snapshot_at',
    'inference_latency_us',
    'predicted_at',
    'event_time',
    'details',
  ],
  properties: {
    service: { type: 'string' },
    entity_id: { type: 'string' },
    entity_type: { type: 'string' },
    prediction: {
      type: 'number',
      description: 'Units, probability, grade, price multiplier or shortfall, by service.',
    },
    lower: nullable('number', 'Lower bound of the prediction interval.'),
    upper: nullable('number', 'Upper bound of the prediction interval.'),
    horizon: nullable('string', 'e.g. 1d or 7d.'),
    model_versions: { type: 'array', items: { type: 'string' } },
    feature_snapshot_at: ms('Newest feature value used, ms since epoch.'),
    inference_latency_us: { type: 'integer' },
    predicted_at: ms('Processing time, ms since epoch.'),
    event_time: ms('Event time of the triggering input, ms since epoch; the history is ordered by it.'),
    details: {
      description:
        'The service-specific explanation (pricing reasons, a restock transfer, a pack list), parsed from its JSON text; null when none.',
    },
  },
};

export const Alert: JsonSchema = {
  type: 'object',
  description: 'An alert as published on the alerts topic (schemas/avro/alert.avsc).',
  required: [
    'alert_id',
    'rule',
    'severity',
    'entity_id',
    'service',
    'message',
    'value',
    'threshold',
    'raised_at',
    'event_time',
  ],
  properties: {
    alert_id: { type: 'string' },
    rule: { type: 'string' },
    severity: { type: 'string', description: ALERT_SEVERITIES.join(', ') },
    entity_id: { type: 'string' },
    service: nullable('string', 'null for a pipeline-health rule.'),
    message: { type: 'string' },
    value: { type: 'number' },
    threshold: { type: 'number' },
    raised_at: ms('Processing time, ms since epoch; alerts are listed newest first by it.'),
    event_time: ms('Event time of the triggering input, ms since epoch.'),
  },
};

const summaryProperties = {
  service: { type: 'string' },
  version: { type: 'string' },
  algorithm: { type: 'string' },
  status: { type: 'string', enum: ['candidate', 'production', 'archived'] },
  sha256: { type: 'string', description: 'Of the ONNX artefact.' },
  feature_names: { type: 'array', items: { type: 'string' } },
  metrics: { type: 'object', additionalProperties: true, description: 'Validation metrics from training.' },
  validation_score: nullable(
    'number',
    'The latest CV fold score (MAE or log-loss, lower is better) that weighs the model in an ensemble; the holdout figures the gate compared are in metrics.',
  ),
  notes: nullable('string', ''),
  created_at: ms('ms since epoch.'),
  promoted_at: nullable('integer', 'Last promotion, ms since epoch.'),
  onnx_bytes: { type: 'integer', description: 'Size of the ONNX artefact (not included).' },
} as const;

export const ModelSummary: JsonSchema = {
  type: 'object',
  description: 'A model registry row (ml_models) without the ONNX bytes.',
  required: Object.keys(summaryProperties),
  properties: summaryProperties,
};

export const ModelDetail: JsonSchema = {
  type: 'object',
  description:
    'A model registry row with its spec (fitted preprocessing and estimator), without the ONNX bytes.',
  required: [...Object.keys(summaryProperties), 'spec'],
  properties: {
    ...summaryProperties,
    spec: { type: 'object', additionalProperties: true, description: 'src/ml/model-spec.ts ModelSpec.' },
  },
};

const counts = (description: string): JsonSchema => ({
  type: 'object',
  additionalProperties: { type: 'integer' },
  description,
});

export const DlqTopicSummary: JsonSchema = {
  type: 'object',
  required: [
    'topic',
    'source_topic',
    'partitions',
    'records',
    'complete',
    'by_code',
    'by_stage',
    'oldest_failed_at',
    'newest_failed_at',
    'undecodable',
  ],
  properties: {
    topic: { type: 'string' },
    source_topic: { type: 'string' },
    partitions: { type: 'integer' },
    records: { type: 'integer', description: 'Dead letters read.' },
    complete: {
      type: 'boolean',
      description:
        'False when only the newest max_records_per_topic offsets were read, or the read timed out.',
    },
    by_code: counts('Dead letters per error_code.'),
    by_stage: counts('Dead letters per failing stage.'),
    oldest_failed_at: nullable('integer', 'ms since epoch.'),
    newest_failed_at: nullable('integer', 'ms since epoch.'),
    undecodable: { type: 'integer', description: 'Records on the topic that are not dead letters.' },
  },
};

export const DlqSummary: JsonSchema = {
  type: 'object',
  required: ['topics', 'max_records_per_topic'],
  properties: {
    topics: { type: 'array', items: DlqTopicSummary },
    max_records_per_topic: { type: 'integer' },
  },
};

export const ReplayRequest: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    codes: {
      type: 'array',
      minItems: 1,
      maxItems: 64,
      uniqueItems: true,
      items: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' },
      description: 'Replay only dead letters with these error codes; omitted: every code.',
    },
    limit: {
      type: 'integer',
      minimum: 1,
      maximum: 100000,
      description: 'Replay at most this many; the rest stay for the next call. Default 100000.',
    },
    dryRun: {
      type: 'boolean',
      description: 'Count what would be replayed; publish nothing, remember nothing.',
    },
  },
};

export const ReplayResult: JsonSchema = {
  type: 'object',
  required: [
    'source_topic',
    'dlq_topic',
    'dry_run',
    'scanned',
    'replayed',
    'replayed_by_code',
    'skipped_other_code',
    'already_replayed',
    'undecodable',
    'complete',
  ],
  properties: {
    source_topic: { type: 'string' },
    dlq_topic: { type: 'string' },
    dry_run: { type: 'boolean' },
    scanned: { type: 'integer', description: 'Dead letters read in this call.' },
    replayed: { type: 'integer', description: 'Re-published to their source topic (dry run: would be).' },
    replayed_by_code: counts('Replayed per error_code.'),
    skipped_other_code: { type: 'integer', description: 'Read, but of a code not asked for.' },
    already_replayed: { type: 'integer', description: 'Read, but replayed by an earlier call.' },
    undecodable: { type: 'integer' },
    complete: {
      type: 'boolean',
      description:
        'True when every matching dead letter was handled; false when the limit (or a timeout) stopped it.',
    },
  },
};

export const ProbeResult: JsonSchema = {
  type: 'object',
  required: ['name', 'ok', 'latency_ms'],
  properties: {
    name: { type: 'string', description: 'kafka, schema_registry, mysql or redis' },
    ok: { type: 'boolean' },
    latency_ms: { type: 'number' },
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' } },
    },
  },
};

export const Readiness: JsonSchema = {
  type: 'object',
  required: ['status', 'checks'],
  properties: {
    status: { type: 'string', enum: ['ready', 'not_ready'] },
    checks: { type: 'array', items: ProbeResult },
  },
};

/** Named in /openapi.json under components.schemas; referenced wherever the same object is used. */
export const COMPONENTS: Readonly<Record<string, JsonSchema>> = {
  Error: ErrorBody,
  Prediction,
  Alert,
  ModelSummary,
  ModelDetail,
  DlqTopicSummary,
  DlqSummary,
  ReplayRequest,
  ReplayResult,
  ProbeResult,
  Readiness,
};
