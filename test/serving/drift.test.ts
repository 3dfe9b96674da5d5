// The serving drift monitor on in-memory windows: rows binned by the model's training reference, nothing while the
// window fills, PSI per input and of the predictions once it is full, a `drift` alert when the predictions' PSI
// reaches a threshold (throttled, escalating at once), a new window per model version, and a window store that
// fails without failing scoring. The Redis windows run the same protocol (test/serving/drift.integration.test.ts).
import { table } from 'arquero';
import { describe, expect, it } from 'vitest';
import type { FeatureRecord } from '../../src/features/derive.ts';
import { createLogger } from '../../src/log.ts';
import { driftReference, numericShares, psiOfCounts } from '../../src/ml/drift.ts';
import type { ModelSpec } from '../../src/ml/model-spec.ts';
import {
  DriftMonitor,
  PREDICTION_COLUMN,
  decodeWindow,
  firstCrossing,
  memoryDriftWindows,
  rowSlots,
  topInputs,
  UNIT_MEMORY_MS,
  windowCall,
  windowPsi,
  type DriftWindows,
} from '../../src/serving/drift.ts';

const SPEC: ModelSpec = {
  service: 'maintenance',
  algorithm: 'linear',
  preprocessing: {
    numeric: ['grade_at_out', 'prior_rentals'],
    impute: [0, 0],
    categorical: ['store_id'],
    categories: [['S1', 'S2']],
    offset: [0, 0, 0, 0],
    scale: [1, 1, 1, 1],
  },
  estimator: { kind: 'linear-regressor', coefficients: [-0.1, 0.01, 0, 0], intercept: 0.6 },
};

/** A seeded uniform stream (an LCG). */
function uniform(seed: number): () => number {
  let x = seed;
  return () => (x = (x * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648;
}

function rows(n: number, seed: number, gradeShift = 0): { records: FeatureRecord[]; predictions: number[] } {
  const u = uniform(seed);
  const records = Array.from({ length: n }, () => ({
    grade_at_out: Math.max(1, Math.min(5, 1 + Math.floor(u() * 5) + gradeShift)),
    prior_rentals: Math.floor(u() * 40),
    store_id: u() < 0.5 ? 'S1' : 'S2',
  }));
  const predictions = records.map((r) => 0.6 - 0.1 * r.grade_at_out + 0.01 * r.prior_rentals);
  return { records, predictions };
}

const train = rows(3000, 1);
const REFERENCE = driftReference(SPEC, table(toColumns(train.records)), Float64Array.from(train.predictions));
const MODEL = { version: 'maintenance-v1', reference: REFERENCE };

function toColumns(records: readonly FeatureRecord[]): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const r of records) for (const [k, v] of Object.entries(r)) (out[k] ??= []).push(v);
  return out;
}

const log = createLogger('drift-test', 'silent');

function monitor(windows: DriftWindows = memoryDriftWindows(), window = 200) {
  const reports: Array<{ service: string; psi: Readonly<Record<string, number>> | null; rows: number }> = [];
  const raised: string[] = [];
  const m = new DriftMonitor({
    settings: { window, warning: 0.1, critical: 0.25, throttleMs: 3_600_000 },
    windows,
    metrics: { drift: (service, psi, n) => reports.push({ service, psi, rows: n }) },
    log,
    now: () => 1_000,
    onAlert: (a) => raised.push(a.severity),
  });
  return { m, reports, raised };
}

describe('slots and PSI', () => {
  it('bin a row in reference column order, the prediction last', () => {
    const slots = rowSlots(REFERENCE, { grade_at_out: 5, prior_rentals: null, store_id: 'S9' }, 0.1);
    const g = REFERENCE.numeric['grade_at_out']!;
    expect(slots).toEqual([
      g.edges.length,
      REFERENCE.numeric['prior_rentals']!.edges.length + 1,
      2,
      slots[3],
    ]);
  });

  it('is about 0 for a window drawn like the training rows, per input and for the predictions', () => {
    const live = rows(500, 99);
    const counts = new Map<string, number>();
    live.records.forEach((r, i) =>
      rowSlots(REFERENCE, r, live.predictions[i]!).forEach((s, c) =>
        counts.set(`${c}:${s}`, (counts.get(`${c}:${s}`) ?? 0) + 1),
      ),
    );
    const psi = windowPsi(REFERENCE, counts);
    expect(Object.keys(psi)).toEqual(['grade_at_out', 'prior_rentals', 'store_id', PREDICTION_COLUMN]);
    for (const v of Object.values(psi)) expect(v).toBeLessThan(0.05);
    expect(topInputs({ a: 0.1, b: 0.5, prediction: 9, c: 0.2 }, 2)).toBe('b 0.50, c 0.20');
  });
});

/** Every row of a sample at one event time. */
const at = (sample: { records: readonly unknown[] }, time: number): number[] =>
  sample.records.map(() => time);
/** A unit per row of a sample, named by `tag` (a sample's rows are distinct rentals). */
const units = (sample: { records: readonly unknown[] }, tag: string | number): string[] =>
  sample.records.map((_, i) => `${tag}-${i}`);

describe('DriftMonitor', () => {
  it('says nothing while the window fills, then PSI per input; a stable service raises nothing', async () => {
    const { m, reports, raised } = monitor();
    const a = rows(150, 2);
    expect(await m.observe('maintenance', MODEL, a.records, a.predictions, units(a, 'a1'), at(a, 1))).toEqual(
      [],
    );
    expect(reports.at(-1)).toEqual({ service: 'maintenance', psi: null, rows: 150 });
    for (let k = 0; k < 5; k++) {
      const b = rows(100, 3 + k);
      expect(
        await m.observe('maintenance', MODEL, b.records, b.predictions, units(b, `b${k}`), at(b, 2)),
      ).toEqual([]);
    }
    const last = reports.at(-1)!;
    expect(last.rows).toBe(200);
    expect(Object.keys(last.psi!)).toContain(PREDICTION_COLUMN);
    expect(last.psi![PREDICTION_COLUMN]).toBeLessThan(0.1);
    expect(raised).toEqual([]);
  });

  it('raises drift when the inputs shift the predictions, once per severity within the throttle', async () => {
    const { m, raised } = monitor();
    const stable = rows(200, 4);
    await m.observe(
      'maintenance',
      MODEL,
      stable.records,
      stable.predictions,
      units(stable, 'stable1'),
      at(stable, 1),
    );
    const alerts = [];
    for (let k = 0; k < 8; k++) {
      const s = rows(50, 10 + k, -2);
      alerts.push(
        ...(await m.observe(
          'maintenance',
          MODEL,
          s.records,
          s.predictions,
          units(s, `s${k}`),
          at(s, 100 + k),
        )),
      );
    }
    // Warning as the shifted rows come in, critical as they take over; each once.
    expect(alerts.map((a) => a.severity)).toEqual(['warning', 'critical']);
    expect(raised).toEqual(['warning', 'critical']);
    const critical = alerts[1]!;
    expect(critical).toMatchObject({
      rule: 'drift',
      entity_id: 'maintenance',
      service: 'maintenance',
      threshold: 0.25,
      raised_at: 1_000,
    });
    expect(critical.value).toBeGreaterThanOrEqual(0.25);
    expect(critical.message).toMatch(
      /maintenance predictions drifted from the training data of maintenance-v1/,
    );
    expect(critical.message).toContain('grade_at_out');
    expect(critical.alert_id).toBe(`drift:maintenance:${critical.event_time}`);
  });

  it("alerts at the model's own thresholds where its reference windows reach further on ordinary days", async () => {
    // The same moderate shift twice: against the configured thresholds it warns; against a reference whose own
    // windows reached PSI 0.2 to 0.3 (mean + 3 sd about 0.39) it is an ordinary day.
    const spread = { rows: 200, psi: [0.2, 0.3, 0.22, 0.28, 0.25] };
    const wide = { version: 'maintenance-v2', reference: { ...REFERENCE, chunks: spread } };
    const shifted = rows(200, 21, -1);
    const run = async (model: typeof MODEL) => {
      const { m } = monitor();
      return m.observe(
        'maintenance',
        model,
        shifted.records,
        shifted.predictions,
        units(shifted, model.version),
        at(shifted, 1),
      );
    };
    const plain = await run(MODEL);
    expect(plain.map((a) => a.severity)).toEqual(['warning']);
    expect(plain[0]!.value).toBeLessThan(0.39);
    expect(await run(wide)).toEqual([]);
    // A shift beyond the reference's own spread still alerts, at the raised threshold it names.
    const far = rows(200, 22, -3);
    const { m } = monitor();
    const alerts = await m.observe(
      'maintenance',
      wide,
      far.records,
      far.predictions,
      units(far, 'far'),
      at(far, 2),
    );
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.threshold).toBeGreaterThan(0.38);
    expect(alerts[0]!.message).toMatch(/at 0\.\d{3}\)/);
  });

  it('counts a retried batch once: the window holds each unit one time', async () => {
    const { m, reports } = monitor();
    const a = rows(120, 12);
    await m.observe('maintenance', MODEL, a.records, a.predictions, units(a, 'r'), at(a, 1));
    await m.observe('maintenance', MODEL, a.records, a.predictions, units(a, 'r'), at(a, 1));
    expect(reports.at(-1)).toEqual({ service: 'maintenance', psi: null, rows: 120 });
  });

  it('starts a new window for a new model version', async () => {
    const { m, reports } = monitor();
    const a = rows(200, 5);
    await m.observe('maintenance', MODEL, a.records, a.predictions, units(a, 'a1'), at(a, 1));
    expect(reports.at(-1)!.rows).toBe(200);
    await m.observe(
      'maintenance',
      { ...MODEL, version: 'maintenance-v2' },
      a.records.slice(0, 10),
      a.predictions,
      units(a, 'a1'),
      at(a, 2),
    );
    expect(reports.at(-1)).toEqual({ service: 'maintenance', psi: null, rows: 10 });
  });

  it('skips the rows when the window store fails, and scoring goes on', async () => {
    const broken: DriftWindows = {
      add: () => Promise.reject(new Error('redis away')),
      claim: () => Promise.reject(new Error('redis away')),
    };
    const { m, reports } = monitor(broken);
    const a = rows(300, 6, -2);
    expect(await m.observe('maintenance', MODEL, a.records, a.predictions, units(a, 'a1'), at(a, 1))).toEqual(
      [],
    );
    expect(reports).toEqual([]);
  });
});

describe('firstCrossing', () => {
  it('names the row a one-at-a-time window would have alerted at, whatever the batch size', async () => {
    const stable = rows(200, 7);
    const shifted = rows(300, 8, -2);
    const slots = (r: typeof stable, i: number) =>
      rowSlots(REFERENCE, r.records[i]!, r.predictions[i]!).join(',');
    const shares = numericShares(REFERENCE.prediction);
    const one = memoryDriftWindows();
    const batch = memoryDriftWindows();
    let unit = 0;
    const add = (w: DriftWindows, rs: string[]) =>
      w.add(
        'k',
        rs.map((slots) => ({ slots, unit: `u${unit++}`, time: 0 })),
        200,
      );
    const before = stable.records.map((_, i) => slots(stable, i));
    await add(one, before);
    await add(batch, before);
    const after = shifted.records.map((_, i) => slots(shifted, i));
    let alone = -1;
    for (let i = 0; i < after.length && alone < 0; i++) {
      const w = await add(one, [after[i]!]);
      if (
        psiOfCounts(
          shares,
          shares.map((_, s) => w.counts.get(`${after[i]!.split(',').length - 1}:${s}`) ?? 0),
        ) >= 0.25
      )
        alone = i;
    }
    expect(alone).toBeGreaterThan(0);
    const w = await add(batch, after);
    expect(w.evicted).toHaveLength(300);
    expect(firstCrossing(shares, w, after, 200, 0.25)).toBe(alone);
    // Batches larger than the window evict their own first rows; the crossing is the same.
    const big = memoryDriftWindows();
    const all = [...before, ...after];
    unit = 0;
    const wb = await add(big, all);
    expect(firstCrossing(shares, wb, all, 200, 0.25)).toBe(before.length + alone);
  });
});

describe('memoryDriftWindows', () => {
  it('keeps the newest rows and counts exactly what it holds', async () => {
    const w = memoryDriftWindows();
    const row = (slots: string, unit: string, time = 0) => ({ slots, unit, time });
    await w.add('k', [row('0,1', 'a'), row('0,2', 'b'), row('1,1', 'c')], 3);
    const r = await w.add('k', [row('2,2', 'd'), row('2,2', 'e')], 3);
    expect(r.rows).toBe(3);
    expect(r.added).toEqual([0, 1]);
    expect(r.evicted).toEqual(['0,1', '0,2']);
    expect(Object.fromEntries(r.counts)).toEqual({ '0:1': 1, '0:2': 2, '1:1': 1, '1:2': 2 });
  });

  it('counts a unit once (a busy forecast, a retried batch) until it is UNIT_MEMORY_MS behind the newest', async () => {
    const w = memoryDriftWindows();
    const row = (slots: string, unit: string, time: number) => ({ slots, unit, time });
    await w.add('k', [row('0,1', 'S1|TENT|100', 0), row('0,1', 'S1|TENT|100', 5)], 10);
    const again = await w.add('k', [row('0,2', 'S1|TENT|100', 9), row('1,1', 'S2|TENT|100', 9)], 10);
    expect(again.added).toEqual([1]);
    expect(again.rows).toBe(2);
    // Another window (a new model version) counts it afresh.
    expect((await w.add('k2', [row('0,1', 'S1|TENT|100', 9)], 10)).added).toEqual([0]);
    // Far enough on, the first unit is forgotten and counts again.
    await w.add('k', [row('0,3', 'S1|TENT|102', UNIT_MEMORY_MS + 1)], 10);
    const later = await w.add('k', [row('0,1', 'S1|TENT|100', UNIT_MEMORY_MS + 2)], 10);
    expect(later.added).toEqual([0]);
    expect(later.rows).toBe(4);
  });

  it('lets an alert through once per rank and throttle, a higher rank at once', async () => {
    let t = 0;
    const w = memoryDriftWindows(() => t);
    expect(await w.claim('s', 1, 100)).toBe(true);
    expect(await w.claim('s', 1, 100)).toBe(false);
    expect(await w.claim('s', 2, 100)).toBe(true);
    expect(await w.claim('s', 1, 100)).toBe(false);
    t = 150;
    expect(await w.claim('s', 1, 100)).toBe(true);
  });
});

describe('the Redis protocol', () => {
  it('sends the rows with their units under the prefix, and reads the reply back', () => {
    const call = windowCall(
      'p:',
      'demand:v1',
      [
        { slots: '0,1', unit: 'S1|TENT|100', time: 7 },
        { slots: '2,0', unit: 'S2|TENT|100', time: 8 },
      ],
      500,
    );
    expect(call.keys).toEqual([
      'p:drift:demand:v1:rows',
      'p:drift:demand:v1:counts',
      'p:drift:demand:v1:units',
    ]);
    expect(call.args).toEqual([
      500,
      604_800,
      UNIT_MEMORY_MS,
      2,
      '0,1',
      'S1|TENT|100',
      7,
      '2,0',
      'S2|TENT|100',
      8,
    ]);
    // The dropped rows come newest first (LRANGE of the list's tail) and are handed on oldest first; the rows
    // counted are 1-based in Lua.
    expect(
      decodeWindow([2, ['0:0', '1', Buffer.from('0:2'), '1'], ['3,1', Buffer.from('1,0')], [2]]),
    ).toEqual({
      rows: 2,
      counts: new Map([
        ['0:0', 1],
        ['0:2', 1],
      ]),
      evicted: ['1,0', '3,1'],
      added: [1],
    });
  });
});
