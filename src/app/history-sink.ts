// Writes every validated scan (clean.rfid.scans) into id_transactions and keeps id_item_master up to date, so the
// nightly historical collector and training read the real history. Exactly-once effect on MySQL: a scan's Kafka
// position (topic, partition, offset) is a unique key, so a replayed batch inserts nothing; the touched items are
// then recomputed from id_transactions (history.ts UPSERT_ITEMS_SQL) rather than incremented, so replays never double
// count. Scans and items of one batch commit in one SQL transaction; the runner commits the Kafka offsets after it.
import type { Config } from '../../config/schema.ts';
import { cleanTopic } from '../../config/topics.ts';
import type { Sql } from '../io/mysql/pool.ts';
import { systemClock, type Clock } from '../runtime/clock.ts';
import { Flow, topology, type SinkNode, type Topology } from '../runtime/topology.ts';
import type { RfidScan } from '../schemas/types.ts';
import { toSqlDatetime } from '../store/offline.ts';
import { UPSERT_ITEMS_SQL, upsertItemsParams, yearStartUtc } from '../batch/history.ts';

export interface HistorySinkOptions {
  /** windows.dedupWindowMs: a second read of the same tag and type within it is not another rental. */
  readonly dedupWindowMs: number;
  /** Rows per INSERT, and tags per item recompute (default 500). */
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

/**
 * Stores a batch in one transaction: the scans not stored yet, then (if any was new) the touched items recomputed
 * from their history. Returns the number of scans newly inserted. The stored positions are looked up first (on the
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
    const tags = [...new Set(fresh.map((s) => s.scan.tag_id))].sort();
    for (let i = 0; i < tags.length; i += chunk)
      await tx.execute(
        UPSERT_ITEMS_SQL,
        upsertItemsParams(tags.slice(i, i + chunk), options.dedupWindowMs, yearStartUtc(options.now)),
      );
    return fresh.length;
  });
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
