// The scoring stages on the in-process driver: which events are scored, that the models get the online values and
// the label-history columns in the columns they were trained on, micro-batching (one read per entity kind and one
// inference call per model per batch), the derived services, the ensemble, and what happens without a model. The
// stages keep no state between events: a pack list's predicted damage rates are recomputed from the class's rentals.
import { table } from 'arquero';
import { describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../config/load.ts';
import { scoringBranches, servingTopology } from '../../pipelines/serving.ts';
import { createLogger } from '../../src/log.ts';
import { driftReference } from '../../src/ml/drift.ts';
import type { ModelSpec } from '../../src/ml/model-spec.ts';
import type { LoadedModel } from '../../src/ml/registry/watcher.ts';
import { TestDriver } from '../../src/runtime/test-driver.ts';
import { topology } from '../../src/runtime/topology.ts';
import { loadSchema } from '../../src/schemas/catalog.ts';
import type { Alert, ClassEvent, PosTransaction, Prediction, RfidScan } from '../../src/schemas/types.ts';
import { DriftMonitor, memoryDriftWindows } from '../../src/serving/drift.ts';
import { predictEnsemble, weigh, type ModelSource } from '../../src/serving/ensemble.ts';
import type { ClassRental, DemandHistoryRow } from '../../src/serving/history.ts';
import { noopServingMetrics, type ServingMetrics } from '../../src/serving/metrics.ts';
import type { ServingDeps } from '../../src/serving/scoring.ts';
import { columnName, type FeatureRef } from '../../src/features/keys.ts';
import type { AsOfPoint, OnlineValue } from '../../src/store/online.ts';

const config = parseConfig({});
const T0 = Date.UTC(2026, 5, 10, 15, 0); // 11:00 in New York (S1)
const DAY = Math.floor(T0 / 86_400_000);

/** A model that returns Σ coefficient × column (missing columns count 0), counting its calls. */
function fakeModel(
  service: string,
  version: string,
  coefficients: Record<string, number>,
  validationScore: number | null = null,
  intercept = 0,
): LoadedModel & { calls: number[] } {
  const numeric = Object.keys(coefficients);
  const spec = {
    service,
    algorithm: 'linear',
    preprocessing: {
      numeric,
      impute: [],
      categorical: ['store_id'],
      categories: [[]],
      offset: [],
      scale: [],
    },
  } as unknown as ModelSpec;
  const calls: number[] = [];
  return {
    service,
    version,
    spec,
    validationScore,
    algorithm: 'linear',
    calls,
    async predict(rows: Float32Array, n: number, categorical?: readonly string[]) {
      calls.push(n);
      expect(categorical).toHaveLength(n);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++)
        out[i] = numeric.reduce((s, c, j) => {
          const v = rows[i * numeric.length + j]!;
          return s + (Number.isNaN(v) ? 0 : v * coefficients[c]!);
        }, intercept);
      return out;
    },
  } as unknown as LoadedModel & { calls: number[] };
}

function models(...ms: LoadedModel[]): ModelSource {
  const map = new Map(ms.map((m) => [m.service, m]));
  return {
    current: (s) => map.get(s),
    versions: () => Object.fromEntries([...map].map(([s, m]) => [s, m.version])),
  };
}

/**
 * An online store over a map `entity -> column (name@window) -> value or versions`, counting reads: `read` gives the
 * newest version, `readAsOf` the newest at or before the time (the newest when none is), as src/store/online.ts.
 */
function online(values: Record<string, Record<string, OnlineValue | OnlineValue[]>>) {
  const reads: string[][] = [];
  const versionsOf = (e: string, r: FeatureRef): OnlineValue[] => {
    const v = values[e]?.[columnName(r)];
    return (v === undefined ? [] : Array.isArray(v) ? v : [v]).toSorted((a, b) => a.timestamp - b.timestamp);
  };
  return {
    reads,
    async read(entityIds: readonly string[], refs: readonly FeatureRef[]) {
      reads.push([...entityIds]);
      return entityIds.map((e) => refs.map((r) => versionsOf(e, r).at(-1) ?? null));
    },
    async readAsOf(points: readonly AsOfPoint[], refs: readonly FeatureRef[]) {
      reads.push(points.map((p) => p.entityId));
      return points.map((p) =>
        refs.map((r) => {
          const vs = versionsOf(p.entityId, r);
          return vs.findLast((v) => v.timestamp <= p.time) ?? vs.at(-1) ?? null;
        }),
      );
    },
  };
}

function countingMetrics(): ServingMetrics & { skippedBy: Record<string, number> } {
  const skippedBy: Record<string, number> = {};
  return {
    ...noopServingMetrics,
    skippedBy,
    skipped: (service, reason) =>
      void (skippedBy[`${service}:${reason}`] = (skippedBy[`${service}:${reason}`] ?? 0) + 1),
  };
}

const HISTORY: DemandHistoryRow = {
  units_lag_1: 4,
  units_lag_7: 6,
  units_mean_7: 5,
  units_same_weekday_4w: 5,
  units_mean_28: 5,
  store_weekday_ratio: 1,
  level_weekday_7: 5,
  level_weekday_14: 5,
  level_weekday_28: 5,
  class_level_weekday: 5,
};

function deps(over: Partial<ServingDeps>): ServingDeps {
  return {
    online: online({}),
    models: models(),
    demandHistory: { forDay: async () => () => HISTORY },
    classRentals: { forDay: async () => () => [] },
    // TAG-1 was rented 3 times a day in the week before (history columns are computed, not read from the store).
    rentalHistory: async (items) =>
      items.map((i) => ({
        prior_rentals: 7,
        prior_damages: 2,
        days_since_last_use: 1,
        usage_frequency_7d: i.tagId === 'TAG-1' ? 3 : 0,
      })),
    metrics: noopServingMetrics,
    log: { warn: () => undefined } as unknown as ServingDeps['log'],
    now: () => T0 + 1_000,
    zoneOf: (s) => config.stores.timeZones[s] ?? 'UTC',
    storeIds: ['S1', 'S2', 'S3'],
    historicalWindow: '90d',
    batch: { maxBatch: 64, maxWaitMs: 1 },
    pricing: { elasticity: 0.5, min: 0.8, max: 1.5 },
    packHorizonDays: 7,
    maintenanceK: 3,
    ...over,
  };
}

const scan = (i: number, type = 'out'): RfidScan => ({
  tag_id: `TAG-${i}`,
  rental_class_num: 'TENT',
  scan_type: type,
  scan_date: T0 + i,
  reader_id: 'R1',
  store_id: 'S1',
  quality_grade: 4,
  notes: null,
});

async function driverFor(d: ServingDeps): Promise<TestDriver> {
  return TestDriver.create(topology('serving', scoringBranches(config, d)), { startTime: T0 });
}

const SCANS = `${config.topics.cleanPrefix}${config.topics.scans}`;
const TXS = `${config.topics.cleanPrefix}${config.topics.transactions}`;
const pred = (s: string) => `${config.topics.predictionsPrefix}${s}`;

describe('item scoring', () => {
  it('scores every out scan with maintenance and quality, from the online store and the item history', async () => {
    const store = online({
      // Not read for a rental: the history's usage (3 a day) is what the record holds.
      'TAG-1': { usage_frequency_7d: { value: 99, timestamp: T0 - 5_000 } },
      'S1|TENT': { 'damage_scans@7d': { value: 2, timestamp: T0 - 1_000 } },
    });
    const maintenance = fakeModel('maintenance', 'm-v1', {
      prior_rentals: 0.01,
      prior_damages: 0.1,
      usage_frequency_7d: 0.001,
      'damage_scans@7d': 0.01,
    });
    const quality = fakeModel('quality', 'q-v1', { grade_at_out: 1, usage_wear_interaction: -0.1 });
    const driver = await driverFor(deps({ online: store, models: models(maintenance, quality) }));
    await driver.pipeBatch(
      SCANS,
      loadSchema('rfidScan'),
      [1, 2, 3, 4].map((i) => ({ value: scan(i, i === 4 ? 'return' : 'out'), key: `TAG-${i}` })),
    );
    const m = await driver.read<Prediction>(pred('maintenance'));
    const q = await driver.read<Prediction>(pred('quality'));
    expect(m.map((r) => r.value.entity_id)).toEqual(['TAG-1', 'TAG-2', 'TAG-3']);
    const first = m[0]!.value;
    // 7 rentals × 0.01 + 2 damages × 0.1 + 3 uses × 0.001 + 2 damage scans × 0.01
    expect(first.prediction).toBeCloseTo(0.07 + 0.2 + 0.003 + 0.02, 5);
    expect(first).toMatchObject({
      service: 'maintenance',
      entity_type: 'item',
      model_versions: ['m-v1'],
      horizon: 'next_3_rentals',
      feature_snapshot_at: T0 - 1_000,
      event_time: T0 + 1,
      predicted_at: T0 + 1_000,
    });
    expect(first.inference_latency_us).toBeGreaterThanOrEqual(0);
    // TAG-2 has no item features: the class's value is the newest it read.
    expect(m[1]!.value.prediction).toBeCloseTo(0.07 + 0.2 + 0.02, 5);
    // quality: grade 4 at out, usage 3 × (5 - 4) wear → 4 - 0.3
    expect(q[0]!.value).toMatchObject({ service: 'quality', entity_id: 'TAG-1', model_versions: ['q-v1'] });
    expect(q[0]!.value.prediction).toBeCloseTo(3.7, 5);
    // One batch: one inference call per model, one read per entity kind.
    expect(maintenance.calls).toEqual([3]);
    expect(quality.calls).toEqual([3]);
    expect(store.reads).toHaveLength(2);
  });

  it("reads each scan's class features as of the scan, not what the class has become since, and counts reads ahead", async () => {
    const ahead: Record<string, number> = {};
    // The class had 2 damage scans at the first rental and 5 by the second; the feature store is already further.
    const store = online({
      'S1|TENT': {
        'damage_scans@7d': [
          { value: 2, timestamp: T0 },
          { value: 5, timestamp: T0 + 2 },
          { value: 9, timestamp: T0 + 60_000 },
        ],
      },
      // Item features keep no versions here: the latest is newer than the scan, and counted.
      'TAG-1': { quality_degradation_rate: { value: 0.1, timestamp: T0 + 30_000 } },
    });
    const maintenance = fakeModel('maintenance', 'm-v1', { 'damage_scans@7d': 0.01 });
    const driver = await driverFor(
      deps({
        online: store,
        models: models(maintenance),
        metrics: {
          ...noopServingMetrics,
          featuresAhead: (kind, n) => void (ahead[kind] = (ahead[kind] ?? 0) + n),
        },
      }),
    );
    await driver.pipeBatch(SCANS, loadSchema('rfidScan'), [
      { value: scan(1), key: 'TAG-1' },
      { value: scan(3), key: 'TAG-3' },
    ]);
    const m = await driver.read<Prediction>(pred('maintenance'));
    expect(m[0]!.value.prediction).toBeCloseTo(0.02, 6);
    expect(m[1]!.value.prediction).toBeCloseTo(0.05, 6);
    expect(m.map((r) => r.value.feature_snapshot_at)).toEqual([T0 + 30_000, T0 + 2]);
    expect(ahead).toEqual({ item: 1 });
  });

  it('publishes nothing for a service without a model, and counts the skipped events', async () => {
    const metrics = countingMetrics();
    const driver = await driverFor(
      deps({ models: models(fakeModel('quality', 'q-v1', { grade_at_out: 1 })), metrics }),
    );
    await driver.pipeBatch(SCANS, loadSchema('rfidScan'), [{ value: scan(1) }, { value: scan(2) }]);
    expect(await driver.read(pred('maintenance'))).toEqual([]);
    expect(await driver.read(pred('quality'))).toHaveLength(2);
    expect(metrics.skippedBy).toEqual({ 'maintenance:no_model': 2 });
  });

  it("reads an item's history only once the history sink has stored the scans it scores", async () => {
    const calls: string[] = [];
    const driver = await driverFor(
      deps({
        models: models(fakeModel('maintenance', 'm-v1', { prior_rentals: 0.01 })),
        historyStored: async (positions) => {
          calls.push(`stored ${positions.map((p) => `${p.topic}[${p.partition}]@${p.offset}`).join(' ')}`);
        },
        rentalHistory: async (items) => {
          calls.push(`history ${items.map((i) => i.tagId).join(' ')}`);
          return items.map(() => ({
            prior_rentals: 1,
            prior_damages: 0,
            days_since_last_use: 1,
            usage_frequency_7d: 0,
          }));
        },
      }),
    );
    // Offsets 0–2; the return (offset 1) is not scored and not waited for.
    await driver.pipeBatch(SCANS, loadSchema('rfidScan'), [
      { value: scan(1), key: 'TAG-1' },
      { value: scan(2, 'return'), key: 'TAG-2' },
      { value: scan(3), key: 'TAG-3' },
    ]);
    expect(await driver.read(pred('maintenance'))).toHaveLength(2);
    expect(calls).toEqual([`stored ${SCANS}[0]@0 ${SCANS}[0]@2`, 'history TAG-1 TAG-3']);
  });

  it("reads the items' class features only once the feature-store sink has stored them up to the scans", async () => {
    const calls: string[] = [];
    const store = online({});
    const driver = await driverFor(
      deps({
        models: models(fakeModel('maintenance', 'm-v1', { prior_rentals: 0.01 })),
        featuresStored: async (events) => {
          calls.push(
            `features ${events.map((e) => `${e.classKey}<-${e.origin.topic}[${e.origin.partition}]@${e.origin.offset}`).join(' ')}`,
          );
        },
        online: {
          read: (ids, refs) => {
            calls.push(`read ${ids.join(' ')}`);
            return store.read(ids, refs);
          },
          readAsOf: (points, refs) => {
            calls.push(`read ${points.map((p) => p.entityId).join(' ')}`);
            return store.readAsOf(points, refs);
          },
        },
      }),
    );
    await driver.pipeBatch(SCANS, loadSchema('rfidScan'), [
      { value: scan(1), key: 'TAG-1' },
      { value: scan(2, 'return'), key: 'TAG-2' },
      { value: scan(3), key: 'TAG-3' },
    ]);
    expect(await driver.read(pred('maintenance'))).toHaveLength(2);
    // The wait names each scored scan's class and position, and comes before every online read.
    expect(calls[0]).toBe(`features S1|TENT<-${SCANS}[0]@0 S1|TENT<-${SCANS}[0]@2`);
    expect(calls.slice(1).every((c) => c.startsWith('read '))).toBe(true);
    expect(calls.length).toBeGreaterThan(1);
  });
});

const classEvent = (store: string, cls: string, t: number): ClassEvent => ({
  store_id: store,
  rental_class_num: cls,
  kind: 'rental',
  event_time: t,
  quantity: 1,
  revenue: 100,
  scan_type: null,
  tag_id: null,
  from_status: null,
  to_status: null,
  origin: 'clean.pos.transactions:0',
});

describe('class scoring', () => {
  const stock = (s: string, n: number) => ({
    [`${s}|TENT`]: { available_stock: { value: n, timestamp: T0 - 60_000 } },
  });

  it('reads class features only once the feature-store sink has stored them up to the event, by its origin', async () => {
    const calls: string[] = [];
    const store = online({ ...stock('S1', 2) });
    const driver = await driverFor(
      deps({
        models: models(fakeModel('demand', 'd-v1', { level_weekday_28: 1 })),
        featuresStored: async (events) => {
          calls.push(
            `features ${events.map((e) => `${e.classKey}<-${e.origin.topic}[${e.origin.partition}]@${e.origin.offset}`).join(' ')}`,
          );
        },
        online: {
          read: (ids, refs) => {
            calls.push('read');
            return store.read(ids, refs);
          },
          readAsOf: (points, refs) => {
            calls.push('read');
            return store.readAsOf(points, refs);
          },
        },
      }),
    );
    await driver.pipeBatch(topicOf('classEvents'), loadSchema('classEvent'), [
      { value: { ...classEvent('S1', 'TENT', T0), origin: 'clean.rfid.scans:3:41' }, key: 'S1|TENT' },
    ]);
    expect(await driver.read(pred('demand'))).toHaveLength(1);
    expect(calls[0]).toBe('features S1|TENT<-clean.rfid.scans[3]@41');
    expect(calls.slice(1).length).toBeGreaterThan(0);
    expect(calls.slice(1).every((c) => c === 'read')).toBe(true);
  });

  it("forecasts from the class's features as of the target day's midnight (as training), its stock as of the newest event", async () => {
    const midnight = T0 - 11 * 3_600_000; // 00:00 in New York (S1) on T0's day
    const store = online({
      'S1|TENT': {
        'rentals@7d': [
          { value: 3, timestamp: midnight - 60_000 },
          { value: 9, timestamp: midnight + 60_000 },
          { value: 4, timestamp: T0 + 10 },
        ],
        available_stock: [
          { value: 7, timestamp: midnight - 60_000 },
          { value: 2, timestamp: T0 + 10 },
          { value: 40, timestamp: T0 + 3_600_000 },
        ],
      },
    });
    const driver = await driverFor(
      deps({ online: store, models: models(fakeModel('demand', 'd-v1', { 'rentals@7d': 1 })) }),
    );
    await driver.pipeBatch(topicOf('classEvents'), loadSchema('classEvent'), [
      { value: classEvent('S1', 'TENT', T0), key: 'S1|TENT' },
      { value: classEvent('S1', 'TENT', T0 + 20), key: 'S1|TENT' },
    ]);
    const demand = await driver.read<Prediction>(pred('demand'));
    expect(demand.map((d) => d.value.prediction)).toEqual([3, 3]);
    const pricing = await driver.read<Prediction>(pred('pricing'));
    expect(pricing.map((p) => JSON.parse(p.value.details!).available)).toEqual([2, 2]);
  });

  it('forecasts demand for the class in the store, prices it and plans restock across stores', async () => {
    const store = online({ ...stock('S1', 2), ...stock('S2', 20), ...stock('S3', 9) });
    // Forecast = the weekday-adjusted 28-day level (5) + 1 per unit in stock / 10 — different per store.
    const demand = fakeModel('demand', 'd-v1', { level_weekday_28: 1, available_stock: 0.1 });
    const driver = await driverFor(deps({ online: store, models: models(demand) }));
    await driver.pipeBatch(topicOf('classEvents'), loadSchema('classEvent'), [
      { value: classEvent('S1', 'TENT', T0), key: 'S1|TENT' },
    ]);
    const [d] = (await driver.read<Prediction>(pred('demand'))).map((r) => r.value);
    expect(d).toMatchObject({
      service: 'demand',
      entity_id: 'S1|TENT',
      horizon: '1d',
      model_versions: ['d-v1'],
    });
    expect(d!.prediction).toBeCloseTo(5.2, 5);
    expect(JSON.parse(d!.details!)).toMatchObject({
      target_day: new Date(DAY * 86_400_000).toISOString().slice(0, 10),
    });
    const [p] = (await driver.read<Prediction>(pred('pricing'))).map((r) => r.value);
    // pressure 5.2 / 2 = 2.6 → 1 + 0.5 × 1.6 = 1.8, capped at 1.5
    expect(p!.prediction).toBe(1.5);
    expect(JSON.parse(p!.details!).reasons).toEqual(expect.arrayContaining(['capped at 1.5']));
    const [r] = (await driver.read<Prediction>(pred('restock'))).map((x) => x.value);
    // S1 short by ceil(5.2 - 2) = 4; S2 has floor(20 - 7) = 13 spare: a transfer.
    expect(r!.prediction).toBe(4);
    expect(JSON.parse(r!.details!).action).toEqual({ kind: 'transfer', fromStore: 'S2', units: 4 });
    // One batch: the three stores' rows in one inference call.
    expect(demand.calls).toEqual([3]);
  });

  it('restocks on the 7-day forecast when a demand_7d model serves', async () => {
    const store = online({ ...stock('S1', 2), ...stock('S2', 3), ...stock('S3', 3) });
    const driver = await driverFor(
      deps({
        online: store,
        models: models(
          fakeModel('demand', 'd-v1', { level_weekday_28: 1 }),
          fakeModel('demand_7d', 'w-v1', { level_weekday_28: 7 }),
        ),
      }),
    );
    await driver.pipeBatch(topicOf('classEvents'), loadSchema('classEvent'), [
      { value: classEvent('S1', 'TENT', T0) },
    ]);
    const [r] = (await driver.read<Prediction>(pred('restock'))).map((x) => x.value);
    expect(r).toMatchObject({ horizon: '7d', model_versions: ['w-v1'], prediction: 33 });
    expect(JSON.parse(r!.details!).action).toEqual({ kind: 'purchase', units: 33 });
    const [d] = (await driver.read<Prediction>(pred('demand'))).map((x) => x.value);
    expect(d!.model_versions).toEqual(['d-v1', 'w-v1']);
    expect(JSON.parse(d!.details!).forecast_7d).toBe(35);
  });

  it('skips pricing and restock when the store has no stock level for the class', async () => {
    const metrics = countingMetrics();
    const driver = await driverFor(
      deps({ models: models(fakeModel('demand', 'd-v1', { level_weekday_28: 1 })), metrics }),
    );
    await driver.pipeBatch(topicOf('classEvents'), loadSchema('classEvent'), [
      { value: classEvent('S1', 'TENT', T0) },
    ]);
    expect(await driver.read(pred('demand'))).toHaveLength(1);
    expect(await driver.read(pred('pricing'))).toEqual([]);
    expect(metrics.skippedBy).toMatchObject({ 'pricing:no_stock': 1, 'restock:no_stock': 1 });
  });
});

describe('class scoring: one forecast per class, store and day per micro-batch', () => {
  const events = [
    { value: classEvent('S1', 'TENT', T0), key: 'S1|TENT' },
    { value: classEvent('S1', 'TENT', T0 + 1_000), key: 'S1|TENT' },
    { value: classEvent('S2', 'TENT', T0 + 2_000), key: 'S2|TENT' },
    { value: classEvent('S1', 'TENT', T0 + 3_000), key: 'S1|TENT' },
  ];
  const demand = () => fakeModel('demand', 'd-v1', { level_weekday_28: 1 });

  it("sends the forecast with each class's last event and counts the others as superseded", async () => {
    const metrics = countingMetrics();
    const d = deps({ models: models(demand()), metrics, collapseClassForecasts: true });
    const driver = await driverFor(d);
    await driver.pipeBatch(topicOf('classEvents'), loadSchema('classEvent'), events);
    const out = (await driver.read<Prediction>(pred('demand'))).map((r) => [
      r.value.entity_id,
      r.value.event_time,
    ]);
    expect(out).toEqual([
      ['S2|TENT', T0 + 2_000],
      ['S1|TENT', T0 + 3_000],
    ]);
    expect(metrics.skippedBy).toMatchObject({ 'demand:superseded': 2 });
  });

  it('sends one per event when asked to', async () => {
    const driver = await driverFor(deps({ models: models(demand()), collapseClassForecasts: false }));
    await driver.pipeBatch(topicOf('classEvents'), loadSchema('classEvent'), events);
    expect(await driver.read(pred('demand'))).toHaveLength(4);
  });
});

function topicOf(k: 'classEvents'): string {
  return config.topics[k];
}

describe('pack scoring', () => {
  const tx = (eventInDays: number): PosTransaction => ({
    transaction_id: `T${eventInDays}`,
    contract_no: `C${eventInDays}`,
    store_id: 'S1',
    customer_id: 'CU1',
    transaction_date: T0,
    event_date: DAY + eventInDays,
    items: [
      { rental_class_num: 'TENT', quantity: 10, price: 100 },
      { rental_class_num: 'CHAIR', quantity: 3, price: 5 },
    ],
    total_amount: 1015,
  });

  /** Rentals of TENT out of S1 before the booking's day; no rentals of CHAIR. */
  const tentRentals = (n: number): ClassRental[] =>
    Array.from({ length: n }, (_, i) => ({
      tagId: `TAG-${i}`,
      storeId: 'S1',
      rentalClass: 'TENT',
      time: T0 - 86_400_000 - i * 60_000,
      grade: 4,
    }));
  const rentalsOf =
    (rentals: readonly ClassRental[]) =>
    (storeId: string, rentalClass: string): readonly ClassRental[] =>
      rentals.filter((r) => r.storeId === storeId && r.rentalClass === rentalClass);

  it('packs bookings of the next N days with spares for predicted damage', async () => {
    const store = online({ 'S1|CHAIR': { 'damage_rate@90d': { value: 0.1, timestamp: T0 - 1 } } });
    const driver = await driverFor(
      deps({
        online: store,
        // Every TENT rental out of S1 scores 0.25.
        classRentals: { forDay: async () => rentalsOf(tentRentals(3)) },
        models: models(fakeModel('maintenance', 'm-v1', {}, null, 0.25)),
      }),
    );
    await driver.pipeBatch(TXS, loadSchema('posTransaction'), [{ value: tx(3) }, { value: tx(9) }]);
    const out = (await driver.read<Prediction>(pred('pack'))).map((r) => r.value);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({
      entity_id: 'S1|C3',
      entity_type: 'booking',
      horizon: '7d',
      model_versions: ['m-v1'],
    });
    const lines = JSON.parse(out[0]!.details!).lines;
    expect(lines).toEqual([
      { rentalClass: 'CHAIR', booked: 3, spares: 1, units: 4, damage_source: 'historical damage rate' },
      { rentalClass: 'TENT', booked: 10, spares: 3, units: 13, damage_source: 'maintenance model' },
    ]);
    expect(out[0]!.prediction).toBe(17);
  });

  it("predicts a class's damage rate as the mean maintenance prediction over its rentals out of the store", async () => {
    // p = 0.125 × prior damages: items with 0, 1, 2 and 5 damages → mean 0.25 (the last alone: 0.625); 10 booked
    // → 3 spares. (Multiples of 1/8 are exact in the model's float32.)
    const damages = [0, 1, 2, 5];
    const asked: number[] = [];
    const maintenance = fakeModel('maintenance', 'm-v1', { prior_damages: 0.125 });
    const driver = await driverFor(
      deps({
        classRentals: {
          forDay: async (day) => {
            asked.push(day);
            return rentalsOf(tentRentals(4));
          },
        },
        rentalHistory: async (items) =>
          items.map((i) => ({
            prior_rentals: 3,
            prior_damages: damages[Number(i.tagId.slice(4))]!,
            days_since_last_use: 1,
            usage_frequency_7d: 0,
          })),
        models: models(maintenance),
      }),
    );
    await driver.pipeBatch(TXS, loadSchema('posTransaction'), [{ value: tx(2) }]);
    const [p] = (await driver.read<Prediction>(pred('pack'))).map((r) => r.value);
    const tent = JSON.parse(p!.details!).lines.find((l: { rentalClass: string }) => l.rentalClass === 'TENT');
    expect(tent).toMatchObject({ booked: 10, spares: 3, damage_source: 'maintenance model' });
    // The rentals before the booking's local day (New York), scored in one call.
    expect(asked).toEqual([DAY]);
    expect(maintenance.calls).toEqual([4]);
  });

  it('gives the same pack list on a fresh instance and whatever the instance scored before', async () => {
    const setup = () =>
      deps({
        classRentals: { forDay: async () => rentalsOf(tentRentals(2)) },
        models: models(fakeModel('maintenance', 'm-v1', { prior_damages: 0.125 })),
      });
    const busy = await driverFor(setup());
    // Item scoring of TENT rentals out of S1 (what the old in-memory moving average fed on) must not move the rate.
    await busy.pipeBatch(
      SCANS,
      loadSchema('rfidScan'),
      [1, 2, 3].map((i) => ({ value: scan(i) })),
    );
    expect(await busy.read(pred('maintenance'))).toHaveLength(3);
    await busy.pipeBatch(TXS, loadSchema('posTransaction'), [{ value: tx(1) }]);
    const fresh = await driverFor(setup());
    await fresh.pipeBatch(TXS, loadSchema('posTransaction'), [{ value: tx(1) }]);
    const details = async (d: TestDriver) =>
      (await d.read<Prediction>(pred('pack'))).map((r) => JSON.parse(r.value.details!));
    const a = await details(busy);
    expect(a).toHaveLength(1);
    expect(a).toEqual(await details(fresh));
    expect(a[0].lines.find((l: { rentalClass: string }) => l.rentalClass === 'TENT')).toMatchObject({
      spares: 3, // ⌈10 × 0.25⌉ (2 prior damages each, from the default rental history)
      damage_source: 'maintenance model',
    });
  });

  it('falls back to the stored damage rate without a maintenance model', async () => {
    const store = online({ 'S1|TENT': { 'damage_rate@90d': { value: 0.05, timestamp: T0 - 1 } } });
    const driver = await driverFor(
      deps({ online: store, classRentals: { forDay: async () => rentalsOf(tentRentals(3)) } }),
    );
    await driver.pipeBatch(TXS, loadSchema('posTransaction'), [{ value: tx(0) }]);
    const [p] = (await driver.read<Prediction>(pred('pack'))).map((r) => r.value);
    expect(p!.model_versions).toEqual([]);
    expect(JSON.parse(p!.details!).lines).toEqual([
      { rentalClass: 'CHAIR', booked: 3, spares: 0, units: 3, damage_source: 'historical damage rate' },
      { rentalClass: 'TENT', booked: 10, spares: 1, units: 11, damage_source: 'historical damage rate' },
    ]);
  });
});

describe('ensemble', () => {
  it('weighs members by inverse validation score', () => {
    const w = weigh([
      { service: 'demand', model: { validationScore: 1 } },
      { service: 'demand-gbt', model: { validationScore: 3 } },
      { service: 'demand-x', model: { validationScore: null } },
    ]).map((m) => m.weight);
    // 1, 1/3 and their mean 2/3: total 2
    expect(w[0]).toBeCloseTo(0.5);
    expect(w[1]).toBeCloseTo(1 / 6);
    expect(w[2]).toBeCloseTo(1 / 3);
  });

  it('combines the members of a service and lists their versions', async () => {
    const a = fakeModel('demand', 'a', { x: 1 }, 1);
    (a as { spec: ModelSpec }).spec = { ...a.spec, members: ['demand-gbt'] };
    const b = fakeModel('demand-gbt', 'b', { x: 1 }, 3, 4);
    const other = fakeModel('demand_7d', 'c', { x: 100 }, 1);
    const src = models(a, b, other);
    const { ensembleMembers } = await import('../../src/serving/ensemble.ts');
    const members = ensembleMembers(src, 'demand');
    expect(members.map((m) => m.service)).toEqual(['demand', 'demand-gbt']);
    const r = await predictEnsemble(members, [{ x: 2, store_id: 'S1' }]);
    // 0.75 × 2 + 0.25 × (2 + 4)
    expect(r.values[0]).toBeCloseTo(3);
    expect(r.versions).toEqual(['a', 'b']);
  });
});

describe('serving topology', () => {
  it('sends predictions through the alert rules to the alerts topic', async () => {
    const driver = await TestDriver.create(servingTopology(config, deps({})), { startTime: T0 });
    const p: Prediction = {
      service: 'maintenance',
      entity_id: 'TAG-1',
      entity_type: 'item',
      prediction: 0.9,
      lower: null,
      upper: null,
      horizon: 'next_3_rentals',
      model_versions: ['m-v1'],
      feature_snapshot_at: T0,
      inference_latency_us: 5,
      predicted_at: T0,
      event_time: T0,
      details: null,
    };
    await driver.pipe(pred('maintenance'), loadSchema('prediction'), p, { key: 'TAG-1' });
    const alerts = await driver.read<{ rule: string; severity: string; entity_id: string }>(
      config.topics.alerts,
    );
    expect(alerts.map((a) => [a.value.rule, a.value.severity, a.value.entity_id])).toEqual([
      ['maintenance_risk', 'critical', 'TAG-1'],
    ]);
  });
});

describe('prediction intervals and drift', () => {
  const INTERVAL = { coverage: 0.9, lower: -3, upper: 2 };
  const withExtras = <M extends LoadedModel>(m: M, extras: Partial<LoadedModel>): M =>
    Object.assign(m, extras);

  it("fills demand's and quality's bounds from the model's interval, within the value's range", async () => {
    const store = online({ 'S1|TENT': { available_stock: { value: 2, timestamp: T0 - 60_000 } } });
    const driver = await driverFor(
      deps({
        online: store,
        models: models(
          withExtras(fakeModel('demand', 'd-v1', { level_weekday_28: 1 }), { interval: INTERVAL }),
          withExtras(fakeModel('demand_7d', 'w-v1', { level_weekday_28: 7 }), {
            interval: { coverage: 0.9, lower: -10, upper: 8 },
          }),
          withExtras(fakeModel('quality', 'q-v1', { grade_at_out: 1 }), { interval: INTERVAL }),
          fakeModel('maintenance', 'm-v1', { prior_rentals: 0.01 }),
        ),
      }),
    );
    await driver.pipeBatch(topicOf('classEvents'), loadSchema('classEvent'), [
      { value: classEvent('S1', 'TENT', T0) },
    ]);
    const [d] = (await driver.read<Prediction>(pred('demand'))).map((r) => r.value);
    // forecast 5: [5 - 3, 5 + 2]; the 7-day 35: [25, 43]
    expect(d).toMatchObject({ prediction: 5, lower: 2, upper: 7 });
    expect(JSON.parse(d!.details!)).toMatchObject({
      forecast_7d: 35,
      forecast_7d_lower: 25,
      forecast_7d_upper: 43,
    });
    // Pricing keeps its own bounds (the policy's range).
    const [p] = (await driver.read<Prediction>(pred('pricing'))).map((r) => r.value);
    expect(p).toMatchObject({ lower: 0.8, upper: 1.5 });

    await driver.pipeBatch(SCANS, loadSchema('rfidScan'), [{ value: scan(1) }]);
    const [q] = (await driver.read<Prediction>(pred('quality'))).map((r) => r.value);
    // grade 4: [1, 6] kept within the grades, [1, 5]
    expect(q).toMatchObject({ prediction: 4, lower: 1, upper: 5 });
    const [m] = (await driver.read<Prediction>(pred('maintenance'))).map((r) => r.value);
    expect(m).toMatchObject({ lower: null, upper: null });
  });

  it("clips demand's lower bound at 0", async () => {
    const driver = await driverFor(
      deps({
        models: models(
          withExtras(fakeModel('demand', 'd-v1', { level_weekday_28: 0.2 }), { interval: INTERVAL }),
        ),
      }),
    );
    await driver.pipeBatch(topicOf('classEvents'), loadSchema('classEvent'), [
      { value: classEvent('S1', 'TENT', T0) },
    ]);
    const [d] = (await driver.read<Prediction>(pred('demand'))).map((r) => r.value);
    expect(d!.lower).toBe(0);
    expect(d!.upper).toBeCloseTo(3, 5);
  });

  /** A drift monitor on in-process windows of `window` rows, with its metrics spied on. */
  const driftMonitor = (window: number, now: number) => {
    const metrics = { ...noopServingMetrics, drift: vi.fn() };
    const monitor = new DriftMonitor({
      settings: { window, warning: 0.1, critical: 0.25, throttleMs: 3_600_000 },
      windows: memoryDriftWindows(),
      metrics,
      log: createLogger('scoring-test', 'silent'),
      now: () => now,
    });
    return { metrics, monitor };
  };

  it("counts a store's forecast of a class for a day once in the drift window, however many events ask", async () => {
    const demand = fakeModel('demand', 'd-v1', { level_weekday_28: 1 });
    const train = table({ level_weekday_28: Array.from({ length: 100 }, (_, i) => i % 10) });
    withExtras(demand, {
      reference: driftReference(
        demand.spec,
        train,
        Float64Array.from(train.array('level_weekday_28') as number[]),
      ),
    });
    const { metrics, monitor } = driftMonitor(50, T0);
    const driver = await driverFor(deps({ models: models(demand), metrics, drift: monitor }));
    const events = (...xs: [string, number][]) =>
      driver.pipeBatch(
        topicOf('classEvents'),
        loadSchema('classEvent'),
        xs.map(([cls, t]) => ({ value: classEvent('S1', cls, t) })),
      );
    // Three events of one class in a batch, two more in later batches, then another class.
    await events(['TENT', T0], ['TENT', T0 + 1], ['TENT', T0 + 2]);
    await events(['TENT', T0 + 3]);
    await events(['TENT', T0 + 4]);
    await events(['CHAIR', T0 + 5]);
    expect(await driver.read(pred('demand'))).toHaveLength(6);
    expect(metrics.drift.mock.calls.map((c) => c[2])).toEqual([1, 1, 1, 2]);
  });

  it('raises drift on the alerts topic when what a model scores left its training data', async () => {
    // Trained on items with 0..3 prior rentals; the live ones have 7 (deps' rental history).
    const maintenance = fakeModel('maintenance', 'm-v1', { prior_rentals: 0.1 });
    const train = table({
      prior_rentals: Array.from({ length: 400 }, (_, i) => i % 4),
      store_id: Array.from({ length: 400 }, () => 'S1'),
    });
    withExtras(maintenance, {
      reference: driftReference(
        maintenance.spec,
        train,
        Float64Array.from(train.array('prior_rentals') as number[], (v) => 0.1 * v),
      ),
    });
    const { metrics, monitor } = driftMonitor(4, T0 + 2_000);
    const driver = await driverFor(deps({ models: models(maintenance), metrics, drift: monitor }));
    await driver.pipeBatch(
      SCANS,
      loadSchema('rfidScan'),
      [1, 2, 3, 4, 5].map((i) => ({ value: scan(i) })),
    );
    expect(await driver.read(pred('maintenance'))).toHaveLength(5);
    const alerts = (await driver.read<Alert>(config.topics.alerts)).map((r) => r.value);
    expect(alerts.map((a) => [a.rule, a.severity, a.entity_id, a.service])).toEqual([
      ['drift', 'critical', 'maintenance', 'maintenance'],
    ]);
    // The row at which the window (4 rows) was first full and critical: the 4th scan, not the batch's last.
    expect(alerts[0]!.event_time).toBe(T0 + 4);
    expect(metrics.drift).toHaveBeenCalledWith(
      'maintenance',
      expect.objectContaining({ prior_rentals: expect.any(Number) }),
      4,
    );
  });
});
