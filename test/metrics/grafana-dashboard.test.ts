// The Grafana dashboard (config/grafana/dashboards/tagstream.json) against the metrics the code declares: every
// metric name in every panel's PromQL (and in the variables' label_values) must be one registerAllMetrics or the
// process metrics declare, so renaming a metric breaks this test instead of silently emptying a panel.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createMetricsRegistry, registerAllMetrics } from '../../src/metrics/prometheus.ts';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string): string => readFileSync(`${repo}${path}`, 'utf8');

interface Target {
  readonly expr?: string;
  readonly refId?: string;
  readonly datasource?: { readonly uid?: string };
}
interface Panel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly gridPos: { readonly x: number; readonly y: number; readonly w: number; readonly h: number };
  readonly datasource?: { readonly type?: string; readonly uid?: string };
  readonly targets?: readonly Target[];
  readonly panels?: readonly Panel[];
}
interface Dashboard {
  readonly uid: string;
  readonly title: string;
  readonly panels: readonly Panel[];
  readonly templating?: {
    readonly list: ReadonlyArray<{ readonly query?: unknown; readonly definition?: string }>;
  };
}

const dashboard = JSON.parse(read('config/grafana/dashboards/tagstream.json')) as Dashboard;
/** Panels, with those inside collapsed rows. */
const allPanels: Panel[] = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const graphPanels = allPanels.filter((p) => p.type !== 'row');

/** PromQL words that are neither metric names nor followed by '(' (functions and aggregations are). */
const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'inf',
  'nan',
  'le',
]);

/**
 * The metric names a PromQL expression selects. Strings, label matchers, range and subquery brackets, grouping
 * label lists and Grafana variables go first; of the words left, those followed by '(' are functions or
 * aggregations, the keywords are keywords, and the rest are metric names.
 */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/gi, ' ')
    .replace(/\$\{[^}]*\}|\$\w+/g, ' ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/(?<![\w.:$])[a-zA-Z_:][\w:]*/g)) {
    const word = m[0];
    const rest = stripped.slice((m.index ?? 0) + word.length);
    if (/^\s*\(/.test(rest) || KEYWORDS.has(word.toLowerCase())) continue;
    names.add(word);
  }
  return [...names];
}

/** Every metric family the code declares (tagstream metrics and process metrics), with its type. */
async function declaredFamilies(): Promise<Map<string, string>> {
  const registry = createMetricsRegistry(true);
  registerAllMetrics(registry);
  const families = new Map<string, string>();
  for (const { name } of registry.getMetricsAsArray())
    families.set(name, String((await registry.getSingleMetric(name)!.get()).type));
  return families;
}

/** A sample name back to its family: `_bucket`, `_sum`, `_count` only when the rest is a histogram or summary. */
function family(name: string, declared: ReadonlyMap<string, string>): string {
  const base = name.replace(/_(bucket|sum|count)$/, '');
  const type = declared.get(base);
  return base !== name && (type === 'histogram' || type === 'summary') ? base : name;
}

/** Expressions of the dashboard: panel targets and the variables' label_values / query_result queries. */
function expressions(): Array<{ where: string; expr: string }> {
  const out: Array<{ where: string; expr: string }> = [];
  for (const p of graphPanels)
    for (const t of p.targets ?? []) out.push({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr ?? '' });
  for (const v of dashboard.templating?.list ?? []) {
    const q =
      typeof v.query === 'string' ? v.query : ((v.query as { query?: string } | undefined)?.query ?? '');
    const inner = /^\s*(?:label_values|query_result)\((.*)\)\s*$/s.exec(q)?.[1];
    if (inner !== undefined) {
      // label_values(metric, label): the label is not a metric.
      const selector = /^(.*?)(?:,\s*\w+)?$/s.exec(inner)?.[1] ?? inner;
      out.push({ where: `variable ${v.definition ?? q}`, expr: selector });
    }
  }
  return out;
}

describe('metricNames', () => {
  it.each([
    [
      'histogram_quantile(0.95, sum by (le, service) (rate(tagstream_event_to_prediction_seconds_bucket{service=~"$service"}[$__rate_interval])))',
      ['tagstream_event_to_prediction_seconds_bucket'],
    ],
    [
      'sum(rate(a_total{x="b{c} rate(d)"}[5m] offset 1h)) by (topic) / on(topic) group_left(z) b_info',
      ['a_total', 'b_info'],
    ],
    ['topk(10, max by (topic, partition) (lag_records{pipeline=~"$pipeline"}))', ['lag_records']],
    ['x > bool 0.5 and y unless z or w', ['x', 'y', 'z', 'w']],
    ['rate(m[1m:15s]) * 1e3 + ${var:raw}', ['m']],
    ['sum without (instance) (increase(alerts_total{rule="drift"}[24h]))', ['alerts_total']],
  ])('%s', (expr, names) => {
    expect(metricNames(expr).sort()).toEqual([...names].sort());
  });
});

describe('config/grafana/dashboards/tagstream.json', () => {
  it('uses only metrics the code declares', async () => {
    const declared = await declaredFamilies();
    const unknown: string[] = [];
    for (const { where, expr } of expressions())
      for (const name of metricNames(expr))
        if (!declared.has(family(name, declared))) unknown.push(`${where}: ${name}`);
    expect(unknown).toEqual([]);
  });

  it('would catch a renamed metric', async () => {
    const declared = await declaredFamilies();
    const expr = 'histogram_quantile(0.99, sum by (le) (rate(tagstream_inference_seconds_bucket[5m])))';
    expect(metricNames(expr).map((n) => family(n, declared))).toEqual(['tagstream_inference_seconds_bucket']);
    expect(declared.has('tagstream_inference_seconds_bucket')).toBe(false);
    // A counter's _count-like name is not folded into a family that does not exist.
    expect(family('tagstream_records_in_total', declared)).toBe('tagstream_records_in_total');
  });

  it('has a panel for each topic the operators watch', () => {
    const used = new Set(expressions().flatMap(({ expr }) => metricNames(expr)));
    for (const name of [
      'tagstream_records_in_total',
      'tagstream_records_out_total',
      'tagstream_consumer_lag_records',
      'tagstream_event_to_prediction_seconds_bucket',
      'tagstream_inference_duration_seconds_bucket',
      'tagstream_commit_duration_seconds_bucket',
      'tagstream_feature_store_read_seconds_bucket',
      'tagstream_feature_store_write_seconds_bucket',
      'tagstream_dlq_records_total',
      'tagstream_late_records_total',
      'tagstream_model_version_info',
      'tagstream_model_metric',
      'tagstream_predictions_total',
      'tagstream_alerts_total',
      'tagstream_state_entries',
      'tagstream_watermark_delay_seconds',
    ])
      expect(used, name).toContain(name);
  });

  it('is a well-formed dashboard on the provisioned Prometheus data source', () => {
    const ds = parse(read('config/grafana/provisioning/datasources/prometheus.yml')) as {
      datasources: Array<{ type: string; uid: string }>;
    };
    const uid = ds.datasources.find((d) => d.type === 'prometheus')?.uid;
    expect(uid).toBeDefined();
    expect(dashboard.uid).toBe('tagstream');
    const ids = allPanels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of graphPanels) {
      expect(p.datasource?.uid, p.title).toBe(uid);
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      const targets = p.targets ?? [];
      expect(targets.length, p.title).toBeGreaterThan(0);
      expect(new Set(targets.map((t) => t.refId)).size, p.title).toBe(targets.length);
      for (const t of targets) {
        expect(t.expr?.trim(), p.title).toBeTruthy();
        expect(t.datasource?.uid ?? uid, p.title).toBe(uid);
      }
    }
  });

  it('lies in the folder Grafana provisions dashboards from', () => {
    const provider = parse(read('config/grafana/provisioning/dashboards/tagstream.yml')) as {
      providers: Array<{ options: { path: string } }>;
    };
    const compose = parse(read('docker-compose.yml')) as { services: { grafana: { volumes: string[] } } };
    const mount = compose.services.grafana.volumes.find((v) => v.startsWith('./config/grafana/dashboards:'));
    expect(mount?.split(':')[1]).toBe(provider.providers[0]?.options.path);
  });
});
