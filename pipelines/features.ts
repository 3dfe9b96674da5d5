// The feature topology: validated scans and transactions become per-item, per-transaction and per-class features;
// item scans and rental lines are re-keyed by store|class through an internal topic, then aggregated in event-time
// windows (1m, 5m, 1h, the store's local day, sliding 7d) and turned into stock levels and windowed features, each
// batch's rows followed by a progress row that tells serving how far the feature store has got (operators/
// origin-progress.ts).
import type { Config } from '../config/schema.ts';
import { cleanTopic, lateTopic } from '../config/topics.ts';
import { combine, measure, sum } from '../operators/aggregates.ts';
import { itemFeatures } from '../operators/item-features.ts';
import { stockLevels } from '../operators/stock-levels.ts';
import { transactionFeatures } from '../operators/transaction-features.ts';
import { windowAggregate, type LateInfo } from '../operators/window-aggregate.ts';
import { progressMarkers } from '../operators/progress.ts';
import { originProgress } from '../operators/origin-progress.ts';
import { windowFeatures } from '../operators/window-features.ts';
import { standardWindows } from '../operators/windows.ts';
import { channelOf, progressEvent, progressKind } from '../src/features/class-events.ts';
import { classKey, storeOfClassKey } from '../src/features/keys.ts';
import { zoneOf } from '../src/features/zones.ts';
import type { RawRecord } from '../src/runtime/operator.ts';
import { Flow, type Branch } from '../src/runtime/topology.ts';
import { loadSchema } from '../src/schemas/catalog.ts';
import type { ClassEvent, LateRecord, PosTransaction, RfidScan } from '../src/schemas/types.ts';

/** The per-class window measures; the feature names of the rows on features.windowed.rows (families: FEATURE_TYPES). */
export const CLASS_MEASURES = combine<ClassEvent>({
  rentals: measure(sum, (e: ClassEvent) => (e.kind === 'rental' ? e.quantity : 0)),
  revenue: measure(sum, (e: ClassEvent) => (e.kind === 'rental' ? e.revenue : 0)),
  out_scans: measure(sum, (e: ClassEvent) => (e.kind === 'scan' && e.scan_type === 'out' ? 1 : 0)),
  return_scans: measure(sum, (e: ClassEvent) => (e.kind === 'scan' && e.scan_type === 'return' ? 1 : 0)),
  damage_scans: measure(sum, (e: ClassEvent) => (e.kind === 'scan' && e.scan_type === 'damage' ? 1 : 0)),
});

export function featureBranches(config: Config, pipelineName: string): Branch[] {
  const { topics, windows } = config;
  const zone = zoneOf(config);
  const featureSchema = loadSchema('featureRow');
  const classEventSchema = loadSchema('classEvent');
  const late = lateTopic(topics, topics.classEvents);
  const toLate = (value: unknown, raw: RawRecord | undefined): LateRecord => {
    const info = value as LateInfo<ClassEvent>;
    return {
      key: raw?.key ?? null,
      value: raw?.value ?? Buffer.alloc(0),
      topic: raw?.topic ?? '',
      partition: raw?.partition ?? -1,
      offset: Number(raw?.offset ?? -1),
      event_time: info.eventTime,
      watermark: info.watermark,
      lateness_ms: info.latenessMs,
      window_size_ms: info.windowSizeMs,
      pipeline: pipelineName,
    };
  };
  // Each clean partition's event-time progress goes to every class-events partition (the class windows' channels).
  const progress = <T>(source: string, time: (v: T) => number) =>
    progressMarkers<T>({
      name: `progress-${source}`,
      source,
      port: 'class-events',
      partitions: config.kafka.partitions,
      time,
      marker: progressEvent,
      intervalMs: config.pipeline.punctuateMs,
      idleTimeoutMs: windows.idleTimeoutMs,
      graceMs: windows.graceMs,
    });
  const scans = cleanTopic(topics, topics.scans);
  const transactions = cleanTopic(topics, topics.transactions);
  // Each batch's feature rows are followed by a progress row on both feature topics (src/features/progress-rows.ts).
  const origins = originProgress({ name: 'origin-progress', ports: ['stock', 'progress'] });
  return [
    Flow.from<RfidScan>(scans)
      .via(progress<RfidScan>(scans, (s) => s.scan_date))
      .via(itemFeatures({ zoneOf: zone, dedupWindowMs: windows.dedupWindowMs }))
      .side('class-events', topics.classEvents, classEventSchema)
      .to(topics.featuresRealtime, featureSchema),
    Flow.from<PosTransaction>(transactions)
      .via(progress<PosTransaction>(transactions, (t) => t.transaction_date))
      .via(transactionFeatures())
      .side('class-events', topics.classEvents, classEventSchema)
      .to(topics.featuresRealtime, featureSchema),
    Flow.from<ClassEvent>(topics.classEvents, classEventSchema)
      .via(origins.track)
      .via(stockLevels({ heldBucketMs: windows.heldBucketMs }))
      .via(
        windowAggregate<ClassEvent>({
          name: 'class-windows',
          windows: standardWindows((key) => zone(storeOfClassKey(key))),
          key: (e) => classKey(e.store_id, e.rental_class_num),
          time: (e) => e.event_time,
          aggregate: CLASS_MEASURES,
          graceMs: windows.graceMs,
          emit: windows.emit,
          idleTimeoutMs: windows.idleTimeoutMs,
          // class-events merges the partitions of both clean topics: watermark = min over those channels, each
          // moved by its records and its upstream's progress markers.
          channel: channelOf,
          channels: 2 * config.kafka.partitions,
          progress: progressKind,
          heldBucketMs: windows.heldBucketMs,
        }),
      )
      .via(windowFeatures('class'))
      .via(origins.publish)
      .side('stock', topics.featuresRealtime, featureSchema)
      .side('progress', topics.featuresWindowed, featureSchema)
      .side('late', late, loadSchema('lateRecord'), toLate)
      .to(topics.featuresWindowed, featureSchema),
  ];
}
