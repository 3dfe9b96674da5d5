// The model registry over the ml_models table (schemas/sql/003_models.sql): register a trained model (ONNX bytes,
// spec, metrics), list and read versions, and move them through candidate → production → archived. Promotion and
// rollback run in one SQL transaction that keeps at most one production row per service; announcing the result on
// models.versions is publisher.ts's job. A model may carry its drift reference (src/ml/drift.ts) and its prediction
// interval (schemas/sql/005_model_drift.sql): serving reads both with the model.
import { createHash } from 'node:crypto';
import { TagstreamError } from '../../errors.ts';
import type { Sql } from '../../io/mysql/pool.ts';
import type { ModelVersion } from '../../schemas/types.ts';
import { isDriftReference, type DriftReference } from '../drift.ts';
import type { ModelSpec } from '../model-spec.ts';
import { loadModel } from '../onnx/session.ts';
import { checkSpec } from '../predict.ts';

export const MODEL_STATUSES = ['candidate', 'production', 'archived'] as const;
export type ModelStatus = (typeof MODEL_STATUSES)[number];

export type ModelMetrics = Readonly<Record<string, unknown>>;

/** A registry row without the large columns (ONNX bytes, spec). Times are ms since epoch UTC. */
export interface ModelSummary {
  readonly id: number;
  readonly service: string;
  readonly version: string;
  readonly algorithm: string;
  readonly status: ModelStatus;
  readonly sha256: string;
  readonly featureNames: readonly string[];
  readonly metrics: ModelMetrics;
  readonly validationScore: number | null;
  readonly notes: string | null;
  readonly createdAt: number;
  readonly promotedAt: number | null;
  /** Size of the ONNX artefact in bytes. */
  readonly onnxBytes: number;
}

/**
 * A split-conformal prediction interval: `lower` and `upper` are offsets added to the point prediction, and the true
 * value fell inside [prediction + lower, prediction + upper] for `coverage` of the calibration rows (e.g. 0.9).
 */
export interface PredictionInterval {
  readonly coverage: number;
  readonly lower: number;
  readonly upper: number;
}

/** A whole registry row: the summary plus the spec, the ONNX bytes, and the drift reference and interval if stored. */
export interface ModelRecord extends ModelSummary {
  readonly spec: ModelSpec;
  readonly onnx: Uint8Array;
  /** The training data binned (src/ml/drift.ts); absent for models registered without one. */
  readonly reference?: DriftReference;
  readonly interval?: PredictionInterval;
}

export interface RegisterInput {
  readonly service: string;
  readonly algorithm: string;
  readonly spec: ModelSpec;
  readonly onnx: Uint8Array;
  readonly metrics: ModelMetrics;
  readonly validationScore?: number | null;
  /** Model inputs in graph order; default: the spec's numeric then categorical columns. */
  readonly featureNames?: readonly string[];
  readonly notes?: string | null;
  /** What serving compares live inputs and predictions with (driftReference over the training rows). */
  readonly reference?: DriftReference;
  /** Offsets serving adds to each point prediction for its lower and upper bound. */
  readonly interval?: PredictionInterval;
}

export interface ModelRegistry {
  /**
   * Stores a new candidate. The ONNX bytes must load in onnxruntime and take the spec's columns. Registering the
   * same bytes for the same service within the same second returns the existing version (a retried call).
   */
  register(input: RegisterInput): Promise<{ version: string }>;
  get(service: string, version: string): Promise<ModelRecord | undefined>;
  /** Newest first within a service; services in name order. */
  list(service?: string): Promise<ModelSummary[]>;
  production(service: string): Promise<ModelRecord | undefined>;
  /**
   * Makes `version` the production model of `service` in one transaction: the current production row becomes
   * archived, this one production with promoted_at = now. Idempotent: promoting the production version again
   * changes nothing and returns the same record. Returns the record to announce on models.versions.
   */
  promote(service: string, version: string): Promise<ModelVersion>;
  /** Re-promotes the most recently archived former production version (throws MODEL_NO_ROLLBACK when none). */
  rollback(service: string): Promise<ModelVersion>;
}

export interface RegistryOptions {
  /** Wall clock in ms since epoch; injected by tests. */
  readonly now?: () => number;
}

const SERVICE = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** Hex SHA-256 of the bytes. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** `<service>-<UTC yyyymmddHHMMss>-<first 8 hex digits of the sha256>`: sortable by time, tied to the bytes. */
export function versionName(service: string, createdAtMs: number, sha256: string): string {
  if (!/^[0-9a-f]{64}$/.test(sha256))
    throw new TagstreamError('INTERNAL', `sha256 must be 64 lower-case hex digits, got ${sha256}`);
  const stamp = new Date(createdAtMs)
    .toISOString()
    .replace(/\.\d{3}Z$/, '')
    .replace(/[-T:]/g, '');
  return `${service}-${stamp}-${sha256.slice(0, 8)}`;
}

/** Throws MODEL_CHECKSUM_MISMATCH unless the bytes hash to `expected` (what names the artefact in the message). */
export function verifySha256(bytes: Uint8Array, expected: string, what: string): void {
  const actual = sha256Hex(bytes);
  if (actual !== expected.toLowerCase())
    throw new TagstreamError(
      'MODEL_CHECKSUM_MISMATCH',
      `${what}: the ONNX bytes hash to ${actual}, not the announced ${expected}; refusing to load them`,
      { details: { expected, actual } },
    );
}

/** The models.versions record for a registry row. */
export function toModelVersion(m: ModelSummary): ModelVersion {
  return {
    service: m.service,
    version: m.version,
    algorithm: m.algorithm,
    status: m.status,
    sha256: m.sha256,
    feature_names: [...m.featureNames],
    metrics_json: JSON.stringify(m.metrics),
    promoted_at: m.promotedAt ?? m.createdAt,
  };
}

function checkService(service: string): void {
  if (!SERVICE.test(service))
    throw new TagstreamError(
      'MODEL_ERROR',
      `service '${service}': expected 1-64 characters a-z, 0-9, '_' or '-', starting with a letter or digit`,
      { details: { path: 'service' } },
    );
}

/** Throws MODEL_ERROR unless the interval is finite offsets around 0 with a coverage in (0, 1). */
export function checkInterval(i: PredictionInterval): void {
  const ok =
    Number.isFinite(i.coverage) &&
    i.coverage > 0 &&
    i.coverage < 1 &&
    Number.isFinite(i.lower) &&
    Number.isFinite(i.upper) &&
    i.lower <= i.upper;
  if (!ok)
    throw new TagstreamError(
      'MODEL_ERROR',
      `interval: expected a coverage in (0, 1) and finite offsets lower <= upper, got ${JSON.stringify(i)}`,
      { details: { path: 'interval' } },
    );
}

function notFound(service: string, version: string): TagstreamError {
  return new TagstreamError(
    'MODEL_NOT_FOUND',
    `no model ${version} for service ${service} in the registry: \`npm run models -- list ${service}\` shows the versions`,
    { details: { service, version } },
  );
}

interface Row {
  id: number | string;
  service: string;
  version: string;
  algorithm: string;
  status: ModelStatus;
  sha256: string;
  feature_names: string;
  metrics: string;
  validation_score: number | null;
  notes: string | null;
  created_at: Date;
  promoted_at: Date | null;
  onnx_bytes: number | string;
  spec?: string;
  onnx?: Buffer;
  drift_reference?: string | null;
  prediction_interval?: string | null;
}

const SUMMARY_COLUMNS =
  'id, service, version, algorithm, status, sha256, feature_names, metrics, validation_score, notes, ' +
  'created_at, promoted_at, LENGTH(onnx) AS onnx_bytes';

function toSummary(r: Row): ModelSummary {
  return {
    id: Number(r.id),
    service: r.service,
    version: r.version,
    algorithm: r.algorithm,
    status: r.status,
    sha256: r.sha256,
    featureNames: JSON.parse(r.feature_names) as string[],
    metrics: JSON.parse(r.metrics) as ModelMetrics,
    validationScore: r.validation_score === null ? null : Number(r.validation_score),
    notes: r.notes,
    createdAt: r.created_at.getTime(),
    promotedAt: r.promoted_at === null ? null : r.promoted_at.getTime(),
    onnxBytes: Number(r.onnx_bytes),
  };
}

/** The large columns a record adds to the summary. */
const RECORD_COLUMNS = 'spec, onnx, drift_reference, prediction_interval';

function toRecord(r: Row): ModelRecord {
  const onnx = r.onnx!;
  const reference: unknown = r.drift_reference ? JSON.parse(r.drift_reference) : undefined;
  const interval = r.prediction_interval
    ? (JSON.parse(r.prediction_interval) as PredictionInterval)
    : undefined;
  return {
    ...toSummary(r),
    spec: JSON.parse(r.spec!) as ModelSpec,
    onnx: new Uint8Array(onnx.buffer, onnx.byteOffset, onnx.byteLength),
    // A reference of another shape (written by a later version) is left out rather than misread.
    ...(isDriftReference(reference) ? { reference } : {}),
    ...(interval === undefined ? {} : { interval }),
  };
}

/** Loads the bytes once to prove they are a model with the spec's inputs; a broken artefact never gets a version. */
async function checkArtefact(input: RegisterInput): Promise<void> {
  const model = await loadModel(input.onnx);
  try {
    const p = input.spec.preprocessing;
    if (model.numericColumns !== p.numeric.length || model.categoricalColumns !== p.categorical.length)
      throw new TagstreamError(
        'MODEL_ERROR',
        `onnx: the graph takes ${model.numericColumns} numeric and ${model.categoricalColumns} categorical columns, ` +
          `the spec ${p.numeric.length} and ${p.categorical.length}: they are not the same model`,
        { details: { path: 'onnx' } },
      );
  } finally {
    await model.close();
  }
}

export function createModelRegistry(sql: Sql, options: RegistryOptions = {}): ModelRegistry {
  const now = options.now ?? Date.now;

  async function getRow(db: Sql, service: string, version: string): Promise<Row | undefined> {
    const [row] = await db.query<Row>(
      `SELECT ${SUMMARY_COLUMNS}, ${RECORD_COLUMNS} FROM ml_models WHERE service = ? AND version = ?`,
      [service, version],
    );
    return row;
  }

  /** The promotion itself, inside a transaction that already holds the service's row locks. */
  async function promoteLocked(tx: Sql, service: string, version: string): Promise<ModelVersion> {
    const [target] = await tx.query<Row>(
      `SELECT ${SUMMARY_COLUMNS} FROM ml_models WHERE service = ? AND version = ?`,
      [service, version],
    );
    if (target === undefined) throw notFound(service, version);
    if (target.status === 'production') return toModelVersion(toSummary(target));
    // Strictly after every earlier promotion of the service, even if clocks of two hosts disagree: the newest
    // promotion must win on every instance (watcher.ts isNewer).
    const [last] = await tx.query<{ last: Date | null }>(
      'SELECT MAX(promoted_at) AS last FROM ml_models WHERE service = ?',
      [service],
    );
    const promotedAt = Math.max(now(), (last?.last?.getTime() ?? -Infinity) + 1);
    await tx.execute("UPDATE ml_models SET status = 'archived' WHERE service = ? AND status = 'production'", [
      service,
    ]);
    await tx.execute(
      "UPDATE ml_models SET status = 'production', promoted_at = ? WHERE service = ? AND version = ?",
      [new Date(promotedAt), service, version],
    );
    return toModelVersion({ ...toSummary(target), status: 'production', promotedAt });
  }

  /** Locks every row of the service, so promotions and rollbacks of one service run one at a time. */
  const lockService = (tx: Sql, service: string) =>
    tx.query('SELECT id FROM ml_models WHERE service = ? FOR UPDATE', [service]);

  return {
    async register(input) {
      checkService(input.service);
      if (input.spec.service !== input.service)
        throw new TagstreamError(
          'MODEL_ERROR',
          `spec.service is '${input.spec.service}' but the model is registered for '${input.service}'`,
          { details: { path: 'spec.service' } },
        );
      if (input.algorithm.length === 0 || input.algorithm.length > 64)
        throw new TagstreamError('MODEL_ERROR', 'algorithm: expected 1-64 characters', {
          details: { path: 'algorithm' },
        });
      checkSpec(input.spec);
      if (input.reference !== undefined && !isDriftReference(input.reference))
        throw new TagstreamError(
          'MODEL_ERROR',
          'reference: not a drift reference (src/ml/drift.ts driftReference)',
          {
            details: { path: 'reference' },
          },
        );
      if (input.interval !== undefined) checkInterval(input.interval);
      if (input.onnx.byteLength === 0)
        throw new TagstreamError('MODEL_ERROR', 'onnx: no bytes', { details: { path: 'onnx' } });
      await checkArtefact(input);
      const p = input.spec.preprocessing;
      const featureNames = input.featureNames ?? [...p.numeric, ...p.categorical];
      const sha = sha256Hex(input.onnx);
      const createdAt = Math.floor(now() / 1000) * 1000;
      const version = versionName(input.service, createdAt, sha);
      const existing = await getRow(sql, input.service, version);
      if (existing !== undefined) {
        // Same service, second and first 8 hex digits: the same bytes unless the full hash says otherwise.
        if (existing.sha256 === sha) return { version };
        throw new TagstreamError(
          'MODEL_CONFLICT',
          `version ${version} already exists with other bytes (sha256 ${existing.sha256}); register again in a second`,
          { retryable: true },
        );
      }
      await sql.execute(
        `INSERT INTO ml_models (service, version, algorithm, feature_names, spec, metrics, onnx, sha256, status,
                                created_at, validation_score, notes, drift_reference, prediction_interval)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'candidate', ?, ?, ?, ?, ?)`,
        [
          input.service,
          version,
          input.algorithm,
          JSON.stringify(featureNames),
          JSON.stringify(input.spec),
          JSON.stringify(input.metrics),
          Buffer.from(input.onnx.buffer, input.onnx.byteOffset, input.onnx.byteLength),
          sha,
          new Date(createdAt),
          input.validationScore ?? null,
          input.notes ?? null,
          input.reference === undefined ? null : JSON.stringify(input.reference),
          input.interval === undefined ? null : JSON.stringify(input.interval),
        ],
      );
      return { version };
    },

    async get(service, version) {
      const row = await getRow(sql, service, version);
      return row === undefined ? undefined : toRecord(row);
    },

    async list(service) {
      const rows = await sql.query<Row>(
        `SELECT ${SUMMARY_COLUMNS} FROM ml_models ${service === undefined ? '' : 'WHERE service = ?'}
         ORDER BY service, created_at DESC, id DESC`,
        service === undefined ? [] : [service],
      );
      return rows.map(toSummary);
    },

    async production(service) {
      const [row] = await sql.query<Row>(
        `SELECT ${SUMMARY_COLUMNS}, ${RECORD_COLUMNS} FROM ml_models WHERE service = ? AND status = 'production'
         ORDER BY promoted_at DESC LIMIT 1`,
        [service],
      );
      return row === undefined ? undefined : toRecord(row);
    },

    promote(service, version) {
      return sql.transaction(async (tx) => {
        await lockService(tx, service);
        return promoteLocked(tx, service, version);
      });
    },

    rollback(service) {
      return sql.transaction(async (tx) => {
        await lockService(tx, service);
        // Production stints never overlap, so the former production version archived last is the archived
        // one promoted last.
        const [previous] = await tx.query<{ version: string }>(
          `SELECT version FROM ml_models WHERE service = ? AND status = 'archived' AND promoted_at IS NOT NULL
           ORDER BY promoted_at DESC LIMIT 1`,
          [service],
        );
        if (previous === undefined)
          throw new TagstreamError(
            'MODEL_NO_ROLLBACK',
            `service ${service} has no archived former production version to roll back to ` +
              `(\`npm run models -- list ${service}\`; promote a specific version with \`npm run models -- promote ${service} <version>\`)`,
            { details: { service } },
          );
        return promoteLocked(tx, service, previous.version);
      });
    },
  };
}
