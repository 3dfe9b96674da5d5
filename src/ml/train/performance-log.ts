// Every trained model's held-out metrics and parameters in ml_model_performance (schemas/sql/002_ml.sql), one row per
// (service, model type, version); a retried write updates the row (ON DUPLICATE KEY UPDATE), never duplicates it.
import type { Sql } from '../../io/mysql/pool.ts';
import { toSqlDatetime } from '../../store/offline.ts';

export interface PerformanceRow {
  readonly service: string;
  /** Algorithm, or `naive_baseline`. */
  readonly modelType: string;
  readonly modelVersion: string;
  /** When training finished, ms. */
  readonly trainedAt: number;
  readonly metrics: Readonly<Record<string, unknown>>;
  /** Headline metric: MAE for regression, ROC AUC for classification. */
  readonly accuracy: number | null;
  readonly params: Readonly<Record<string, unknown>> | null;
  readonly isActive?: boolean;
}

const COLUMNS = [
  'service_name',
  'model_type',
  'model_version',
  'training_date',
  'performance_metrics',
  'accuracy_score',
  'is_active',
  'params',
] as const;

/** JSON that MySQL's JSON_VALID accepts: non-finite numbers become null. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v));
}

export function upsertPerformanceStatement(rows: number): string {
  const tuple = `(${COLUMNS.map(() => '?').join(', ')})`;
  return (
    `INSERT INTO ml_model_performance (${COLUMNS.join(', ')}) VALUES ${Array.from({ length: rows }, () => tuple).join(', ')}` +
    ' ON DUPLICATE KEY UPDATE training_date = VALUES(training_date), performance_metrics = VALUES(performance_metrics),' +
    ' accuracy_score = VALUES(accuracy_score), is_active = VALUES(is_active), params = VALUES(params)'
  );
}

export function performanceParams(r: PerformanceRow): unknown[] {
  return [
    r.service,
    r.modelType,
    r.modelVersion,
    toSqlDatetime(r.trainedAt),
    toJson(r.metrics),
    r.accuracy !== null && Number.isFinite(r.accuracy) ? r.accuracy : null,
    r.isActive ? 1 : 0,
    r.params === null ? null : toJson(r.params),
  ];
}

export async function logPerformance(sql: Sql, rows: readonly PerformanceRow[]): Promise<void> {
  if (rows.length === 0) return;
  await sql.execute(upsertPerformanceStatement(rows.length), rows.flatMap(performanceParams));
}

/** Marks `version` the active (production) row of the service and every other row of it inactive. */
export async function markActive(sql: Sql, service: string, version: string): Promise<void> {
  await sql.execute(
    'UPDATE ml_model_performance SET is_active = (model_version = ?) WHERE service_name = ?',
    [version, service],
  );
}
