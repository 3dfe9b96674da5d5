// The prediction cache's pure half: key layout, stable JSON, script-call planning, counter decoding, record checks,
// and how the sink tells predictions from alerts. The Lua scripts run against real Redis in the integration test.
import { describe, expect, it } from 'vitest';
import { classify } from '../../src/app/prediction-sink.ts';
import type { Prediction } from '../../src/schemas/types.ts';
import { PREDICTION_SERVICES, isPredictionService } from '../../src/features/vocabulary.ts';
import {
  READ_RANGE,
  WRITE_ALERTS,
  WRITE_PREDICTIONS,
  alertCountsFrom,
  alertKeys,
  checkAlert,
  checkPrediction,
  decodeCountHash,
  decodeStored,
  encodePrediction,
  planAlertWrites,
  planPredictionWrites,
  predictionKeys,
} from '../../src/serving/prediction-cache.ts';
import { thrownBy } from '../helpers/errors.ts';
import { alert, prediction, T0 } from './fakes.ts';

describe('services', () => {
  it('are the six of the design brief', () => {
    expect(PREDICTION_SERVICES).toEqual(['demand', 'maintenance', 'quality', 'pricing', 'restock', 'pack']);
    expect(isPredictionService('pack')).toBe(true);
    expect(isPredictionService('weather')).toBe(false);
    expect(isPredictionService('__proto__')).toBe(false);
  });
});

describe('keys', () => {
  it('live under <prefix>pred: and <prefix>alert:, service before entity (entity ids may hold ":")', () => {
    expect(predictionKeys('ts:', 'demand', 'S1|TENT:40')).toEqual({
      history: 'ts:pred:ts:demand:S1|TENT:40',
      values: 'ts:pred:v:demand:S1|TENT:40',
    });
    expect(alertKeys('t-1:')).toEqual({
      ids: 't-1:alert:ids',
      data: 't-1:alert:data',
      counts: 't-1:alert:counts',
    });
  });
});

describe('encodePrediction', () => {
  it('writes the fields in schema order whatever order the object was built in', () => {
    const p = prediction();
    const shuffled = Object.fromEntries(Object.entries(p).reverse()) as unknown as Prediction;
    expect(encodePrediction(shuffled)).toBe(encodePrediction(p));
    expect(Object.keys(JSON.parse(encodePrediction(shuffled)))[0]).toBe('service');
    expect(JSON.parse(encodePrediction(p))).toEqual(p);
  });
});

describe('planning', () => {
  it('one script call per batch: counts key first, then history and values per prediction', () => {
    const ps = [
      prediction(),
      prediction({ entity_id: 'tag-9', service: 'quality', event_time: T0 + 1 }),
      prediction(),
    ];
    const calls = planPredictionWrites('p:', ps, 500, 2);
    expect(calls).toHaveLength(2);
    const [first, second] = calls;
    expect(first).toMatchObject({ kind: 'script', script: WRITE_PREDICTIONS });
    if (first?.kind !== 'script' || second?.kind !== 'script') throw new Error('expected script calls');
    expect(first.keys).toEqual([
      'p:pred:counts',
      'p:pred:ts:demand:S1|TENT-40x60',
      'p:pred:v:demand:S1|TENT-40x60',
      'p:pred:ts:quality:tag-9',
      'p:pred:v:quality:tag-9',
    ]);
    expect(first.args.slice(0, 5)).toEqual([
      '500',
      'demand',
      String(T0),
      String(T0 + 5),
      encodePrediction(ps[0]!),
    ]);
    expect(first.args).toHaveLength(1 + 2 * 4);
    expect(second.keys).toHaveLength(3);
  });

  it('alerts: the three keys, then keep and remember, then five values per alert', () => {
    const [call] = planAlertWrites('p:', [alert()], 1000, 100_000, 500);
    if (call?.kind !== 'script') throw new Error('expected a script call');
    expect(call.script).toBe(WRITE_ALERTS);
    expect(call.keys).toEqual(['p:alert:ids', 'p:alert:data', 'p:alert:counts']);
    expect(call.args.slice(0, 6)).toEqual([
      '1000',
      '100000',
      'a-1',
      String(T0),
      'maintenance_risk',
      'warning',
    ]);
  });

  it('scripts are distinct', () => {
    expect(new Set([WRITE_PREDICTIONS.sha1, WRITE_ALERTS.sha1, READ_RANGE.sha1]).size).toBe(3);
  });
});

describe('decoding', () => {
  it('stored JSON back to records, leaving out nulls and text that is not JSON', () => {
    const p = prediction();
    expect(decodeStored([encodePrediction(p), null, 'garbage{', Buffer.from(encodePrediction(p))])).toEqual([
      p,
      p,
    ]);
  });

  it('HGETALL pairs to numbers', () => {
    expect(decodeCountHash(['demand', '3', 'pack', Buffer.from('2'), 'odd'])).toEqual({ demand: 3, pack: 2 });
    expect(decodeCountHash({ demand: '4', bad: 'x' })).toEqual({ demand: 4 });
    expect(decodeCountHash(null)).toEqual({});
  });

  it('rule|severity counters to totals, a "|" in a rule name kept', () => {
    expect(
      alertCountsFrom({ 'maintenance_risk|warning': 2, 'maintenance_risk|critical': 1, 'a|b|info': 4 }),
    ).toEqual({
      total: 7,
      bySeverity: { warning: 2, critical: 1, info: 4 },
      byRule: { maintenance_risk: 3, 'a|b': 4 },
    });
  });
});

describe('checks', () => {
  it('refuse what cannot be indexed, as record errors', () => {
    expect(thrownBy(() => checkPrediction(prediction({ entity_id: '' }))).code).toBe('MISSING_FIELD');
    expect(thrownBy(() => checkPrediction(prediction({ event_time: 1.5 }))).code).toBe('NOT_FINITE');
    expect(thrownBy(() => checkPrediction(prediction({ predicted_at: Number.NaN }))).isRecordError).toBe(
      true,
    );
    expect(thrownBy(() => checkAlert(alert({ alert_id: '' }))).code).toBe('MISSING_FIELD');
    expect(() => checkPrediction(prediction())).not.toThrow();
    expect(() => checkAlert(alert())).not.toThrow();
  });
});

describe('classify (prediction sink)', () => {
  it('tells predictions from alerts by their fields', () => {
    expect(classify(prediction())).toEqual({ kind: 'prediction', prediction: prediction() });
    expect(classify(alert())).toEqual({ kind: 'alert', alert: alert() });
    expect(classify({ entity_id: 'x', feature_name: 'f' })).toEqual({ kind: 'unknown' });
    expect(classify(null)).toEqual({ kind: 'unknown' });
  });
});
