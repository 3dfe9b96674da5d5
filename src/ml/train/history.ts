// Reads the scan history the labels come from: id_transactions (every validated scan, written by the history sink).
import type { Sql } from '../../io/mysql/pool.ts';
import { toSqlDatetime } from '../../store/offline.ts';
import type { Scan } from './labels.ts';

/** An id_transactions row as loadScans selects it (SCAN_COLUMNS). */
export interface ScanRow {
  id: number | string;
  tag_id: string;
  rental_class_num: string;
  store_id: string;
  scan_type: string;
  scan_date: Date;
  quality_grade: number;
}

/**
 * Scans with event time in [from, to) (ms; either bound may be omitted), of the given tags only when `tags` is set,
 * in (tag, time, id) order.
 */
export async function loadScans(
  sql: Sql,
  range: { from?: number; to?: number; tags?: readonly string[] } = {},
): Promise<Scan[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (range.tags !== undefined) {
    if (range.tags.length === 0) return [];
    where.push(`tag_id IN (${range.tags.map(() => '?').join(',')})`);
    params.push(...range.tags);
  }
  if (range.from !== undefined) {
    where.push('scan_date >= ?');
    params.push(toSqlDatetime(range.from));
  }
  if (range.to !== undefined) {
    where.push('scan_date < ?');
    params.push(toSqlDatetime(range.to));
  }
  const rows = await sql.query<ScanRow>(
    `SELECT ${SCAN_COLUMNS} FROM id_transactions
      ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY tag_id, scan_date, id`,
    params,
  );
  return rows.map(scanOf);
}

/** Event time of the first scan in id_transactions (ms), or null while it is empty. */
export async function firstScanTime(sql: Sql): Promise<number | null> {
  const rows = await sql.query<{ first: Date | null }>('SELECT MIN(scan_date) AS first FROM id_transactions');
  const first = rows[0]?.first;
  return first ? first.getTime() : null;
}

/** The columns of a ScanRow. */
export const SCAN_COLUMNS = 'id, tag_id, rental_class_num, store_id, scan_type, scan_date, quality_grade';

/** A ScanRow as the label code's Scan. */
export const scanOf = (r: ScanRow): Scan => ({
  id: Number(r.id),
  tagId: r.tag_id,
  rentalClass: r.rental_class_num,
  storeId: r.store_id,
  scanType: r.scan_type,
  time: r.scan_date.getTime(),
  grade: Number(r.quality_grade),
});
