// Alert rules on the operator harness: thresholds and severities per service, throttling per entity and rule,
// escalation at once, re-arming after the value clears; state survives a restart. Drift is no rule of theirs any
// more: a shifting service raises nothing here (test/serving/drift.test.ts has drift against the training data).
import { describe, expect, it } from 'vitest';
import {
  ALERTED_SERVICES,
  alertRules,
  severityOf,
  type AlertRulesOptions,
} from '../../operators/alert-rules.ts';
import type { Alert, Prediction } from '../../src/schemas/types.ts';
import { OperatorHarness } from './harness.ts';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 5, 1);
const OPTS: AlertRulesOptions = {
  maintenance: { warning: 0.5, critical: 0.8 },
  restock: { warning: 5, critical: 20 },
  quality: { warning: 2.5, critical: 1.5 },
  throttleMs: 6 * HOUR,
};

const pred = (service: string, entity: string, value: number, t: number): Prediction => ({
  service,
  entity_id: entity,
  entity_type: 'item',
  prediction: value,
  lower: null,
  upper: null,
  horizon: null,
  model_versions: ['v1'],
  feature_snapshot_at: t,
  inference_latency_us: 10,
  predicted_at: t,
  event_time: t,
  details: null,
});

const push = (h: OperatorHarness<Prediction, Alert>, p: Prediction): Alert[] =>
  h.push({ key: Buffer.from(p.entity_id), value: p, timestamp: p.event_time }).map((r) => r.value);

describe('severityOf', () => {
  it('reads thresholds upwards or downwards', () => {
    expect(severityOf(0.9, OPTS.maintenance, true)).toBe('critical');
    expect(severityOf(0.6, OPTS.maintenance, true)).toBe('warning');
    expect(severityOf(0.2, OPTS.maintenance, true)).toBeNull();
    expect(severityOf(1.2, OPTS.quality, false)).toBe('critical');
    expect(severityOf(3, OPTS.quality, false)).toBeNull();
  });
});

describe('alert rules', () => {
  it('alerts once per entity and rule within the throttle, escalates at once, re-arms after clearing', () => {
    const h = new OperatorHarness(() => alertRules(OPTS));
    const first = push(h, pred('maintenance', 'TAG-1', 0.6, T0));
    expect(first.map((a) => [a.rule, a.severity, a.entity_id, a.threshold])).toEqual([
      ['maintenance_risk', 'warning', 'TAG-1', 0.5],
    ]);
    expect(first[0]?.message).toContain('60%');
    expect(push(h, pred('maintenance', 'TAG-1', 0.65, T0 + HOUR))).toEqual([]); // throttled
    expect(push(h, pred('maintenance', 'TAG-2', 0.7, T0 + HOUR))).toHaveLength(1); // other entity
    expect(push(h, pred('maintenance', 'TAG-1', 0.9, T0 + 2 * HOUR)).map((a) => a.severity)).toEqual([
      'critical',
    ]);
    expect(push(h, pred('maintenance', 'TAG-1', 0.85, T0 + 3 * HOUR))).toEqual([]);
    expect(push(h, pred('maintenance', 'TAG-1', 0.85, T0 + 9 * HOUR))).toHaveLength(1); // throttle passed
    expect(push(h, pred('maintenance', 'TAG-1', 0.1, T0 + 10 * HOUR))).toEqual([]); // cleared
    expect(push(h, pred('maintenance', 'TAG-1', 0.6, T0 + 11 * HOUR))).toHaveLength(1); // re-armed
  });

  it('covers restock shortfall and quality drop, and leaves other services alone', () => {
    const h = new OperatorHarness(() => alertRules(OPTS));
    expect(push(h, pred('restock', 'S1|TENT', 25, T0)).map((a) => [a.rule, a.severity])).toEqual([
      ['restock_shortfall', 'critical'],
    ]);
    expect(push(h, pred('quality', 'TAG-9', 2.2, T0)).map((a) => [a.rule, a.severity])).toEqual([
      ['quality_drop', 'warning'],
    ]);
    expect(push(h, pred('pricing', 'S1|TENT', 99, T0))).toEqual([]);
    // The serving topology reads only the judged services' topics: the others would raise nothing.
    expect([...ALERTED_SERVICES].sort()).toEqual(['maintenance', 'quality', 'restock']);
    for (const service of ['demand', 'pricing', 'pack', 'toString', '__proto__'])
      expect(push(h, pred(service, 'S1|TENT', 1e6, T0))).toEqual([]);
  });

  it('raises no drift from predictions alone, however they move (the scoring stages judge drift)', () => {
    const h = new OperatorHarness(() => alertRules(OPTS));
    const alerts = Array.from({ length: 1200 }, (_, i) =>
      push(h, pred('demand', `S1|C${i % 5}`, i < 600 ? 0.3 : 30, T0 + i * 60_000)),
    ).flat();
    expect(alerts).toEqual([]);
    expect(h.operator.stores).toEqual(['alert-rules.raised']);
  });

  it('keeps its throttle across a restart', () => {
    const h = new OperatorHarness(() => alertRules(OPTS));
    expect(push(h, pred('maintenance', 'TAG-1', 0.6, T0))).toHaveLength(1);
    h.restart();
    expect(push(h, pred('maintenance', 'TAG-1', 0.6, T0 + HOUR))).toEqual([]);
  });
});
