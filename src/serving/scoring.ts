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
//    for the class's predicted damage rate (the maintenance model on the class's latest rentals out of the store).
// Every prediction carries the model versions it combined, its inference time and the event time of the newest
// feature value it read (the snapshot time); demand and quality carry the model's prediction interval when it has
// one. The stages are stateless: what one event's prediction depends on is read for that event (online store,
// id_transactions, the models), never carried over from earlier events. The rows scored for an event's own
// prediction also go to the drift monitor (src/serving/drift.ts), whose `drift` alerts leave on the side port
// `alerts`; nothing a prediction says depends on it.
import { packList, priceMultiplier, restockPlan, type PricingPolicy } from '../../operators/services.ts';
import { originPosition } from '../features/class-events.ts';
import {
  LEVEL_INTERACTION_INPUTS,
  addLevelInteractions,
  deriveRow,
  type FeatureRecord,
} from '../features/derive.ts';
import { GLOBAL_ENTITY, bookingKey, classKey, columnName, type FeatureRef } from '../features/keys.ts';
import {
  DEMAND_INTERACTIONS,
  GLOBAL_REFS,
  RENTAL_ITEM_REFS,
  STORE_REFS,
  demandClassRefs,
  rentalClassRefs,
} from '../features/vocabulary.ts';
import type { Logger } from '../log.ts';
import type { PredictionInterval } from '../ml/registry/registry.ts';
import { MicroBatcher, type MicroBatcherOptions } from '../runtime/micro-batcher.ts';
import type { AsyncOperator, OperatorContext, Rec, SourcePosition } from '../runtime/operator.ts';
import type { Alert, ClassEvent, PosTransaction, Prediction, RfidScan } from '../schemas/types.ts';
import type { AsOfPoint, OnlineValue } from '../store/online.ts';
import type { DriftMonitor } from './drift.ts';
import { ensembleMembers, predictEnsemble, type ModelSource } from './ensemble.ts';
import {
  demandCalendar,
  localDay,
  localMidnight,
  type ClassRental,
  type ClassRentalSource,
  type DemandHistoryRow,
  type DemandHistorySource,
  type RentalHistory,
} from './history.ts';
import type { ServingMetrics } from './metrics.ts';

export interface ServingDeps {
  readonly online: {
    read(entityIds: readonly string[], refs: readonly FeatureRef[]): Promise<(OnlineValue | null)[][]>;
    /** Values as of each point's time where the store keeps versions, the latest elsewhere (src/store/online.ts). */
    readAsOf(points: readonly AsOfPoint[], refs: readonly FeatureRef[]): Promise<(OnlineValue | null)[][]>;
  };
  readonly models: ModelSource;
  readonly demandHistory: DemandHistorySource;
  /** Each class's latest rentals out of each store before a day: what its predicted damage rate averages over. */
  readonly classRentals: ClassRentalSource;
  readonly rentalHistory: (items: readonly { tagId: string; before: number }[]) => Promise<RentalHistory[]>;
  /**
   * Resolves once the history sink has stored the clean scans at these positions, and so every earlier scan of
   * their items (src/serving/sink-progress.ts); item scoring waits on it before reading rentalHistory. Absent: no
   * wait (tests whose rentalHistory is not fed by a sink).
   */
  readonly historyStored?: (positions: readonly SourcePosition[]) => Promise<void>;
  /**
   * Resolves once the feature-store sink has stored the class features of these events' classes up to the events
   * (their origin: clean topic, partition, offset), src/serving/sink-progress.ts; item and class scoring wait on it
   * before reading the online store. Absent: no wait.
   */
  readonly featuresStored?: (events: readonly FeatureWait[]) => Promise<void>;
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
  /**
   * One demand, pricing and restock prediction per class, store and target day per micro-batch (that of the batch's
   * last event of the class) instead of one per event: within a micro-batch they would be the same forecast
   * (serving.collapseClassForecasts; default false here, true in the configuration).
   */
  readonly collapseClassForecasts?: boolean;
  /** Counts the scored rows against each model's training reference and raises drift alerts (none: no drift). */
  readonly drift?: DriftMonitor;
}

/** An event scoring reads class features for: its class (`store|class`) and where it came from in a clean topic. */
export interface FeatureWait {
  readonly classKey: string;
  readonly origin: SourcePosition;
}

/** The side port drift alerts leave the scoring stages on (pipelines/serving.ts binds it to the alerts topic). */
export const ALERTS_PORT = 'alerts';

interface Scored {
  readonly value: number;
  readonly versions: readonly string[];
  readonly latencyUs: number;
  /** The interval of the first member that has one (an ensemble's members carry the same). */
  readonly interval: PredictionInterval | null;
}

/** Which scored rows the drift monitor counts (the rows of the events' own predictions) and their newest event. */
interface Observe {
  /** Indices into the scored records; all of them when absent. */
  readonly rows?: readonly number[];
  /** What a scored record stands for, counted once in the drift window (src/serving/drift.ts). */
  readonly unit: (record: number) => string;
  /** The event time of a scored record (index into the records). */
  readonly eventTime: (record: number) => number;
  /** Where the monitor's alerts go (the stage's side port). */
  readonly alerts: Alert[];
}

/** Lower and upper bound of a point prediction from the model's interval, within [min, max]; null without one. */
export function bounds(
  point: number,
  interval: PredictionInterval | null,
  min = -Infinity,
  max = Infinity,
): { lower: number | null; upper: number | null } {
  if (interval === null) return { lower: null, upper: null };
  const clip = (x: number): number => Math.min(max, Math.max(min, x));
  return { lower: clip(point + interval.lower), upper: clip(point + interval.upper) };
}

/** Values of one entity kind: by column name, and the event time of the newest value read. */
type Columns = Map<string, { values: Record<string, number | null>; newest: number }>;

/** The key of a point read in Columns: entity and time. */
const pointKey = (p: AsOfPoint): string => `${p.entityId}\u0001${p.time}`;

/** Rows read for `keys` (in order) as Columns. */
function columnsOf(
  keys: readonly string[],
  rows: readonly (readonly (OnlineValue | null)[])[],
  refs: readonly FeatureRef[],
): Columns {
  const out: Columns = new Map();
  keys.forEach((k, i) => {
    const values: Record<string, number | null> = {};
    let newest = -Infinity;
    refs.forEach((ref, j) => {
      const v = rows[i]?.[j] ?? null;
      values[columnName(ref)] = v === null ? null : v.value;
      if (v !== null) newest = Math.max(newest, v.timestamp);
    });
    out.set(k, { values, newest });
  });
  return out;
}

/** The predicted damage rate of a class in a store on a day, and what it was computed from. */
interface ClassRisk {
  readonly rate: number;
  readonly versions: readonly string[];
  readonly latencyUs: number;
  /** Event time of the newest feature value the predictions read. */
  readonly newest: number;
}

interface ClassQuery {
  readonly storeId: string;
  readonly rentalClass: string;
  readonly time: number;
  /** The class event's clean-topic origin (src/features/class-events.ts originOf). */
  readonly origin: SourcePosition;
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

/** What a booking's pack list reads: stored damage rates by classKey, predicted ones by rental class. */
interface PackInputs {
  readonly rates: Map<string, number | null>;
  readonly predicted: Map<string, ClassRisk>;
  readonly newest: number;
}

/** The rental frame's columns (src/ml/train/features.ts rentalFrame) for one rental, derived features added. */
export function rentalRecord(
  rental: Pick<ClassRental, 'storeId' | 'rentalClass' | 'grade'>,
  history: RentalHistory,
  item: Record<string, number | null>,
  cls: Record<string, number | null>,
): FeatureRecord {
  return deriveRow({
    ...item,
    ...cls,
    // The history columns as training computes them (RENTAL_HISTORY), over them anything the store returned.
    ...history,
    grade_at_out: rental.grade,
    quality_grade: rental.grade,
    store_id: rental.storeId,
    rental_class_num: rental.rentalClass,
  });
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
  // The training code's interactions over one-row columns of just what they read (not a column per feature).
  const columns: Record<string, unknown[]> = Object.fromEntries(
    LEVEL_INTERACTION_INPUTS.map((k) => [k, [row[k]]]),
  );
  addLevelInteractions(columns);
  for (const c of DEMAND_INTERACTIONS) row[c] = columns[c]![0];
  return deriveRow(row);
}

/** What pricing and restock weigh a forecast against, read as of the newest event asking for it. */
const STOCK_REFS: readonly FeatureRef[] = [{ name: 'available_stock' }];

const snapshot = (newest: number, fallback: number): number => (Number.isFinite(newest) ? newest : fallback);

const probability = (p: number): number => Math.min(1, Math.max(0, p));

const rentalOf = (scan: RfidScan): ClassRental => ({
  tagId: scan.tag_id,
  storeId: scan.store_id,
  rentalClass: scan.rental_class_num,
  time: scan.scan_date,
  grade: scan.quality_grade,
});

/**
 * The scoring stages of one serving flow over its dependencies. Build one per serving topology
 * (pipelines/serving.ts scoringBranches) and take its three stages.
 */
export class ScoringService {
  /**
   * Services this flow has warned have no model, until one serves them again. A log throttle, not data: no
   * prediction depends on it, so it may differ between instances and starts empty after a restart. A field of this
   * object (one per serving flow), so two serving flows in one process warn separately.
   */
  private readonly warned = new Set<string>();

  constructor(private readonly deps: ServingDeps) {}

  // -------------------------------------------------------------------------------------------------------------
  // Items: maintenance and quality

  /** maintenance (main output) and quality (side port `quality`) for every `out` scan. */
  itemScoring(): AsyncOperator<RfidScan, Prediction> {
    const { deps } = this;
    return this.batchedStage<
      RfidScan,
      { scan: RfidScan; source: SourcePosition },
      { maintenance: Scored | null; quality: Scored | null; snapshotAt: number }
    >(
      'item-scoring',
      (scan, _rec, ctx) => (scan.scan_type === 'out' ? { scan, source: ctx.source } : null),
      async (queries, alerts) => {
        const scans = queries.map((q) => q.scan);
        if (!this.serves('maintenance') && !this.serves('quality')) {
          this.skipAll(['maintenance', 'quality'], scans.length);
          return scans.map(() => ({ maintenance: null, quality: null, snapshotAt: 0 }));
        }
        // The items' histories are read from id_transactions and their classes' features from the online store:
        // first the history sink must have stored the scans, and the feature-store sink their class features.
        await Promise.all([
          deps.historyStored?.(queries.map((q) => q.source)),
          deps.featuresStored?.(
            queries.map((q) => ({
              classKey: classKey(q.scan.store_id, q.scan.rental_class_num),
              origin: q.source,
            })),
          ),
        ]);
        const { records, newest } = await this.rentalRecords(scans.map(rentalOf));
        const observe = {
          unit: (i: number) => `${scans[i]!.tag_id}|${scans[i]!.scan_date}`,
          eventTime: (i: number) => scans[i]!.scan_date,
          alerts,
        };
        const [maintenance, quality] = await Promise.all([
          this.scoreService('maintenance', records, observe),
          this.scoreService('quality', records, observe),
        ]);
        return scans.map((s, i) => ({
          maintenance: maintenance[i]!,
          quality: quality[i]!,
          snapshotAt: snapshot(newest[i]!, s.scan_date),
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
        if (r.quality) {
          const grade = Math.min(5, Math.max(1, r.quality.value));
          ctx.emitSide(
            'quality',
            this.prediction({
              ...common,
              service: 'quality',
              prediction: grade,
              ...bounds(grade, r.quality.interval, 1, 5),
              horizon: 'next_return',
              model_versions: [...r.quality.versions],
              inference_latency_us: r.quality.latencyUs,
              details: JSON.stringify({ grade_at_out: scan.quality_grade }),
            }),
          );
        }
        if (!r.maintenance) return [];
        return [
          this.prediction({
            ...common,
            service: 'maintenance',
            prediction: probability(r.maintenance.value),
            horizon: `next_${deps.maintenanceK}_rentals`,
            model_versions: [...r.maintenance.versions],
            inference_latency_us: r.maintenance.latencyUs,
            details: JSON.stringify({ rental_class: scan.rental_class_num, store_id: scan.store_id }),
          }),
        ];
      },
    );
  }

  /**
   * The rental frame's records of rentals: each item's and its class's online features, and the item's history
   * before the rental; with the event time of the newest value read for each.
   */
  private async rentalRecords(
    rentals: readonly ClassRental[],
  ): Promise<{ records: FeatureRecord[]; newest: number[] }> {
    // As of the rental, as training reads them from the offline log: not what the class has become since, when
    // serving is behind the feature store.
    const itemPoints = rentals.map((r): AsOfPoint => ({ entityId: r.tagId, time: r.time }));
    const classPoints = rentals.map((r): AsOfPoint => ({
      entityId: classKey(r.storeId, r.rentalClass),
      time: r.time,
    }));
    const [items, classes, histories] = await Promise.all([
      this.readColumnsAsOf('item', itemPoints, RENTAL_ITEM_REFS),
      this.readColumnsAsOf('class', classPoints, rentalClassRefs(this.deps.historicalWindow)),
      this.deps.rentalHistory(rentals.map((r) => ({ tagId: r.tagId, before: r.time }))),
    ]);
    const item = (i: number) => items.get(pointKey(itemPoints[i]!))!;
    const cls = (i: number) => classes.get(pointKey(classPoints[i]!))!;
    return {
      records: rentals.map((r, i) => rentalRecord(r, histories[i]!, item(i).values, cls(i).values)),
      newest: rentals.map((_, i) => Math.max(item(i).newest, cls(i).newest)),
    };
  }

  // -------------------------------------------------------------------------------------------------------------
  // Classes: demand, pricing, restock

  /** demand (main output), pricing and restock (side ports) for every class event. */
  classScoring(): AsyncOperator<ClassEvent, Prediction> {
    const { deps } = this;
    const classRefs = demandClassRefs(deps.historicalWindow);
    return this.batchedStage<ClassEvent, ClassQuery, { all: ClassForecast[]; superseded: boolean }>(
      'class-scoring',
      (e) => ({
        storeId: e.store_id,
        rentalClass: e.rental_class_num,
        time: e.event_time,
        origin: originPosition(e),
      }),
      async (queries, alerts) => {
        if (!this.serves('demand')) {
          this.skipAll(['demand'], queries.length);
          return queries.map(() => ({ all: [], superseded: false }));
        }
        // The class features come from the online store: the feature-store sink must have stored them up to each event.
        await deps.featuresStored?.(
          queries.map((q) => ({ classKey: classKey(q.storeId, q.rentalClass), origin: q.origin })),
        );
        // Every store's forecast of each class asked for (restock compares stores), once per target day.
        const stores = [...new Set([...deps.storeIds, ...queries.map((q) => q.storeId)])].sort();
        // A target's forecast reads its class features as of the target day's local midnight, the cut-off training
        // reads them at (src/ml/train/features.ts demandFrame); its stock, which pricing and restock weigh the
        // forecast against, as of the newest event asking for it.
        const targets = new Map<
          string,
          { storeId: string; rentalClass: string; day: number; cutoff: number; time: number }
        >();
        // Per query, the key of its class's target day in every store (`stores` order), computed once.
        const keys = queries.map((q) =>
          stores.map((storeId) => {
            const zone = deps.zoneOf(storeId);
            const day = localDay(q.time, zone);
            const key = `${classKey(storeId, q.rentalClass)}|${day}`;
            const before = targets.get(key);
            targets.set(key, {
              storeId,
              rentalClass: q.rentalClass,
              day,
              cutoff: before?.cutoff ?? localMidnight(day, zone),
              time: Math.max(q.time, before?.time ?? -Infinity),
            });
            return key;
          }),
        );
        const list = [...targets.values()];
        const days = [...new Set(list.map((t) => t.day))];
        const classPoints = list.map((t): AsOfPoint => ({
          entityId: classKey(t.storeId, t.rentalClass),
          time: t.cutoff,
        }));
        const stockPoints = list.map((t): AsOfPoint => ({
          entityId: classKey(t.storeId, t.rentalClass),
          time: t.time,
        }));
        const [classes, stock, storeValues, global, histories] = await Promise.all([
          this.readColumnsAsOf('class', classPoints, classRefs),
          // Apart from the cut-off read: one read of both would fetch every version between midnight and the event.
          this.readColumnsAsOf('class', stockPoints, STOCK_REFS),
          this.readColumns(stores, STORE_REFS),
          this.readColumns([GLOBAL_ENTITY], GLOBAL_REFS),
          Promise.all(days.map(async (d) => [d, await deps.demandHistory.forDay(d)] as const)),
        ]);
        const historyOf = new Map(histories);
        const g = global.get(GLOBAL_ENTITY)!;
        const records = list.map((t, i) => {
          const c = classes.get(pointKey(classPoints[i]!))!;
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
        // The drift monitor is shown each event's own forecast and counts a store's forecast of a class for a day
        // once (its unit), as training holds it once.
        const targetKeys = [...targets.keys()];
        const position = new Map(targetKeys.map((k, i) => [k, i]));
        const own = [...new Set(queries.map((q, i) => position.get(keys[i]![stores.indexOf(q.storeId)]!)!))];
        // A forecast is no single event's: each carries the batch's newest event time.
        const newestQuery = Math.max(...queries.map((q) => q.time));
        const observe = {
          rows: own,
          unit: (i: number) => targetKeys[i]!,
          eventTime: () => newestQuery,
          alerts,
        };
        const [demand, demand7d] = await Promise.all([
          this.scoreService('demand', records, observe),
          this.scoreService('demand_7d', records, observe),
        ]);
        const forecasts = new Map<string, ClassForecast>();
        list.forEach((t, i) => {
          const c = classes.get(pointKey(classPoints[i]!))!;
          const now = stock.get(pointKey(stockPoints[i]!))!;
          const newest = Math.max(c.newest, now.newest, storeValues.get(t.storeId)!.newest, g.newest);
          forecasts.set(`${classKey(t.storeId, t.rentalClass)}|${t.day}`, {
            storeId: t.storeId,
            day: t.day,
            demand: demand[i]!,
            demand7d: demand7d[i]!,
            available: now.values['available_stock'] ?? null,
            snapshotAt: newest,
          });
        });
        const results = keys.map((ks) => ({ all: ks.map((k) => forecasts.get(k)!), superseded: false }));
        if (deps.collapseClassForecasts) {
          // The last event of each class, store and target day in the micro-batch speaks for the others.
          const seen = new Set<string>();
          for (let i = queries.length - 1; i >= 0; i--) {
            const own = keys[i]![stores.indexOf(queries[i]!.storeId)]!;
            if (seen.has(own)) results[i] = { ...results[i]!, superseded: true };
            else seen.add(own);
          }
        }
        return results;
      },
      ({ all, superseded }, rec, ctx) => {
        const e = rec.value;
        if (superseded) {
          for (const service of ['demand', 'pricing', 'restock']) deps.metrics.skipped(service, 'superseded');
          return [];
        }
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
        const forecast7d = own.demand7d ? Math.max(0, own.demand7d.value) : null;
        const interval7d =
          own.demand7d && forecast7d !== null ? bounds(forecast7d, own.demand7d.interval, 0) : null;
        const out = [
          this.prediction({
            ...common,
            service: 'demand',
            prediction: forecast,
            ...bounds(forecast, own.demand.interval, 0),
            horizon: '1d',
            model_versions: [...own.demand.versions, ...(own.demand7d?.versions ?? [])],
            inference_latency_us: own.demand.latencyUs + (own.demand7d?.latencyUs ?? 0),
            details: JSON.stringify({
              target_day: targetDay,
              forecast_7d: forecast7d,
              ...(interval7d?.lower != null
                ? { forecast_7d_lower: interval7d.lower, forecast_7d_upper: interval7d.upper }
                : {}),
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
          this.prediction({
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
          this.prediction({
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

  // -------------------------------------------------------------------------------------------------------------
  // Bookings: pack lists

  /** A pack list for every transaction whose event day is within the next packHorizonDays (today included). */
  packScoring(): AsyncOperator<PosTransaction, Prediction> {
    const { deps } = this;
    const damageRate = { name: 'damage_rate', window: deps.historicalWindow };
    const column = columnName(damageRate);
    const todayOf = (tx: PosTransaction): number => localDay(tx.transaction_date, deps.zoneOf(tx.store_id));
    return this.batchedStage<PosTransaction, PosTransaction, PackInputs>(
      'pack-scoring',
      (tx) => {
        const today = todayOf(tx);
        return tx.event_date >= today && tx.event_date < today + deps.packHorizonDays ? tx : null;
      },
      async (txs) => {
        const keysOf = (tx: PosTransaction) => tx.items.map((i) => classKey(tx.store_id, i.rental_class_num));
        const [stored, risks] = await Promise.all([
          this.readColumns(txs.flatMap(keysOf), [damageRate]),
          this.classRisks(
            txs.flatMap((tx) =>
              tx.items.map((i) => ({
                storeId: tx.store_id,
                rentalClass: i.rental_class_num,
                day: todayOf(tx),
              })),
            ),
          ),
        ]);
        // Each booking sees the rates of its own classes, and its snapshot is the newest value behind them.
        return txs.map((tx) => {
          const rates = new Map<string, number | null>();
          const predicted = new Map<string, ClassRisk>();
          let newest = -Infinity;
          for (const item of tx.items) {
            const k = classKey(tx.store_id, item.rental_class_num);
            const v = stored.get(k)!;
            rates.set(k, v.values[column] ?? null);
            newest = Math.max(newest, v.newest);
            const risk = risks.get(`${k}|${todayOf(tx)}`);
            if (risk) {
              predicted.set(item.rental_class_num, risk);
              newest = Math.max(newest, risk.newest);
            }
          }
          return { rates, predicted, newest };
        });
      },
      (r, rec) => {
        const tx = rec.value;
        const sources: Record<string, string> = {};
        const used: ClassRisk[] = [];
        const lines = packList(
          tx.items.map((i) => ({
            rentalClass: i.rental_class_num,
            quantity: i.quantity,
            eventDay: tx.event_date,
          })),
          todayOf(tx),
          deps.packHorizonDays,
          (c) => {
            const predicted = r.predicted.get(c);
            if (predicted !== undefined) {
              sources[c] = 'maintenance model';
              used.push(predicted);
              return predicted.rate;
            }
            sources[c] = 'historical damage rate';
            return r.rates.get(classKey(tx.store_id, c)) ?? 0;
          },
        );
        return [
          this.prediction({
            service: 'pack',
            entity_id: bookingKey(tx.store_id, tx.contract_no),
            entity_type: 'booking',
            prediction: lines.reduce((n, l) => n + l.units, 0),
            horizon: `${deps.packHorizonDays}d`,
            model_versions: [...new Set(used.flatMap((u) => u.versions))],
            inference_latency_us: Math.max(0, ...used.map((u) => u.latencyUs)),
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

  /**
   * The predicted damage rate of each (store, class, day) asked for, keyed `classKey|day`: the mean maintenance
   * prediction over the class's latest rentals out of the store before that day (deps.classRentals, from
   * id_transactions), each scored now from the online store as item scoring scores an `out` scan. Nothing is carried
   * between events: the same data and models give the same rate on every instance, and after a restart. Absent for
   * a class without rentals in the loaded history, or when no maintenance model serves.
   */
  private async classRisks(
    queries: readonly { storeId: string; rentalClass: string; day: number }[],
  ): Promise<Map<string, ClassRisk>> {
    const out = new Map<string, ClassRisk>();
    if (queries.length === 0 || !this.serves('maintenance')) return out;
    const wanted = new Map(queries.map((q) => [`${classKey(q.storeId, q.rentalClass)}|${q.day}`, q]));
    const days = [...new Set(queries.map((q) => q.day))];
    const rentalsOn = new Map(
      await Promise.all(days.map(async (d) => [d, await this.deps.classRentals.forDay(d)] as const)),
    );
    const groups: { key: string; from: number; to: number }[] = [];
    const rentals: ClassRental[] = [];
    for (const [key, q] of wanted) {
      const list = rentalsOn.get(q.day)!(q.storeId, q.rentalClass);
      if (list.length === 0) continue;
      groups.push({ key, from: rentals.length, to: rentals.length + list.length });
      rentals.push(...list);
    }
    if (rentals.length === 0) return out;
    const { records, newest } = await this.rentalRecords(rentals);
    const scored = await this.scoreService('maintenance', records);
    for (const g of groups) {
      let sum = 0;
      let n = 0;
      let latest = -Infinity;
      let last: Scored | null = null;
      for (let i = g.from; i < g.to; i++) {
        const s = scored[i];
        if (!s) continue;
        sum += probability(s.value);
        n++;
        latest = Math.max(latest, newest[i]!);
        last = s;
      }
      if (last !== null)
        out.set(g.key, { rate: sum / n, versions: last.versions, latencyUs: last.latencyUs, newest: latest });
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Shared by the stages

  /**
   * A stage whose records are scored together: select → batch → score → emit (per input record, in order). Alerts
   * the scoring raised (drift) leave on the side port ALERTS_PORT with the next record emitted.
   */
  private batchedStage<In, Q, R>(
    name: string,
    select: (value: In, rec: Rec<In>, ctx: OperatorContext) => Q | null,
    score: (queries: readonly Q[], alerts: Alert[]) => Promise<readonly R[]>,
    emit: (result: R, rec: Rec<In>, ctx: OperatorContext) => Rec<Prediction>[],
  ): AsyncOperator<In, Prediction> {
    const alerts: Alert[] = [];
    const batcher = new MicroBatcher<Q, R>((queries) => score(queries, alerts), this.deps.batch);
    return {
      name,
      async: true,
      async process(rec, ctx) {
        const q = select(rec.value, rec, ctx);
        if (q === null) return [];
        const out = emit(await batcher.submit(q), rec, ctx);
        for (const a of alerts.splice(0))
          ctx.emitSide(ALERTS_PORT, { key: Buffer.from(a.entity_id), value: a, timestamp: a.event_time });
        return out;
      },
    };
  }

  /** Latest values of one entity kind for many entities: one online-store round trip. */
  private async readColumns(entities: readonly string[], refs: readonly FeatureRef[]): Promise<Columns> {
    const unique = [...new Set(entities)];
    const started = performance.now();
    const rows = await this.deps.online.read(unique, refs);
    this.deps.metrics.featureRead(unique.length, (performance.now() - started) / 1000);
    return columnsOf(unique, rows, refs);
  }

  /**
   * Values of one entity kind as of each point's time (one online-store round trip), by pointKey. Values newer
   * than their point (a feature without versions, or versions that do not reach back that far) are counted.
   */
  private async readColumnsAsOf(
    kind: string,
    points: readonly AsOfPoint[],
    refs: readonly FeatureRef[],
  ): Promise<Columns> {
    const unique = [...new Map(points.map((p) => [pointKey(p), p])).values()];
    const started = performance.now();
    const rows = await this.deps.online.readAsOf(unique, refs);
    const entities = new Set(unique.map((p) => p.entityId)).size;
    this.deps.metrics.featureRead(entities, (performance.now() - started) / 1000);
    let ahead = 0;
    unique.forEach((p, i) => {
      for (const v of rows[i] ?? []) if (v !== null && v.timestamp > p.time) ahead++;
    });
    if (ahead > 0) this.deps.metrics.featuresAhead(kind, ahead);
    return columnsOf(unique.map(pointKey), rows, refs);
  }

  /**
   * Scores records with a service's ensemble, or null for each when no model serves it (counted, and logged once).
   * With `observe`, the drift monitor counts the rows it names against the reference of the first member with one.
   */
  private async scoreService(
    service: string,
    records: readonly FeatureRecord[],
    observe?: Observe,
  ): Promise<(Scored | null)[]> {
    const { deps } = this;
    const members = this.members(service);
    if (members.length === 0) {
      for (let i = 0; i < records.length; i++) deps.metrics.skipped(service, 'no_model');
      this.warnNoModel(service);
      return records.map(() => null);
    }
    const started = performance.now();
    const { values, versions, byMember } = await predictEnsemble(members, records);
    const seconds = (performance.now() - started) / 1000;
    deps.metrics.inference(service, records.length, seconds);
    const latencyUs = Math.round((seconds * 1e6) / Math.max(1, records.length));
    // The members' full records (interval, drift reference), as the watcher serves them now.
    const loaded = members.map((m) => ({ model: deps.models.current(m.service) }));
    const interval = loaded.find((m) => m.model?.interval !== undefined)?.model?.interval ?? null;
    // Drift: the first member with a reference, its own predictions against its own training predictions (an
    // ensemble's weighted output is not what any member's reference binned).
    const at = loaded.findIndex((m) => m.model?.reference !== undefined);
    if (observe && deps.drift && at >= 0) {
      const { version, reference } = loaded[at]!.model!;
      const own = byMember[at]!;
      const rows = observe.rows ?? records.map((_, i) => i);
      observe.alerts.push(
        ...(await deps.drift.observe(
          service,
          { version, reference: reference! },
          rows.map((i) => records[i]!),
          rows.map((i) => own[i]!),
          rows.map((i) => observe.unit(i)),
          rows.map((i) => observe.eventTime(i)),
        )),
      );
    }
    return [...values].map((value) => ({ value, versions, latencyUs, interval }));
  }

  /** The models serving the service now; when there are some, a later loss of them is warned about again. */
  private members(service: string): ReturnType<typeof ensembleMembers> {
    const members = ensembleMembers(this.deps.models, service);
    if (members.length > 0) this.warned.delete(service);
    return members;
  }

  /** Some model serves the service (its features are worth reading). */
  private serves(service: string): boolean {
    return this.members(service).length > 0;
  }

  /**
   * Events that get no prediction of these services because no model serves them: counted
   * (tagstream_predictions_skipped_total, reason no_model), and said once until a model serves the service again.
   */
  private skipAll(services: readonly string[], n: number): void {
    for (const s of services) {
      for (let i = 0; i < n; i++) this.deps.metrics.skipped(s, 'no_model');
      this.warnNoModel(s);
    }
  }

  private warnNoModel(service: string): void {
    if (this.warned.has(service)) return;
    this.warned.add(service);
    this.deps.log.warn(
      { service },
      `no ${service} model in production: events get no ${service} prediction until one is promoted (npm run train, npm run models -- promote); tagstream_predictions_skipped_total{reason="no_model"} counts them`,
    );
  }

  private prediction(
    p: Omit<Prediction, 'predicted_at' | 'lower' | 'upper'> & {
      lower?: number | null;
      upper?: number | null;
    },
  ): Rec<Prediction> {
    const now = this.deps.now();
    this.deps.metrics.predicted(p.service, Math.max(0, (now - p.event_time) / 1000));
    return {
      key: Buffer.from(p.entity_id),
      value: { lower: null, upper: null, ...p, predicted_at: now },
      timestamp: p.event_time,
    };
  }
}
