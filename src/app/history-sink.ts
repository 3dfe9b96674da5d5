// Writes every validated scan (clean.rfid.scans) into id_transactions and keeps id_item_master up to date, so the
// nightly historical collector and training read the real history. Exactly-once effect on MySQL: a scan's Kafka
// position (topic, partition, offset) is a unique key, so a replayed batch inserts nothing and changes no counter.
// The touched items are updated incrementally: per tag, only the scans from the earliest new one (less the dedup
// window, which decides whether it was a second read) are read back, and the counters move by the difference the new
// scans make there (itemUpdates), so an item's cost does not grow with its history. The result equals the whole-
// history recompute (history.ts UPSERT_ITEMS_SQL, which the backfill uses), late scans included; a property test
// holds the two together. Scans and items of one batch commit in one SQL transaction, behind a lock on the source
// partition (two instances writing one partition at once run in turn), with the partition's progress (the highest
// offset stored, which serving waits on); the runner commits the Kafka offsets after it.
import type { Config } from '../../config/schema.ts';
import { cleanTopic } from '../../config/topics.ts';
import type { Sql } from '../io/mysql/pool.ts';
import { systemClock, type Clock } from '../runtime/clock.ts';
import { Flow, topology, type SinkNode, type Topology } from '../runtime/topology.ts';
import type { RfidScan } from '../schemas/types.ts';
import { toSqlDatetime } from '../store/offline.ts';
import { ITEM_DESCRIPTION_UPDATES, yearStartUtc } from '../batch/history.ts';
import { NEXT_STATUS } from '../features/vocabulary.ts';
import { SCAN_COLUMNS, scanOf, type ScanRow } from '../ml/train/history.ts';
import { countedScans, type Scan } from '../ml/train/labels.ts';

export interface HistorySinkOptions {
  /** windows.dedupWindowMs: a second read of the same tag and type within it is not another rental. */
  readonly dedupWindowMs: number;
  /** Rows per INSERT, and tags per item read and update (default 500). */
  readonly chunk?: number;
  /** For turnover_ytd's year (default: the system clock). */
  readonly clock?: Clock;
  /** Per batch, after the DB commit: scans received and scans newly inserted. */
  readonly onBatch?: (received: number, inserted: number) => void;
}

/** A scan with its Kafka position, as a row of id_transactions. */
export interface SourcedScan {
  readonly scan: RfidScan;
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

export const INSERT_COLUMNS = [
  'tag_id',
  'rental_class_num',
  'scan_type',
  'scan_date',
  'reader_id',
  'store_id',
  'quality_grade',
  'notes',
  'source_topic',
  'source_partition',
  'source_offset',
] as const;

/**
 * A multi-row insert that skips rows whose source position is already stored (`id = id` is a no-op update, so a
 * duplicate counts 0 affected rows), while any other error (a CHECK failing) still fails, unlike INSERT IGNORE.
 */
export function insertScansStatement(rowCount: number): string {
  const tuple = `(${INSERT_COLUMNS.map(() => '?').join(', ')})`;
  return (
    `INSERT INTO id_transactions (${INSERT_COLUMNS.join(', ')}) VALUES ` +
    Array.from({ length: rowCount }, () => tuple).join(', ') +
    ' ON DUPLICATE KEY UPDATE id = id'
  );
}

export function scanParams(s: SourcedScan): unknown[] {
  const { scan } = s;
  return [
    scan.tag_id,
    scan.rental_class_num,
    scan.scan_type,
    toSqlDatetime(scan.scan_date),
    scan.reader_id,
    scan.store_id,
    scan.quality_grade,
    scan.notes,
    s.topic,
    s.partition,
    s.offset,
  ];
}

/** `topic|partition|offset`: a scan's identity. */
const positionKey = (topic: string, partition: number, offset: string): string =>
  `${topic}|${partition}|${offset}`;

/** A stored scan as itemUpdates reads it back, and whether this batch inserted it. */
export type StoredScan = Scan & { readonly fresh: boolean };

/** One id_item_master row to upsert: latest-scan fields, and counters that are totals (new) or increments. */
export interface ItemUpdate {
  readonly tag_id: string;
  readonly rental_class_num: string;
  readonly store_id: string;
  readonly status: string;
  readonly quality_grade: number;
  readonly date_created: number;
  readonly date_last_scanned: number;
  /** Counted rentals (out scans that are not a second read): the item's total if new, else the increment. */
  readonly rentals: number;
  /** The same, of scans on or after the year start. */
  readonly rentalsYtd: number;
}

/**
 * Per tag, from the tag's scans since its earliest fresh one less the dedup window (`rows`, sorted by tag, event
 * time, insertion; all of its scans when the item is new): how the fresh scans change the counters. Rentals are
 * counted with the label code's rule (labels.ts countedScans: an `out` that is not a second read). Counting the
 * suffix with and without the fresh scans, the difference is exactly what they add, including a late scan that
 * turns its successor into a second read; the scans before the suffix count the same either way. The latest-scan
 * fields come from the suffix's last scan, which is the tag's latest. Pure; property-tested against the recompute.
 */
export function itemUpdates(
  rows: readonly StoredScan[],
  existing: ReadonlySet<string>,
  dedupMs: number,
  yearStartMs: number,
): ItemUpdate[] {
  const rentals = (scans: readonly Scan[]): Map<string, { all: number; ytd: number }> => {
    const byTag = new Map<string, { all: number; ytd: number }>();
    for (const s of countedScans(scans, dedupMs)) {
      if (s.scanType !== 'out') continue;
      let n = byTag.get(s.tagId);
      if (!n) byTag.set(s.tagId, (n = { all: 0, ytd: 0 }));
      n.all++;
      if (s.time >= yearStartMs) n.ytd++;
    }
    return byTag;
  };
  const withFresh = rentals(rows);
  const before = rentals(rows.filter((s) => !s.fresh));
  const out: ItemUpdate[] = [];
  for (let i = 0, j = 0; i < rows.length; i = j) {
    const first = rows[i]!;
    while (j < rows.length && rows[j]!.tagId === first.tagId) j++;
    const last = rows[j - 1]!;
    const now = withFresh.get(first.tagId) ?? { all: 0, ytd: 0 };
    const was = (existing.has(first.tagId) && before.get(first.tagId)) || { all: 0, ytd: 0 };
    out.push({
      tag_id: first.tagId,
      rental_class_num: last.rentalClass,
      store_id: first.storeId,
      status: NEXT_STATUS[last.scanType] ?? 'available',
      quality_grade: last.grade,
      date_created: first.time,
      date_last_scanned: last.time,
      rentals: now.all - was.all,
      rentalsYtd: now.ytd - was.ytd,
    });
  }
  return out;
}

/**
 * Applies itemUpdates: a new item gets its totals; an existing one adds the increments. turnover_ytd restarts from 0
 * when the item's previous latest scan is before the year start (a new year); it is assigned before
 * date_last_scanned, which MySQL's left-to-right ON DUPLICATE KEY UPDATE needs. store_id and date_created are set
 * once; a retired item stays retired.
 */
const APPLY_ITEMS_SQL = (rowCount: number): string =>
  `INSERT INTO id_item_master
    (tag_id, rental_class_num, store_id, status, quality_grade, date_created, date_last_scanned,
     usage_count, turnover_ytd, turnover_ltd)
  VALUES ${Array.from({ length: rowCount }, () => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}
  ON DUPLICATE KEY UPDATE
    ${ITEM_DESCRIPTION_UPDATES},
    usage_count = id_item_master.usage_count + VALUES(usage_count),
    turnover_ltd = id_item_master.turnover_ltd + VALUES(turnover_ltd),
    turnover_ytd = IF(id_item_master.date_last_scanned >= ?, id_item_master.turnover_ytd, 0) + VALUES(turnover_ytd),
    date_last_scanned = VALUES(date_last_scanned)`;

const itemParams = (u: ItemUpdate): unknown[] => [
  u.tag_id,
  u.rental_class_num,
  u.store_id,
  u.status,
  u.quality_grade,
  toSqlDatetime(u.date_created),
  toSqlDatetime(u.date_last_scanned),
  u.rentals,
  u.rentalsYtd,
  u.rentals,
];

/**
 * Stores a batch in one transaction: the scans not stored yet, then (if any was new) the touched items updated from
 * them (itemUpdates). Returns the number of scans newly inserted. The stored positions are looked up first (on the
 * unique key) because affectedRows cannot tell a skipped duplicate from an insert when the driver reports found rows.
 */
export async function storeScans(
  sql: Sql,
  scans: readonly SourcedScan[],
  options: { dedupWindowMs: number; now: number; chunk?: number },
): Promise<number> {
  if (scans.length === 0) return 0;
  const chunk = options.chunk ?? 500;
  return sql.transaction(async (tx) => {
    const stored = new Set<string>();
    const byPartition = new Map<string, SourcedScan[]>();
    for (const s of scans) {
      const k = `${s.topic}|${s.partition}`;
      const group = byPartition.get(k);
      if (group) group.push(s);
      else byPartition.set(k, [s]);
    }
    // Another instance may write the same partition at this moment (a zombie that lost it, or its successor): both
    // would take the same scans for new and count them twice. Each transaction first locks its partitions' rows
    // (schemas/sql/004_sink_locks.sql), in order, so they run one after the other; the reads below come after the
    // lock and so see what the other committed.
    // The same row carries the partition's progress (the highest offset stored, 007_sink_progress.sql): it commits
    // with the rows, and serving waits on it before reading an item's history (src/serving/sink-progress.ts).
    for (const k of [...byPartition.keys()].sort()) {
      const group = byPartition.get(k)!;
      const { topic, partition } = group[0]!;
      const highest = group.reduce((m, s) => (BigInt(s.offset) > m ? BigInt(s.offset) : m), -1n);
      await tx.execute(
        `INSERT INTO sink_partition_locks (source_topic, source_partition, stored_offset) VALUES (?, ?, ?)
          ON DUPLICATE KEY UPDATE stored_offset = GREATEST(COALESCE(stored_offset, -1), VALUES(stored_offset))`,
        [topic, partition, highest.toString()],
      );
    }
    for (const group of byPartition.values()) {
      const { topic, partition } = group[0]!;
      for (let i = 0; i < group.length; i += chunk) {
        const rows = await tx.query<{ source_offset: string | number }>(
          `SELECT source_offset FROM id_transactions
            WHERE source_topic = ? AND source_partition = ? AND source_offset IN (?)`,
          [topic, partition, group.slice(i, i + chunk).map((s) => s.offset)],
        );
        for (const r of rows) stored.add(positionKey(topic, partition, String(r.source_offset)));
      }
    }
    const seen = new Set<string>();
    const fresh = scans.filter((s) => {
      const k = positionKey(s.topic, s.partition, s.offset);
      if (stored.has(k) || seen.has(k)) return false;
      seen.add(k);
      return true;
    });
    if (fresh.length === 0) return 0;
    for (let i = 0; i < fresh.length; i += chunk) {
      const part = fresh.slice(i, i + chunk);
      await tx.execute(insertScansStatement(part.length), part.flatMap(scanParams));
    }
    await updateItems(tx, fresh, options.dedupWindowMs, yearStartUtc(options.now), chunk);
    return fresh.length;
  });
}

/** Reads back each touched tag's suffix (all of it for a new item), and upserts its item row (itemUpdates). */
async function updateItems(
  tx: Sql,
  fresh: readonly SourcedScan[],
  dedupMs: number,
  yearStartMs: number,
  chunk: number,
): Promise<void> {
  const since = new Map<string, number>();
  const freshKeys = new Set<string>();
  for (const s of fresh) {
    const t = s.scan.scan_date;
    const prev = since.get(s.scan.tag_id);
    if (prev === undefined || t < prev) since.set(s.scan.tag_id, t);
    freshKeys.add(positionKey(s.topic, s.partition, s.offset));
  }
  const tags = [...since.keys()].sort();
  for (let i = 0; i < tags.length; i += chunk) {
    const part = tags.slice(i, i + chunk);
    const existing = new Set(
      (
        await tx.query<{ tag_id: string }>('SELECT tag_id FROM id_item_master WHERE tag_id IN (?)', [part])
      ).map((r) => r.tag_id),
    );
    const where: string[] = [];
    const params: unknown[] = [];
    for (const tag of part) {
      if (existing.has(tag)) {
        where.push('(tag_id = ? AND scan_date >= ?)');
        params.push(tag, toSqlDatetime(since.get(tag)! - dedupMs));
      } else {
        where.push('tag_id = ?');
        params.push(tag);
      }
    }
    const rows = await tx.query<ScanRow & SourcePosition>(
      `SELECT ${SCAN_COLUMNS}, source_topic, source_partition, source_offset
        FROM id_transactions WHERE ${where.join(' OR ')}
        ORDER BY tag_id, scan_date, id`,
      params,
    );
    const updates = itemUpdates(
      rows.map((r) => ({
        ...scanOf(r),
        fresh: freshKeys.has(
          positionKey(r.source_topic, Number(r.source_partition), String(r.source_offset)),
        ),
      })),
      existing,
      dedupMs,
      yearStartMs,
    );
    if (updates.length > 0)
      await tx.execute(APPLY_ITEMS_SQL(updates.length), [
        ...updates.flatMap(itemParams),
        toSqlDatetime(yearStartMs),
      ]);
  }
}

interface SourcePosition {
  readonly source_topic: string;
  readonly source_partition: number | string;
  readonly source_offset: number | string;
}

/** Stores clean scans with their Kafka positions; `onBatch` gets scans received and newly inserted per batch. */
export function historySink(sql: Sql, options: HistorySinkOptions): SinkNode<RfidScan> {
  return {
    name: 'history',
    async write(records) {
      const inserted = await storeScans(
        sql,
        records.map((r) => ({ scan: r.value, ...r.source })),
        {
          dedupWindowMs: options.dedupWindowMs,
          now: (options.clock ?? systemClock).now(),
          ...(options.chunk === undefined ? {} : { chunk: options.chunk }),
        },
      );
      options.onBatch?.(records.length, inserted);
    },
  };
}

/** Consumer group `<pipeline.groupId>-history`: clean scans into id_transactions / id_item_master. */
export function historyTopology(
  config: Config,
  sql: Sql,
  options: Partial<HistorySinkOptions> = {},
): Topology {
  return topology('history', [
    Flow.from<RfidScan>(cleanTopic(config.topics, config.topics.scans)).sink(
      historySink(sql, { dedupWindowMs: config.windows.dedupWindowMs, ...options }),
    ),
  ]);
}
