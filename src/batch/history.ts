// History in MySQL (id_transactions, id_item_master): the nightly aggregates of the historical collector, and the
// item counters the history sink keeps. Both count from id_transactions the same way, so the batch features and the
// item master agree with each other and with the real-time `turnover_ltd` (operators/item-features.ts): a scan of
// the same tag and type within windows.dedupWindowMs of the previous one is a second read at one door, not a rental.
import { classKey } from '../features/keys.ts';
import { NEXT_STATUS } from '../features/vocabulary.ts';
import type { Sql } from '../io/mysql/pool.ts';
import type { FeatureVector } from '../schemas/types.ts';
import { toSqlDatetime } from '../store/offline.ts';
import { DAY_MS, type DayRange } from './records.ts';
import type { Provider } from './provider.ts';

/**
 * id_transactions rows matching `where`, each with is_repeat = 1 when the tag's previous scan (by event time, then
 * insertion) had the same type within `?` microseconds. The first `?` is the dedup window in microseconds.
 */
export function countedScans(where: string): string {
  return `SELECT id, tag_id, rental_class_num, store_id, scan_type, quality_grade, scan_date,
      COALESCE(LAG(scan_type) OVER w = scan_type
        AND LAG(scan_date) OVER w >= scan_date - INTERVAL ? MICROSECOND, 0) AS is_repeat
    FROM id_transactions WHERE ${where}
    WINDOW w AS (PARTITION BY tag_id ORDER BY scan_date, id)`;
}

/** The status CASE over a scan type, from the real-time mapping (out -> out, return -> returned, ...). */
export function statusCase(column: string): string {
  const whens = Object.entries(NEXT_STATUS)
    .map(([scan, status]) => `WHEN '${scan}' THEN '${status}'`)
    .join(' ');
  return `CASE ${column} ${whens} ELSE 'available' END`;
}

/**
 * The item fields every upsert of id_item_master sets alike: rental class and quality from the latest scan; the
 * creation date is the earliest scan by event time and the home store that scan's store (a late scan older than
 * every one before moves both, so the result does not depend on how the scans were batched); the status from the
 * latest scan unless the item is retired. store_id is assigned before date_created: MySQL's ON DUPLICATE KEY UPDATE
 * reads the columns it has already assigned.
 */
export const ITEM_DESCRIPTION_UPDATES = `rental_class_num = VALUES(rental_class_num),
    store_id = IF(id_item_master.date_created IS NULL OR VALUES(date_created) < id_item_master.date_created,
      COALESCE(VALUES(store_id), id_item_master.store_id), COALESCE(id_item_master.store_id, VALUES(store_id))),
    status = IF(id_item_master.status = 'retired', id_item_master.status, VALUES(status)),
    quality_grade = VALUES(quality_grade),
    date_created = LEAST(COALESCE(id_item_master.date_created, VALUES(date_created)), VALUES(date_created))`;

/**
 * Recomputes id_item_master rows of the given tags (one `?` holding the tag array) from their whole scan history:
 * status, quality_grade, date_last_scanned and rental class from the latest scan by event time; usage_count and
 * turnover_ltd = counted out scans; turnover_ytd = those since `?` (Jan 1 UTC of the current year); date_created (the
 * earliest scan) and store_id (the home store: where the earliest scan was), see ITEM_DESCRIPTION_UPDATES; a retired item
 * stays retired. Derived, not incremented, so
 * a replayed scan (already in id_transactions) changes nothing. Parameters: upsertItemsParams().
 */
export const UPSERT_ITEMS_SQL = `INSERT INTO id_item_master
    (tag_id, rental_class_num, store_id, status, quality_grade, date_created, date_last_scanned,
     usage_count, turnover_ytd, turnover_ltd)
  SELECT tag_id, rental_class_num, home_store, ${statusCase('scan_type')}, quality_grade, first_scan, scan_date,
     rentals_ltd, rentals_ytd, rentals_ltd
  FROM (
    SELECT s.*,
      ROW_NUMBER() OVER (PARTITION BY tag_id ORDER BY scan_date DESC, id DESC) AS rn,
      MIN(scan_date) OVER (PARTITION BY tag_id) AS first_scan,
      FIRST_VALUE(store_id) OVER (PARTITION BY tag_id ORDER BY scan_date, id) AS home_store,
      SUM(scan_type = 'out' AND is_repeat = 0) OVER (PARTITION BY tag_id) AS rentals_ltd,
      SUM(scan_type = 'out' AND is_repeat = 0 AND scan_date >= ?) OVER (PARTITION BY tag_id) AS rentals_ytd
    FROM (${countedScans('tag_id IN (?)')}) s
  ) latest
  WHERE rn = 1
  ON DUPLICATE KEY UPDATE
    ${ITEM_DESCRIPTION_UPDATES},
    date_last_scanned = VALUES(date_last_scanned),
    usage_count = VALUES(usage_count),
    turnover_ytd = VALUES(turnover_ytd),
    turnover_ltd = VALUES(turnover_ltd)`;

/** UPSERT_ITEMS_SQL's parameters, in the order their `?` appear: year start, dedup window, the tags. */
export function upsertItemsParams(tags: readonly string[], dedupMs: number, yearStartMs: number): unknown[] {
  return [toSqlDatetime(yearStartMs), dedupMs * 1000, [...tags]];
}

/** 00:00 UTC on Jan 1 of the year of `ms`. */
export const yearStartUtc = (ms: number): number => Date.UTC(new Date(ms).getUTCFullYear(), 0, 1);

/** Per rental class and store, over the window before a snapshot. */
export interface ClassAggregate {
  readonly store_id: string;
  readonly rental_class_num: string;
  readonly outs: number;
  readonly damages: number;
  readonly scans: number;
  /** Mean quality_grade of the window's scans; null when there were none. */
  readonly mean_grade: number | null;
  /** Items of the class whose home store is this one (id_item_master, not retired, created before the snapshot). */
  readonly items: number;
}

/** Per item, as of the snapshot. */
export interface ItemAggregate {
  readonly tag_id: string;
  readonly rentals_ltd: number;
  readonly rentals_ytd: number;
  readonly repairs: number;
}

/** Everything the historical collector knows as of 00:00 UTC of `day`. */
export interface HistorySnapshot {
  readonly day: number;
  readonly windowDays: number;
  readonly classes: readonly ClassAggregate[];
  readonly items: readonly ItemAggregate[];
}

const n = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));

/** Reads one snapshot (four queries). The window is [day - windowDays, day) in UTC days. */
export async function readSnapshot(
  sql: Sql,
  day: number,
  windowDays: number,
  dedupMs: number,
): Promise<HistorySnapshot> {
  const asOf = toSqlDatetime(day * DAY_MS);
  const windowStart = toSqlDatetime((day - windowDays) * DAY_MS);
  // A little history before the window, so a scan just inside it is compared with the one just before.
  const lead = toSqlDatetime((day - windowDays) * DAY_MS - Math.max(dedupMs, 60_000));
  const micros = dedupMs * 1000;
  const classRows = await sql.query<{
    store_id: string;
    rental_class_num: string;
    outs: unknown;
    damages: unknown;
    scans: unknown;
    mean_grade: unknown;
  }>(
    `SELECT store_id, rental_class_num, SUM(scan_type = 'out') AS outs, SUM(scan_type = 'damage') AS damages,
        COUNT(*) AS scans, AVG(quality_grade) AS mean_grade
      FROM (${countedScans('scan_date >= ? AND scan_date < ?')}) s
      WHERE is_repeat = 0 AND scan_date >= ?
      GROUP BY store_id, rental_class_num`,
    [micros, lead, asOf, windowStart],
  );
  const itemCounts = await sql.query<{ store_id: string; rental_class_num: string; items: unknown }>(
    `SELECT store_id, rental_class_num, COUNT(*) AS items FROM id_item_master
      WHERE store_id IS NOT NULL AND status <> 'retired' AND (date_created IS NULL OR date_created < ?)
      GROUP BY store_id, rental_class_num`,
    [asOf],
  );
  const itemRows = await sql.query<{
    tag_id: string;
    rentals_ltd: unknown;
    rentals_ytd: unknown;
    repairs: unknown;
  }>(
    `SELECT tag_id, SUM(scan_type = 'out') AS rentals_ltd, SUM(scan_type = 'out' AND scan_date >= ?) AS rentals_ytd,
        SUM(scan_type = 'repair') AS repairs
      FROM (${countedScans('scan_date < ?')}) s
      WHERE is_repeat = 0
      GROUP BY tag_id`,
    [toSqlDatetime(yearStartUtc(day * DAY_MS)), micros, asOf],
  );
  const fleet = await sql.query<{ tag_id: string }>(
    'SELECT tag_id FROM id_item_master WHERE date_created IS NULL OR date_created < ?',
    [asOf],
  );

  const classes = new Map<string, ClassAggregate>();
  for (const r of classRows)
    classes.set(classKey(r.store_id, r.rental_class_num), {
      store_id: r.store_id,
      rental_class_num: r.rental_class_num,
      outs: n(r.outs),
      damages: n(r.damages),
      scans: n(r.scans),
      mean_grade: r.mean_grade === null ? null : Number(r.mean_grade),
      items: 0,
    });
  for (const r of itemCounts) {
    const key = classKey(r.store_id, r.rental_class_num);
    const c = classes.get(key);
    classes.set(
      key,
      c
        ? { ...c, items: n(r.items) }
        : {
            store_id: r.store_id,
            rental_class_num: r.rental_class_num,
            outs: 0,
            damages: 0,
            scans: 0,
            mean_grade: null,
            items: n(r.items),
          },
    );
  }
  const items = new Map<string, ItemAggregate>();
  for (const r of fleet)
    items.set(r.tag_id, { tag_id: r.tag_id, rentals_ltd: 0, rentals_ytd: 0, repairs: 0 });
  for (const r of itemRows)
    items.set(r.tag_id, {
      tag_id: r.tag_id,
      rentals_ltd: n(r.rentals_ltd),
      rentals_ytd: n(r.rentals_ytd),
      repairs: n(r.repairs),
    });
  const byKey = <T>(m: Map<string, T>): T[] =>
    [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
  return { day, windowDays, classes: byKey(classes), items: byKey(items) };
}

/** A provider of one snapshot per day of the range, over MySQL. */
export function historyProvider(sql: Sql, windowDays: number, dedupMs: number): Provider<HistorySnapshot> {
  return {
    name: 'mysql:id_transactions',
    async fetch(range: DayRange) {
      const out: HistorySnapshot[] = [];
      for (let d = range.from; d <= range.to; d++) out.push(await readSnapshot(sql, d, windowDays, dedupMs));
      return out;
    },
  };
}

/**
 * The snapshot as features, stamped at 00:00 UTC of its day. Per class and store (entity_type 'class', id
 * `store|class`), window `<windowDays>d`: demand_rate (out scans per day), damage_rate (damage scans per out scan,
 * 0 without rentals), mean_quality_grade (only when the window has scans); and items_count. Per item:
 * turnover_ytd, turnover_ltd (counted rentals) and repair_count (repair scans), as of the snapshot.
 */
export function historicalFeatures(s: HistorySnapshot): FeatureVector[] {
  const t = s.day * DAY_MS;
  const window = `${s.windowDays}d`;
  const start = (s.day - s.windowDays) * DAY_MS;
  const f = (
    entityType: string,
    entityId: string,
    name: string,
    value: number,
    featureType: string,
    windowed: boolean,
  ): FeatureVector => ({
    entity_id: entityId,
    entity_type: entityType,
    feature_name: name,
    feature_value: value,
    feature_type: featureType,
    timestamp: t,
    window: windowed ? window : null,
    window_start: windowed ? start : null,
    window_end: windowed ? t : null,
    confidence: 1,
    source: 'historical',
  });
  const out: FeatureVector[] = [];
  for (const c of s.classes) {
    const id = classKey(c.store_id, c.rental_class_num);
    out.push(
      f('class', id, 'demand_rate', c.outs / s.windowDays, 'demand', true),
      f('class', id, 'damage_rate', c.outs > 0 ? c.damages / c.outs : 0, 'maintenance', true),
    );
    if (c.mean_grade !== null) out.push(f('class', id, 'mean_quality_grade', c.mean_grade, 'quality', true));
    out.push(f('class', id, 'items_count', c.items, 'inventory', false));
  }
  for (const i of s.items)
    out.push(
      f('item', i.tag_id, 'turnover_ytd', i.rentals_ytd, 'behavioral', false),
      f('item', i.tag_id, 'turnover_ltd', i.rentals_ltd, 'behavioral', false),
      f('item', i.tag_id, 'repair_count', i.repairs, 'maintenance', false),
    );
  return out;
}
