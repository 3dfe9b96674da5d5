// The REST API's routes as data: path, schemas, docs and a handler over injected dependencies. server.ts registers
// them with fastify (which validates with the schemas) and openapi.ts documents them: one source for both.
import { TagstreamError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { ModelRecord, ModelRegistry, ModelSummary } from '../ml/registry/registry.ts';
import { ALERT_SEVERITIES } from '../schemas/catalog.ts';
import type { Prediction } from '../schemas/types.ts';
import { PREDICTION_SERVICES, isPredictionService } from '../features/vocabulary.ts';
import type { PredictionCache } from '../serving/prediction-cache.ts';
import type { FeatureStore } from '../store/types.ts';
import type { DlqService, ReplayRequest } from './dlq.ts';
import { parseFeatureRefs, parseRange } from './query.ts';
import { runProbes, type ReadinessProbe } from './readiness.ts';
import * as S from './schemas.ts';
import type { JsonSchema } from './schemas.ts';

/** What the routes need; each is an interface, so tests can pass in-memory fakes. */
export interface ApiDeps {
  readonly cache: Pick<PredictionCache, 'latest' | 'range' | 'recentAlerts'>;
  readonly features: Pick<FeatureStore, 'getFeatures'>;
  readonly models: Pick<ModelRegistry, 'list' | 'get'>;
  readonly dlq: Pick<DlqService, 'summary' | 'replay'>;
  readonly probes: readonly ReadinessProbe[];
  readonly log: Logger;
  /** Per-probe timeout of /readyz (default 2000 ms). */
  readonly probeTimeoutMs?: number;
}

export interface ApiRequest {
  readonly params: Readonly<Record<string, string>>;
  readonly query: Readonly<Record<string, unknown>>;
  readonly body: unknown;
}

export interface ApiResponse {
  readonly status?: number;
  readonly body: unknown;
}

export interface ResponseDoc {
  readonly description: string;
  readonly schema: JsonSchema;
}

export interface RouteDef {
  readonly method: 'GET' | 'POST';
  /** fastify syntax (`:param`); openapi.ts turns it into `{param}`. */
  readonly url: string;
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  readonly tag: string;
  /**
   * Who may call it once tokens are configured: `public` anyone (health, the OpenAPI document), `read` the read or
   * the admin token, `admin` the admin token only (dead letters: raw records and replay).
   */
  readonly scope: ApiScope;
  readonly params?: JsonSchema;
  readonly querystring?: JsonSchema;
  readonly body?: JsonSchema;
  readonly responses: Readonly<Record<number, ResponseDoc>>;
  readonly handler: (req: ApiRequest, deps: ApiDeps) => Promise<ApiResponse>;
}

export type ApiScope = 'public' | 'read' | 'admin';

export const API_VERSION = '1.0.0';

const started = Date.now();

const err = (description: string): ResponseDoc => ({ description, schema: S.ErrorBody });
const BAD = err('A parameter is malformed (code API_BAD_REQUEST).');
const UNAUTHORIZED = err(
  'Tokens are configured and the request has no valid `Authorization: Bearer` (API_UNAUTHORIZED).',
);
const FORBIDDEN = err('The token is the read token; this route needs the admin token (API_FORBIDDEN).');
const RATE_LIMITED = err(
  'More requests than api.rateLimitPerMinute from this token or address (API_RATE_LIMITED).',
);
const UNAVAILABLE = err('A dependency is down (KAFKA_/REGISTRY_/MYSQL_/REDIS_UNAVAILABLE).');
const UNKNOWN_SERVICE = err(`The service is not one of ${PREDICTION_SERVICES.join(', ')} (UNKNOWN_SERVICE).`);

const serviceParam = {
  type: 'string',
  maxLength: 64,
  description: `One of ${PREDICTION_SERVICES.join(', ')}.`,
} as const;
const entityParam = {
  type: 'string',
  minLength: 1,
  maxLength: 256,
  description: 'Entity id as in the prediction, e.g. a tag id or `S1|TENT-40x60` (URL-encoded).',
} as const;
/** The path parameters of both prediction routes. */
const predictionParams = {
  type: 'object',
  required: ['service', 'entityId'],
  properties: { service: serviceParam, entityId: entityParam },
} as const;

const list = (
  items: JsonSchema,
  description: string,
  extra: Record<string, JsonSchema> = {},
): JsonSchema => ({
  type: 'object',
  required: ['items', ...Object.keys(extra)],
  properties: { ...extra, items: { type: 'array', items, description } },
});

function requireService(service: string): void {
  if (!isPredictionService(service))
    throw new TagstreamError(
      'UNKNOWN_SERVICE',
      `unknown service '${service}': expected one of ${PREDICTION_SERVICES.join(', ')}`,
      { details: { service } },
    );
}

/** The Avro record with `details` parsed from its JSON text (left as text if it is not JSON). */
export function toApiPrediction(p: Prediction): Record<string, unknown> {
  let details: unknown = p.details;
  if (typeof p.details === 'string')
    try {
      details = JSON.parse(p.details);
    } catch {
      details = p.details;
    }
  return { ...p, details };
}

export function toApiModel(m: ModelSummary): Record<string, unknown> {
  return {
    service: m.service,
    version: m.version,
    algorithm: m.algorithm,
    status: m.status,
    sha256: m.sha256,
    feature_names: m.featureNames,
    metrics: m.metrics,
    validation_score: m.validationScore,
    notes: m.notes,
    created_at: m.createdAt,
    promoted_at: m.promotedAt,
    onnx_bytes: m.onnxBytes,
  };
}

const optionalString = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

export const ROUTES: readonly RouteDef[] = [
  {
    method: 'GET',
    url: '/healthz',
    operationId: 'health',
    summary: 'Liveness: the process is up',
    description: 'Answers 200 while the process runs; checks no dependency (see /readyz).',
    tag: 'health',
    scope: 'public',
    responses: {
      200: {
        description: 'Up.',
        schema: {
          type: 'object',
          required: ['status', 'uptime_s'],
          properties: { status: { type: 'string', enum: ['ok'] }, uptime_s: { type: 'number' } },
        },
      },
    },
    handler: async () => ({ body: { status: 'ok', uptime_s: Math.round((Date.now() - started) / 1000) } }),
  },
  {
    method: 'GET',
    url: '/readyz',
    operationId: 'ready',
    summary: 'Readiness: every dependency answers',
    description:
      'Runs one small request against Kafka (metadata), the schema registry (GET /config), MySQL (SELECT 1) and ' +
      'Redis (PING) at once, each with a timeout, and reports each with ok, latency and the error if any. ' +
      '503 when any fails.',
    tag: 'health',
    scope: 'public',
    responses: {
      200: { description: 'Every dependency answered.', schema: S.Readiness },
      503: { description: 'At least one dependency failed; see checks.', schema: S.Readiness },
    },
    handler: async (_req, deps) => {
      const r = await runProbes(deps.probes, deps.probeTimeoutMs ?? 2_000);
      return {
        status: r.ready ? 200 : 503,
        body: { status: r.ready ? 'ready' : 'not_ready', checks: r.checks },
      };
    },
  },
  {
    method: 'GET',
    url: '/v1/predictions/:service/:entityId',
    operationId: 'latestPrediction',
    summary: 'Latest prediction of a service for an entity',
    description:
      'The cached prediction with the highest event_time (the prediction cache in Redis, fed by the prediction sink).',
    tag: 'predictions',
    scope: 'read',
    params: predictionParams,
    responses: {
      200: { description: 'The latest prediction.', schema: S.Prediction },
      400: BAD,
      401: UNAUTHORIZED,
      429: RATE_LIMITED,
      404: err(
        'Unknown service (UNKNOWN_SERVICE) or no prediction cached for the entity (PREDICTION_NOT_FOUND).',
      ),
      503: UNAVAILABLE,
    },
    handler: async ({ params }, deps) => {
      const service = params['service']!;
      const entityId = params['entityId']!;
      requireService(service);
      const p = await deps.cache.latest(service, entityId);
      if (p === undefined)
        throw new TagstreamError(
          'PREDICTION_NOT_FOUND',
          `no ${service} prediction cached for entity '${entityId}'`,
          {
            details: { service, entityId },
          },
        );
      return { body: toApiPrediction(p) };
    },
  },
  {
    method: 'GET',
    url: '/v1/predictions/:service/:entityId/history',
    operationId: 'predictionHistory',
    summary: 'Prediction history of a service for an entity',
    description:
      'Cached predictions with event_time in [from, to] (both optional, inclusive), newest first. The cache keeps ' +
      'the newest api.historyPerEntity per service and entity. An entity without predictions gives an empty list.',
    tag: 'predictions',
    scope: 'read',
    params: predictionParams,
    querystring: {
      type: 'object',
      properties: {
        from: {
          type: 'string',
          description: 'ISO 8601 date or date-time (UTC unless an offset is given), or ms since epoch.',
        },
        to: { type: 'string', description: 'As from; must not be before from.' },
        limit: {
          type: 'integer',
          minimum: 1,
          maximum: 1000,
          default: 100,
          description: 'Most entries returned.',
        },
      },
    },
    responses: {
      200: {
        description: 'Newest first.',
        schema: list(S.Prediction, 'Newest first by event_time.', {
          service: { type: 'string' },
          entity_id: { type: 'string' },
        }),
      },
      400: BAD,
      401: UNAUTHORIZED,
      429: RATE_LIMITED,
      404: UNKNOWN_SERVICE,
      503: UNAVAILABLE,
    },
    handler: async ({ params, query }, deps) => {
      const service = params['service']!;
      const entityId = params['entityId']!;
      requireService(service);
      const range = parseRange(optionalString(query['from']), optionalString(query['to']));
      const items = await deps.cache.range(service, entityId, { ...range, limit: query['limit'] as number });
      return { body: { service, entity_id: entityId, items: items.map(toApiPrediction) } };
    },
  },
  {
    method: 'GET',
    url: '/v1/alerts',
    operationId: 'recentAlerts',
    summary: 'Recent alerts',
    description:
      'The newest alerts by raised_at from the cache (the latest 1000 alerts, de-duplicated by alert_id), filtered by severity and rule.',
    tag: 'alerts',
    scope: 'read',
    querystring: {
      type: 'object',
      properties: {
        limit: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
        severity: { type: 'string', enum: [...ALERT_SEVERITIES] },
        rule: { type: 'string', minLength: 1, maxLength: 128 },
      },
    },
    responses: {
      200: { description: 'Newest first.', schema: list(S.Alert, 'Newest first by raised_at.') },
      400: BAD,
      401: UNAUTHORIZED,
      429: RATE_LIMITED,
      503: UNAVAILABLE,
    },
    handler: async ({ query }, deps) => {
      const severity = optionalString(query['severity']);
      const rule = optionalString(query['rule']);
      const items = await deps.cache.recentAlerts({
        limit: query['limit'] as number,
        ...(severity === undefined ? {} : { severity }),
        ...(rule === undefined ? {} : { rule }),
      });
      return { body: { items } };
    },
  },
  {
    method: 'GET',
    url: '/v1/features/:entityId',
    operationId: 'features',
    summary: 'Latest feature values of an entity',
    description:
      'From the online feature store (Redis). A feature with no value gets its documented default (docs/architecture.md, Feature store).',
    tag: 'features',
    scope: 'read',
    params: { type: 'object', required: ['entityId'], properties: { entityId: entityParam } },
    querystring: {
      type: 'object',
      required: ['features'],
      properties: {
        features: {
          type: 'string',
          minLength: 1,
          maxLength: 4000,
          description:
            'Comma-separated `name` or `name@window`, e.g. `usage_frequency_7d,rentals@1h` (at most 100).',
        },
      },
    },
    responses: {
      200: {
        description: 'One value per requested feature, keyed `name` or `name@window`.',
        schema: {
          type: 'object',
          required: ['entity_id', 'features'],
          properties: {
            entity_id: { type: 'string' },
            features: { type: 'object', additionalProperties: { type: 'number' } },
          },
        },
      },
      400: BAD,
      401: UNAUTHORIZED,
      429: RATE_LIMITED,
      503: UNAVAILABLE,
    },
    handler: async ({ params, query }, deps) => {
      const entityId = params['entityId']!;
      const refs = parseFeatureRefs(String(query['features']));
      return { body: { entity_id: entityId, features: await deps.features.getFeatures(entityId, refs) } };
    },
  },
  {
    method: 'GET',
    url: '/v1/models',
    operationId: 'listModels',
    summary: 'Registered models',
    description: 'The model registry (ml_models), newest first within a service, without the ONNX bytes.',
    tag: 'models',
    scope: 'read',
    querystring: { type: 'object', properties: { service: serviceParam } },
    responses: {
      200: { description: 'Models.', schema: list(S.ModelSummary, 'Newest first within a service.') },
      400: BAD,
      401: UNAUTHORIZED,
      429: RATE_LIMITED,
      404: UNKNOWN_SERVICE,
      503: UNAVAILABLE,
    },
    handler: async ({ query }, deps) => {
      const service = optionalString(query['service']);
      if (service !== undefined) requireService(service);
      return { body: { items: (await deps.models.list(service)).map(toApiModel) } };
    },
  },
  {
    method: 'GET',
    url: '/v1/models/:service/:version',
    operationId: 'getModel',
    summary: 'One model version',
    description: 'A registry row with its spec (preprocessing and estimator), without the ONNX bytes.',
    tag: 'models',
    scope: 'read',
    params: {
      type: 'object',
      required: ['service', 'version'],
      properties: { service: serviceParam, version: { type: 'string', minLength: 1, maxLength: 128 } },
    },
    responses: {
      200: { description: 'The model.', schema: S.ModelDetail },
      400: BAD,
      401: UNAUTHORIZED,
      429: RATE_LIMITED,
      404: err('Unknown service (UNKNOWN_SERVICE) or version (MODEL_NOT_FOUND).'),
      503: UNAVAILABLE,
    },
    handler: async ({ params }, deps) => {
      const service = params['service']!;
      const version = params['version']!;
      requireService(service);
      const m: ModelRecord | undefined = await deps.models.get(service, version);
      if (m === undefined)
        throw new TagstreamError(
          'MODEL_NOT_FOUND',
          `no model ${version} for service ${service} in the registry`,
          {
            details: { service, version },
          },
        );
      return { body: { ...toApiModel(m), spec: m.spec } };
    },
  },
  {
    method: 'GET',
    url: '/v1/dlq',
    operationId: 'dlqSummary',
    summary: 'Dead-letter topics: counts by error code and stage',
    description:
      'Lists the topics named `<topics.dlqPrefix>*`, then reads each from its start (at most the newest ' +
      'max_records_per_topic records, 10,000 by default) up to its end offset at request time, with a short-lived ' +
      'consumer in a throw-away group that is deleted afterwards. Concurrent calls share one read. Takes about a ' +
      'second on a local broker; `complete` says whether the whole topic was read.',
    tag: 'dlq',
    scope: 'admin',
    responses: {
      200: { description: 'One entry per dead-letter topic.', schema: S.DlqSummary },
      401: UNAUTHORIZED,
      429: RATE_LIMITED,
      403: FORBIDDEN,
      503: UNAVAILABLE,
    },
    handler: async (_req, deps) => ({ body: await deps.dlq.summary() }),
  },
  {
    method: 'POST',
    url: '/v1/dlq/:sourceTopic/replay',
    operationId: 'replayDlq',
    summary: 'Re-publish dead letters to their source topic',
    description:
      'After a fix, re-sends the original key and value bytes of the dead letters on `<topics.dlqPrefix><sourceTopic>` ' +
      '(optionally only some error codes, at most limit) to the topic they came from, with a header ' +
      '`tagstream-replay-of: <dlq topic>/<partition>/<offset>`. The records and the replay position are committed in ' +
      'one Kafka transaction, as offsets of the consumer group `<pipeline.groupId>-dlq-replay` (and ' +
      '`<pipeline.groupId>-dlq-replay.<CODE>` for a replay filtered by code), so no dead letter is replayed twice by ' +
      'later calls. dryRun counts without publishing or remembering anything.',
    tag: 'dlq',
    scope: 'admin',
    params: {
      type: 'object',
      required: ['sourceTopic'],
      properties: {
        sourceTopic: {
          type: 'string',
          pattern: '^[A-Za-z0-9._-]{1,249}$',
          description: 'The topic the dead letters came from, e.g. rfid.scans.',
        },
      },
    },
    body: S.ReplayRequest,
    responses: {
      200: { description: 'What was (or, with dryRun, would be) replayed.', schema: S.ReplayResult },
      400: BAD,
      401: UNAUTHORIZED,
      429: RATE_LIMITED,
      403: FORBIDDEN,
      404: err('No dead-letter topic for that source topic (DLQ_NOT_FOUND).'),
      503: UNAVAILABLE,
    },
    handler: async ({ params, body }, deps) => {
      const b = (body ?? {}) as ReplayRequest;
      const request: ReplayRequest = {
        ...(b.codes === undefined ? {} : { codes: b.codes }),
        limit: b.limit ?? 100_000,
        dryRun: b.dryRun ?? false,
      };
      return { body: await deps.dlq.replay(params['sourceTopic']!, request) };
    },
  },
];
