// The job's pure parts: the maintenance baseline (class base rate), scoring a spec on a frame (a production model that
// needs a column the frame lacks is unscorable, not silently imputed), and the summary lines the CLI prints.
import { table } from 'arquero';
import { describe, expect, it } from 'vitest';
import type { ModelSpec } from '../../../src/ml/model-spec.ts';
import { gate } from '../../../src/ml/train/gate.ts';
import {
  classBaseRate,
  predictTable,
  runId,
  summaryLines,
  type TargetReport,
} from '../../../src/ml/train/job.ts';

describe('classBaseRate', () => {
  it('predicts each holdout row its rental class training rate, the overall rate for an unseen class', () => {
    const train = table({ rental_class_num: ['A', 'A', 'A', 'A', 'B', 'B'], y: [1, 0, 0, 0, 1, 1] });
    const holdout = table({ rental_class_num: ['B', 'A', 'C'] });
    expect([...classBaseRate(train, holdout, 'y')]).toEqual([1, 0.25, 0.5]);
  });
});

describe('predictTable', () => {
  const spec: ModelSpec = {
    service: 'demand',
    algorithm: 'linear',
    preprocessing: {
      numeric: ['a', 'b'],
      impute: [0, 10],
      categorical: ['c'],
      categories: [['x', 'y']],
      offset: [0, 0, 0, 0],
      scale: [1, 1, 1, 1],
    },
    estimator: { kind: 'linear-regressor', coefficients: [1, 2, 100, 200], intercept: 0.5 },
  };

  it('feeds the columns in spec order, missing values imputed, categories one-hot', () => {
    const t = table({ b: [1, null], a: [3, 4], c: ['y', 'z'] });
    expect([...(predictTable(spec, t) as Float64Array)]).toEqual([3 + 2 + 200 + 0.5, 4 + 20 + 0.5]);
  });

  it('names the columns a frame lacks instead of predicting', () => {
    expect(predictTable(spec, table({ a: [1] }))).toEqual({ missing: ['b', 'c'] });
  });
});

describe('summary', () => {
  it('prints baseline MAE, model MAE and the improvement for demand; ROC AUC for maintenance; the gate', () => {
    const common = {
      rows: { train: 100, purged: 2, holdout: 20 },
      holdoutRange: [Date.UTC(2026, 8, 1), Date.UTC(2026, 9, 30)] as const,
      algorithms: [],
      droppedColumns: [],
      seconds: 1,
      production: null,
      promoted: true,
    };
    const demand: TargetReport = {
      ...common,
      service: 'demand',
      task: 'regression',
      target: 'units_1d',
      gateMetric: 'mae',
      best: { algorithm: 'gradient_boosting', params: {}, cvScore: 1.7 },
      algorithms: [
        { algorithm: 'linear', cvScore: 2, holdout: { rows: 20, mae: 2.1, rmse: 2.8 } },
        { algorithm: 'gradient_boosting', cvScore: 1.7, holdout: { rows: 20, mae: 1.9, rmse: 2.6 } },
      ],
      ensemble: {
        served: true,
        metrics: { rows: 20, mae: 1.8, rmse: 2.5 },
        weights: [
          { algorithm: 'gradient_boosting', weight: 0.54 },
          { algorithm: 'linear', weight: 0.46 },
        ],
        bestMember: 'gradient_boosting',
        members: [
          { service: 'demand-linear', algorithm: 'linear', version: 'demand-linear-20261001000000-00000000' },
        ],
      },
      interval: { coverage: 0.8, lower: -1.5, upper: 2, calibrationRows: 30, holdoutCoverage: 0.815 },
      ceiling: null,
      holdout: { rows: 20, mae: 1.8, rmse: 2.5 },
      baseline: { name: 'seasonal-naive', metrics: { rows: 20, mae: 2.5, rmse: 3.4 } },
      gate: gate({
        service: 'demand',
        metric: 'mae',
        candidate: 1.8,
        baseline: { name: 'seasonal-naive', value: 2.5 },
        production: null,
      }),
      version: 'demand-20261001000000-00000000',
    };
    const maintenance: TargetReport = {
      ...common,
      service: 'maintenance',
      task: 'classification',
      target: 'needs_repair',
      gateMetric: 'log_loss',
      best: { algorithm: 'logistic', params: {}, cvScore: 0.4 },
      ensemble: {
        served: false,
        metrics: { rows: 20, log_loss: 0.39, auc: 0.7, base_rate: 0.14 },
        weights: [{ algorithm: 'logistic', weight: 1 }],
        bestMember: 'logistic',
        members: [],
      },
      interval: null,
      ceiling: { rows: 20, auc: 0.74, prAuc: 0.3, modelAuc: 0.71, modelPrAuc: 0.25, ratio: 0.71 / 0.74 },
      holdout: { rows: 20, log_loss: 0.38, auc: 0.71, pr_auc: 0.25, base_rate: 0.14 },
      baseline: { name: 'class base rate', metrics: { rows: 20, log_loss: 0.4, auc: 0.6 } },
      gate: gate({
        service: 'maintenance',
        metric: 'log_loss',
        candidate: 0.38,
        baseline: { name: 'class base rate', value: 0.4 },
        production: null,
      }),
      version: 'maintenance-20261001000000-00000000',
      promoted: true,
    };
    const lines = summaryLines({ reports: [demand, maintenance], failures: [] });
    expect(lines).toEqual([
      'demand: seasonal-naive MAE 2.5000, model MAE 1.8000 (ensemble of gradient_boosting + linear), improvement 28.0%; holdout 2026-09-01..2026-10-30 (20 rows)',
      '  members linear 2.1000, gradient_boosting 1.9000; ensemble 1.8000: serves (beats the best member)',
      '  80% interval: holdout coverage 81.5%',
      expect.stringMatching(/^ {2}gate PASSED: .*demand-20261001000000-00000000 promoted to production$/),
      expect.stringMatching(
        /^maintenance: ROC AUC 0.7100, PR-AUC 0.2500 \(logistic\), log-loss 0.3800; class base rate: ROC AUC 0.6000/,
      ),
      '  members ; ensemble 0.3900: not served (does not beat logistic)',
      "  ceiling (true probabilities, same rows): ROC AUC 0.7400, PR-AUC 0.3000; model 95.9% of the ceiling's ROC AUC, PR-AUC 0.2500",
      expect.stringMatching(/^ {2}gate PASSED/),
    ]);
  });

  it('names a run by its UTC time', () => {
    expect(runId(Date.UTC(2026, 10, 27, 1, 2, 3, 456))).toBe('run-20261127010203');
  });
});
