// TypeScript shapes of the Avro records in schemas/avro/, written by hand so they read well in editors;
// test/schemas/types.test.ts proves every field name, nullability and Avro type matches the .avsc files.
//
// Mapping used throughout: string -> string; int, long, double -> number; timestamp-millis -> number
// (ms since epoch UTC); date -> number (days since 1970-01-01); bytes -> Buffer; ["null", T] -> T | null.
// avsc decodes long into a JS number, which is exact up to 2^53: fine for offsets and epoch times.

/** One RFID read of a tagged rental item (rfid.scans, key tag_id). */
export interface RfidScan {
  readonly tag_id: string;
  readonly rental_class_num: string;
  /** Free text on the wire; the pipeline checks it is a ScanType (see src/features/vocabulary.ts SCAN_TYPES). */
  readonly scan_type: string;
  /** Event time, ms since epoch. */
  readonly scan_date: number;
  readonly reader_id: string;
  readonly store_id: string;
  /** 1 = poor ... 5 = like new. */
  readonly quality_grade: number;
  readonly notes: string | null;
}

/** One rental class on a POS transaction. */
export interface TransactionItem {
  readonly rental_class_num: string;
  readonly quantity: number;
  readonly price: number;
}

/** A rental transaction from the POS (pos.transactions). */
export interface PosTransaction {
  readonly transaction_id: string;
  readonly contract_no: string;
  readonly store_id: string;
  readonly customer_id: string;
  /** Event time, ms since epoch. */
  readonly transaction_date: number;
  /** Day the rental is for, days since 1970-01-01. */
  readonly event_date: number;
  readonly items: readonly TransactionItem[];
  readonly total_amount: number;
}

/** A record that failed processing, with its original bytes (dlq.<source>). */
export interface DeadLetter {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  /** An ErrorCode from src/errors.ts; typed as string because old DLQ records may carry retired codes. */
  readonly error_code: string;
  readonly error_message: string;
  readonly failed_at: number;
  readonly pipeline: string;
  readonly pipeline_version: string;
  readonly stage: string;
}

/** A record that arrived after its window closed (late.<source>). */
export interface LateRecord {
  readonly key: Buffer | null;
  readonly value: Buffer;
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly event_time: number;
  readonly watermark: number;
  readonly lateness_ms: number;
  readonly window_size_ms: number;
  readonly pipeline: string;
}

/** Daily weather for a store or `global` (external.weather). */
export interface WeatherObservation {
  readonly location: string;
  /** Days since 1970-01-01. */
  readonly date: number;
  readonly temperature_f: number;
  readonly humidity_pct: number;
  readonly precipitation_in: number;
  readonly collected_at: number;
  readonly source: string;
}

/** Weekly economic indicators (external.economic). */
export interface EconomicIndicators {
  readonly region: string;
  /** Days since 1970-01-01. */
  readonly week_start: number;
  readonly consumer_confidence: number;
  readonly unemployment_rate: number;
  readonly interest_rate: number;
  readonly collected_at: number;
  readonly source: string;
}

/** A demand-moving event (external.calendar). */
export interface CalendarEvent {
  readonly event_id: string;
  /** null: affects every store. */
  readonly store_id: string | null;
  readonly name: string;
  readonly category: string;
  /** Days since 1970-01-01. */
  readonly event_date: number;
  readonly expected_attendance: number | null;
  readonly collected_at: number;
  readonly source: string;
}

/** One feature value for one entity at one time: a cell of the feature store (a FeatureRow holds many). */
export interface FeatureVector {
  readonly entity_id: string;
  readonly entity_type: string;
  readonly feature_name: string;
  readonly feature_value: number;
  readonly feature_type: string;
  /** Event time the value holds at; the window end for a windowed feature. */
  readonly timestamp: number;
  /** e.g. "1h", "7d-sliding"; null for a per-event feature. */
  readonly window: string | null;
  readonly window_start: number | null;
  readonly window_end: number | null;
  /** 0..1; the Avro default is 1.0 for readers of older records, but writers always set it. */
  readonly confidence: number;
  readonly source: string;
}

/** Every feature of one entity from one event, or every aggregate of one key and window (features.*.rows). */
export interface FeatureRow {
  readonly entity_id: string;
  readonly entity_type: string;
  /** Event time the values hold at; the window end for windowed values. */
  readonly timestamp: number;
  /** e.g. "1h", "7d"; null for per-event features. */
  readonly window: string | null;
  readonly window_start: number | null;
  readonly window_end: number | null;
  readonly source: string;
  /** Feature name to value (an Avro map of doubles). */
  readonly features: Readonly<Record<string, number>>;
}

/** One output of a prediction service (predictions.<service>). */
export interface Prediction {
  readonly service: string;
  readonly entity_id: string;
  readonly entity_type: string;
  readonly prediction: number;
  readonly lower: number | null;
  readonly upper: number | null;
  readonly horizon: string | null;
  readonly model_versions: readonly string[];
  readonly feature_snapshot_at: number;
  readonly inference_latency_us: number;
  readonly predicted_at: number;
  readonly event_time: number;
  /** JSON text with the service-specific explanation. */
  readonly details: string | null;
}

/** An alert rule firing (alerts). */
export interface Alert {
  readonly alert_id: string;
  readonly rule: string;
  /** info | warning | critical, validated in code (see catalog.ts ALERT_SEVERITIES). */
  readonly severity: string;
  readonly entity_id: string;
  readonly service: string | null;
  readonly message: string;
  readonly value: number;
  readonly threshold: number;
  readonly raised_at: number;
  readonly event_time: number;
}

/** A model version announced by training (models.versions, key service). */
export interface ModelVersion {
  readonly service: string;
  readonly version: string;
  readonly algorithm: string;
  readonly status: string;
  readonly sha256: string;
  readonly feature_names: readonly string[];
  readonly metrics_json: string;
  readonly promoted_at: number;
}

/** Internal repartition record: an event of a rental class in a store (<group>-class-events). */
export interface ClassEvent {
  readonly store_id: string;
  readonly rental_class_num: string;
  readonly kind: string;
  readonly event_time: number;
  readonly quantity: number;
  readonly revenue: number;
  readonly scan_type: string | null;
  readonly tag_id: string | null;
  readonly from_status: string | null;
  readonly to_status: string | null;
  readonly origin: string;
}
