// In-memory stand-ins for the API's dependencies, for unit tests of validation, auth and error mapping.
import type { ApiDeps } from '../../src/api/routes.ts';
import type { DlqSummary, ReplayRequest, ReplayResult } from '../../src/api/dlq.ts';
import type { ReadinessProbe } from '../../src/api/readiness.ts';
import { TagstreamError } from '../../src/errors.ts';
import { createLogger } from '../../src/log.ts';
import type { ModelRecord, ModelSummary } from '../../src/ml/registry/registry.ts';
import type { ModelSpec } from '../../src/ml/model-spec.ts';
import type { Alert, Prediction } from '../../src/schemas/types.ts';
import type { AlertQuery, RangeQuery } from '../../src/serving/prediction-cache.ts';
import type { FeatureRef } from '../../src/features/keys.ts';

export const T0 = Date.UTC(2026, 5, 15, 12);

export function prediction(over: Partial<Prediction> = {}): Prediction {
  return {
    service: 'demand',
    entity_id: 'S1|TENT-40x60',
    entity_type: 'class_store',
    prediction: 12.5,
    lower: 10,
    upper: 15,
    horizon: '1d',
    model_versions: ['demand-20260601000000-abcdef12'],
    feature_snapshot_at: T0 - 1_000,
    inference_latency_us: 420,
    predicted_at: T0 + 5,
    event_time: T0,
    details: '{"reason":"weekend"}',
    ...over,
  };
}

export function alert(over: Partial<Alert> = {}): Alert {
  return {
    alert_id: 'a-1',
    rule: 'maintenance_risk',
    severity: 'warning',
    entity_id: 'tag-1',
    service: 'maintenance',
    message: 'repair likely',
    value: 0.6,
    threshold: 0.5,
    raised_at: T0,
    event_time: T0,
    ...over,
  };
}

const SPEC: ModelSpec = {
  service: 'demand',
  algorithm: 'linear',
  preprocessing: { numeric: ['x'], impute: [0], categorical: [], categories: [], offset: [0], scale: [1] },
  estimator: { kind: 'linear-regressor', coefficients: [2], intercept: 1 },
};

export const MODEL: ModelSummary = {
  id: 1,
  service: 'demand',
  version: 'demand-20260601000000-abcdef12',
  algorithm: 'linear',
  status: 'production',
  sha256: 'ab'.repeat(32),
  featureNames: ['x'],
  metrics: { mae: 1.5 },
  validationScore: 1.5,
  notes: null,
  createdAt: T0,
  promotedAt: T0 + 1,
  onnxBytes: 123,
};

export interface Calls {
  range: Array<{ service: string; entityId: string; query: RangeQuery | undefined }>;
  alerts: Array<AlertQuery | undefined>;
  features: Array<{ entityId: string; refs: readonly FeatureRef[] }>;
  replay: Array<{ sourceTopic: string; request: ReplayRequest }>;
}

export interface FakeOptions {
  readonly predictions?: readonly Prediction[];
  readonly alerts?: readonly Alert[];
  readonly probes?: readonly ReadinessProbe[];
  /** Thrown by every cache read. */
  readonly cacheError?: unknown;
}

export function fakeDeps(options: FakeOptions = {}): { deps: ApiDeps; calls: Calls } {
  const calls: Calls = { range: [], alerts: [], features: [], replay: [] };
  const preds = options.predictions ?? [prediction()];
  const fail = () => {
    if (options.cacheError !== undefined) throw options.cacheError;
  };
  const deps: ApiDeps = {
    cache: {
      async latest(service, entityId) {
        fail();
        return preds
          .filter((p) => p.service === service && p.entity_id === entityId)
          .sort((a, b) => b.event_time - a.event_time)[0];
      },
      async range(service, entityId, query) {
        fail();
        calls.range.push({ service, entityId, query });
        return preds.filter((p) => p.service === service && p.entity_id === entityId);
      },
      async recentAlerts(query) {
        fail();
        calls.alerts.push(query);
        return [...(options.alerts ?? [alert()])];
      },
    },
    features: {
      async getFeatures(entityId, refs) {
        calls.features.push({ entityId, refs });
        return Object.fromEntries(refs.map((r) => [r.window ? `${r.name}@${r.window}` : r.name, 1]));
      },
    },
    models: {
      async list(service) {
        return service === undefined || service === 'demand' ? [MODEL] : [];
      },
      async get(service, version): Promise<ModelRecord | undefined> {
        return service === MODEL.service && version === MODEL.version
          ? { ...MODEL, spec: SPEC, onnx: new Uint8Array([1, 2, 3]) }
          : undefined;
      },
    },
    dlq: {
      async summary(): Promise<DlqSummary> {
        return { topics: [], max_records_per_topic: 10_000 };
      },
      async replay(sourceTopic, request): Promise<ReplayResult> {
        calls.replay.push({ sourceTopic, request });
        if (sourceTopic === 'missing')
          throw new TagstreamError('DLQ_NOT_FOUND', 'no dead-letter topic dlq.missing');
        return {
          source_topic: sourceTopic,
          dlq_topic: `dlq.${sourceTopic}`,
          dry_run: request.dryRun ?? false,
          scanned: 0,
          replayed: 0,
          replayed_by_code: {},
          skipped_other_code: 0,
          already_replayed: 0,
          undecodable: 0,
          complete: true,
        };
      },
    },
    probes: options.probes ?? [
      { name: 'kafka', check: async () => undefined },
      { name: 'redis', check: async () => undefined },
    ],
    log: createLogger('api-test', 'silent'),
    probeTimeoutMs: 200,
  };
  return { deps, calls };
}

/** A parsed response body as the tests read it: which fields exist depends on the route. */
export interface ApiBody {
  readonly [key: string]: unknown;
  readonly error: { readonly code: string; readonly message: string };
  readonly items: ReadonlyArray<Record<string, unknown>>;
  readonly checks: ReadonlyArray<{
    readonly name: string;
    readonly ok: boolean;
    readonly latency_ms: number;
    readonly error?: { readonly code: string; readonly message: string };
  }>;
}

/** The value at a path of nested objects and arrays, undefined where the path ends. */
export function at(value: unknown, ...path: ReadonlyArray<string | number>): unknown {
  return path.reduce<unknown>(
    (acc, key) =>
      acc !== null && typeof acc === 'object' ? (acc as Record<string | number, unknown>)[key] : undefined,
    value,
  );
}
