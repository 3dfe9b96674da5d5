// The offline feature store on MySQL (ml_feature_store): every value with its event time, written as idempotent
// upserts, and the point-in-time ("as of") lookup that builds leakage-free training frames.
//
// How asOf works, and why. A training frame needs, per label, the last value of each series at or before the label
// time; a year of per-event series is most of the table, so the cost is reading rows, and rows cost very different
// amounts by access path (MariaDB 10.11, 2 cores, a simulated year of 12.1 M rows and a 128 MB buffer pool): a range
// read on the unique key (entity, feature, window, time) fetches each row by primary key, about 2.8 µs a row; a scan
// in primary-key order about 0.6 µs per row scanned. Two paths, then:
// - few entities (a test, a store's or the global series): per chunk of entities, one query reads every row of the
//   requested features up to the chunk's latest label, in unique-key order (no sort), and a two-pointer merge per
//   series gives each label its value. The alternative, a correlated subquery per label and feature, measured with
//   `npm run bench:store -- --compare-asof`: 20,000 labels x 20 features 0.7 s here vs 8.3 s correlated.
// - many entities (a whole frame): the whole log is read once, in one scan in primary-key chunks (BULK_READ_IN_FLIGHT
//   queries in flight, so the server reads ahead while this process files rows), kept per series in typed arrays for the rest of
//   the store's life, and every frame joins it in memory. A scan costs the same whatever it keeps, and the demand,
//   maintenance and quality frames together read nearly every series, so a training run reads each row once (a log
//   over bulkReadMaxRows rows keeps only the requested features). The kept series are a snapshot: a write through
//   this store drops them; values other processes write later are seen by the next store (a training run opens its
//   own, src/ml/train/run.ts).
// Neither path builds a Date per row: times come as integer ms (or whole days and ms of the day) computed by the
// server from the DATETIME, independent of the session time zone.
import type { Sql } from '../io/mysql/pool.ts';
import type { FeatureVector } from '../schemas/types.ts';
import type { FeatureRef } from '../features/keys.ts';

/**
 * Chunk queries of the bulk read in flight at once. Scanning the simulated year's log (8.4 M rows) on the 2-core box
 * took 9.1-9.6 s with 2 and 6.8-8.5 s with 3 or 4 (2026-12-06): the server works on the next chunks on the other
 * core while this process files one.
 */
const BULK_READ_IN_FLIGHT = 4;

/** A value of one series and the event time it holds at. */
export interface TimedValue {
  readonly timestamp: number;
  readonly value: number;
}

/** ms since epoch as a DATETIME(3) literal in UTC ('2026-06-01 12:00:00.123'), independent of the session time zone. */
export function toSqlDatetime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}

export const INSERT_COLUMNS = [
  'feature_name',
  'target_entity',
  'entity_type',
  'feature_value',
  'feature_type',
  'feature_timestamp',
  'window_name',
  'data_source',
  'quality_score',
  'is_real_time',
] as const;

/** A multi-row upsert: a replay rewrites the same rows (keyed by entity, feature, window, timestamp), never adds. */
export function upsertStatement(rowCount: number): string {
  const tuple = `(${INSERT_COLUMNS.map(() => '?').join(', ')})`;
  const updated = INSERT_COLUMNS.filter(
    (c) => !['target_entity', 'feature_name', 'window_name', 'feature_timestamp'].includes(c),
  );
  return (
    `INSERT INTO ml_feature_store (${INSERT_COLUMNS.join(', ')}) VALUES ` +
    Array.from({ length: rowCount }, () => tuple).join(', ') +
    ` ON DUPLICATE KEY UPDATE ${updated.map((c) => `${c} = VALUES(${c})`).join(', ')}, created_at = CURRENT_TIMESTAMP(3)`
  );
}

/** The parameters of one row, in INSERT_COLUMNS order. */
export function rowParams(f: FeatureVector, isRealTime: boolean): unknown[] {
  return [
    f.feature_name,
    f.entity_id,
    f.entity_type,
    f.feature_value,
    f.feature_type,
    toSqlDatetime(f.timestamp),
    f.window ?? '',
    f.source,
    f.confidence,
    isRealTime ? 1 : 0,
  ];
}

function compareKeys(a: FeatureVector, b: FeatureVector): number {
  return (
    cmp(a.entity_id, b.entity_id) ||
    cmp(a.feature_name, b.feature_name) ||
    cmp(a.window ?? '', b.window ?? '') ||
    a.timestamp - b.timestamp
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Orders a batch by the unique key so that concurrent writers lock rows in the same order (fewer deadlocks). The sort
 * is stable: of two values with the same key the later one still comes later and wins, as in the online store.
 */
export function sortForUpsert(features: readonly FeatureVector[]): FeatureVector[] {
  return [...features].sort(compareKeys);
}

/**
 * Point-in-time merge for one series: for each label time (ascending), the last point with timestamp <= it.
 * `points` ascending by timestamp with distinct timestamps (the unique key guarantees both).
 */
export function asOfMerge(
  labelTimes: readonly number[],
  points: readonly TimedValue[],
): (TimedValue | null)[] {
  const out: (TimedValue | null)[] = [];
  let p = -1;
  for (const t of labelTimes) {
    while (p + 1 < points.length && points[p + 1]!.timestamp <= t) p++;
    out.push(p >= 0 ? points[p]! : null);
  }
  return out;
}

export interface AsOfLabel {
  readonly entityId: string;
  readonly timestamp: number;
}

export interface OfflineStoreOptions {
  /** Rows per INSERT. */
  readonly writeBatch: number;
  /** Label entities per asOf query on the few-entities path. */
  readonly asOfEntityChunk?: number;
  /** An asOf over at least this many entities reads its features for every entity in one scan (default 50). */
  readonly bulkReadMinEntities?: number;
  /** Primary-key span per query of that scan (default 200,000 ids). */
  readonly bulkReadChunk?: number;
  /**
   * The scan keeps every series of the log while it holds at most this many rows (default 40 M, about 16 bytes
   * each in memory), else the requested (feature, window) pairs only.
   */
  readonly bulkReadMaxRows?: number;
  /** is_real_time for a value: false for values from the batch collectors. Default: true. */
  readonly isRealTime?: (f: FeatureVector) => boolean;
}

/** The as-of join in columns: per ref j and label i, the value and its time; NaN where none is at or before. */
export interface AsOfColumns {
  readonly values: readonly Float64Array[];
  readonly times: readonly Float64Array[];
}

/** The newest row of one series (entity, feature, window) in the offline log. */
export interface LatestRow {
  readonly entityId: string;
  readonly entityType: string;
  readonly featureName: string;
  /** '' for a per-event feature. */
  readonly window: string;
  readonly timestamp: number;
  readonly value: number;
}

export interface OfflineStore {
  write(features: readonly FeatureVector[]): Promise<void>;
  /**
   * The newest row of every series, a page of entities at a time in entity order: the rows of the first `limit`
   * entities after `afterEntity` ('' from the start). An empty page is the end.
   */
  latest(afterEntity: string, limit: number): Promise<LatestRow[]>;
  /** cells[i][j]: the latest value of refs[j] for labels[i].entityId stamped at or before labels[i].timestamp. */
  asOf(labels: readonly AsOfLabel[], refs: readonly FeatureRef[]): Promise<(TimedValue | null)[][]>;
  /** asOf in columns (no object per cell): what training frames read. */
  asOfColumns(labels: readonly AsOfLabel[], refs: readonly FeatureRef[]): Promise<AsOfColumns>;
}

/** A row of an as-of read: the feature and window as their 1-based positions in the request, time in ms. */
interface AsOfRow {
  readonly e: string;
  readonly f: number;
  readonly w: number;
  readonly t: number | string;
  readonly v: number | string;
}

/** A row of the bulk read: series key (feature, window, entity), time as whole days and ms of the day. */
interface BulkRow {
  readonly k: string;
  readonly d: number | string;
  readonly m: number | string;
  readonly v: number | string;
}

/** One series: times ascending and their values. */
interface Series {
  readonly t: Float64Array;
  readonly v: Float64Array;
}

/** ms since the epoch of a DATETIME column, computed by the server (no time zone involved). */
const MS = (column: string): string =>
  `TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', ${column}) DIV 1000`;

/** A (feature, window) pair: what the bulk path keeps, for every entity (the bulk read's key up to the entity). */
const pairKey = (name: string, window: string): string => `${name}\u0000${window}`;

/**
 * Points of many series arriving in any order (a scan reads primary-key order), appended to flat typed arrays (no
 * object per point for the garbage collector to copy), then grouped per series and sorted by time.
 */
class SeriesCollector {
  private n = 0;
  private id = new Int32Array(1 << 16);
  private t = new Float64Array(1 << 16);
  private v = new Float64Array(1 << 16);
  count = 0;
  add(series: number, t: number, v: number): void {
    if (this.n === this.id.length) {
      const grow = <A extends Int32Array | Float64Array>(a: A): A => {
        const b = new (a.constructor as new (n: number) => A)(2 * a.length);
        b.set(a);
        return b;
      };
      this.id = grow(this.id);
      this.t = grow(this.t);
      this.v = grow(this.v);
    }
    this.id[this.n] = series;
    this.t[this.n] = t;
    this.v[this.n] = v;
    this.n++;
  }
  /** Series s's points ascending by time, as views into one buffer. */
  build(): Series[] {
    const start = new Int32Array(this.count + 1);
    for (let i = 0; i < this.n; i++) start[this.id[i]! + 1]!++;
    for (let s = 0; s < this.count; s++) start[s + 1]! += start[s]!;
    const at = start.slice(0, this.count);
    const t = new Float64Array(this.n);
    const v = new Float64Array(this.n);
    for (let i = 0; i < this.n; i++) {
      const k = at[this.id[i]!]!++;
      t[k] = this.t[i]!;
      v[k] = this.v[i]!;
    }
    const out: Series[] = [];
    for (let s = 0; s < this.count; s++) {
      const st = t.subarray(start[s]!, start[s + 1]!);
      const sv = v.subarray(start[s]!, start[s + 1]!);
      // Insertion sort: the log is written in time order but for late events, so a series is sorted or nearly.
      for (let i = 1; i < st.length; i++) {
        const ti = st[i]!;
        if (st[i - 1]! <= ti) continue;
        const vi = sv[i]!;
        let j = i - 1;
        for (; j >= 0 && st[j]! > ti; j--) {
          st[j + 1] = st[j]!;
          sv[j + 1] = sv[j]!;
        }
        st[j + 1] = ti;
        sv[j + 1] = vi;
      }
      out.push({ t: st, v: sv });
    }
    return out;
  }
}

/**
 * Writes the as-of merge of one series into the columns: for each label (indices ascending by time), the last point
 * at or before it.
 */
function mergeInto(
  out: AsOfColumns,
  columns: readonly number[],
  labelIdx: readonly number[],
  labels: readonly AsOfLabel[],
  t: ArrayLike<number>,
  v: ArrayLike<number>,
  from = 0,
  to = t.length,
): void {
  let p = from - 1;
  for (const li of labelIdx) {
    const time = labels[li]!.timestamp;
    while (p + 1 < to && t[p + 1]! <= time) p++;
    if (p < from) continue;
    for (const j of columns) {
      out.values[j]![li] = v[p]!;
      out.times[j]![li] = t[p]!;
    }
  }
}

export function createOfflineStore(sql: Sql, options: OfflineStoreOptions): OfflineStore {
  const isRealTime = options.isRealTime ?? (() => true);
  // Few entities, but a busy class's per-event series holds tens of thousands of rows a year.
  const entityChunk = options.asOfEntityChunk ?? 16;
  const bulkMinEntities = options.bulkReadMinEntities ?? 50;
  const bulkChunk = options.bulkReadChunk ?? 200_000;
  const bulkMaxRows = options.bulkReadMaxRows ?? 40_000_000;
  /** Series read by the bulk path, per (feature, window) pair then entity; dropped by any write. */
  const kept = new Map<string, Map<string, Series>>();
  /** Whether `kept` holds every series of the log (a pair it lacks has no rows). */
  let keptAll = false;
  return {
    async latest(afterEntity, limit) {
      // The page's entities first (the unique key's prefix), then each series' newest row (window function).
      const rows = await sql.query<{
        target_entity: string;
        entity_type: string;
        feature_name: string;
        window_name: string;
        feature_timestamp: Date;
        feature_value: number;
      }>(
        `SELECT target_entity, entity_type, feature_name, window_name, feature_timestamp, feature_value FROM (
           SELECT f.*, ROW_NUMBER() OVER (
             PARTITION BY f.target_entity, f.feature_name, f.window_name ORDER BY f.feature_timestamp DESC) AS rn
           FROM ml_feature_store f
           JOIN (SELECT DISTINCT target_entity FROM ml_feature_store WHERE target_entity > ?
                 ORDER BY target_entity LIMIT ?) page ON page.target_entity = f.target_entity
         ) newest WHERE rn = 1 ORDER BY target_entity, feature_name, window_name`,
        [afterEntity, limit],
      );
      return rows.map((r) => ({
        entityId: r.target_entity,
        entityType: r.entity_type,
        featureName: r.feature_name,
        window: r.window_name,
        timestamp: r.feature_timestamp.getTime(),
        value: Number(r.feature_value),
      }));
    },

    async write(features) {
      kept.clear();
      keptAll = false;
      const sorted = sortForUpsert(features);
      for (let i = 0; i < sorted.length; i += options.writeBatch) {
        const chunk = sorted.slice(i, i + options.writeBatch);
        await sql.execute(
          upsertStatement(chunk.length),
          chunk.flatMap((f) => rowParams(f, isRealTime(f))),
        );
      }
    },

    async asOf(labels, refs) {
      const { values, times } = await asOfColumns(labels, refs);
      return labels.map((_, i) =>
        refs.map((__, j) =>
          Number.isNaN(times[j]![i]!) ? null : { timestamp: times[j]![i]!, value: values[j]![i]! },
        ),
      );
    },

    asOfColumns,
  };

  async function asOfColumns(
    labels: readonly AsOfLabel[],
    refs: readonly FeatureRef[],
  ): Promise<AsOfColumns> {
    const out: AsOfColumns = {
      values: refs.map(() => new Float64Array(labels.length).fill(NaN)),
      times: refs.map(() => new Float64Array(labels.length).fill(NaN)),
    };
    if (labels.length === 0 || refs.length === 0) return out;
    // Each entity's labels, ascending by time.
    const byEntity = new Map<string, number[]>();
    labels.forEach((l, i) => {
      const list = byEntity.get(l.entityId);
      if (list) list.push(i);
      else byEntity.set(l.entityId, [i]);
    });
    for (const list of byEntity.values()) list.sort((a, b) => labels[a]!.timestamp - labels[b]!.timestamp);

    const pairs = refs.map((r) => pairKey(r.name, r.window ?? ''));
    const has = (k: string): boolean => keptAll || kept.has(k);
    const missing = refs.filter((_, j) => !has(pairs[j]!));
    if (missing.length > 0 && byEntity.size >= bulkMinEntities) await bulkRead(missing);
    if (pairs.every(has)) {
      pairs.forEach((k, j) => {
        const series = kept.get(k);
        if (series === undefined) return; // the whole log is kept, and it has no such series
        for (const [entity, idx] of byEntity) {
          const s = series.get(entity);
          if (s !== undefined) mergeInto(out, [j], idx, labels, s.t, s.v);
        }
      });
      return out;
    }
    await rangeRead(labels, refs, byEntity, out);
    return out;
  }

  /**
   * The few-entities path: per chunk of entities, every row of the requested features up to the chunk's latest
   * label, in unique-key order, merged series by series.
   */
  async function rangeRead(
    labels: readonly AsOfLabel[],
    refs: readonly FeatureRef[],
    byEntity: ReadonlyMap<string, number[]>,
    out: AsOfColumns,
  ): Promise<void> {
    const names = [...new Set(refs.map((r) => r.name))];
    const windows = [...new Set(refs.map((r) => r.window ?? ''))];
    // Ref columns by feature and window position; one series may feed several refs if a ref is repeated.
    const columnsOf = new Map<number, number[]>();
    refs.forEach((r, j) => {
      const k = names.indexOf(r.name) * windows.length + windows.indexOf(r.window ?? '');
      columnsOf.set(k, [...(columnsOf.get(k) ?? []), j]);
    });
    const entities = [...byEntity.keys()];
    for (let c = 0; c < entities.length; c += entityChunk) {
      const chunk = entities.slice(c, c + entityChunk);
      let until = -Infinity;
      for (const e of chunk) until = Math.max(until, labels[byEntity.get(e)!.at(-1)!]!.timestamp);
      const rows = await sql.query<AsOfRow>(
        `SELECT target_entity AS e, FIELD(feature_name, ?) AS f, FIELD(window_name, ?) AS w,
                ${MS('feature_timestamp')} AS t, feature_value AS v
           FROM ml_feature_store
          WHERE target_entity IN (?) AND feature_name IN (?) AND window_name IN (?) AND feature_timestamp <= ?
          ORDER BY target_entity, feature_name, window_name, feature_timestamp`,
        [names, windows, chunk, names, windows, toSqlDatetime(until)],
      );
      const t = Float64Array.from(rows, (r) => Number(r.t));
      const v = Float64Array.from(rows, (r) => Number(r.v));
      // Rows arrive grouped by series; merge each group when it ends.
      let start = 0;
      for (let i = 1; i <= rows.length; i++) {
        const a = rows[start]!;
        const b = rows[i];
        if (b !== undefined && b.e === a.e && b.f === a.f && b.w === a.w) continue;
        const js = columnsOf.get((a.f - 1) * windows.length + (a.w - 1));
        const idx = byEntity.get(a.e);
        if (js && idx) mergeInto(out, js, idx, labels, t, v, start, i);
        start = i;
      }
    }
  }

  /**
   * The many-entities path: every series of the log, read in one scan in primary-key chunks and kept (a scan costs
   * the same whatever it keeps, and the frames of a run read nearly every series). With more than bulkReadMaxRows
   * rows in the log, only the requested pairs are kept.
   */
  async function bulkRead(refs: readonly FeatureRef[]): Promise<void> {
    const [bounds] = await sql.query<{ lo: number | string | null; hi: number | string | null }>(
      'SELECT MIN(id) AS lo, MAX(id) AS hi FROM ml_feature_store',
    );
    const [size] = await sql.query<{ n: number | string | null }>(
      `SELECT TABLE_ROWS AS n FROM information_schema.TABLES
        WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'ml_feature_store'`,
    );
    const all = Number(size?.n ?? 0) <= bulkMaxRows;
    const wanted = new Set(refs.map((r) => pairKey(r.name, r.window ?? '')));
    // Points of every series by id; the key (entity, feature, window) is one string per row, and the time comes as
    // whole days and ms of the day so that neither part is a heap number.
    const collector = new SeriesCollector();
    const ids = new Map<string, number>();
    if (bounds !== undefined && bounds.lo !== null && bounds.hi !== null) {
      const hi = Number(bounds.hi);
      const read = (from: number): Promise<BulkRow[]> =>
        sql.query<BulkRow>(
          `SELECT CONCAT(feature_name, CHAR(0 USING utf8mb4), window_name, CHAR(0 USING utf8mb4), target_entity) AS k,
                  DATEDIFF(feature_timestamp, '1970-01-01') AS d,
                  TIMESTAMPDIFF(MICROSECOND, DATE(feature_timestamp), feature_timestamp) DIV 1000 AS m,
                  feature_value AS v
             FROM ml_feature_store
            WHERE id > ? AND id <= ?${all ? '' : ' AND CONCAT(feature_name, CHAR(0 USING utf8mb4), window_name) IN (?)'}`,
          all ? [from, Math.min(hi, from + bulkChunk)] : [from, Math.min(hi, from + bulkChunk), [...wanted]],
        );
      // BULK_READ_IN_FLIGHT queries in flight: the server reads ahead while this process files the rows.
      const pending: Promise<BulkRow[]>[] = [];
      let from = Number(bounds.lo) - 1;
      const ahead = (): void => {
        if (from < hi) pending.push(read(from));
        from += bulkChunk;
      };
      for (let i = 0; i < BULK_READ_IN_FLIGHT; i++) ahead();
      while (pending.length > 0) {
        const rows = await pending.shift()!;
        ahead();
        for (const r of rows) {
          let id = ids.get(r.k);
          if (id === undefined) ids.set(r.k, (id = collector.count++));
          collector.add(id, Number(r.d) * 86_400_000 + Number(r.m), Number(r.v));
        }
      }
    }
    const series = collector.build();
    for (const pair of wanted) if (!kept.has(pair)) kept.set(pair, new Map());
    keptAll = all;
    for (const [k, id] of ids) {
      const cut = k.indexOf('\u0000', k.indexOf('\u0000') + 1);
      const pair = k.slice(0, cut);
      let perEntity = kept.get(pair);
      if (perEntity === undefined) kept.set(pair, (perEntity = new Map()));
      perEntity.set(k.slice(cut + 1), series[id]!);
    }
  }
}
