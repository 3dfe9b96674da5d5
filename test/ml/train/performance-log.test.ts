// ml_model_performance rows: one upsert per batch keyed by (service, model type, version), JSON MySQL accepts.
import { describe, expect, it } from 'vitest';
import {
  performanceParams,
  toJson,
  upsertPerformanceStatement,
} from '../../../src/ml/train/performance-log.ts';

describe('performance log', () => {
  it('upserts on the unique key instead of adding rows', () => {
    const sql = upsertPerformanceStatement(2);
    expect(sql).toMatch(/^INSERT INTO ml_model_performance \(service_name, model_type, model_version,/);
    expect(sql.match(/\(\?, \?, \?, \?, \?, \?, \?, \?\)/g)).toHaveLength(2);
    expect(sql).toMatch(/ON DUPLICATE KEY UPDATE training_date = VALUES\(training_date\)/);
  });

  it('writes metrics and params as JSON, non-finite numbers as null', () => {
    expect(toJson({ auc: NaN, mae: 1.5, inf: Infinity })).toBe('{"auc":null,"mae":1.5,"inf":null}');
    const p = performanceParams({
      service: 'maintenance',
      modelType: 'gradient_boosting',
      modelVersion: 'maintenance-20260101000000-abcdef12',
      trainedAt: Date.UTC(2026, 0, 1),
      metrics: { auc: 0.71 },
      accuracy: NaN,
      params: null,
      isActive: true,
    });
    expect(p).toEqual([
      'maintenance',
      'gradient_boosting',
      'maintenance-20260101000000-abcdef12',
      '2026-01-01 00:00:00.000',
      '{"auc":0.71}',
      null,
      1,
      null,
    ]);
  });
});
