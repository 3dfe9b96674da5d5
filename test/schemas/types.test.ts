// Proves src/schemas/types.ts matches schemas/avro/*.avsc: same field names, nullability and Avro types, checked
// by tsc against the interfaces and by these tests against the files; samples round-trip through avsc unchanged.
import { readdirSync } from 'node:fs';
import avsc from 'avsc';
import { describe, expect, it } from 'vitest';
import {
  ALERT_SEVERITIES,
  AVRO_NAMESPACE,
  SCHEMA_NAMES,
  SCHEMAS,
  isAlertSeverity,
  loadSchema,
  schemaForTopic,
  type SchemaName,
  type SchemaRecordTypes,
} from '../../src/schemas/catalog.ts';
import { SCAN_TYPES, isScanType } from '../../src/features/vocabulary.ts';
import type { TransactionItem } from '../../src/schemas/types.ts';

// ---- Type level: what Avro types a TypeScript field type may stand for ------------------------------------

type NumberKind = 'int' | 'long' | 'float' | 'double' | 'timestamp-millis' | 'date';
type BaseKind<T> = [T] extends [string]
  ? 'string'
  : [T] extends [number]
    ? NumberKind
    : [T] extends [boolean]
      ? 'boolean'
      : [T] extends [Buffer]
        ? 'bytes'
        : [T] extends [readonly (infer E)[]]
          ? `array<${BaseKind<E>}>`
          : [T] extends [{ readonly [k: string]: infer V }]
            ? `map<${BaseKind<V>}>`
            : [T] extends [object]
              ? 'record'
              : never;
/** `T | null` is the Avro union ["null", T], written here as a trailing `?`. */
type KindOf<T> = null extends T ? `${BaseKind<NonNullable<T>>}?` : BaseKind<T>;
/**
 * One entry per field of T, no more, no fewer (object-literal excess property checks give the reverse
 * direction), each an Avro type compatible with the field's TypeScript type.
 */
type FieldKinds<T> = { readonly [K in keyof T]-?: KindOf<T[K]> };

// These must fail to compile, or the tables below would prove nothing.
const _extraKey: FieldKinds<TransactionItem> = {
  rental_class_num: 'string',
  quantity: 'int',
  price: 'double',
  // @ts-expect-error a field that is not in the interface is rejected
  x: 'int',
};
// @ts-expect-error a missing field is rejected
const _missingKey: FieldKinds<TransactionItem> = { rental_class_num: 'string', quantity: 'int' };
const _wrongType: FieldKinds<TransactionItem> = {
  rental_class_num: 'string',
  // @ts-expect-error a number field cannot be an Avro string
  quantity: 'string',
  price: 'double',
};
const _wrongNull: FieldKinds<TransactionItem> = {
  // @ts-expect-error a non-null field cannot be a nullable union
  rental_class_num: 'string?',
  quantity: 'int',
  price: 'double',
};
void [_extraKey, _missingKey, _wrongType, _wrongNull];

/** The Avro type of every field of every record, checked against the interfaces by tsc and the .avsc files below. */
const FIELDS: { readonly [N in SchemaName]: FieldKinds<SchemaRecordTypes[N]> } = {
  rfidScan: {
    tag_id: 'string',
    rental_class_num: 'string',
    scan_type: 'string',
    scan_date: 'timestamp-millis',
    reader_id: 'string',
    store_id: 'string',
    quality_grade: 'int',
    notes: 'string?',
  },
  posTransaction: {
    transaction_id: 'string',
    contract_no: 'string',
    store_id: 'string',
    customer_id: 'string',
    transaction_date: 'timestamp-millis',
    event_date: 'date',
    items: 'array<record>',
    total_amount: 'double',
  },
  deadLetter: {
    key: 'bytes?',
    value: 'bytes?',
    topic: 'string',
    partition: 'int',
    offset: 'long',
    error_code: 'string',
    error_message: 'string',
    failed_at: 'timestamp-millis',
    pipeline: 'string',
    pipeline_version: 'string',
    stage: 'string',
  },
  lateRecord: {
    key: 'bytes?',
    value: 'bytes',
    topic: 'string',
    partition: 'int',
    offset: 'long',
    event_time: 'timestamp-millis',
    watermark: 'timestamp-millis',
    lateness_ms: 'long',
    window_size_ms: 'long',
    pipeline: 'string',
  },
  weather: {
    location: 'string',
    date: 'date',
    temperature_f: 'double',
    humidity_pct: 'double',
    precipitation_in: 'double',
    collected_at: 'timestamp-millis',
    source: 'string',
  },
  economic: {
    region: 'string',
    week_start: 'date',
    consumer_confidence: 'double',
    unemployment_rate: 'double',
    interest_rate: 'double',
    collected_at: 'timestamp-millis',
    source: 'string',
  },
  calendar: {
    event_id: 'string',
    store_id: 'string?',
    name: 'string',
    category: 'string',
    event_date: 'date',
    expected_attendance: 'int?',
    collected_at: 'timestamp-millis',
    source: 'string',
  },
  classEvent: {
    store_id: 'string',
    rental_class_num: 'string',
    kind: 'string',
    event_time: 'timestamp-millis',
    quantity: 'double',
    revenue: 'double',
    scan_type: 'string?',
    tag_id: 'string?',
    from_status: 'string?',
    to_status: 'string?',
    origin: 'string',
  },
  featureVector: {
    entity_id: 'string',
    entity_type: 'string',
    feature_name: 'string',
    feature_value: 'double',
    feature_type: 'string',
    timestamp: 'timestamp-millis',
    window: 'string?',
    window_start: 'timestamp-millis?',
    window_end: 'timestamp-millis?',
    confidence: 'double',
    source: 'string',
  },
  featureRow: {
    entity_id: 'string',
    entity_type: 'string',
    timestamp: 'timestamp-millis',
    window: 'string?',
    window_start: 'timestamp-millis?',
    window_end: 'timestamp-millis?',
    source: 'string',
    features: 'map<double>',
  },
  prediction: {
    service: 'string',
    entity_id: 'string',
    entity_type: 'string',
    prediction: 'double',
    lower: 'double?',
    upper: 'double?',
    horizon: 'string?',
    model_versions: 'array<string>',
    feature_snapshot_at: 'timestamp-millis',
    inference_latency_us: 'long',
    predicted_at: 'timestamp-millis',
    event_time: 'timestamp-millis',
    details: 'string?',
  },
  alert: {
    alert_id: 'string',
    rule: 'string',
    severity: 'string',
    entity_id: 'string',
    service: 'string?',
    message: 'string',
    value: 'double',
    threshold: 'double',
    raised_at: 'timestamp-millis',
    event_time: 'timestamp-millis',
  },
  modelVersion: {
    service: 'string',
    version: 'string',
    algorithm: 'string',
    status: 'string',
    sha256: 'string',
    feature_names: 'array<string>',
    metrics_json: 'string',
    promoted_at: 'timestamp-millis',
  },
};

const TRANSACTION_ITEM_FIELDS: FieldKinds<TransactionItem> = {
  rental_class_num: 'string',
  quantity: 'int',
  price: 'double',
};

// ---- Samples typed as the interfaces; every nullable field is set so the non-null branch is exercised --------

const T0 = 1_750_000_000_000; // 2025-06-15T15:06:40Z
const DAY = 20_254; // 2025-06-15 in days since epoch

const SAMPLES: { readonly [N in SchemaName]: SchemaRecordTypes[N] } = {
  rfidScan: {
    tag_id: 'E280116060000209F1B2C3D4',
    rental_class_num: 'TENT-40x60',
    scan_type: 'return',
    scan_date: T0,
    reader_id: 'dock-2',
    store_id: 'S1',
    quality_grade: 4,
    notes: 'small tear in side wall',
  },
  posTransaction: {
    transaction_id: 'tx-000123',
    contract_no: 'C-9001',
    store_id: 'S2',
    customer_id: 'cust-77',
    transaction_date: T0,
    event_date: DAY + 10,
    items: [
      { rental_class_num: 'CHAIR-WHITE', quantity: 120, price: 2.5 },
      { rental_class_num: 'TABLE-8FT', quantity: 15, price: 9.75 },
    ],
    total_amount: 446.25,
  },
  deadLetter: {
    key: Buffer.from('E280116060000209F1B2C3D4'),
    value: Buffer.from([0, 0, 0, 0, 7, 1, 2, 3]),
    topic: 'rfid.scans',
    partition: 2,
    offset: 2 ** 40 + 17, // beyond 32 bits: long must survive as a JS number
    error_code: 'UNKNOWN_SCAN_TYPE',
    error_message: 'scan_type "lost" is not one of in, out, return, damage, repair',
    failed_at: T0 + 5,
    pipeline: 'ingest',
    pipeline_version: '0.1.0',
    stage: 'validate',
  },
  lateRecord: {
    key: Buffer.from('k'),
    value: Buffer.from([0, 0, 0, 0, 1, 42]),
    topic: 'pos.transactions',
    partition: 0,
    offset: 99,
    event_time: T0 - 7_200_000,
    watermark: T0,
    lateness_ms: 7_200_000,
    window_size_ms: 3_600_000,
    pipeline: 'ingest',
  },
  weather: {
    location: 'S1',
    date: DAY,
    temperature_f: 81.5,
    humidity_pct: 62,
    precipitation_in: 0.12,
    collected_at: T0,
    source: 'open-meteo',
  },
  economic: {
    region: 'global',
    week_start: DAY - 6,
    consumer_confidence: 101.3,
    unemployment_rate: 4.1,
    interest_rate: 5.25,
    collected_at: T0,
    source: 'fred',
  },
  calendar: {
    event_id: 'cal-2025-jul4',
    store_id: 'S3',
    name: 'Independence Day',
    category: 'holiday',
    event_date: DAY + 19,
    expected_attendance: 25_000,
    collected_at: T0,
    source: 'manual',
  },
  classEvent: {
    store_id: 'S1',
    rental_class_num: 'TENT-40x60',
    kind: 'status',
    event_time: T0,
    quantity: 1,
    revenue: 0,
    scan_type: 'out',
    tag_id: 'TAG-1',
    from_status: 'available',
    to_status: 'out',
    origin: 'clean.rfid.scans:0:17',
  },
  featureVector: {
    entity_id: 'S1:TENT-40x60',
    entity_type: 'class',
    feature_name: 'rental_quantity',
    feature_value: 3,
    feature_type: 'demand',
    timestamp: T0,
    window: '1h',
    window_start: T0 - 3_600_000,
    window_end: T0,
    confidence: 0.9,
    source: 'pos',
  },
  featureRow: {
    entity_id: 'S1|TENT-40x60',
    entity_type: 'class',
    timestamp: T0,
    window: '1h',
    window_start: T0 - 3_600_000,
    window_end: T0,
    source: 'windows',
    features: { rentals: 3, revenue: 450.5, out_scans: 2 },
  },
  prediction: {
    service: 'demand',
    entity_id: 'S1:TENT-40x60',
    entity_type: 'class',
    prediction: 7.4,
    lower: 4.1,
    upper: 11.2,
    horizon: '7d',
    model_versions: ['demand-20250614-1', 'demand-baseline'],
    feature_snapshot_at: T0 - 1_000,
    inference_latency_us: 850,
    predicted_at: T0 + 20,
    event_time: T0,
    details: '{"reason":"wedding season"}',
  },
  alert: {
    alert_id: 'a-1',
    rule: 'restock_shortfall',
    severity: 'warning',
    entity_id: 'S2:CHAIR-WHITE',
    service: 'restock',
    message: 'short by 40 units for 2025-06-25',
    value: 40,
    threshold: 0,
    raised_at: T0 + 30,
    event_time: T0,
  },
  modelVersion: {
    service: 'maintenance',
    version: 'maintenance-20250614-2',
    algorithm: 'gradient_boosting',
    status: 'production',
    sha256: 'a'.repeat(64),
    feature_names: ['usage_frequency_7d', 'quality_degradation_rate', 'scan_hour'],
    metrics_json: '{"auc":0.81,"baseline_auc":0.5}',
    promoted_at: T0,
  },
};

// ---- Runtime: the same facts read from the .avsc files ---------------------------------------------------

interface Field {
  readonly name: string;
  readonly type: unknown;
  readonly doc?: unknown;
  readonly default?: unknown;
}

/** The Avro type of a field in the notation of FieldKinds: logical type if any, `?` for ["null", T]. */
function avroKind(t: unknown): string {
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    return t.length === 2 && t[0] === 'null' ? `${avroKind(t[1])}?` : `union<${t.map(avroKind).join(',')}>`;
  }
  const o = t as { type: unknown; logicalType?: string; items?: unknown; values?: unknown };
  if (typeof o.logicalType === 'string') return o.logicalType;
  if (o.type === 'array') return `array<${avroKind(o.items)}>`;
  if (o.type === 'map') return `map<${avroKind(o.values)}>`;
  if (o.type === 'record') return 'record';
  return avroKind(o.type);
}

function fieldsOf(name: SchemaName): readonly Field[] {
  return loadSchema(name).fields as readonly Field[];
}

function kindsOf(fields: readonly Field[]): Record<string, string> {
  return Object.fromEntries(fields.map((f) => [f.name, avroKind(f.type)]));
}

const AVRO_DIR = new URL('../../schemas/avro/', import.meta.url);

describe('Avro schemas match the TypeScript types', () => {
  describe.each(SCHEMA_NAMES)('%s', (name) => {
    it('has exactly the fields of its interface, with the same Avro types and nullability', () => {
      const fields = fieldsOf(name);
      expect(fields.length).toBeGreaterThan(0);
      expect(fields.map((f) => f.name).sort()).toEqual(Object.keys(FIELDS[name]).sort());
      expect(kindsOf(fields)).toEqual(FIELDS[name]);
    });

    it('parses with avsc under the catalogued full name', () => {
      const type = avsc.Type.forSchema(loadSchema(name));
      expect(type.name).toBe(SCHEMAS[name].fullName);
      expect(SCHEMAS[name].fullName).toBe(`${AVRO_NAMESPACE}.${SCHEMAS[name].record}`);
    });

    it('documents the record and every field; snake_case names; optional fields default to null', () => {
      const schema = loadSchema(name);
      expect(schema.doc.trim()).not.toBe('');
      for (const f of fieldsOf(name)) {
        expect(f.name, f.name).toMatch(/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/);
        expect(typeof f.doc === 'string' && f.doc.trim().length > 0, `${name}.${f.name} has a doc`).toBe(
          true,
        );
        if (avroKind(f.type).endsWith('?')) {
          expect(f.default, `${name}.${f.name} default`).toBeNull();
        }
      }
    });

    it('round-trips a sample typed as the interface unchanged', () => {
      const type = avsc.Type.forSchema(loadSchema(name));
      const sample = SAMPLES[name];
      expect(type.isValid(sample)).toBe(true);
      const decoded: unknown = type.fromBuffer(type.toBuffer(sample));
      expect(decoded).toEqual(sample);
      // Re-encoding gives the same bytes: nothing was coerced on the way.
      expect(type.toBuffer(decoded)).toEqual(type.toBuffer(sample));
    });

    it('round-trips with every optional field null', () => {
      const type = avsc.Type.forSchema(loadSchema(name));
      const nullable = fieldsOf(name)
        .filter((f) => avroKind(f.type).endsWith('?'))
        .map((f) => f.name);
      const sample: Record<string, unknown> = { ...SAMPLES[name] };
      for (const f of nullable) {
        expect(sample[f], `sample sets ${name}.${f} so the non-null branch is tested`).not.toBeNull();
        sample[f] = null;
      }
      expect(type.isValid(sample)).toBe(true);
      expect(type.fromBuffer(type.toBuffer(sample))).toEqual(sample);
    });

    it('rejects a sample with a required field missing or of the wrong type', () => {
      const type = avsc.Type.forSchema(loadSchema(name));
      const required = fieldsOf(name).find((f) => !avroKind(f.type).endsWith('?'));
      expect(required).toBeDefined();
      const { [required!.name]: value, ...rest } = SAMPLES[name] as unknown as Record<string, unknown>;
      expect(type.isValid(rest)).toBe(false);
      expect(type.isValid({ ...rest, [required!.name]: typeof value === 'string' ? 1 : 'x' })).toBe(false);
    });
  });

  it('TransactionItem (nested in PosTransaction) matches its interface', () => {
    const items = fieldsOf('posTransaction').find((f) => f.name === 'items')!;
    const record = (items.type as { items: { name: string; fields: Field[] } }).items;
    expect(record.name).toBe('TransactionItem');
    expect(kindsOf(record.fields)).toEqual(TRANSACTION_ITEM_FIELDS);
    expect(record.fields.every((f) => typeof f.doc === 'string' && f.doc.length > 0)).toBe(true);
  });

  it('FeatureVector.confidence defaults to 1.0, so a reader meets old records without it', () => {
    const confidence = fieldsOf('featureVector').find((f) => f.name === 'confidence');
    expect(confidence?.default).toBe(1.0);
    // Schema resolution: a writer schema without `confidence` read with ours fills in the default.
    const full = loadSchema('featureVector');
    const older = { ...full, fields: full.fields.filter((f) => f.name !== 'confidence') };
    const writer = avsc.Type.forSchema(older);
    const reader = avsc.Type.forSchema(full);
    const { confidence: _c, ...oldRecord } = SAMPLES.featureVector;
    const decoded = reader.fromBuffer(writer.toBuffer(oldRecord), reader.createResolver(writer)) as {
      confidence: number;
    };
    expect(decoded.confidence).toBe(1);
  });

  it('decodes long and timestamp-millis as plain JS numbers', () => {
    const type = avsc.Type.forSchema(loadSchema('deadLetter'));
    const decoded = type.fromBuffer(type.toBuffer(SAMPLES.deadLetter)) as {
      offset: unknown;
      failed_at: unknown;
    };
    expect(decoded.offset).toBe(2 ** 40 + 17);
    expect(typeof decoded.failed_at).toBe('number');
  });
});

describe('catalogue', () => {
  it('lists every .avsc file in schemas/avro, and every listed file exists', () => {
    const files = readdirSync(AVRO_DIR)
      .filter((f) => f.endsWith('.avsc'))
      .sort();
    expect(files.length).toBeGreaterThan(0);
    expect(SCHEMA_NAMES.map((n) => SCHEMAS[n].file).sort()).toEqual(files);
  });

  it('keys entries by their own name, names each record once, and names the TS type after the record', () => {
    for (const n of SCHEMA_NAMES) {
      expect(SCHEMAS[n].name).toBe(n);
      expect(SCHEMAS[n].typeName).toBe(SCHEMAS[n].record);
      // Every record travels on some topic, but for the feature store's cell (features travel as rows).
      if (n !== 'featureVector') expect(SCHEMAS[n].topics.length).toBeGreaterThan(0);
    }
    expect(new Set(SCHEMA_NAMES.map((n) => SCHEMAS[n].record)).size).toBe(SCHEMA_NAMES.length);
  });

  it('loadSchema accepts a name or an entry and returns a fresh object each time', () => {
    const a = loadSchema('rfidScan');
    const b = loadSchema(SCHEMAS.rfidScan);
    expect(b).toEqual(a);
    expect(b).not.toBe(a);
    a.fields.pop();
    expect(loadSchema('rfidScan').fields).toHaveLength(8);
  });

  it('loadSchema rejects a name that is not catalogued', () => {
    expect(() => loadSchema('nope' as SchemaName)).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
  });

  it('finds the schema of each default topic name', () => {
    expect(schemaForTopic('rfid.scans')).toBe('rfidScan');
    expect(schemaForTopic('clean.rfid.scans')).toBe('rfidScan');
    expect(schemaForTopic('pos.transactions')).toBe('posTransaction');
    expect(schemaForTopic('dlq.rfid.scans')).toBe('deadLetter');
    expect(schemaForTopic('late.pos.transactions')).toBe('lateRecord');
    expect(schemaForTopic('external.weather')).toBe('weather');
    expect(schemaForTopic('external.economic')).toBe('economic');
    expect(schemaForTopic('external.calendar')).toBe('calendar');
    expect(schemaForTopic('features.realtime.rows')).toBe('featureRow');
    expect(schemaForTopic('features.windowed.rows')).toBe('featureRow');
    expect(schemaForTopic('predictions.pricing')).toBe('prediction');
    expect(schemaForTopic('alerts')).toBe('alert');
    expect(schemaForTopic('models.versions')).toBe('modelVersion');
    expect(schemaForTopic('dlq.')).toBeUndefined();
    expect(schemaForTopic('rfidXscans')).toBeUndefined();
    expect(schemaForTopic('something.else')).toBeUndefined();
  });

  it('scan types and alert severities are the documented sets', () => {
    expect(SCAN_TYPES).toEqual(['in', 'out', 'return', 'damage', 'repair']);
    expect(SCAN_TYPES.every(isScanType)).toBe(true);
    expect(isScanType('lost')).toBe(false);
    expect(isScanType('IN')).toBe(false);
    expect(ALERT_SEVERITIES).toEqual(['info', 'warning', 'critical']);
    expect(isAlertSeverity('critical')).toBe(true);
    expect(isAlertSeverity('fatal')).toBe(false);
  });
});
