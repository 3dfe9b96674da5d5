// The catalogue of Avro schemas: which .avsc file holds which record, its TypeScript type and the topics it serves.
// Serde, the registry adapter and topic setup look schemas up here instead of hard-coding file names.
import { readFileSync } from 'node:fs';
import type { schema as avro } from 'avsc';
import { TagstreamError } from '../errors.ts';
import { packagePath } from '../paths.ts';
import type {
  Alert,
  CalendarEvent,
  DeadLetter,
  EconomicIndicators,
  FeatureRow,
  FeatureVector,
  LateRecord,
  ModelVersion,
  ClassEvent,
  PosTransaction,
  Prediction,
  RfidScan,
  WeatherObservation,
} from './types.ts';

/** Every record is in this Avro namespace; the registry subject names use the full name. */
export const AVRO_NAMESPACE = 'dev.tagstream';

/** Alert severities; like scan_type, a plain string in Avro so a new level never breaks old readers. */
export const ALERT_SEVERITIES = ['info', 'warning', 'critical'] as const;
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];

export function isAlertSeverity(s: string): s is AlertSeverity {
  return (ALERT_SEVERITIES as readonly string[]).includes(s);
}

export interface SchemaEntry {
  /** Key in SCHEMAS. */
  readonly name: string;
  /** File name in schemas/avro/. */
  readonly file: string;
  /** Avro record name (without namespace). */
  readonly record: string;
  /** `${AVRO_NAMESPACE}.${record}`. */
  readonly fullName: string;
  /** Name of the interface in src/schemas/types.ts; SchemaRecordTypes maps `name` to it at type level. */
  readonly typeName: string;
  /**
   * Default topic names (all configurable). `<source>` stands for a source topic name, `<service>` for a
   * prediction service; `clean.<topic>` carries validated records in the source schema.
   */
  readonly topics: readonly string[];
}

function entry<const N extends string, const R extends string, const T extends readonly string[]>(
  name: N,
  file: string,
  record: R,
  topics: T,
) {
  return { name, file, record, fullName: `${AVRO_NAMESPACE}.${record}` as const, typeName: record, topics };
}

export const SCHEMAS = {
  rfidScan: entry('rfidScan', 'rfid_scan.avsc', 'RfidScan', ['rfid.scans', 'clean.rfid.scans']),
  posTransaction: entry('posTransaction', 'pos_transaction.avsc', 'PosTransaction', [
    'pos.transactions',
    'clean.pos.transactions',
  ]),
  deadLetter: entry('deadLetter', 'dead_letter.avsc', 'DeadLetter', ['dlq.<source>']),
  lateRecord: entry('lateRecord', 'late_record.avsc', 'LateRecord', ['late.<source>']),
  weather: entry('weather', 'weather.avsc', 'WeatherObservation', ['external.weather']),
  economic: entry('economic', 'economic.avsc', 'EconomicIndicators', ['external.economic']),
  calendar: entry('calendar', 'calendar.avsc', 'CalendarEvent', ['external.calendar']),
  /** The feature store's cell (one value); on no topic since features travel as rows. */
  featureVector: entry('featureVector', 'feature_vector.avsc', 'FeatureVector', []),
  featureRow: entry('featureRow', 'feature_row.avsc', 'FeatureRow', [
    'features.realtime.rows',
    'features.windowed.rows',
  ]),
  prediction: entry('prediction', 'prediction.avsc', 'Prediction', ['predictions.<service>']),
  alert: entry('alert', 'alert.avsc', 'Alert', ['alerts']),
  modelVersion: entry('modelVersion', 'model_version.avsc', 'ModelVersion', ['models.versions']),
  classEvent: entry('classEvent', 'class_event.avsc', 'ClassEvent', ['<group>-class-events']),
} as const satisfies Readonly<Record<string, SchemaEntry>>;

export type SchemaName = keyof typeof SCHEMAS;

export const SCHEMA_NAMES = Object.keys(SCHEMAS) as readonly SchemaName[];

/** Type-level half of the catalogue: the TypeScript record type for each schema. */
export interface SchemaRecordTypes {
  rfidScan: RfidScan;
  posTransaction: PosTransaction;
  deadLetter: DeadLetter;
  lateRecord: LateRecord;
  weather: WeatherObservation;
  economic: EconomicIndicators;
  calendar: CalendarEvent;
  featureVector: FeatureVector;
  featureRow: FeatureRow;
  prediction: Prediction;
  alert: Alert;
  modelVersion: ModelVersion;
  classEvent: ClassEvent;
}

export type RecordOf<N extends SchemaName> = SchemaRecordTypes[N];

/** A parsed .avsc file: a record schema avsc's Type.forSchema accepts, with the namespace and doc we require. */
export type AvroRecordSchema = avro.RecordType & { namespace: string; doc: string };

const texts = new Map<SchemaName, string>();

function readSchemaText(name: SchemaName): string {
  let text = texts.get(name);
  if (text === undefined) {
    const path = packagePath('schemas', 'avro', SCHEMAS[name].file);
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new TagstreamError('INTERNAL', `cannot read Avro schema ${SCHEMAS[name].file}`, {
        cause: e,
        details: { schema: name, path },
      });
    }
    texts.set(name, text);
  }
  return text;
}

/**
 * Reads and parses schemas/avro/<file> for a schema, checking it declares the record the catalogue names.
 * Returns a fresh object on every call, so a caller that mutates it cannot affect another. Reads synchronously:
 * schemas are loaded once at start-up, and a sync call keeps the many call sites simple.
 */
export function loadSchema(name: SchemaName | SchemaEntry): AvroRecordSchema {
  const key = (typeof name === 'string' ? name : name.name) as SchemaName;
  const want = SCHEMAS[key];
  if (want === undefined) throw new TagstreamError('INTERNAL', `unknown schema ${String(key)}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readSchemaText(key));
  } catch (e) {
    if (e instanceof TagstreamError) throw e;
    throw new TagstreamError('INTERNAL', `Avro schema ${want.file} is not valid JSON`, { cause: e });
  }
  const s = parsed as Partial<AvroRecordSchema> | null;
  if (
    s === null ||
    typeof s !== 'object' ||
    s.type !== 'record' ||
    s.name !== want.record ||
    s.namespace !== AVRO_NAMESPACE ||
    !Array.isArray(s.fields)
  ) {
    throw new TagstreamError('INTERNAL', `${want.file} does not declare record ${want.fullName}`, {
      details: { schema: key },
    });
  }
  return s as AvroRecordSchema;
}

function topicPattern(topic: string): RegExp {
  const escaped = topic.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/<[a-z]+>/g, '.+');
  return new RegExp(`^${escaped}$`);
}

const topicPatterns: readonly (readonly [RegExp, SchemaName])[] = SCHEMA_NAMES.flatMap((name) =>
  SCHEMAS[name].topics.map((t) => [topicPattern(t), name] as const),
);

/** The schema a topic with a default name carries, e.g. dlq.rfid.scans -> deadLetter; undefined if unknown. */
export function schemaForTopic(topic: string): SchemaName | undefined {
  return topicPatterns.find(([re]) => re.test(topic))?.[1];
}
