// Alert rules over predictions: maintenance probability over a threshold, restock shortfall, a drop in expected
// quality. Alerts are deduplicated and throttled per entity and rule: a rule that keeps firing for the same entity
// raises again only after throttleMs of event time, or at once when its severity rises. State per partition
// (changelogged). Drift is not judged here: it compares what a model scored with its training data, which the
// predictions do not carry; the scoring stages raise it (src/serving/drift.ts).
import type { Alert, Prediction } from '../src/schemas/types.ts';
import type { Operator, OperatorContext, Rec } from '../src/runtime/operator.ts';

export type Severity = 'info' | 'warning' | 'critical';
const RANK: Readonly<Record<Severity, number>> = { info: 0, warning: 1, critical: 2 };

export interface AlertRulesOptions {
  /** maintenance: p(repair before next rental) at or above → warning; at or above `critical` → critical. */
  readonly maintenance: { readonly warning: number; readonly critical: number };
  /** restock: shortfall (units) at or above → warning / critical. */
  readonly restock: { readonly warning: number; readonly critical: number };
  /** quality: expected grade at or below → warning / critical. */
  readonly quality: { readonly warning: number; readonly critical: number };
  readonly throttleMs: number;
}

interface Raised {
  at: number;
  severity: Severity;
}

/** Which severity a value reaches against (warning, critical) thresholds; `above` false means lower is worse. */
export function severityOf(
  value: number,
  t: { warning: number; critical: number },
  above: boolean,
): Severity | null {
  const reaches = (limit: number): boolean => (above ? value >= limit : value <= limit);
  if (reaches(t.critical)) return 'critical';
  if (reaches(t.warning)) return 'warning';
  return null;
}

/** The rule each judged service's predictions meet; a service not here raises no alert from its predictions. */
const RULES = {
  maintenance: {
    rule: 'maintenance_risk',
    thresholds: 'maintenance',
    above: true,
    describe: (p: Prediction, v: number) =>
      `item ${p.entity_id}: repair probability ${(v * 100).toFixed(0)}% before its next rental`,
  },
  restock: {
    rule: 'restock_shortfall',
    thresholds: 'restock',
    above: true,
    describe: (p: Prediction, v: number) => `${p.entity_id}: short by ${v.toFixed(0)} units`,
  },
  quality: {
    rule: 'quality_drop',
    thresholds: 'quality',
    above: false,
    describe: (p: Prediction, v: number) =>
      `item ${p.entity_id}: expected grade ${v.toFixed(1)} at its next return`,
  },
} as const satisfies Record<
  string,
  {
    rule: string;
    thresholds: 'maintenance' | 'restock' | 'quality';
    above: boolean;
    describe: (p: Prediction, v: number) => string;
  }
>;

type JudgedService = keyof typeof RULES;

/** The services whose predictions an alert rule judges: the only predictions topics serving has to read. */
export const ALERTED_SERVICES = Object.keys(RULES) as readonly JudgedService[];

/** `name` names the stage and its stores: one instance per predictions topic needs a name each. */
export function alertRules(opts: AlertRulesOptions, name = 'alert-rules'): Operator<Prediction, Alert> {
  const raisedStore = `${name}.raised`;

  function raise(
    ctx: OperatorContext,
    p: Prediction,
    rule: string,
    entity: string,
    severity: Severity,
    value: number,
    threshold: number,
    message: string,
  ): Rec<Alert>[] {
    const raised = ctx.store<Raised>(raisedStore);
    const key = `${rule}|${entity}`;
    const last = raised.get(key);
    const t = p.event_time;
    if (last && t - last.at < opts.throttleMs && RANK[severity] <= RANK[last.severity]) return [];
    raised.put(key, { at: t, severity });
    const alert: Alert = {
      alert_id: `${rule}:${entity}:${t}`,
      rule,
      severity,
      entity_id: entity,
      service: p.service,
      message,
      value,
      threshold,
      raised_at: ctx.clock.now(),
      event_time: t,
    };
    return [{ key: Buffer.from(entity), value: alert, timestamp: t }];
  }

  function thresholdRule(
    ctx: OperatorContext,
    p: Prediction,
    rule: string,
    t: { warning: number; critical: number },
    above: boolean,
    describe: (v: number) => string,
  ): Rec<Alert>[] {
    const severity = severityOf(p.prediction, t, above);
    if (!severity) {
      ctx.store<Raised>(raisedStore).delete(`${rule}|${p.entity_id}`); // cleared: the next breach alerts at once
      return [];
    }
    return raise(
      ctx,
      p,
      rule,
      p.entity_id,
      severity,
      p.prediction,
      t[severity === 'critical' ? 'critical' : 'warning'],
      describe(p.prediction),
    );
  }

  return {
    name,
    stores: [raisedStore],
    process(rec, ctx) {
      const p = rec.value;
      const rule = Object.hasOwn(RULES, p.service) ? RULES[p.service as JudgedService] : undefined;
      if (!rule) return [];
      return thresholdRule(ctx, p, rule.rule, opts[rule.thresholds], rule.above, (v) => rule.describe(p, v));
    },
  };
}
