// Per-item features from validated RFID scans (state per tag): last scan type, local hour and weekday, 7-day usage
// frequency from the item's `out` scans, quality change per return, days since last use, lifetime turnover.
// Also sends the item's scans, with the status change each makes, re-keyed by rental class and store, to the 'class-events' side
// output for per-class windows and stock levels. A second read of the same tag and scan type within
// dedupWindowMs (two readers at one door) is a duplicate and is skipped.
import type { ClassEvent, FeatureRow, RfidScan } from '../src/schemas/types.ts';
import type { Operator } from '../src/runtime/operator.ts';
import { classKey } from '../src/features/keys.ts';
import { NEXT_STATUS, SCAN_TYPE_CODES, type ItemStatus } from '../src/features/vocabulary.ts';
import { DAY } from './windows.ts';
import { localParts, row } from './features.ts';

interface ItemState {
  firstSeen: number;
  lastScanAt: number;
  lastScanType: string;
  lastOutAt: number | null;
  /** Event times of `out` scans within the last 7 days of the item's latest scan. */
  outs: number[];
  usageCount: number;
  lastReturnGrade: number | null;
  status: ItemStatus | null;
}

export interface ItemFeatureOptions {
  readonly zoneOf: (storeId: string) => string;
  readonly dedupWindowMs: number;
}

export function itemFeatures(opts: ItemFeatureOptions): Operator<RfidScan, FeatureRow> {
  const storeName = 'item-features.items';
  return {
    name: 'item-features',
    stores: [storeName],
    process(rec, ctx) {
      const scan = rec.value;
      const t = scan.scan_date;
      const items = ctx.store<ItemState>(storeName);
      const prev = items.get(scan.tag_id);
      if (prev && prev.lastScanType === scan.scan_type && Math.abs(t - prev.lastScanAt) <= opts.dedupWindowMs)
        return [];
      const s: ItemState = prev
        ? { ...prev, outs: [...prev.outs] }
        : {
            firstSeen: t,
            lastScanAt: t,
            lastScanType: scan.scan_type,
            lastOutAt: null,
            outs: [],
            usageCount: 0,
            lastReturnGrade: null,
            status: null,
          };
      const origin = `${ctx.source.topic}:${ctx.source.partition}:${ctx.source.offset}`;
      const f: Record<string, number> = {};

      if (scan.scan_type === 'out') {
        s.usageCount += 1;
        s.lastOutAt = Math.max(s.lastOutAt ?? t, t);
        s.outs.push(t);
      }
      const latest = Math.max(s.lastScanAt, t);
      s.outs = s.outs.filter((o) => o > latest - 7 * DAY).sort((a, b) => a - b);
      const { hour, dayOfWeek } = localParts(t, opts.zoneOf(scan.store_id));
      f['last_scan_type'] = SCAN_TYPE_CODES[scan.scan_type] ?? 0;
      f['scan_hour'] = hour;
      f['scan_day_of_week'] = dayOfWeek;
      f['usage_frequency_7d'] = s.outs.filter((o) => o <= t && o > t - 7 * DAY).length / 7;
      f['days_since_last_use'] =
        (s.lastOutAt === null ? t - s.firstSeen : Math.max(0, t - s.lastOutAt)) / DAY;
      f['turnover_ltd'] = s.usageCount;
      f['quality_grade'] = scan.quality_grade;
      if (scan.scan_type === 'return') {
        // Grade change against the previous return: negative means the item degraded over this rental.
        f['quality_degradation_rate'] =
          s.lastReturnGrade === null ? 0 : scan.quality_grade - s.lastReturnGrade;
        s.lastReturnGrade = scan.quality_grade;
      }

      const event = (kind: string, extra: Partial<ClassEvent>): void => {
        const value: ClassEvent = {
          store_id: scan.store_id,
          rental_class_num: scan.rental_class_num,
          kind,
          event_time: t,
          quantity: 1,
          revenue: 0,
          scan_type: scan.scan_type,
          tag_id: scan.tag_id,
          from_status: null,
          to_status: null,
          origin,
          ...extra,
        };
        ctx.emitSide('class-events', {
          key: Buffer.from(classKey(scan.store_id, scan.rental_class_num)),
          value,
          timestamp: t,
        });
      };
      // One class event per scan; a status change it makes rides on it (one record, not two).
      const next = NEXT_STATUS[scan.scan_type] ?? s.status;
      if (next && next !== s.status && t >= s.lastScanAt) {
        event('scan', { from_status: s.status, to_status: next });
        s.status = next;
      } else event('scan', {});
      s.lastScanType = scan.scan_type;
      s.lastScanAt = latest;
      items.put(scan.tag_id, s);
      return [row('item', scan.tag_id, f, t, 'rfid')];
    },
  };
}
