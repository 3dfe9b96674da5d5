// Per-event inference and the six prediction services, as async stages (src/runtime/operator.ts AsyncOperator).
//
// Each stage gathers the records of a consumed batch in a micro-batcher (max batch size, max wait), reads their
// features from the online store in one round trip per entity kind, adds the label-history columns the models were
// trained with (src/serving/history.ts, the training code's own functions), derives the seed's features, and scores
// the whole batch with the service's ensemble (src/serving/ensemble.ts) in one call per member model:
//  - itemScoring, on every `out` scan: maintenance (p(damage or repair before the item's K-th next rental)) and
//    quality (expected grade at its next return);
//  - classScoring, on every class event (a rental line or an item scan of a class in a store): demand (units rented
//    today in that store, and the 7-day forecast when a demand_7d model serves), pricing (a bounded multiplier from
//    forecast against available stock, with its reasons), restock (the store's shortfall, with a transfer from
//    the store with the largest surplus or a purchase);
//  - packScoring, on every transaction booking an event in the next N days: units to pack per class, with spares
//    for the class's predicted damage rate.
// Every prediction carries the model versions it combined, its inference time and the event time of the newest
// feature value it read (the snapshot time).
import type { Logger } from '../src/log.ts';
import { addLevelInteractions, deriveRow, type FeatureRecord } from '../src/features/derive.ts';
import { GLOBAL_ENTITY, classKey, columnName, type FeatureRef } from '../src/features/keys.ts';
import {
  DEMAND_INTERACTIONS,
  GLOBAL_REFS,
  ITEM_REFS,
  STORE_REFS,
  demandClassRefs,
  rentalClassRefs,
} from '../src/features/vocabulary.ts';
import { MicroBatcher, type MicroBatcherOptions } from '../src/runtime/micro-batcher.ts';
import type { AsyncOperator, OperatorContext, Rec } from '../src/runtime/operator.ts';
import type { ClassEvent, PosTransaction, Prediction, RfidScan } from '../src/schemas/types.ts';
import { ensembleMembers, predictEnsemble, type ModelSource } from '../src/serving/ensemble.ts';
import {
  demandCalendar,
  localDay,
  type DemandHistoryRow,
  type DemandHistorySource,
  type RentalHistory,
} from '../src/serving/history.ts';
import type { ServingMetrics } from '../src/serving/metrics.ts';
import type { OnlineValue } from '../src/store/online.ts';
import { packList, priceMultiplier, restockPlan, type PricingPolicy } from './services.ts';

export interface ServingDeps {
  readonly online: {
    read(entityIds: readonly string[], refs: readonly FeatureRef[]): Promise<(OnlineValue | null)[][]>;
  };
  readonly models: ModelSource;
  readonly demandHistory: DemandHistorySource;
  readonly rentalHistory: (items: readonly { tagId: string; before: number }[]) => Promise<RentalHistory[]>;
  readonly metrics: ServingMetrics;
  readonly log: Logger;
  /** Wall clock (ms) for predicted_at and latencies. */
  readonly now: () => number;
  readonly zoneOf: (storeId: string) => string;
  /** Stores a restock plan compares (config validation.storeIds). */
  readonly storeIds: readonly string[];
  /** Window of the historical collector's class features, e.g. `90d` (the models were trained on it). */
  readonly historicalWindow: string;
  readonly batch: MicroBatcherOptions;
  readonly pricing: PricingPolicy;
  readonly packHorizonDays: number;
  /** K of the maintenance label, for the prediction's horizon. */
  readonly maintenanceK: number;
  readonly classRisk: ClassRisk;
}

/**
 * The predicted damage rate per store and class: a moving average of the maintenance model's predictions for the
 * class's items leaving that store (in this instance), which the pack list uses for spares.
 */
export class ClassRisk {
  private readonly rates = new Map<string, number>();
  constructor(private readonly alpha = 0.05) {}
  update(key: string, p: number): void {
    const r = this.rates.get(key);
    this.rates.set(key, r === undefined ? p : r + this.alpha * (p - r));
  }
  get(key: string): number | undefined {
    return this.rates.get(key);
  }
}

/** Values of one entity kind for many entities: one online-store round trip. */
async function readColumns(
  deps: ServingDeps,
  entities: readonly string[],
  refs: readonly FeatureRef[],
): Promise<Map<string, { values: Record<string, number | null>; newest: number }>> {
  const unique = [...new Set(entities)];
  const started = performance.now();
  const rows = await deps.online.read(unique, refs);
  deps.metrics.featureRead(unique.length, (performance.now() - started) / 1000);
  const out = new Map<string, { values: Record<string, number | null>; newest: number }>();
  unique.forEach((e, i) => {
    const values: Record<string, number | null> = {};
    let newest = -Infinity;
    refs.forEach((ref, j) => {
      const v = rows[i]?.[j] ?? null;
      values[columnName(ref)] = v === null ? null : v.value;
      if (v !== null) newest = Math.max(newest, v.timestamp);
    });
    out.set(e, { values, newest });
  });
  return out;
}

/** A stage whose records are scored together: select → batch → score → emit (per input record, in order). */
function batchedStage<In, Q, R>(
  name: string,
  deps: ServingDeps,
  select: (value: In, rec: Rec<In>) => Q | null,
  score: (queries: readonly Q[]) => Promise<readonly R[]>,
  emit: (result: R, rec: Rec<In>, ctx: OperatorContext) => Rec<Prediction>[],
): AsyncOperator<In, Prediction> {
  const batcher = new MicroBatcher<Q, R>(score, deps.batch);
  return {
    name,
    async: true,
    async process(rec, ctx) {
      const q = select(rec.value, rec);
      if (q === null) return [];
      return emit(await batcher.submit(q), rec, ctx);
    },
  };
}

interface Scored {
  readonly value: number;
  readonly versions: readonly string[];
  readonly latencyUs: number;
}

/** Scores records with a service's ensemble, or null for each when no model serves it (counted and logged once a minute). */
async function scoreService(
  deps: ServingDeps,
  service: string,
  records: readonly FeatureRecord[],
): Promise<(Scored | null)[]> {
  const members = ensembleMembers(deps.models, service);
  if (members.length === 0) {
    for (let i = 0; i < records.length; i++) deps.metrics.skipped(service, 'no_model');
    warnNoModel(deps, service);
    return records.map(() => null);
  }
  const started = performance.now();
  const { values, versions } = await predictEnsemble(members, records);
  const seconds = (performance.now() - started) / 1000;
  deps.metrics.inference(service, records.length, seconds);
  const latencyUs = Math.round((seconds * 1e6) / Math.max(1, records.length));
  return [...values].map((value) => ({ value, versions, latencyUs }));
}

/** Some model serves the service (its features are worth reading). */
const serves = (deps: ServingDeps, service: string): boolean =>
  ensembleMembers(deps.models, service).length > 0;

/** Events that get no prediction of these services because no model serves them: counted, and said once a minute. */
function skipAll(deps: ServingDeps, services: readonly string[], n: number): void {
  for (const s of services) {
    for (let i = 0; i < n; i++) deps.metrics.skipped(s, 'no_model');
    warnNoModel(deps, s);
  }
}

/** When each running serving flow last said a service has no model (per deps: two pipelines warn separately). */
const lastWarned = new WeakMap<ServingDeps, Map<string, number>>();
function warnNoModel(deps: ServingDeps, service: string): void {
  const now = deps.now();
  let warned = lastWarned.get(deps);
  if (!warned) lastWarned.set(deps, (warned = new Map()));
  if (now - (warned.get(service) ?? -Infinity) < 60_000) return;
  warned.set(service, now);
  deps.log.warn(
    { service },
    `no ${service} model in production: events get no ${service} prediction until one is promoted (npm run train, npm run models -- promote)`,
  );
}

function prediction(
  deps: ServingDeps,
  p: Omit<Prediction, 'predicted_at' | 'lower' | 'upper'> & { lower?: number | null; upper?: number | null },
): Rec<Prediction> {
  const now = deps.now();
  deps.metrics.predicted(p.service, Math.max(0, (now - p.event_time) / 1000));
  return {
    key: Buffer.from(p.entity_id),
    value: { lower: null, upper: null, ...p, predicted_at: now },
    timestamp: p.event_time,
  };
}

const snapshot = (newest: number, fallback: number): number => (Number.isFinite(newest) ? newest : fallback);

// ---------------------------------------------------------------------------------------------------------------
// Items: maintenance and quality

interface ItemResult {
  readonly maintenance: Scored | null;
  readonly quality: Scored | null;
  readonly snapshotAt: number;
}

/** The rental frame's columns for one `out` scan (src/ml/train/features.ts rentalFrame), derived features added. */
export function rentalRecord(
  scan: RfidScan,
  history: RentalHistory,
  item: Record<string, number | null>,
  cls: Record<string, number | null>,
): FeatureRecord {
  return deriveRow({
    grade_at_out: scan.quality_grade,
    prior_damages: history.prior_damages,
    prior_rentals: history.prior_rentals,
    ...item,
    // The scan's own grade is the newest (training's as-of join includes the feature stamped at the scan).
    quality_grade: scan.quality_grade,
    ...cls,
    store_id: scan.store_id,
    rental_class_num: scan.rental_class_num,
  });
}

/** maintenance (main output) and quality (side port `quality`) for every `out` scan. */
export function itemScoring(deps: ServingDeps): AsyncOperator<RfidScan, Prediction> {
  const classRefs = rentalClassRefs(deps.historicalWindow);
  return batchedStage<RfidScan, RfidScan, ItemResult>(
    'item-scoring',
    deps,
    (scan) => (scan.scan_type === 'out' ? scan : null),
    async (scans) => {
      if (!serves(deps, 'maintenance') && !serves(deps, 'quality')) {
        skipAll(deps, ['maintenance', 'quality'], scans.length);
        return scans.map(() => ({ maintenance: null, quality: null, snapshotAt: 0 }));
      }
      const [items, classes, histories] = await Promise.all([
        readColumns(
          deps,
          scans.map((s) => s.tag_id),
          ITEM_REFS,
        ),
        readColumns(
          deps,
          scans.map((s) => classKey(s.store_id, s.rental_class_num)),
          classRefs,
        ),
        deps.rentalHistory(scans.map((s) => ({ tagId: s.tag_id, before: s.scan_date }))),
      ]);
      const records = scans.map((s, i) =>
        rentalRecord(
          s,
          histories[i]!,
          items.get(s.tag_id)!.values,
          classes.get(classKey(s.store_id, s.rental_class_num))!.values,
        ),
      );
      const [maintenance, quality] = await Promise.all([
        scoreService(deps, 'maintenance', records),
        scoreService(deps, 'quality', records),
      ]);
      return scans.map((s, i) => ({
        maintenance: maintenance[i]!,
        quality: quality[i]!,
        snapshotAt: snapshot(
          Math.max(
            items.get(s.tag_id)!.newest,
            classes.get(classKey(s.store_id, s.rental_class_num))!.newest,
          ),
          s.scan_date,
        ),
      }));
    },
    (r, rec, ctx) => {
      const scan = rec.value;
      const common = {
        entity_id: scan.tag_id,
        entity_type: 'item',
        feature_snapshot_at: r.snapshotAt,
        event_time: scan.scan_date,
      };
      if (r.quality)
        ctx.emitSide(
          'quality',
          prediction(deps, {
            ...common,
            service: 'quality',
            prediction: Math.min(5, Math.max(1, r.quality.value)),
            horizon: 'next_return',
            model_versions: [...r.quality.versions],
            inference_latency_us: r.quality.latencyUs,
            details: JSON.stringify({ grade_at_out: scan.quality_grade }),
          }),
        );
      if (!r.maintenance) return [];
      const p = Math.min(1, Math.max(0, r.maintenance.value));
      deps.classRisk.update(classKey(scan.store_id, scan.rental_class_num), p);
      return [
        prediction(deps, {
          ...common,
          service: 'maintenance',
          prediction: p,
          horizon: `next_${deps.maintenanceK}_rentals`,
          model_versions: [...r.maintenance.versions],
          inference_latency_us: r.maintenance.latencyUs,
          details: JSON.stringify({ rental_class: scan.rental_class_num, store_id: scan.store_id }),
        }),
      ];
    },
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Classes: demand, pricing, restock

interface ClassQuery {
  readonly storeId: string;
  readonly rentalClass: string;
  readonly time: number;
}

interface ClassForecast {
  readonly storeId: string;
  readonly day: number;
  readonly demand: Scored | null;
  readonly demand7d: Scored | null;
  /** null when the online store has no stock level for the class in that store. */
  readonly available: number | null;
  readonly snapshotAt: number;
}

/** The demand frame's columns for (store, class, target day) (src/ml/train/features.ts demandFrame), derived added. */
export function demandRecord(
  storeId: string,
  rentalClass: string,
  day: number,
  history: DemandHistoryRow,
  stored: Record<string, number | null>,
): FeatureRecord {
  const row: Record<string, unknown> = {
    ...demandCalendar(day),
    ...history,
    ...stored,
    store_id: storeId,
    rental_class_num: rentalClass,
  };
  const columns: Record<string, unknown[]> = Object.fromEntries(
    Object.entries(row).map(([k, v]) => [k, [v]]),
  );
  addLevelInteractions(columns);
  for (const c of DEMAND_INTERACTIONS) row[c] = columns[c]![0];
  return deriveRow(row);
}

/** demand (main output), pricing and restock (side ports) for every class event. */
export function classScoring(deps: ServingDeps): AsyncOperator<ClassEvent, Prediction> {
  const classRefs = demandClassRefs(deps.historicalWindow);
  return batchedStage<ClassEvent, ClassQuery, ClassForecast[]>(
    'class-scoring',
    deps,
    (e) => ({ storeId: e.store_id, rentalClass: e.rental_class_num, time: e.event_time }),
    async (queries) => {
      if (!serves(deps, 'demand')) {
        skipAll(deps, ['demand'], queries.length);
        return queries.map(() => []);
      }
      // Every store's forecast of each class asked for (restock compares stores), once per target day.
      const stores = [...new Set([...deps.storeIds, ...queries.map((q) => q.storeId)])].sort();
      const targets = new Map<string, { storeId: string; rentalClass: string; day: number }>();
      for (const q of queries)
        for (const storeId of stores) {
          const day = localDay(q.time, deps.zoneOf(storeId));
          targets.set(`${classKey(storeId, q.rentalClass)}|${day}`, {
            storeId,
            rentalClass: q.rentalClass,
            day,
          });
        }
      const list = [...targets.values()];
      const days = [...new Set(list.map((t) => t.day))];
      const [classes, storeValues, global, histories] = await Promise.all([
        readColumns(
          deps,
          list.map((t) => classKey(t.storeId, t.rentalClass)),
          classRefs,
        ),
        readColumns(deps, stores, STORE_REFS),
        readColumns(deps, [GLOBAL_ENTITY], GLOBAL_REFS),
        Promise.all(days.map(async (d) => [d, await deps.demandHistory.forDay(d)] as const)),
      ]);
      const historyOf = new Map(histories);
      const g = global.get(GLOBAL_ENTITY)!;
      const records = list.map((t) => {
        const c = classes.get(classKey(t.storeId, t.rentalClass))!;
        const s = storeValues.get(t.storeId)!;
        return demandRecord(
          t.storeId,
          t.rentalClass,
          t.day,
          historyOf.get(t.day)!(t.storeId, t.rentalClass),
          {
            ...c.values,
            ...s.values,
            ...g.values,
          },
        );
      });
      const [demand, demand7d] = await Promise.all([
        scoreService(deps, 'demand', records),
        scoreService(deps, 'demand_7d', records),
      ]);
      const forecasts = new Map<string, ClassForecast>();
      list.forEach((t, i) => {
        const c = classes.get(classKey(t.storeId, t.rentalClass))!;
        const newest = Math.max(c.newest, storeValues.get(t.storeId)!.newest, g.newest);
        forecasts.set(`${classKey(t.storeId, t.rentalClass)}|${t.day}`, {
          storeId: t.storeId,
          day: t.day,
          demand: demand[i]!,
          demand7d: demand7d[i]!,
          available: c.values['available_stock'] ?? null,
          snapshotAt: newest,
        });
      });
      return queries.map((q) =>
        stores.map((storeId) =>
          forecasts.get(`${classKey(storeId, q.rentalClass)}|${localDay(q.time, deps.zoneOf(storeId))}`)!,
        ),
      );
    },
    (all, rec, ctx) => {
      const e = rec.value;
      const own = all.find((f) => f.storeId === e.store_id);
      if (!own?.demand) return [];
      const entity = classKey(e.store_id, e.rental_class_num);
      const forecast = Math.max(0, own.demand.value);
      const common = {
        entity_id: entity,
        entity_type: 'class',
        feature_snapshot_at: snapshot(own.snapshotAt, e.event_time),
        event_time: e.event_time,
      };
      const targetDay = new Date(own.day * 86_400_000).toISOString().slice(0, 10);
      const out = [
        prediction(deps, {
          ...common,
          service: 'demand',
          prediction: forecast,
          horizon: '1d',
          model_versions: [...own.demand.versions, ...(own.demand7d?.versions ?? [])],
          inference_latency_us: own.demand.latencyUs + (own.demand7d?.latencyUs ?? 0),
          details: JSON.stringify({
            target_day: targetDay,
            forecast_7d: own.demand7d ? Math.max(0, own.demand7d.value) : null,
          }),
        }),
      ];
      if (own.available === null) {
        deps.metrics.skipped('pricing', 'no_stock');
        deps.metrics.skipped('restock', 'no_stock');
        return out;
      }
      const price = priceMultiplier(forecast, own.available, deps.pricing);
      ctx.emitSide(
        'pricing',
        prediction(deps, {
          ...common,
          service: 'pricing',
          prediction: price.multiplier,
          lower: deps.pricing.min,
          upper: deps.pricing.max,
          horizon: '1d',
          model_versions: [...own.demand.versions],
          inference_latency_us: own.demand.latencyUs,
          details: JSON.stringify({
            target_day: targetDay,
            forecast,
            available: own.available,
            pressure: Number.isFinite(price.pressure) ? price.pressure : null,
            reasons: price.reasons,
          }),
        }),
      );
      // Restock covers the week when a 7-day model serves, else the day.
      const horizon = own.demand7d ? '7d' : '1d';
      const known = all.filter((f) => f.demand && f.available !== null);
      const plan = restockPlan(
        known.map((f) => ({
          storeId: f.storeId,
          forecast: Math.max(0, (horizon === '7d' ? f.demand7d : f.demand)!.value),
          available: f.available!,
        })),
      ).find((r) => r.storeId === e.store_id)!;
      ctx.emitSide(
        'restock',
        prediction(deps, {
          ...common,
          service: 'restock',
          prediction: plan.shortfall,
          horizon,
          model_versions: [
            ...new Set(known.flatMap((f) => (horizon === '7d' ? f.demand7d : f.demand)!.versions)),
          ],
          inference_latency_us: own.demand.latencyUs,
          feature_snapshot_at: snapshot(Math.max(...known.map((f) => f.snapshotAt)), e.event_time),
          details: JSON.stringify({
            action: plan.action,
            stores: known.map((f) => ({
              store_id: f.storeId,
              forecast: Math.max(0, (horizon === '7d' ? f.demand7d : f.demand)!.value),
              available: f.available,
            })),
          }),
        }),
      );
      return out;
    },
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Bookings: pack lists

/** A pack list for every transaction whose event day is within the next packHorizonDays (today included). */
export function packScoring(deps: ServingDeps): AsyncOperator<PosTransaction, Prediction> {
  const damageRate = { name: 'damage_rate', window: deps.historicalWindow };
  const column = columnName(damageRate);
  return batchedStage<PosTransaction, PosTransaction, { rates: Map<string, number | null>; newest: number }>(
    'pack-scoring',
    deps,
    (tx) => {
      const today = localDay(tx.transaction_date, deps.zoneOf(tx.store_id));
      return tx.event_date >= today && tx.event_date < today + deps.packHorizonDays ? tx : null;
    },
    async (txs) => {
      const keysOf = (tx: PosTransaction) => tx.items.map((i) => classKey(tx.store_id, i.rental_class_num));
      const stored = await readColumns(deps, txs.flatMap(keysOf), [damageRate]);
      // Each booking sees the rates of its own classes, and its snapshot is the newest of those.
      return txs.map((tx) => {
        const rates = new Map<string, number | null>();
        let newest = -Infinity;
        for (const k of keysOf(tx)) {
          const v = stored.get(k)!;
          rates.set(k, v.values[column] ?? null);
          newest = Math.max(newest, v.newest);
        }
        return { rates, newest };
      });
    },
    (r, rec) => {
      const tx = rec.value;
      const today = localDay(tx.transaction_date, deps.zoneOf(tx.store_id));
      const sources: Record<string, string> = {};
      const lines = packList(
        tx.items.map((i) => ({
          rentalClass: i.rental_class_num,
          quantity: i.quantity,
          eventDay: tx.event_date,
        })),
        today,
        deps.packHorizonDays,
        (c) => {
          const key = classKey(tx.store_id, c);
          const predicted = deps.classRisk.get(key);
          if (predicted !== undefined) {
            sources[c] = 'maintenance model';
            return predicted;
          }
          sources[c] = 'historical damage rate';
          return r.rates.get(key) ?? 0;
        },
      );
      const versions = Object.values(sources).includes('maintenance model')
        ? ensembleMembers(deps.models, 'maintenance').map((m) => m.model.version)
        : [];
      return [
        prediction(deps, {
          service: 'pack',
          entity_id: `${tx.store_id}|${tx.contract_no}`,
          entity_type: 'booking',
          prediction: lines.reduce((n, l) => n + l.units, 0),
          horizon: `${deps.packHorizonDays}d`,
          model_versions: versions,
          inference_latency_us: 0,
          feature_snapshot_at: snapshot(r.newest, tx.transaction_date),
          event_time: tx.transaction_date,
          details: JSON.stringify({
            event_date: new Date(tx.event_date * 86_400_000).toISOString().slice(0, 10),
            lines: lines.map((l) => ({ ...l, damage_source: sources[l.rentalClass] })),
          }),
        }),
      ];
    },
  );
}
